package referral

import pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"

// ServiceRequestStatus is the FHIR ServiceRequest status of a referral in
// status s, cancelled (when it was) for cancel: what (*Referral).FHIRStatus
// answers for a referral in that state, for read models that keep only
// the status and the cancel reason (the referrers' status feed and its
// webhooks). TestServiceRequestStatusIsFHIRStatus holds the two together.
func ServiceRequestStatus(s Status, cancel pathwayv1.CancelReason) string {
	r := Referral{status: s, cancelReason: cancel}
	return r.FHIRStatus()
}

// ReasonCode is the coded reason a referral closed with, as its status
// feed and webhooks show it: a decline's reason code (as triage recorded
// it), a discharge's reason (goals_met, disengaged, ...) or a
// cancellation's (revoked, entered-in-error); "" for any other event. It
// is never free text: each is classified coded.
func ReasonCode(p any) string {
	switch e := p.(type) {
	case *pathwayv1.ReferralTriaged:
		if e.GetDecision() == pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE {
			return e.GetDeclineReason()
		}
	case *pathwayv1.ReferralDischarged:
		if e.GetReason() != pathwayv1.DischargeReason_DISCHARGE_REASON_UNSPECIFIED {
			return WireName(e.GetReason().String(), "DISCHARGE_REASON_")
		}
	case *pathwayv1.ReferralCancelled:
		switch e.GetReason() {
		case pathwayv1.CancelReason_CANCEL_REASON_REVOKED:
			return "revoked"
		case pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR:
			return "entered-in-error"
		}
	}
	return ""
}
