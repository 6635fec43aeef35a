package fhir_test

import (
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/fhir"
)

// message is a small BaRS message: the requester a Practitioner whose
// PractitionerRole names the organisation, the GP an Organization by
// urn:uuid, the person's phone on a ONESELF contact, the consent a bare
// date, the Consent an entry of the Bundle. edits replace text in it.
func message(edits ...string) []byte {
	m := `{"resourceType": "Bundle", "id": "b1", "type": "message", "entry": [
 {"fullUrl": "urn:uuid:h", "resource": {"resourceType": "MessageHeader",
   "eventCoding": {"system": "https://fhir.nhs.uk/CodeSystem/message-events-bars", "code": "servicerequest-request"},
   "reason": {"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/message-reason-bars", "code": "new"}]},
   "sender": {"reference": "urn:uuid:sender"}, "focus": [{"reference": "urn:uuid:sr"}]}},
 {"fullUrl": "urn:uuid:sr", "resource": {"resourceType": "ServiceRequest", "status": "active", "intent": "plan",
   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]},
   "reasonCode": [{"coding": [{"system": "https://pathway.example/fhir/CodeSystem/need", "code": "loneliness"}]}],
   "subject": {"reference": "Patient/p1"}, "authoredOn": "2021-11",
   "requester": {"reference": "urn:uuid:prac"}}},
 {"fullUrl": "https://example.org/fhir/Patient/p1", "resource": {"resourceType": "Patient",
   "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
   "name": [{"family": "Jones", "given": ["Julie"]}], "birthDate": "1959-05-04", "address": [{"postalCode": "TS1 3BA"}],
   "contact": [
     {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}]}], "telecom": [{"system": "phone", "value": "07700900999"}]},
     {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "ONESELF"}]}],
      "telecom": [{"system": "phone", "value": "01138698975", "rank": 2}, {"system": "phone", "value": "07736312544", "rank": 1}]}],
   "generalPractitioner": [{"reference": "urn:uuid:gp"}]}},
 {"fullUrl": "urn:uuid:gp", "resource": {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/id/ods-organization-code", "value": "A81002"}], "name": "Surgery"}},
 {"fullUrl": "urn:uuid:prac", "resource": {"resourceType": "Practitioner", "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "PT1"}], "name": [{"family": "BLAKE", "given": ["Marcy"]}]}},
 {"fullUrl": "urn:uuid:role", "resource": {"resourceType": "PractitionerRole", "practitioner": {"reference": "urn:uuid:prac"}, "organization": {"reference": "urn:uuid:org"}}},
 {"fullUrl": "urn:uuid:org", "resource": {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}], "name": "Referring Practice"}},
 {"fullUrl": "urn:uuid:sender", "resource": {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/id/ods-organization-code", "value": "RND"}], "name": "Sender"}},
 {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Consent", "status": "active", "dateTime": "2021-11-26"}},
 {"fullUrl": "urn:uuid:other", "resource": {"resourceType": "Flag", "status": "active"}}
]}`
	return []byte(strings.NewReplacer(edits...).Replace(m))
}

func TestDecodeMessage(t *testing.T) {
	m := fhir.DecodeMessage(message())
	if len(m.Issues) > 0 {
		t.Fatalf("issues: %+v", m.Issues)
	}
	s := m.Submission
	for _, c := range []struct{ what, got, want string }{
		{"kind", m.Kind, fhir.KindNew},
		{"sender reference (the focus's fullUrl)", s.SenderReference, "urn:uuid:sr"},
		{"patient by relative reference, NHS number", s.Person.NHSNumber, "9434765919"},
		{"phone: the ONESELF contact's, best ranked", s.Person.Phone, "07736312544"},
		{"GP from a referenced Organization, lower-case id", s.GPPractice, "A81002"},
		{"requester organisation from the PractitionerRole", s.Referrer.Organisation, "A81001"},
		{"requester organisation name", s.Referrer.OrganisationName, "Referring Practice"},
		{"requester name from the Practitioner", s.Referrer.Name, "Marcy BLAKE"},
		{"practitioner identifier", s.Referrer.Practitioner, "https://fhir.nhs.uk/Id/sds-role-profile-id|PT1"},
		{"authoredOn as sent (month precision)", s.AuthoredOn, "2021-11"},
		{"consent date as sent", s.Consent.RecordedAt, "2021-11-26"},
		{"consent recorded by the referrer", s.Consent.RecordedBy, "Marcy BLAKE"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	if !m.SocialPrescribing {
		t.Error("not taken as social prescribing")
	}
	if errs := s.Validate(now); errs != nil {
		t.Errorf("the submission is invalid: %+v", errs)
	}
}

func TestDecodeMessageVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []string
		check func(m fhir.Message) string
	}{
		{"requester without an organisation falls back to the sender", []string{`"organization": {"reference": "urn:uuid:org"}`, `"code": []`},
			func(m fhir.Message) string { return m.Submission.Referrer.Organisation + " " + m.Organisation }},
		{"GP by identifier, upper-case Id", []string{`"generalPractitioner": [{"reference": "urn:uuid:gp"}]`, `"generalPractitioner": [{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81003"}}]`},
			func(m fhir.Message) string { return m.Submission.GPPractice }},
		{"GP by an unresolvable reference is not the requester's", []string{`"reference": "urn:uuid:gp"`, `"reference": "urn:uuid:nowhere"`},
			func(m fhir.Message) string { return m.Submission.GPPractice + " " + strings.Join(exprs(m.Issues), ",") }},
		{"Patient.telecom wins over contacts", []string{`"birthDate"`, `"telecom": [{"system": "email", "value": "j@example.org"}], "birthDate"`},
			func(m fhir.Message) string { return m.Submission.Person.Phone + " " + m.Submission.Person.Email }},
		{"service named by the performer's HealthcareService type", []string{`"code": {"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]}`,
			`"performer": [{"reference": "urn:uuid:hs"}]`, `{"fullUrl": "urn:uuid:other"`,
			`{"fullUrl": "urn:uuid:hs", "resource": {"resourceType": "HealthcareService", "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]}]}}, {"fullUrl": "urn:uuid:other"`},
			func(m fhir.Message) string {
				return map[bool]string{true: "social", false: "other"}[m.SocialPrescribing]
			}},
		{"another service", []string{"871731000000106", "792891000000102"},
			func(m fhir.Message) string {
				return map[bool]string{true: "social", false: "other"}[m.SocialPrescribing]
			}},
		{"contained #id resolves", []string{`"subject": {"reference": "Patient/p1"}`, `"contained": [{"resourceType": "Patient", "id": "cp", "name": [{"family": "Contained"}]}], "subject": {"reference": "#cp"}`},
			func(m fhir.Message) string { return m.Submission.Person.FamilyName }},
		{"cancellation", []string{`"code": "new"`, `"code": "update"`, `"status": "active", "intent"`, `"status": "revoked", "intent"`},
			func(m fhir.Message) string { return m.Kind + " " + m.Status + " " + strings.Join(m.References, ",") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fhir.DecodeMessage(message(tc.edits...))
			got := tc.check(m)
			want := map[string]string{
				"requester without an organisation falls back to the sender": "RND RND",
				"GP by identifier, upper-case Id":                            "A81003",
				"GP by an unresolvable reference is not the requester's":     " Patient.generalPractitioner",
				"Patient.telecom wins over contacts":                         " j@example.org",
				"service named by the performer's HealthcareService type":    "social",
				"another service":        "other",
				"contained #id resolves": "Contained",
				"cancellation":           "cancel revoked urn:uuid:sr",
			}[tc.name]
			if got != want {
				t.Errorf("got %q, want %q (issues %+v)", got, want, m.Issues)
			}
		})
	}
}

func exprs(issues []fhir.Issue) []string {
	var out []string
	for _, is := range issues {
		out = append(out, is.Expression...)
	}
	return out
}

// TestAllIssuesAtOnce: structure and field issues come in one list, even
// when no requester organisation was found.
func TestAllIssuesAtOnce(t *testing.T) {
	m := fhir.DecodeMessage(message(
		`"requester": {"reference": "urn:uuid:prac"}`, `"requester": {"reference": "urn:uuid:nobody"}`,
		`"sender": {"reference": "urn:uuid:sender"}, `, ``,
		`"birthDate": "1959-05-04"`, `"birthDate": "2999-01-01"`,
		`"dateTime": "2021-11-26"`, `"dateTime": "26/11/2021"`,
		`"intent": "plan"`, `"intent": "proposal"`))
	got := map[string]bool{}
	for _, e := range exprs(fhir.AllIssues(m.Submission, m.Issues, now)) {
		got[e] = true
	}
	for _, want := range []string{"ServiceRequest.requester.reference", "ServiceRequest.intent", "Patient.birthDate", "Consent.dateTime", "ServiceRequest.requester.display"} {
		if !got[want] {
			t.Errorf("no issue at %s; got %v", want, got)
		}
	}
}
