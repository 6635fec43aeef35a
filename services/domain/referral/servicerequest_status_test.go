package referral_test

import (
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// TestServiceRequestStatusIsFHIRStatus: the status feed's FHIR status,
// from a status and a cancel reason only, is what a read of the referral
// shows, in every status a referral can reach.
func TestServiceRequestStatusIsFHIRStatus(t *testing.T) {
	triaged := func(d pathwayv1.TriageDecision) proto.Message {
		return &pathwayv1.ReferralTriaged{Decision: d, DeclineReason: "RRNA", RedirectDestination: "crisis team"}
	}
	accepted := triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT)
	for name, evs := range map[string][]proto.Message{
		"received":         nil,
		"awaiting triage":  {triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL)},
		"accepted":         {accepted},
		"waitlisted":       {accepted, &pathwayv1.ReferralWaitlisted{Queue: "U12345"}},
		"assigned":         {accepted, &pathwayv1.ReferralAssigned{WorkerId: "w"}},
		"signposted":       {triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST)},
		"declined":         {triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE)},
		"redirected":       {triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT)},
		"discharged":       {accepted, &pathwayv1.ReferralAssigned{WorkerId: "w"}, &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}},
		"revoked":          {&pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}},
		"entered in error": {&pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}},
		"merged":           {&pathwayv1.ReferralMerged{IntoReferralId: "other"}},
		"reopened":         {accepted, &pathwayv1.ReferralAssigned{WorkerId: "w"}, &pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralReopened{}},
	} {
		changes := []kernel.Change{{Sequence: 1, Payload: &pathwayv1.ReferralReceived{}}}
		for i, e := range evs {
			changes = append(changes, kernel.Change{Sequence: uint64(i + 2), Payload: e})
		}
		r := referral.Replay("r", changes)
		if got, want := referral.ServiceRequestStatus(r.Status(), r.CancelReason()), r.FHIRStatus(); got != want {
			t.Errorf("%s (%s): ServiceRequestStatus %q, want FHIRStatus %q", name, r.Status(), got, want)
		}
	}
}

// TestReasonCode: only coded reasons, for declines, discharges and
// cancellations.
func TestReasonCode(t *testing.T) {
	for _, c := range []struct {
		ev   any
		want string
	}{
		{&pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, DeclineReason: "RRNA", Reason: "free text"}, "RRNA"},
		{&pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Reason: "free text"}, ""},
		{&pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, Note: "free text"}, "goals_met"},
		{&pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR, Note: "free text"}, "entered-in-error"},
		{&pathwayv1.ReferralAssigned{Reason: "free text"}, ""},
	} {
		if got := referral.ReasonCode(c.ev); got != c.want {
			t.Errorf("ReasonCode(%T) = %q, want %q", c.ev, got, c.want)
		}
	}
}
