package fhir

import (
	"encoding/json"

	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// issueCodes is the one table from an error's kind to its OperationOutcome
// issue code (http://hl7.org/fhir/issue-type). The HTTP status is the JSON
// API's for the same kind.
var issueCodes = map[kernel.Kind]string{
	kernel.Invalid:     "invalid",
	kernel.NotFound:    "not-found",
	kernel.Conflict:    "conflict",
	kernel.Forbidden:   "forbidden",
	kernel.Busy:        "throttled",
	kernel.Unavailable: "transient",
	kernel.Internal:    "exception",
}

// IssueCode returns the OperationOutcome issue code for an error of kind
// k: "exception" for Internal or an unknown kind.
func IssueCode(k kernel.Kind) string {
	if c, ok := issueCodes[k]; ok {
		return c
	}
	return "exception"
}

// statusCodes are the issue codes of the answers the HTTP edge makes
// itself, before any service runs: a missing or wrong key, a path or
// method it does not serve, a body it cannot read, a precondition.
var statusCodes = map[int]string{
	400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
	409: "conflict", 412: "conflict", 413: "too-long", 415: "not-supported", 422: "business-rule",
	429: "throttled", 500: "exception", 503: "transient",
}

// IssueCodeOfStatus returns the OperationOutcome issue code of an HTTP
// status the edge answers with: "processing" for one it does not list.
func IssueCodeOfStatus(status int) string {
	if c, ok := statusCodes[status]; ok {
		return c
	}
	return "processing"
}

// Issues returns the OperationOutcome issues that answer e: one per
// invalid field (IssuesFromFieldErrors), else one whose code is e's
// kind's and whose diagnostics are e's message. The caller makes sure the
// message of an Internal error says nothing of its cause.
func Issues(e *kernel.Error) []Issue {
	if e.Kind == kernel.Invalid && len(e.Fields) > 0 {
		return IssuesFromFieldErrors(e.Fields)
	}
	return []Issue{{Severity: "error", Code: IssueCode(e.Kind), Diagnostics: e.Message}}
}

// OperationOutcome returns the OperationOutcome JSON listing issues.
func OperationOutcome(issues []Issue) []byte {
	b, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	return b
}
