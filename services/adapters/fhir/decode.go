package fhir

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

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
