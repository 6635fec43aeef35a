package assignment

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/referral"
)

// TestTwoInstancesRaceForTheLastPlace: in each of 100 rounds, two
// assignment instances place two different referrals at the same moment
// for one worker with one place left. Exactly one is assigned; the other
// waits.
func TestTwoInstancesRaceForTheLastPlace(t *testing.T) {
	store := eventstest.Start(t, true).Store
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := New(store, nil, nil, "a"), New(store, nil, nil, "b")
	for _, s := range []*Service{a, b} {
		go s.view.Run(ctx, store, slog.New(slog.DiscardHandler))
	}
	for round := range 100 {
		wid := uuid.NewString()
		if _, err := store.Append(ctx, events.Aggregate{Type: "worker", ID: wid}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
			Name: "W", Pcn: "U12345", Practices: []string{"B8" + string(rune('0'+round/10)) + "00" + string(rune('0'+round%10))}, Capacity: 1}}); err != nil {
			t.Fatal(err)
		}
		practice := "B8" + string(rune('0'+round/10)) + "00" + string(rune('0'+round%10))
		var refs [2]string
		for i := range refs {
			refs[i] = uuid.NewString()
			if _, err := store.Append(ctx, events.Aggregate{Type: "referral", ID: refs[i]}, 0,
				events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: practice, Urgency: pathwayv1.Priority_PRIORITY_ROUTINE}},
				events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "r"}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []*Service{a, b} {
			if err := s.catchUp(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Service{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.place(ctx, refs[i]) }()
		}
		wg.Wait()
		assigned := 0
		for i, id := range refs {
			if errs[i] != nil {
				t.Fatalf("round %d: %v", round, errs[i])
			}
			r, err := intake.Load(ctx, store, id)
			if err != nil {
				t.Fatal(err)
			}
			switch r.Status() {
			case referral.StatusAssigned:
				assigned++
			case referral.StatusWaitlisted:
			default:
				t.Fatalf("round %d: referral is %s", round, r.Status())
			}
		}
		if assigned != 1 {
			t.Fatalf("round %d: %d referrals assigned to a worker with one place", round, assigned)
		}
	}
}
