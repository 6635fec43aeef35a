package referral_test

import (
	"errors"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// TestFHIRStatus walks a referral into every status and checks the FHIR
// ServiceRequest status it reads as: a referral declined or redirected by
// triage ended before anything was done, so it is revoked, never
// completed.
func TestFHIRStatus(t *testing.T) {
	cancelled := func(r pathwayv1.CancelReason) proto.Message { return &pathwayv1.ReferralCancelled{Reason: r} }
	for _, tc := range []struct {
		given      []proto.Message
		wantStatus referral.Status
		wantFHIR   string
	}{
		{[]proto.Message{received(false)}, referral.StatusReceived, "active"},
		{[]proto.Message{received(false), decision(manual, "r")}, referral.StatusManualTriage, "active"},
		{[]proto.Message{received(false), decision(accept, "r")}, referral.StatusAccepted, "active"},
		{[]proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralWaitlisted{Queue: "U1"}}, referral.StatusWaitlisted, "active"},
		{[]proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w"}}, referral.StatusAssigned, "active"},
		{[]proto.Message{received(false), decision(pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST, "r")}, referral.StatusSignposted, "completed"},
		{[]proto.Message{received(false), decision(decline, "r")}, referral.StatusDeclined, "revoked"},
		{[]proto.Message{received(false), decision(redirect, "r")}, referral.StatusRedirected, "revoked"},
		{[]proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}}, referral.StatusDischarged, "completed"},
		{[]proto.Message{received(false), cancelled(pathwayv1.CancelReason_CANCEL_REASON_REVOKED)}, referral.StatusCancelled, "revoked"},
		{[]proto.Message{received(false), cancelled(pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR)}, referral.StatusCancelled, "entered-in-error"},
		{[]proto.Message{received(false), &pathwayv1.ReferralMerged{IntoReferralId: "r2"}}, referral.StatusMerged, "revoked"},
	} {
		t.Run(string(tc.wantStatus)+" "+tc.wantFHIR, func(t *testing.T) {
			r := given(tc.given...)
			if r.Status() != tc.wantStatus || r.FHIRStatus() != tc.wantFHIR {
				t.Fatalf("got %s read as %s, want %s read as %s", r.Status(), r.FHIRStatus(), tc.wantStatus, tc.wantFHIR)
			}
		})
	}
	seen := map[referral.Status]bool{}
	for _, s := range referral.Statuses {
		seen[s] = true
	}
	if len(seen) != 11 {
		t.Errorf("referral.Statuses lists %d statuses, want the 11", len(seen))
	}
}

// TestAt: a command made against the referral's version goes on; against
// an older one it is ErrStale, a Conflict.
func TestAt(t *testing.T) {
	r := given(received(false), decision(accept, "r")) // version 2
	if err := r.At(2); err != nil {
		t.Fatalf("at its version: %v", err)
	}
	if err := r.At(1); !errors.Is(err, referral.ErrStale) || kernel.KindOf(err) != kernel.Conflict {
		t.Fatalf("at an old version: got %v, want ErrStale", err)
	}
}

// TestDischargedIsKeptUntilReopened: the discharge's reason and code are
// the referral's while it stays discharged.
func TestDischargedIsKeptUntilReopened(t *testing.T) {
	d := &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED,
		Code: &pathwayv1.Coded{System: "http://snomed.info/sct", Code: "871711000000103"}}
	r := given(received(false), decision(accept, "r"), d)
	if got := r.Discharged(); got.GetReason() != d.GetReason() || got.GetCode().GetCode() != "871711000000103" {
		t.Fatalf("discharged: got %v, want %v", got, d)
	}
	r = given(received(false), decision(accept, "r"), d, &pathwayv1.ReferralReopened{Reason: "back"})
	if r.Discharged() != nil {
		t.Fatalf("after a reopen: got %v, want nil", r.Discharged())
	}
}
