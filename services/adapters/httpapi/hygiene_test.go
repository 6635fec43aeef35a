package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// outcome is a FHIR OperationOutcome as the tests read it.
type outcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Code        string   `json:"code"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
	} `json:"issue"`
}

// TestContentTypeIsEnforced: a JSON endpoint takes application/json (a
// charset of utf-8 or none), the FHIR endpoint application/fhir+json or
// application/json; anything else, or nothing, is 415 in the endpoint's
// own error format, and the log does not move.
func TestContentTypeIsEnforced(t *testing.T) {
	t.Parallel()
	s := start(t)
	ref := s.key(keys.RoleReferrer, "A81001")
	admin := s.key(keys.RoleAdmin, "")
	fhirBody, err := os.ReadFile("../fhir/testdata/gp-referral.json")
	if err != nil {
		t.Fatal(err)
	}
	nhs := []string{"9434765919", "4010232137", "9876543210"}
	jsonBody := func() map[string]any {
		b := exampleReferral()
		b["person"].(map[string]any)["nhs_number"], nhs = nhs[0], nhs[1:]
		return b
	}
	for _, ct := range []string{"", "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
		"application/json; charset=latin1", "application/jsonx", "application/fhir+json"} {
		t.Run("JSON referral as "+ct, func(t *testing.T) {
			before := s.logLength()
			var p problem
			code, hdr := s.do("POST", "/v1/referrals", ref, exampleReferral(), &p, "Content-Type", ct)
			if code != http.StatusUnsupportedMediaType || p.Type != "https://pathway.example/problems/unsupported-media-type" ||
				!strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") || !strings.Contains(p.Detail, "application/json") {
				t.Fatalf("got %d %+v (%s), want 415 problem+json naming application/json", code, p, hdr.Get("Content-Type"))
			}
			if after := s.logLength(); after != before {
				t.Errorf("the log moved from %d to %d on a refused request", before, after)
			}
		})
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
		t.Run("JSON referral as "+ct, func(t *testing.T) {
			if code, _ := s.do("POST", "/v1/referrals", ref, jsonBody(), nil, "Content-Type", ct); code != http.StatusCreated {
				t.Fatalf("got %d, want 201", code)
			}
		})
	}
	t.Run("a command endpoint", func(t *testing.T) {
		var p problem
		code, _ := s.do("POST", "/v1/workers", admin, map[string]any{"name": "W", "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 1}, &p,
			"Content-Type", "text/plain")
		if code != http.StatusUnsupportedMediaType {
			t.Fatalf("got %d %+v, want 415", code, p)
		}
	})
	t.Run("the directory import", func(t *testing.T) {
		var p problem
		if code, _ := s.do("POST", "/v1/directory/import", admin, apitest.SmallHSDS, &p, "Content-Type", "text/csv"); code != http.StatusUnsupportedMediaType {
			t.Fatalf("got %d %+v, want 415", code, p)
		}
	})
	for _, ct := range []string{"", "text/plain", "application/fhir+xml", "application/xml"} {
		t.Run("FHIR ServiceRequest as "+ct, func(t *testing.T) {
			var oo outcome
			code, hdr := s.do("POST", "/fhir/r4/ServiceRequest", ref, fhirBody, &oo, "Content-Type", ct)
			if code != http.StatusUnsupportedMediaType || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != "not-supported" ||
				hdr.Get("Content-Type") != "application/fhir+json" {
				t.Fatalf("got %d %+v (%s), want 415 and an OperationOutcome", code, oo, hdr.Get("Content-Type"))
			}
		})
	}
	for i, ct := range []string{"application/fhir+json; fhirVersion=4.0", "application/json; charset=utf-8"} {
		t.Run("FHIR ServiceRequest as "+ct, func(t *testing.T) {
			body := strings.ReplaceAll(string(fhirBody), "9434765919", []string{"9000000009", "9000000017"}[i])
			if code, _ := s.do("POST", "/fhir/r4/ServiceRequest", ref, body, nil, "Content-Type", ct); code != http.StatusCreated {
				t.Fatalf("got %d, want 201", code)
			}
		})
	}
}

// TestBodiesMeanWhatTheySay: a body that is not UTF-8 or repeats a key is
// 400 naming the problem; names and free text with control, bidirectional
// or zero-width characters are 400 naming the field (the domain's rule,
// through the JSON API and FHIR alike); nothing reaches the log.
func TestBodiesMeanWhatTheySay(t *testing.T) {
	t.Parallel()
	s := start(t)
	ref := s.key(keys.RoleReferrer, "A81001")
	fhirBody, err := os.ReadFile("../fhir/testdata/gp-referral.json")
	if err != nil {
		t.Fatal(err)
	}
	example, _ := json.Marshal(exampleReferral())
	before := s.logLength()
	for _, tc := range []struct {
		name, body string
		want       string // in the detail
	}{
		{"invalid UTF-8 in a name", strings.Replace(string(example), `"Sam"`, "\"S\xffm\"", 1), "not valid UTF-8"},
		{"a repeated top-level key", strings.Replace(string(example), `{`, `{"urgency": "urgent", `, 1), `duplicate key "urgency"`},
		{"a repeated nested key", strings.Replace(string(example), `"given_name":"Sam"`, `"given_name":"Sam","given_name":"Eve"`, 1), `duplicate key "person.given_name"`},
	} {
		t.Run("JSON: "+tc.name, func(t *testing.T) {
			var p problem
			if code, _ := s.do("POST", "/v1/referrals", ref, tc.body, &p); code != http.StatusBadRequest || !strings.Contains(p.Detail, tc.want) {
				t.Fatalf("got %d %+v, want 400 saying %s", code, p, tc.want)
			}
		})
		t.Run("FHIR: "+tc.name, func(t *testing.T) {
			body := string(fhirBody)
			switch tc.name {
			case "invalid UTF-8 in a name":
				body = strings.Replace(body, `"Sam"`, "\"S\xffm\"", 1)
			case "a repeated top-level key":
				body = strings.Replace(body, `"intent": "order",`, `"intent": "order", "intent": "plan",`, 1)
			default:
				body = strings.Replace(body, `"birthDate": "1956-03-14",`, `"birthDate": "1956-03-14", "birthDate": "1966-03-14",`, 1)
			}
			var oo outcome
			code, _ := s.do("POST", "/fhir/r4/ServiceRequest", ref, body, &oo, "Content-Type", "application/fhir+json")
			if code != http.StatusBadRequest || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != "structure" {
				t.Fatalf("got %d %+v, want 400 with one structure issue", code, oo)
			}
			want := map[string]string{"invalid UTF-8 in a name": "not valid UTF-8", "a repeated top-level key": `duplicate key "intent"`}[tc.name]
			if want == "" {
				want = `duplicate key "contained[0].birthDate"`
			}
			if !strings.Contains(oo.Issue[0].Diagnostics, want) {
				t.Errorf("diagnostics %q, want it to say %s", oo.Issue[0].Diagnostics, want)
			}
		})
	}
	for _, tc := range []struct {
		name, field string
		set         func(b map[string]any)
	}{
		{"NUL in the given name", "person.given_name", func(b map[string]any) { b["person"].(map[string]any)["given_name"] = "Sam\x00" }},
		{"a line break in the family name", "person.family_name", func(b map[string]any) { b["person"].(map[string]any)["family_name"] = "Exam\r\nple" }},
		{"a right-to-left override in what matters", "what_matters", func(b map[string]any) { b["what_matters"] = "walks \u202eskrow" }},
		{"a zero-width space in the referrer's name", "referrer.name", func(b map[string]any) { b["referrer"].(map[string]any)["name"] = "Dr A\u200b Example" }},
	} {
		t.Run("JSON: "+tc.name, func(t *testing.T) {
			b := exampleReferral()
			tc.set(b)
			var p problem
			code, _ := s.do("POST", "/v1/referrals", ref, b, &p)
			if code != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Fatalf("got %d %+v, want 400 naming %s", code, p, tc.field)
			}
		})
	}
	t.Run("FHIR: a bidirectional isolate in the family name", func(t *testing.T) {
		body := strings.Replace(string(fhirBody), `"family": "Example"`, `"family": "Exa\u2067mple"`, 1)
		var oo outcome
		code, _ := s.do("POST", "/fhir/r4/ServiceRequest", ref, body, &oo, "Content-Type", "application/fhir+json")
		if code != http.StatusBadRequest || len(oo.Issue) != 1 || len(oo.Issue[0].Expression) != 1 || !strings.Contains(oo.Issue[0].Expression[0], "family") ||
			!strings.Contains(oo.Issue[0].Diagnostics, "bidirectional") {
			t.Fatalf("got %d %+v, want 400 with an issue on the family name", code, oo)
		}
	})
	if after := s.logLength(); after != before {
		t.Errorf("the log moved from %d to %d; refused requests must leave nothing", before, after)
	}
}
