package httpapi

import (
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// FuzzSubmissionJSON feeds arbitrary bodies to the JSON front door's
// decoding and validation: it must never panic, and every body is either
// refused with a 4xx problem or becomes a valid ReferralReceived.
func FuzzSubmissionJSON(f *testing.F) {
	f.Add([]byte(`{"source": "gp_practice", "referrer": {"name": "Dr A Example", "role": "GP", "organisation": "A81001"}, "person": {"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Example", "date_of_birth": "1956-03-14", "postcode": "TS1 3BA", "phone": "07700900123", "preferred_contact": "phone", "language": "en", "interpreter_needed": false}, "gp_practice": "A81001", "needs": ["loneliness", "mental_health"], "what_matters": "x", "urgency": "routine", "safeguarding": {"concern": false}, "consent": {"given": true, "recorded_by": "Dr A Example", "recorded_at": "2026-11-20T10:00:00Z"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"needs": [1, 2]}`))
	f.Add([]byte(`{"person": {"date_of_birth": "9999-99-99"}}`))
	f.Add([]byte(`[`))
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var sub referral.Submission
		if err := strictJSON(body, &sub); err != nil {
			return // answered 400 invalid-json
		}
		ev, errs := sub.Event(now)
		if len(errs) > 0 {
			p, _ := problemOf(kernel.InvalidFields(errs...))
			if p.Status != 400 || len(p.Errors) != len(errs) {
				t.Fatalf("validation problem %+v", p)
			}
			return
		}
		if ev == nil || ev.GetPerson() == nil || len(ev.GetNeeds()) == 0 || !ev.GetConsent().GetGiven() {
			t.Fatalf("accepted body gave an incomplete event %v", ev)
		}
	})
}
