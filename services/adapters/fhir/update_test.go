package fhir_test

import (
	"strings"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// TestUpdateOnlyCancels: an update is read for its id, its status and
// the elements that say which referral it is; it cancels (revoked,
// entered-in-error) and changes nothing else.
func TestUpdateOnlyCancels(t *testing.T) {
	const id = "0b0e5f52-6a7e-4f4b-9d3a-1f7c2e7d9a10"
	held := referral.Submission{Referrer: referral.Referrer{Organisation: "A81001"}, Person: referral.Person{NHSNumber: "9434765919"}}
	sr := func(fields string) string {
		return `{"resourceType":"ServiceRequest","id":"` + id + `","intent":"order"` + fields + `}`
	}
	for _, tc := range []struct {
		name, body  string
		badRequest  []string // expressions of the 400 issues
		unprocessed []string // expressions of the 422 issues
		reason      pathwayv1.CancelReason
	}{
		{"revoked, stripped back", sr(`,"status":"revoked"`), nil, nil, pathwayv1.CancelReason_CANCEL_REASON_REVOKED},
		{"entered in error, as read", sr(`,"status":"entered-in-error","subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}},` +
			`"requester":{"identifier":{"system":"https://fhir.nhs.uk/id/ods-organization-code","value":"a81001"}},"code":{"coding":[{"system":"http://snomed.info/sct","code":"871731000000106"}]}`),
			nil, nil, pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR},
		{"active: a change of details", sr(`,"status":"active","priority":"urgent"`), nil, []string{"ServiceRequest.status"}, 0},
		{"completed", sr(`,"status":"completed"`), nil, []string{"ServiceRequest.status"}, 0},
		{"another person, another requester, another service", sr(`,"status":"revoked","subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765064"}},` +
			`"requester":{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"B82002"}},"code":{"coding":[{"system":"http://snomed.info/sct","code":"1"}]}`),
			nil, []string{"ServiceRequest.subject.identifier", "ServiceRequest.requester.identifier", "ServiceRequest.code"}, 0},
		{"no such status, another id", `{"resourceType":"ServiceRequest","id":"other","status":"withdrawn"}`, []string{"ServiceRequest.id", "ServiceRequest.status"}, nil, 0},
		{"not a ServiceRequest", `{"resourceType":"Task","id":"` + id + `","status":"revoked"}`, []string{"ServiceRequest.resourceType"}, nil, 0},
		{"not JSON of a ServiceRequest", `{"resourceType":"ServiceRequest","status":7}`, []string{"ServiceRequest.status"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, issues := fhir.DecodeUpdate([]byte(tc.body), id)
			if got := expressions(issues); got != strings.Join(tc.badRequest, " ") {
				t.Fatalf("decode: got issues at %q, want %q (%+v)", got, strings.Join(tc.badRequest, " "), issues)
			}
			if len(issues) > 0 {
				return
			}
			reason, issues := u.Cancellation(held)
			if got := expressions(issues); got != strings.Join(tc.unprocessed, " ") {
				t.Fatalf("cancellation: got issues at %q, want %q (%+v)", got, strings.Join(tc.unprocessed, " "), issues)
			}
			if len(issues) == 0 && reason != tc.reason {
				t.Fatalf("got reason %v, want %v", reason, tc.reason)
			}
			for _, is := range issues {
				if is.Diagnostics == "" || strings.Contains(is.Diagnostics, "9434765064") {
					t.Errorf("issue %+v: want a message that names what cannot change, and no value sent", is)
				}
			}
		})
	}
}

func expressions(issues []fhir.Issue) string {
	var out []string
	for _, is := range issues {
		out = append(out, is.Expression...)
	}
	return strings.Join(out, " ")
}
