package fhir

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/domain/referral"
)

// View is a stored referral as the FHIR front door shows it.
type View struct {
	ID string
	// Status is active, revoked, entered-in-error or completed: the
	// ServiceRequest's status, Stage.Request.
	Status string
	// Stage is the finer stage, which the Task shows (EncodeTask); its
	// Reason is the ServiceRequest's request-statusReason extension too.
	Stage      Stage
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
		p.Communication = []communication{{Language: codeableConcept{Coding: []coding{{System: cmp.Or(s.Person.LanguageSystem, SystemBCP47), Code: s.Person.Language}}}}}
	}
	p.Gender = genderOf(s.Person.Sex)
	if display, ok := referral.EthnicCategoryDisplay(s.Person.Ethnicity); ok {
		p.Extension = []extension{{URL: ExtensionEthnicCategory, ValueCodeableConcept: &codeableConcept{
			Coding: []coding{{System: SystemEthnicCategory, Code: s.Person.Ethnicity, Display: display}}}}}
	}
	if s.GPPractice != "" {
		p.GeneralPractitioner = []reference{{Identifier: &identifier{System: SystemODS, Value: s.GPPractice}}}
	}
	// A valid R4 Consent: scope, category, the patient, and a policy rule
	// (ppc-1). The consent is to the referral, that is to sharing the
	// person's details with the service: a privacy consent (consentscope
	// patient-privacy, as BaRS's own examples have it), in the document
	// category LOINC 59284-0 Patient Consent, given by opting in.
	c := consent{ResourceType: "Consent", ID: "consent", Status: "inactive", DateTime: s.Consent.RecordedAt,
		Scope:      &codeableConcept{Coding: []coding{{System: SystemConsentScope, Code: "patient-privacy", Display: "Privacy Consent"}}},
		Category:   []codeableConcept{{Coding: []coding{{System: SystemLOINC, Code: "59284-0", Display: "Patient Consent"}}}},
		Patient:    &reference{Reference: "#patient"},
		PolicyRule: &codeableConcept{Coding: []coding{{System: SystemActCode, Code: "OPTOUT", Display: "opt-out"}}},
	}
	if s.Consent.Given {
		c.Status = "active"
		c.PolicyRule.Coding[0].Code, c.PolicyRule.Coding[0].Display = "OPTIN", "opt-in"
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
	category := codeableConcept{Coding: []coding{{System: SystemSource, Code: s.Source}}}
	for _, c := range s.Category {
		category.Coding = append(category.Coding, coding{System: c.System, Code: c.Code, Display: c.Display})
	}
	sr := serviceRequest{
		ResourceType:   "ServiceRequest",
		ID:             v.ID,
		Contained:      []json.RawMessage{pj, cj},
		Status:         v.Status,
		Intent:         "order",
		Category:       []codeableConcept{category},
		Priority:       urgencyToPriority[s.Urgency],
		Code:           &codeableConcept{Coding: []coding{{System: SystemSNOMED, Code: CodeSocialPrescribing, Display: "Referral to social prescribing service"}}},
		Subject:        &reference{Reference: "#patient"},
		Requester:      &reference{Identifier: &identifier{System: SystemODS, Value: s.Referrer.Organisation}, Display: s.Referrer.Name},
		SupportingInfo: []reference{{Reference: "#consent"}},
	}
	if r := v.Stage.Reason; r != nil {
		sr.Extension = []extension{{URL: ExtensionStatusReason, ValueCodeableConcept: r.concept()}}
	}
	if s.Person.NHSNumber != "" {
		sr.Subject.Identifier = &identifier{System: SystemNHSNumber, Value: s.Person.NHSNumber}
	}
	if s.Referrer.Practitioner != "" || s.Referrer.OrganisationName != "" {
		// The requester as sent: the practitioner, in their role, at the
		// organisation.
		role, err := requesterRole(s.Referrer)
		if err != nil {
			return nil, err
		}
		sr.Contained = append(sr.Contained, role...)
		sr.Requester = &reference{Reference: "#requester", Type: "PractitionerRole", Display: s.Referrer.Name}
	}
	if v.VersionID != "" || !v.LastUpdated.IsZero() || v.Erased || len(s.Profiles) > 0 {
		sr.Meta = &meta{VersionID: v.VersionID, Profile: s.Profiles}
		if !v.LastUpdated.IsZero() {
			sr.Meta.LastUpdated = v.LastUpdated.UTC().Format(time.RFC3339Nano)
		}
		if v.Erased {
			sr.Meta.Tag = []coding{{System: SystemDataProtection, Code: TagErased, Display: "Personal data erased"}}
		}
	}
	if s.AuthoredOn != "" {
		sr.AuthoredOn = s.AuthoredOn // as sent
	} else if !v.AuthoredOn.IsZero() {
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

// requesterRole is the contained PractitionerRole "requester", with its
// Practitioner and Organization, of a referrer a FHIR sender named.
func requesterRole(r referral.Referrer) ([]json.RawMessage, error) {
	role := practitionerRole{ResourceType: "PractitionerRole", ID: "requester"}
	var out []json.RawMessage
	if r.Practitioner != "" {
		system, value, _ := strings.Cut(r.Practitioner, "|")
		p := practitioner{ResourceType: "Practitioner", ID: "requester-practitioner", Identifier: []identifier{{System: system, Value: value}}}
		if r.Name != "" {
			p.Name = []humanName{{Text: r.Name}}
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		role.Practitioner = &reference{Reference: "#requester-practitioner"}
	} else if r.Name != "" {
		role.Practitioner = &reference{Display: r.Name}
	}
	org := organization{ResourceType: "Organization", ID: "requester-organization", Name: r.OrganisationName}
	if r.Organisation != "" {
		org.Identifier = []identifier{{System: SystemODS, Value: r.Organisation}}
	}
	b, err := json.Marshal(org)
	if err != nil {
		return nil, err
	}
	out = append(out, b)
	role.Organization = &reference{Reference: "#requester-organization"}
	if r.Role != "" {
		role.Code = []codeableConcept{{Text: r.Role}}
	}
	b, err = json.Marshal(role)
	if err != nil {
		return nil, err
	}
	return append([]json.RawMessage{b}, out...), nil
}
