package assignment_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// TestAssignsOnlyWorkersWhoCoverThePractice (H05): a referral goes only to
// a link worker who covers the person's practice. A worker of another PCN
// with free places is not given it: it waits on the unmatched queue, where
// the alerts watch it, until a covering worker registers.
func TestAssignsOnlyWorkersWhoCoverThePractice(t *testing.T) {
	s := start(t)
	stop := runService(t, s, "")
	defer stop()
	elsewhere := register(t, s, 10) // U12345, covering A81001 and A81002
	id := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "C99001", Urgency: pathwayv1.Priority_PRIORITY_URGENT}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: pathwayv1.Priority_PRIORITY_URGENT, RuleId: "r"}}); err != nil {
		t.Fatal(err)
	}
	settle(t, s, []string{id})
	r := status(t, s, id)
	if r.Status() != referral.StatusWaitlisted || r.Worker() == elsewhere {
		t.Fatalf("referral from C99001 with only a U12345 worker free: %s with %q, want waitlisted (unmatched)", r.Status(), r.Worker())
	}
	var queue string
	for _, c := range r.History() {
		if w, ok := c.Payload.(*pathwayv1.ReferralWaitlisted); ok {
			queue = w.GetQueue()
		}
	}
	if queue != "unmatched" {
		t.Fatalf("waitlisted on %q, want unmatched", queue)
	}
	covering := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "worker", ID: covering}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
		Name: "Covering", Pcn: "U54321", Practices: []string{"C99001"}, Capacity: 1}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(t, s, id).Worker() != covering {
		if time.Now().After(deadline) {
			t.Fatalf("after a covering worker registered: with %q, want %s", status(t, s, id).Worker(), covering)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
