package fhir_test

import (
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// TestIssueCodeOfEveryKind is the FHIR edge's table: each kind of error
// answers with its OperationOutcome issue code.
func TestIssueCodeOfEveryKind(t *testing.T) {
	want := map[kernel.Kind]string{
		kernel.Invalid:     "invalid",
		kernel.NotFound:    "not-found",
		kernel.Conflict:    "conflict",
		kernel.Forbidden:   "forbidden",
		kernel.Busy:        "throttled",
		kernel.Unavailable: "transient",
		kernel.Internal:    "exception",
	}
	for _, k := range append(kernel.Kinds, kernel.Internal) {
		t.Run(k.String(), func(t *testing.T) {
			is := fhir.Issues(kernel.Errorf(k, "what happened"))
			if len(is) != 1 || is[0].Code != want[k] || is[0].Severity != "error" || is[0].Diagnostics != "what happened" {
				t.Errorf("got %+v, want one error issue with code %q and the message", is, want[k])
			}
		})
	}
}

// TestIssuesOfInvalidFields: an Invalid error's fields are issues each,
// "required" for a missing one and "value" for a wrong one, pointing into
// the ServiceRequest.
func TestIssuesOfInvalidFields(t *testing.T) {
	is := fhir.Issues(kernel.InvalidFields(
		kernel.FieldError{Field: "person.nhs_number", Reason: "is required unless the person refers themselves", Missing: true},
		kernel.FieldError{Field: "person.postcode", Reason: "must be a UK postcode"},
	))
	if len(is) != 2 {
		t.Fatalf("got %d issues, want 2", len(is))
	}
	if is[0].Code != "required" || is[1].Code != "value" {
		t.Errorf("codes: got %q and %q, want required and value", is[0].Code, is[1].Code)
	}
	if len(is[0].Expression) != 1 || is[0].Expression[0] != "ServiceRequest.subject.identifier" {
		t.Errorf("expression: got %v, want ServiceRequest.subject.identifier", is[0].Expression)
	}
}
