package referral_test

import (
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// TestPriorityAfterAgreesWithTheReferral: folding PriorityAfter over a
// referral's events gives the priority the referral itself keeps, so a
// read model that uses it ranks and alerts as the aggregate would.
func TestPriorityAfterAgreesWithTheReferral(t *testing.T) {
	urgent, high, routine := pathwayv1.Priority_PRIORITY_URGENT, pathwayv1.Priority_PRIORITY_HIGH, pathwayv1.Priority_PRIORITY_ROUTINE
	triaged := func(p pathwayv1.Priority) *pathwayv1.ReferralTriaged {
		return &pathwayv1.ReferralTriaged{Decision: accept, Priority: p}
	}
	for _, tc := range []struct {
		name   string
		events []proto.Message
		want   pathwayv1.Priority
	}{
		{"as received", []proto.Message{received(false)}, routine},
		{"safeguarding escalated", referral.Receive(received(true)), urgent},
		{"raised at triage", []proto.Message{received(false), triaged(high)}, high},
		{"triage that sets none keeps it", append(referral.Receive(received(true)), triaged(pathwayv1.Priority_PRIORITY_UNSPECIFIED)), urgent},
		{"kept through a waitlisting and a reopen", []proto.Message{received(false), triaged(urgent), &pathwayv1.ReferralWaitlisted{Queue: "U1"},
			&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralReopened{Reason: "back"}}, urgent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var folded pathwayv1.Priority
			for _, e := range tc.events {
				folded = referral.PriorityAfter(folded, e)
			}
			if got := given(tc.events...).Priority(); got != tc.want || folded != got {
				t.Errorf("referral keeps %v, PriorityAfter gives %v; want both %v", got, folded, tc.want)
			}
		})
	}
}

func TestWaiting(t *testing.T) {
	waiting := map[referral.Status]bool{referral.StatusReceived: true, referral.StatusManualTriage: true, referral.StatusAccepted: true, referral.StatusWaitlisted: true}
	for _, s := range []referral.Status{referral.StatusReceived, referral.StatusManualTriage, referral.StatusAccepted, referral.StatusWaitlisted,
		referral.StatusAssigned, referral.StatusSignposted, referral.StatusDeclined, referral.StatusRedirected, referral.StatusDischarged,
		referral.StatusCancelled, referral.StatusMerged, ""} {
		if s.Waiting() != waiting[s] {
			t.Errorf("%q waiting: got %v, want %v", s, s.Waiting(), waiting[s])
		}
		if s.Waiting() && !s.Active() {
			t.Errorf("%q waits but is not active", s)
		}
	}
}
