package fhir

import (
	"bytes"
	"encoding/json"
)

// CapabilityDate is the date of the CapabilityStatement: the day what it
// lists last changed. Change it with the statement.
const CapabilityDate = "2026-11-29"

type capabilityStatement struct {
	ResourceType   string              `json:"resourceType"`
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	Title          string              `json:"title"`
	Status         string              `json:"status"`
	Date           string              `json:"date"`
	Publisher      string              `json:"publisher"`
	Description    string              `json:"description"`
	Kind           string              `json:"kind"`
	Software       capabilitySoftware  `json:"software"`
	Implementation capabilityImplement `json:"implementation"`
	FHIRVersion    string              `json:"fhirVersion"`
	Format         []string            `json:"format"`
	Rest           []capabilityRest    `json:"rest"`
}

type capabilitySoftware struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type capabilityImplement struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

type capabilityRest struct {
	Mode          string               `json:"mode"`
	Documentation string               `json:"documentation,omitempty"`
	Security      capabilitySecurity   `json:"security"`
	Resource      []capabilityResource `json:"resource"`
	Operation     []capabilityOp       `json:"operation,omitempty"`
}

type capabilitySecurity struct {
	CORS        bool   `json:"cors"`
	Description string `json:"description"`
}

type capabilityResource struct {
	Type              string                `json:"type"`
	Profile           string                `json:"profile,omitempty"`
	Documentation     string                `json:"documentation,omitempty"`
	Interaction       []capabilityInteract  `json:"interaction"`
	Versioning        string                `json:"versioning"`
	ReadHistory       bool                  `json:"readHistory"`
	UpdateCreate      bool                  `json:"updateCreate"`
	ConditionalCreate bool                  `json:"conditionalCreate"`
	ConditionalRead   string                `json:"conditionalRead"`
	ConditionalUpdate bool                  `json:"conditionalUpdate"`
	ConditionalDelete string                `json:"conditionalDelete"`
	SearchParam       []capabilitySearchPar `json:"searchParam,omitempty"`
}

type capabilityInteract struct {
	Code          string `json:"code"`
	Documentation string `json:"documentation,omitempty"`
}

type capabilitySearchPar struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type capabilityOp struct {
	Name          string `json:"name"`
	Definition    string `json:"definition"`
	Documentation string `json:"documentation,omitempty"`
}

// CapabilityStatement returns the CapabilityStatement of pathway's FHIR
// front door (GET /fhir/r4/metadata), of kind instance, naming the
// software's version: exactly what it supports. ServiceRequest: read,
// create, update (version-aware: If-Match is required, and an update
// only cancels) and search by identifier, subject:identifier,
// _lastUpdated and status; Task: read (Task/{id} follows
// ServiceRequest/{id}); the $process-message operation for BaRS message
// Bundles; JSON only; a bearer API key on every request but this one.
// Keep it true to the routes: httpapi's TestFHIRMetadata checks every
// FHIR route served is listed.
func CapabilityStatement(version string) []byte {
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement",
		ID:           "pathway",
		Name:         "PathwayFHIRFrontDoor",
		Title:        "pathway: the FHIR R4 front door of a social prescribing referral service",
		Status:       "active",
		Date:         CapabilityDate,
		Publisher:    "pathway",
		Description: "Referrals to social prescribing in the style of the NHS Booking and Referral Standard (BaRS) on UK Core: " +
			"a referral is a ServiceRequest; its progress is a Task; a cancellation is an update of the ServiceRequest " +
			"to revoked or entered-in-error, or a BaRS message.",
		Kind:           "instance",
		Software:       capabilitySoftware{Name: "pathway", Version: version},
		Implementation: capabilityImplement{Description: "pathway's FHIR R4 front door, under /fhir/r4"},
		FHIRVersion:    "4.0.1",
		Format:         []string{ContentType, "json"},
		Rest: []capabilityRest{{
			Mode: "server",
			Documentation: "Every answer is FHIR: errors are an OperationOutcome listing every issue. " +
				"A key reaches only the referrals it may (a referrer its own organisation's); any other answers 404.",
			Security: capabilitySecurity{Description: "Every request but GET /metadata needs an API key as a bearer token " +
				"(Authorization: Bearer <key>); without a valid key 401, with a key whose role may not make the request 403."},
			Resource: []capabilityResource{
				{
					Type:          "ServiceRequest",
					Profile:       "http://hl7.org/fhir/StructureDefinition/ServiceRequest",
					Documentation: "A referral to social prescribing (SNOMED CT " + CodeSocialPrescribing + "), with its Patient and Consent contained.",
					Interaction: []capabilityInteract{
						{Code: "read", Documentation: "With meta.versionId and meta.lastUpdated, and ETag W/\"<versionId>\"."},
						{Code: "create", Documentation: "Idempotent with an Idempotency-Key header; one open referral per person (409 otherwise)."},
						{Code: "update", Documentation: "Only to cancel an active referral: status revoked (no longer needed) or entered-in-error, " +
							"with If-Match: W/\"<versionId>\" of the version read (412 without it or when stale; 409 when the referral is no longer active). " +
							"Nothing else can be changed by update (422): to change a referral, revoke it and refer again."},
						{Code: "search-type", Documentation: "The referrals of the caller's organisation, by the parameters listed."},
					},
					Versioning:        "versioned-update",
					ConditionalRead:   "not-supported",
					ConditionalDelete: "not-supported",
					SearchParam: []capabilitySearchPar{
						{Name: "identifier", Definition: "http://hl7.org/fhir/SearchParameter/clinical-identifier", Type: "token",
							Documentation: "The referrer's own identifier of the referral (system|value)."},
						{Name: "subject", Definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-subject", Type: "reference",
							Documentation: "Only with the :identifier modifier: subject:identifier=" + SystemNHSNumber + "|<NHS number>."},
						{Name: "_lastUpdated", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", Type: "date",
							Documentation: "Changed since (gt, ge) or before (lt, le) a time."},
						{Name: "status", Definition: "http://hl7.org/fhir/SearchParameter/ServiceRequest-status", Type: "token",
							Documentation: "active, completed, revoked or entered-in-error."},
					},
				},
				{
					Type:    "Task",
					Profile: "http://hl7.org/fhir/StructureDefinition/Task",
					Documentation: "The progress of a referral, in the closed-loop referral style: Task/{id} follows ServiceRequest/{id} " +
						"(focus), with pathway's stage as businessStatus (" + SystemStage + "), the reason a referral closed before it was done " +
						"as statusReason, and a discharge's outcome as output.",
					Interaction:       []capabilityInteract{{Code: "read", Documentation: "With meta.versionId and meta.lastUpdated, and ETag W/\"<versionId>\"."}},
					Versioning:        "versioned",
					ConditionalRead:   "not-supported",
					ConditionalDelete: "not-supported",
				},
			},
			Operation: []capabilityOp{{Name: "process-message", Definition: "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
				Documentation: "POST /fhir/r4/$process-message takes a BaRS message Bundle: a referral request or its cancellation."}},
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(cs) // only strings, bools and slices of them: it cannot fail
	return buf.Bytes()
}
