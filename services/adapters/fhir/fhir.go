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
	"encoding/json"
	"fmt"
)

// ContentType is the media type of FHIR JSON.
const ContentType = "application/fhir+json"

// Code systems and identifier systems of the mapping.
const (
	SystemNHSNumber = "https://fhir.nhs.uk/Id/nhs-number"
	SystemBCP47     = "urn:ietf:bcp:47"
	// The code systems of the contained Consent (R4 value sets
	// consent-scope, consent-category and consent-policy).
	SystemConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope"
	SystemLOINC        = "http://loinc.org"
	SystemActCode      = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	// SystemRoleCode holds ONESELF, the relationship of a Patient.contact
	// that is the person themselves (BaRS puts the person's own phone and
	// email there).
	SystemRoleCode    = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
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
	Type       string      `json:"type,omitempty"`
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
	Profile     []string `json:"profile,omitempty"`
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
	Performer      []reference       `json:"performer,omitempty"`
	ReasonCode     []codeableConcept `json:"reasonCode,omitempty"`
	SupportingInfo []reference       `json:"supportingInfo,omitempty"`
	Note           []annotation      `json:"note,omitempty"`
}

type humanName struct {
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Rank   int    `json:"rank,omitempty"`
}

type patientContact struct {
	Relationship []codeableConcept `json:"relationship,omitempty"`
	Telecom      []contactPoint    `json:"telecom,omitempty"`
}

type address struct {
	PostalCode string `json:"postalCode,omitempty"`
}

type communication struct {
	Language codeableConcept `json:"language"`
}

type patient struct {
	ResourceType        string           `json:"resourceType"`
	ID                  string           `json:"id,omitempty"`
	Identifier          []identifier     `json:"identifier,omitempty"`
	Name                []humanName      `json:"name,omitempty"`
	Telecom             []contactPoint   `json:"telecom,omitempty"`
	Contact             []patientContact `json:"contact,omitempty"`
	BirthDate           string           `json:"birthDate,omitempty"`
	Address             []address        `json:"address,omitempty"`
	Communication       []communication  `json:"communication,omitempty"`
	GeneralPractitioner []reference      `json:"generalPractitioner,omitempty"`
}

type consent struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id,omitempty"`
	Status       string            `json:"status"`
	Scope        *codeableConcept  `json:"scope,omitempty"`
	Category     []codeableConcept `json:"category,omitempty"`
	Patient      *reference        `json:"patient,omitempty"`
	DateTime     string            `json:"dateTime,omitempty"`
	Performer    []reference       `json:"performer,omitempty"`
	PolicyRule   *codeableConcept  `json:"policyRule,omitempty"`
}

// The resources a ServiceRequest's references may name.
type organization struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id,omitempty"`
	Identifier   []identifier `json:"identifier,omitempty"`
	Name         string       `json:"name,omitempty"`
}

type practitioner struct {
	ResourceType string       `json:"resourceType"`
	ID           string       `json:"id,omitempty"`
	Identifier   []identifier `json:"identifier,omitempty"`
	Name         []humanName  `json:"name,omitempty"`
}

type practitionerRole struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id,omitempty"`
	Practitioner *reference        `json:"practitioner,omitempty"`
	Organization *reference        `json:"organization,omitempty"`
	Code         []codeableConcept `json:"code,omitempty"`
}

type healthcareService struct {
	ResourceType string            `json:"resourceType"`
	Category     []codeableConcept `json:"category,omitempty"`
	Type         []codeableConcept `json:"type,omitempty"`
	Specialty    []codeableConcept `json:"specialty,omitempty"`
}
