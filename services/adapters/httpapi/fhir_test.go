package httpapi_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

func TestFHIRFrontDoor(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	body, err := os.ReadFile("../fhir/testdata/gp-referral.json")
	if err != nil {
		t.Fatal(err)
	}
	var sr struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
		Status       string `json:"status"`
		Subject      struct {
			Identifier struct{ Value string } `json:"identifier"`
		} `json:"subject"`
	}
	code, hdr := p.do("POST", "/fhir/r4/ServiceRequest", ref, body, &sr, "Content-Type", "application/fhir+json")
	if code != http.StatusCreated || sr.ResourceType != "ServiceRequest" || sr.ID == "" || sr.Status != "active" {
		t.Fatalf("POST ServiceRequest: %d %+v", code, sr)
	}
	if hdr.Get("Content-Type") != "application/fhir+json" || hdr.Get("Location") != "/fhir/r4/ServiceRequest/"+sr.ID {
		t.Errorf("headers: %v", hdr)
	}
	var read struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if code, _ := p.do("GET", "/fhir/r4/ServiceRequest/"+sr.ID, ref, nil, &read); code != http.StatusOK || read.ID != sr.ID || read.Status != "active" {
		t.Fatalf("GET ServiceRequest: %d %+v", code, read)
	}
	// The same referral through the JSON API.
	var v view
	if code, _ := p.do("GET", "/v1/referrals/"+sr.ID, ref, nil, &v); code != http.StatusOK || v.Referral.Person.NHSNumber != "9434765919" {
		t.Fatalf("GET /v1/referrals: %d %+v", code, v)
	}

	// A second open referral for the person is 409, as an OperationOutcome.
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code       string   `json:"code"`
			Expression []string `json:"expression"`
		} `json:"issue"`
	}
	if code, _ := p.do("POST", "/fhir/r4/ServiceRequest", ref, body, &oo, "Idempotency-Key", "other"); code != http.StatusConflict || oo.ResourceType != "OperationOutcome" || oo.Issue[0].Code != "duplicate" {
		t.Fatalf("duplicate: %d %+v", code, oo)
	}

	// Cancelled as entered in error: the ServiceRequest says so.
	p.do("POST", "/v1/referrals/"+sr.ID+"/cancel", ref, map[string]string{"reason": "entered-in-error", "note": "wrong patient"}, nil)
	p.do("GET", "/fhir/r4/ServiceRequest/"+sr.ID, ref, nil, &read)
	if read.Status != "entered-in-error" {
		t.Fatalf("after cancel: status %q, want entered-in-error", read.Status)
	}

	// An invalid request lists every issue, and leaves nothing in the log.
	before := p.logLength()
	bad := strings.NewReplacer("9434765919", "9434765918", `"birthDate": "1956-03-14"`, `"birthDate": "2999-01-01"`, "871731000000106", "1").Replace(string(body))
	code, hdr = p.do("POST", "/fhir/r4/ServiceRequest", ref, bad, &oo)
	if code != http.StatusBadRequest || oo.ResourceType != "OperationOutcome" || hdr.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("invalid: %d %+v", code, oo)
	}
	exprs := map[string]bool{}
	for _, is := range oo.Issue {
		for _, e := range is.Expression {
			exprs[e] = true
		}
	}
	for _, want := range []string{"ServiceRequest.code", "ServiceRequest.subject.identifier", "Patient.birthDate"} {
		if !exprs[want] {
			t.Errorf("no issue at %s; got %+v", want, oo.Issue)
		}
	}
	if after := p.logLength(); after != before {
		t.Fatalf("an invalid ServiceRequest grew the log from %d to %d", before, after)
	}
	if code, _ := p.do("GET", "/fhir/r4/ServiceRequest/"+sr.ID, p.key(keys.RoleReferrer, "B82002"), nil, nil); code != http.StatusNotFound {
		t.Fatalf("another organisation's ServiceRequest: %d, want 404", code)
	}
}
