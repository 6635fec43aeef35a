package oruktest_test

import (
	"encoding/json"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
)

// The standard's own examples validate, and a broken one does not: the
// schemas are loaded and the validator asserts what they say.
func TestExamplesValidate(t *testing.T) {
	oruktest.Validate(t, oruktest.Service, oruktest.Example(t, "service_full.json"))
	oruktest.Validate(t, oruktest.Organization, oruktest.Example(t, "organization_full.json"))
	oruktest.ValidatePage(t, oruktest.ServiceList, oruktest.Example(t, "service_list.json"))
	oruktest.ValidatePage(t, oruktest.OrganizationList, oruktest.Example(t, "organization_list.json"))
	oruktest.ValidatePage(t, oruktest.Taxonomy, oruktest.Example(t, "taxonomy_list.json"))

	var svc map[string]any
	if err := json.Unmarshal(oruktest.Example(t, "service_full.json"), &svc); err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]func(map[string]any){
		"no name":      func(s map[string]any) { delete(s, "name") },
		"id not uuid":  func(s map[string]any) { s["id"] = "not-a-uuid" },
		"age a string": func(s map[string]any) { s["minimum_age"] = "eighteen" },
	} {
		t.Run(name, func(t *testing.T) {
			var s map[string]any
			b, _ := json.Marshal(svc)
			_ = json.Unmarshal(b, &s)
			broken(s)
			b, _ = json.Marshal(s)
			if err := oruktest.Check(oruktest.Service, b); err == nil {
				t.Fatalf("a service with %s validated", name)
			}
		})
	}
}
