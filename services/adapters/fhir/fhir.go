// Package fhir is pathway's FHIR R4 front door, in the style of the NHS
// Booking and Referral Standard (BaRS) on UK Core: a referral is a
// ServiceRequest, sent alone with its resources contained
// (DecodeServiceRequest) or as the focus of a BaRS message Bundle
// (DecodeMessage, answered by EncodeResponse); errors are an
// OperationOutcome that lists every issue (AllIssues). It maps a
// ServiceRequest to the same referral.Submission as the JSON API, and a
// stored referral back to a ServiceRequest (EncodeServiceRequest).
//
// References resolve within what was sent: "#id" among the contained
// resources, and in a message a fullUrl (urn:uuid or absolute) or a
// relative Type/id. Identifier systems match in both NHS spellings
// (https://fhir.nhs.uk/Id/... and https://fhir.nhs.uk/id/...).
//
// The mapping (ServiceRequest element -> submission field):
//
//	status                      must be "active" (a message may also revoke: KindCancel)
//	intent                      must be "plan" (BaRS) or "order"
//	code.coding                 SNOMED CT 871731000000106, or in the type, category or specialty of
//	                            the HealthcareService performer names (else not social prescribing)
//	subject.identifier          system nhs-number -> person.nhs_number
//	subject.reference           the Patient:
//	  identifier (nhs-number)   -> person.nhs_number
//	  name[0].given, family     -> person.given_name, family_name
//	  birthDate                 -> person.date_of_birth
//	  address[0].postalCode     -> person.postcode
//	  telecom phone/email, else contact with relationship v3-RoleCode ONESELF (best rank first)
//	                            -> person.phone, email
//	  communication[0].language.coding[0] code, system -> person.language, language_system
//	  gender                    male, female, other, unknown -> person.sex male, female,
//	                            indeterminate, not_known (the Data Dictionary's 1, 2, 9, X)
//	  extension Extension-UKCore-EthnicCategory, valueCodeableConcept coding of system
//	                            UKCore-EthnicCategoryEngland -> person.ethnicity (a coding of
//	                            another system is not read)
//	  generalPractitioner: identifier (ODS), or the Organization / PractitionerRole it names
//	                            -> gp_practice (the requester's only when none is given)
//	requester.identifier (ODS)  -> referrer.organisation; requester.display -> referrer.name
//	requester.reference         an Organization (ODS, name), a PractitionerRole (practitioner,
//	                            organization, code) or a Practitioner (name, identifier, and the
//	                            organization of a PractitionerRole sent for them); else the
//	                            MessageHeader's sender -> referrer.organisation, organisation_name,
//	                            name, practitioner, role
//	category.coding             system https://pathway.example/fhir/CodeSystem/referral-source -> source
//	                            (default gp_practice; "other" in a message); any other -> category
//	meta.profile                -> profiles
//	authoredOn                  -> authored_on, as sent (any date or dateTime precision)
//	reasonCode.coding           system https://pathway.example/fhir/CodeSystem/need -> needs
//	priority                    routine -> routine, urgent -> high, asap and stat -> urgent
//	note (authorString other than "safeguarding") -> what_matters
//	note with authorString "safeguarding" -> a safeguarding concern with its text
//	supportingInfo              a Consent (in a message, else any Consent entry): status active =
//	                            consent given; dateTime -> recorded_at as sent; performer (display,
//	                            or the name of what it names) -> recorded_by, else referrer.name
//	identifier                  system https://pathway.example/fhir/Id/external-reference -> external_reference
//	(message) fullUrl, else identifier system|value -> sender_reference
//
// The ServiceRequest written back carries a contained Patient, a valid R4
// Consent (scope patient-privacy, category LOINC 59284-0, patient, and
// policyRule v3-ActCode OPTIN) and, when a FHIR sender named the
// practitioner, a contained PractitionerRole "requester" with its
// Practitioner and Organization.
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
	// ExtensionEthnicCategory is UK Core's extension of a Patient's ethnic
	// category, SystemEthnicCategory the code system of England's
	// categories (the NHS Data Dictionary's ETHNIC CATEGORY).
	ExtensionEthnicCategory = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
	SystemEthnicCategory    = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
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
	Extension           []extension      `json:"extension,omitempty"`
	Identifier          []identifier     `json:"identifier,omitempty"`
	Name                []humanName      `json:"name,omitempty"`
	Telecom             []contactPoint   `json:"telecom,omitempty"`
	Gender              string           `json:"gender,omitempty"`
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

// genders maps pathway's sex (the NHS Data Dictionary's PERSON STATED
// GENDER CODE) to FHIR's administrative gender and back: indeterminate (9)
// is other, not known (X) is unknown.
var genders = [][2]string{{"male", "male"}, {"female", "female"}, {"indeterminate", "other"}, {"not_known", "unknown"}}

func genderOf(sex string) string {
	for _, g := range genders {
		if g[0] == sex {
			return g[1]
		}
	}
	return ""
}

// sexOf returns the sex of a FHIR gender; one FHIR does not define comes
// back as it is, for validation to refuse.
func sexOf(gender string) string {
	for _, g := range genders {
		if g[1] == gender {
			return g[0]
		}
	}
	return gender
}
