package fhir_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/adapters/fhir/fhirtest"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRealisticServiceRequests(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, s referral.Submission)
	}{
		{"gp-referral.json", func(t *testing.T, s referral.Submission) {
			want := referral.Submission{
				Source:   "gp_practice",
				Referrer: referral.Referrer{Name: "Dr A Example", Organisation: "A81001"},
				Person: referral.Person{NHSNumber: "9434765919", GivenName: "Sam", FamilyName: "Example", DateOfBirth: "1956-03-14",
					Postcode: "TS1 3BA", Phone: "07700900123", Language: "en"},
				GPPractice:  "A81001",
				Needs:       []string{"loneliness", "mental_health"},
				WhatMatters: "Wants to get out of the house and meet people again",
				Urgency:     "routine",
				Consent:     referral.Consent{Given: true, RecordedBy: "Dr A Example", RecordedAt: "2026-11-20T10:00:00Z"},
				AuthoredOn:  "2026-11-20T10:05:00Z",
			}
			if !reflect.DeepEqual(s, want) {
				t.Fatalf("got  %+v\nwant %+v", s, want)
			}
		}},
		{"spoc-asap.json", func(t *testing.T, s referral.Submission) {
			if s.Source != "spoc" || s.Urgency != "urgent" || s.ExternalReference != "SPOC-2026-0042" || s.GPPractice != "A81002" ||
				strings.Join(s.Needs, ",") != "debt,housing,employment" || s.Person.Email != "alex.tester@example.org" || s.Person.GivenName != "Alex J" ||
				s.Person.Sex != "female" || s.Person.Ethnicity != "N" {
				t.Fatalf("got %+v", s)
			}
		}},
		{"safeguarding.json", func(t *testing.T, s referral.Submission) {
			if !s.Safeguarding.Concern || !strings.Contains(s.Safeguarding.Details, "self-neglect") || s.WhatMatters != "Lives alone after bereavement; would like company" ||
				s.Source != "hospital" || s.Urgency != "high" || s.GPPractice != "A81003" ||
				s.Person.Sex != "indeterminate" || s.Person.Ethnicity != "" {
				t.Fatalf("got %+v", s)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, issues := fhir.DecodeServiceRequest(read(t, tc.file))
			if len(issues) > 0 {
				t.Fatalf("issues: %+v", issues)
			}
			if errs := s.Validate(now); len(errs) > 0 {
				t.Fatalf("mapped submission is invalid: %+v", errs)
			}
			tc.check(t, s)
			// Round trip: encode the stored form and read it back.
			out, err := fhir.EncodeServiceRequest(fhir.View{ID: "r1", Status: "active", Submission: s, AuthoredOn: now, VersionID: "7"})
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Validate(t, out)
			back, issues := fhir.DecodeServiceRequest(out)
			if s.AuthoredOn == "" {
				s.AuthoredOn = now.Format(time.RFC3339) // not sent: the receipt time
			}
			if len(issues) > 0 || !reflect.DeepEqual(back, s) {
				t.Fatalf("round trip: issues %+v\n got  %+v\nwant %+v", issues, back, s)
			}
		})
	}
}

func TestInvalidServiceRequests(t *testing.T) {
	good := string(read(t, "gp-referral.json"))
	for _, tc := range []struct {
		name string
		body string
		want []string // expressions that must be reported
	}{
		{"wrong resource type", `{"resourceType": "Patient"}`, []string{"ServiceRequest.resourceType"}},
		{"draft, wrong code, no consent, together", strings.NewReplacer(`"status": "active",
  "intent"`, `"status": "draft",
  "intent"`, "871731000000106", "123456", `"supportingInfo": [{"reference": "#consent"}],`, "").Replace(good),
			[]string{"ServiceRequest.status", "ServiceRequest.code", "ServiceRequest.supportingInfo"}},
		{"subject as a string", `{"resourceType": "ServiceRequest", "subject": "Sam"}`, []string{"ServiceRequest.subject"}},
		{"malformed JSON", `{"resourceType": "ServiceRequest",`, []string{"ServiceRequest"}},
		{"a gender FHIR does not define, an ethnic category England does not", strings.Replace(good, `"resourceType": "Patient",`,
			`"resourceType": "Patient", "gender": "woman", "extension": [{"url": "`+fhir.ExtensionEthnicCategory+`", "valueCodeableConcept": {"coding": [{"system": "`+fhir.SystemEthnicCategory+`", "code": "I"}]}}],`, 1),
			[]string{"Patient.gender", "Patient.extension"}},
		{"requester without ODS", strings.Replace(good, "https://fhir.nhs.uk/Id/ods-organization-code\", \"value\": \"A81001\"}, \"display\"", "urn:other\", \"value\": \"A81001\"}, \"display\"", 1),
			[]string{"ServiceRequest.requester.identifier"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, structure := fhir.DecodeServiceRequest([]byte(tc.body))
			issues := fhir.AllIssues(sub, structure, now)
			got := map[string]bool{}
			for _, is := range issues {
				if is.Severity != "error" || is.Code == "" || is.Diagnostics == "" {
					t.Errorf("incomplete issue %+v", is)
				}
				for _, e := range is.Expression {
					got[e] = true
				}
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("no issue at %s; got %+v", w, issues)
				}
			}
		})
	}
}

func TestOperationOutcome(t *testing.T) {
	issues := fhir.IssuesFromFieldErrors([]kernel.FieldError{
		{Field: "person.nhs_number", Reason: "must be a 10-digit NHS number with a valid check digit"},
		{Field: "needs[0]", Reason: "must be one of loneliness"},
	})
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity, Code, Diagnostics string
			Expression                  []string
		} `json:"issue"`
	}
	if err := json.Unmarshal(fhir.OperationOutcome(issues), &oo); err != nil {
		t.Fatal(err)
	}
	if oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 2 || oo.Issue[0].Expression[0] != "ServiceRequest.subject.identifier" ||
		oo.Issue[1].Expression[0] != "ServiceRequest.reasonCode" || oo.Issue[0].Severity != "error" {
		t.Fatalf("got %+v", oo)
	}
}

// FuzzDecodeServiceRequest: never a panic; either issues or a submission.
func FuzzDecodeServiceRequest(f *testing.F) {
	for _, name := range []string{"gp-referral.json", "spoc-asap.json", "safeguarding.json"} {
		f.Add(read(f, name))
	}
	f.Add([]byte(`{"resourceType": "ServiceRequest", "contained": [1, "x", {"id": 3}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, issues := fhir.DecodeServiceRequest(body)
		if len(issues) == 0 && s.Referrer.Organisation == "" {
			t.Fatalf("no issues but no requester")
		}
		for _, is := range issues {
			if is.Severity != "error" || len(is.Expression) == 0 {
				t.Fatalf("incomplete issue %+v", is)
			}
		}
	})
}
