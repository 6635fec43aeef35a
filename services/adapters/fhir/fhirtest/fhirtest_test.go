package fhirtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/npmtest"
)

// TestBaRSExamplesAreValid: the published BaRS examples, as converted,
// pass the validator.
func TestBaRSExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(Dir(), "..", "testdata", "bars", "*.json"))
	if err != nil || len(files) < 18 {
		t.Fatalf("want the 18 BaRS examples, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			Validate(t, body)
		})
	}
}

// TestInvalidResourcesAreFound: the validator finds a missing required
// element, an element R4 does not define, and a wrong code.
func TestInvalidResourcesAreFound(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"consent without scope": {`{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/1"}}`, "Consent.scope"},
		"unknown element":       {`{"resourceType":"Patient","colour":"blue"}`, "Unexpected property"},
		"wrong status code":     {`{"resourceType":"ServiceRequest","status":"sent","intent":"plan","subject":{"reference":"Patient/1"}}`, "ServiceRequest.status"},
		"not a resource":        {`{"hello":1}`, "resourceType"},
	} {
		t.Run(name, func(t *testing.T) {
			msgs, err := Check([]byte(c.body))
			if err != nil {
				if errors.Is(err, npmtest.ErrNoNode) {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			var all []string
			for _, m := range msgs {
				all = append(all, m.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), c.want) {
				t.Fatalf("want a finding naming %q, got %q", c.want, all)
			}
		})
	}
}
