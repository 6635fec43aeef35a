// Package fhir is pathway's FHIR R4 front door, in the style of the NHS
// Booking and Referral Standard (BaRS) on UK Core: a referral is a
// ServiceRequest, and errors are an OperationOutcome that lists every
// issue. It maps a ServiceRequest to the same referral.Submission as the
// JSON API, and a stored referral back to a ServiceRequest.
//
// The mapping (ServiceRequest element -> submission field):
//
//	status                      must be "active"; intent must be "order"
//	code.coding                 must include http://snomed.info/sct 871731000000106
//	subject.identifier          system https://fhir.nhs.uk/Id/nhs-number -> person.nhs_number
//	subject.reference "#id"     a contained Patient:
//	  name[0].given[0], family  -> person.given_name, family_name
//	  birthDate                 -> person.date_of_birth
//	  address[0].postalCode     -> person.postcode
//	  telecom system phone/email (first of each) -> person.phone, email
//	  communication[0].language.coding[0].code -> person.language
//	  generalPractitioner[0].identifier (ODS)  -> gp_practice
//	requester.identifier        system https://fhir.nhs.uk/Id/ods-organization-code -> referrer.organisation
//	requester.display           -> referrer.name
//	category.coding             system https://pathway.example/fhir/CodeSystem/referral-source -> source (default gp_practice)
//	reasonCode.coding           system https://pathway.example/fhir/CodeSystem/need -> needs
//	priority                    routine -> routine, urgent -> high, asap and stat -> urgent
//	note (authorString other than "safeguarding") -> what_matters
//	note with authorString "safeguarding" -> a safeguarding concern with its text
//	supportingInfo "#id"        a contained Consent: status active = consent given;
//	                            dateTime -> recorded_at; performer[0].display -> recorded_by
//	identifier                  system https://pathway.example/fhir/Id/external-reference -> external_reference
package fhir

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// ContentType is the media type of FHIR JSON.
const ContentType = "application/fhir+json"

// Code systems and identifier systems of the mapping.
const (
	SystemNHSNumber   = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODS         = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemSNOMED      = "http://snomed.info/sct"
	SystemNeed        = "https://pathway.example/fhir/CodeSystem/need"
	SystemSource      = "https://pathway.example/fhir/CodeSystem/referral-source"
	SystemExternalRef = "https://pathway.example/fhir/Id/external-reference"
	// CodeSocialPrescribing is SNOMED CT |Referral to social prescribing service|.
	CodeSocialPrescribing = "871731000000106"
)

// Issue is one OperationOutcome issue.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

func issue(code, expr, format string, args ...any) Issue {
	return Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{expr}}
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type annotation struct {
	AuthorString string `json:"authorString,omitempty"`
	Text         string `json:"text"`
}

type meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Tag         []coding `json:"tag,omitempty"`
}

type serviceRequest struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id,omitempty"`
	Meta           *meta             `json:"meta,omitempty"`
	Contained      []json.RawMessage `json:"contained,omitempty"`
	Identifier     []identifier      `json:"identifier,omitempty"`
	Status         string            `json:"status"`
	Intent         string            `json:"intent"`
	Category       []codeableConcept `json:"category,omitempty"`
	Priority       string            `json:"priority,omitempty"`
	Code           *codeableConcept  `json:"code,omitempty"`
	Subject        *reference        `json:"subject,omitempty"`
	AuthoredOn     string            `json:"authoredOn,omitempty"`
	Requester      *reference        `json:"requester,omitempty"`
	ReasonCode     []codeableConcept `json:"reasonCode,omitempty"`
	SupportingInfo []reference       `json:"supportingInfo,omitempty"`
	Note           []annotation      `json:"note,omitempty"`
}

type humanName struct {
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type address struct {
	PostalCode string `json:"postalCode,omitempty"`
}

type communication struct {
	Language codeableConcept `json:"language"`
}

type patient struct {
	ResourceType        string          `json:"resourceType"`
	ID                  string          `json:"id,omitempty"`
	Identifier          []identifier    `json:"identifier,omitempty"`
	Name                []humanName     `json:"name,omitempty"`
	Telecom             []contactPoint  `json:"telecom,omitempty"`
	BirthDate           string          `json:"birthDate,omitempty"`
	Address             []address       `json:"address,omitempty"`
	Communication       []communication `json:"communication,omitempty"`
	GeneralPractitioner []reference     `json:"generalPractitioner,omitempty"`
}

type consent struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id,omitempty"`
	Status       string      `json:"status"`
	DateTime     string      `json:"dateTime,omitempty"`
	Performer    []reference `json:"performer,omitempty"`
}

var priorityToUrgency = map[string]string{"routine": "routine", "urgent": "high", "asap": "urgent", "stat": "urgent"}
var urgencyToPriority = map[string]string{"routine": "routine", "high": "urgent", "urgent": "asap"}

// DecodeServiceRequest maps a ServiceRequest to a submission, reporting
// every problem it finds. It never panics. The submission still needs
// Validate; the issues here are about the FHIR structure.
func DecodeServiceRequest(body []byte) (referral.Submission, []Issue) {
	var sub referral.Submission
	var sr serviceRequest
	if err := json.Unmarshal(body, &sr); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return sub, []Issue{issue("structure", "ServiceRequest."+te.Field, "element %s has the wrong JSON type: want %s", te.Field, te.Type.Kind())}
		}
		return sub, []Issue{issue("structure", "ServiceRequest", "the body is not a JSON object")}
	}
	if sr.ResourceType != "ServiceRequest" {
		return sub, []Issue{issue("invalid", "ServiceRequest.resourceType", "resourceType must be ServiceRequest")}
	}
	var issues []Issue
	if sr.Status != "active" {
		issues = append(issues, issue("value", "ServiceRequest.status", "status must be active for a new referral"))
	}
	if sr.Intent != "order" {
		issues = append(issues, issue("value", "ServiceRequest.intent", "intent must be order"))
	}
	if !hasCoding(sr.Code, SystemSNOMED, CodeSocialPrescribing) {
		issues = append(issues, issue("value", "ServiceRequest.code", "code must include SNOMED CT %s (Referral to social prescribing service)", CodeSocialPrescribing))
	}

	contained := map[string]json.RawMessage{}
	for _, raw := range sr.Contained {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &head) == nil && head.ID != "" {
			contained["#"+head.ID] = raw
		}
	}

	// Subject: NHS number and the contained Patient.
	if sr.Subject == nil {
		issues = append(issues, issue("required", "ServiceRequest.subject", "subject is required"))
	} else {
		if id := sr.Subject.Identifier; id != nil {
			if id.System != SystemNHSNumber {
				issues = append(issues, issue("value", "ServiceRequest.subject.identifier.system", "the subject is identified by NHS number (system %s)", SystemNHSNumber))
			}
			sub.Person.NHSNumber = id.Value
		}
		if ref := sr.Subject.Reference; ref != "" {
			var p patient
			raw, ok := contained[ref]
			if !ok || json.Unmarshal(raw, &p) != nil || p.ResourceType != "Patient" {
				issues = append(issues, issue("structure", "ServiceRequest.subject.reference", "subject.reference must name a contained Patient"))
			} else {
				fillPerson(&sub, p)
			}
		} else {
			issues = append(issues, issue("required", "ServiceRequest.subject.reference", "the person's details are required as a contained Patient referenced from subject"))
		}
	}

	// Requester: the referring organisation.
	if sr.Requester == nil || sr.Requester.Identifier == nil || sr.Requester.Identifier.System != SystemODS {
		issues = append(issues, issue("required", "ServiceRequest.requester.identifier", "the requester is identified by ODS code (system %s)", SystemODS))
	} else {
		sub.Referrer = referral.Referrer{Organisation: sr.Requester.Identifier.Value, Name: sr.Requester.Display}
	}
	if sub.GPPractice == "" {
		sub.GPPractice = sub.Referrer.Organisation
	}

	sub.Source = "gp_practice"
	for _, c := range sr.Category {
		for _, cd := range c.Coding {
			if cd.System == SystemSource {
				sub.Source = cd.Code
			}
		}
	}
	for _, rc := range sr.ReasonCode {
		found := false
		for _, cd := range rc.Coding {
			if cd.System == SystemNeed {
				sub.Needs = append(sub.Needs, cd.Code)
				found = true
			}
		}
		if !found && rc.Text != "" {
			sub.Needs = append(sub.Needs, rc.Text)
		}
	}
	if sr.Priority != "" {
		u, ok := priorityToUrgency[sr.Priority]
		if !ok {
			issues = append(issues, issue("value", "ServiceRequest.priority", "priority must be routine, urgent, asap or stat"))
		}
		sub.Urgency = u
	} else {
		sub.Urgency = "routine"
	}
	var notes []string
	for _, n := range sr.Note {
		if n.AuthorString == "safeguarding" {
			sub.Safeguarding = referral.Safeguarding{Concern: true, Details: n.Text}
			continue
		}
		notes = append(notes, n.Text)
	}
	sub.WhatMatters = strings.Join(notes, "\n")
	for _, id := range sr.Identifier {
		if id.System == SystemExternalRef {
			sub.ExternalReference = id.Value
		}
	}

	// Consent: a contained Consent from supportingInfo.
	consentFound := false
	for _, si := range sr.SupportingInfo {
		raw, ok := contained[si.Reference]
		var c consent
		if !ok || json.Unmarshal(raw, &c) != nil || c.ResourceType != "Consent" {
			continue
		}
		consentFound = true
		sub.Consent.Given = c.Status == "active"
		sub.Consent.RecordedAt = c.DateTime
		if len(c.Performer) > 0 {
			sub.Consent.RecordedBy = c.Performer[0].Display
		}
	}
	if !consentFound {
		issues = append(issues, issue("required", "ServiceRequest.supportingInfo", "consent to the referral is required: a contained Consent referenced from supportingInfo"))
	}
	return sub, issues
}

func fillPerson(sub *referral.Submission, p patient) {
	for _, id := range p.Identifier {
		if id.System == SystemNHSNumber && sub.Person.NHSNumber == "" {
			sub.Person.NHSNumber = id.Value
		}
	}
	if len(p.Name) > 0 {
		sub.Person.FamilyName = p.Name[0].Family
		sub.Person.GivenName = strings.Join(p.Name[0].Given, " ")
	}
	sub.Person.DateOfBirth = p.BirthDate
	if len(p.Address) > 0 {
		sub.Person.Postcode = p.Address[0].PostalCode
	}
	for _, t := range p.Telecom {
		switch {
		case t.System == "phone" && sub.Person.Phone == "":
			sub.Person.Phone = t.Value
		case t.System == "email" && sub.Person.Email == "":
			sub.Person.Email = t.Value
		}
	}
	if len(p.Communication) > 0 && len(p.Communication[0].Language.Coding) > 0 {
		sub.Person.Language = p.Communication[0].Language.Coding[0].Code
	}
	if len(p.GeneralPractitioner) > 0 {
		if id := p.GeneralPractitioner[0].Identifier; id != nil && id.System == SystemODS {
			sub.GPPractice = id.Value
		}
	}
}

func hasCoding(c *codeableConcept, system, code string) bool {
	if c == nil {
		return false
	}
	for _, cd := range c.Coding {
		if cd.System == system && cd.Code == code {
			return true
		}
	}
	return false
}

// fieldPaths maps submission fields to where they are in a ServiceRequest.
var fieldPaths = map[string]string{
	"source":                   "ServiceRequest.category",
	"referrer.name":            "ServiceRequest.requester.display",
	"referrer.organisation":    "ServiceRequest.requester.identifier",
	"person.nhs_number":        "ServiceRequest.subject.identifier",
	"person.given_name":        "Patient.name.given",
	"person.family_name":       "Patient.name.family",
	"person.date_of_birth":     "Patient.birthDate",
	"person.postcode":          "Patient.address.postalCode",
	"person.phone":             "Patient.telecom",
	"person.email":             "Patient.telecom",
	"person.language":          "Patient.communication.language",
	"gp_practice":              "Patient.generalPractitioner.identifier",
	"needs":                    "ServiceRequest.reasonCode",
	"what_matters":             "ServiceRequest.note",
	"urgency":                  "ServiceRequest.priority",
	"safeguarding.details":     "ServiceRequest.note",
	"consent.given":            "Consent.status",
	"consent.recorded_by":      "Consent.performer",
	"consent.recorded_at":      "Consent.dateTime",
	"external_reference":       "ServiceRequest.identifier",
	"person.preferred_contact": "Patient.telecom",
}

// IssuesFromFieldErrors turns the submission's invalid fields into
// OperationOutcome issues that point into the ServiceRequest: "required"
// for a missing field, "value" for a wrong one.
func IssuesFromFieldErrors(errs []kernel.FieldError) []Issue {
	out := make([]Issue, 0, len(errs))
	for _, e := range errs {
		field := e.Field
		if i := strings.IndexByte(field, '['); i >= 0 {
			field = field[:i]
		}
		path, ok := fieldPaths[field]
		if !ok {
			path = "ServiceRequest"
		}
		code := "value"
		if e.Missing {
			code = "required"
		}
		out = append(out, Issue{Severity: "error", Code: code, Diagnostics: e.Field + ": " + e.Reason, Expression: []string{path}})
	}
	return out
}

// OperationOutcome returns the OperationOutcome JSON listing issues.
func OperationOutcome(issues []Issue) []byte {
	b, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	return b
}

// View is a stored referral as the FHIR front door shows it.
type View struct {
	ID string
	// Status is active, revoked, entered-in-error or completed.
	Status     string
	Submission referral.Submission
	// Pseudonym, when not nil, is shown instead of Submission: the
	// Patient's name is the initials alone (name.text), and the Patient
	// has no identifier, birth date, address or telecom, the requester no
	// name, the consent no performer, and the notes no free text.
	Pseudonym   *referral.Pseudonym
	AuthoredOn  time.Time
	LastUpdated time.Time
	VersionID   string
	// Erased: the person's personal data was erased. The contained
	// Patient then carries nothing and the resource is tagged
	// TagErased.
	Erased bool
}

// SystemDataProtection is the code system of pathway's data protection
// tags; TagErased marks a resource whose personal data was erased.
const (
	SystemDataProtection = "https://pathway.example/fhir/CodeSystem/data-protection"
	TagErased            = "erased"
)

// EncodeServiceRequest returns the ServiceRequest of a stored referral.
// DecodeServiceRequest of its result gives back v.Submission (when v has
// no Pseudonym).
func EncodeServiceRequest(v View) ([]byte, error) {
	s := v.Submission
	if v.Pseudonym != nil {
		s = v.Pseudonym.Submission()
	}
	p := patient{ResourceType: "Patient", ID: "patient", BirthDate: s.Person.DateOfBirth}
	if s.Person.NHSNumber != "" {
		p.Identifier = []identifier{{System: SystemNHSNumber, Value: s.Person.NHSNumber}}
	}
	if v.Pseudonym != nil {
		p.Name = []humanName{{Text: v.Pseudonym.Person.Initials}}
	} else if s.Person.FamilyName != "" || s.Person.GivenName != "" {
		p.Name = []humanName{{Family: s.Person.FamilyName, Given: []string{s.Person.GivenName}}}
	}
	if s.Person.Postcode != "" {
		p.Address = []address{{PostalCode: s.Person.Postcode}}
	}
	if s.Person.Phone != "" {
		p.Telecom = append(p.Telecom, contactPoint{System: "phone", Value: s.Person.Phone})
	}
	if s.Person.Email != "" {
		p.Telecom = append(p.Telecom, contactPoint{System: "email", Value: s.Person.Email})
	}
	if s.Person.Language != "" {
		p.Communication = []communication{{Language: codeableConcept{Coding: []coding{{System: "urn:ietf:bcp:47", Code: s.Person.Language}}}}}
	}
	if s.GPPractice != "" {
		p.GeneralPractitioner = []reference{{Identifier: &identifier{System: SystemODS, Value: s.GPPractice}}}
	}
	c := consent{ResourceType: "Consent", ID: "consent", Status: "inactive", DateTime: s.Consent.RecordedAt}
	if s.Consent.Given {
		c.Status = "active"
	}
	if s.Consent.RecordedBy != "" {
		c.Performer = []reference{{Display: s.Consent.RecordedBy}}
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	cj, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	sr := serviceRequest{
		ResourceType:   "ServiceRequest",
		ID:             v.ID,
		Contained:      []json.RawMessage{pj, cj},
		Status:         v.Status,
		Intent:         "order",
		Category:       []codeableConcept{{Coding: []coding{{System: SystemSource, Code: s.Source}}}},
		Priority:       urgencyToPriority[s.Urgency],
		Code:           &codeableConcept{Coding: []coding{{System: SystemSNOMED, Code: CodeSocialPrescribing, Display: "Referral to social prescribing service"}}},
		Subject:        &reference{Reference: "#patient"},
		Requester:      &reference{Identifier: &identifier{System: SystemODS, Value: s.Referrer.Organisation}, Display: s.Referrer.Name},
		SupportingInfo: []reference{{Reference: "#consent"}},
	}
	if s.Person.NHSNumber != "" {
		sr.Subject.Identifier = &identifier{System: SystemNHSNumber, Value: s.Person.NHSNumber}
	}
	if v.VersionID != "" || !v.LastUpdated.IsZero() || v.Erased {
		sr.Meta = &meta{VersionID: v.VersionID}
		if !v.LastUpdated.IsZero() {
			sr.Meta.LastUpdated = v.LastUpdated.UTC().Format(time.RFC3339Nano)
		}
		if v.Erased {
			sr.Meta.Tag = []coding{{System: SystemDataProtection, Code: TagErased, Display: "Personal data erased"}}
		}
	}
	if !v.AuthoredOn.IsZero() {
		sr.AuthoredOn = v.AuthoredOn.UTC().Format(time.RFC3339)
	}
	for _, n := range s.Needs {
		sr.ReasonCode = append(sr.ReasonCode, codeableConcept{Coding: []coding{{System: SystemNeed, Code: n}}})
	}
	if s.WhatMatters != "" {
		sr.Note = append(sr.Note, annotation{Text: s.WhatMatters})
	}
	if s.Safeguarding.Concern {
		sr.Note = append(sr.Note, annotation{AuthorString: "safeguarding", Text: cmp.Or(s.Safeguarding.Details, "a safeguarding concern was raised; details withheld")})
	}
	if s.ExternalReference != "" {
		sr.Identifier = []identifier{{System: SystemExternalRef, Value: s.ExternalReference}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
