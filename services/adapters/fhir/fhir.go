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
//
// The status back (task.go): a referral's status reads as the
// ServiceRequest's (referral.FHIRStatus) and as a Task whose id is the
// referral's (StageOf, EncodeTask), in the closed-loop referral style:
//
//	pathway status    ServiceRequest   Task              why (statusReason, and the ServiceRequest's request-statusReason extension)
//	received          active           requested
//	awaiting_triage   active           received
//	accepted          active           accepted
//	waitlisted        active           accepted
//	assigned          active           in-progress
//	signposted        completed        completed
//	declined          revoked          rejected          declined: the decline reason
//	redirected        revoked          rejected          redirected: the destination
//	discharged        completed        completed         (output discharge-reason: the reason and the SNOMED CT code)
//	cancelled         revoked          cancelled         revoked
//	  entered in error entered-in-error entered-in-error  entered-in-error
//	merged            revoked          cancelled         merged
//
// Task.businessStatus is the pathway status (SystemStage). A declined
// referral is revoked, never completed: it ended before anything was
// done. An update (update.go) only cancels: status revoked or
// entered-in-error, identifying elements unchanged. CapabilityStatement
// (capability.go) lists what the front door supports.
package fhir

import (
	"encoding/json"
	"fmt"
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
	Extension      []extension       `json:"extension,omitempty"`
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
