package httpapi_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.json true to the router.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	for _, r := range httpapi.Routes() {
		op, ok := doc.Paths[r.Path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
			continue
		}
		if !strings.Contains(string(op), `"bearer"`) {
			t.Errorf("%s %s does not declare bearer security", r.Method, r.Path)
		}
		for _, role := range r.Roles {
			if !strings.Contains(string(op), string(role)) {
				t.Errorf("%s %s does not name the %s role", r.Method, r.Path, role)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if _, ok := doc.Paths[p]["get"]; !ok {
			t.Errorf("%s is not documented", p)
		}
	}
	var all map[string]any
	json.Unmarshal(raw, &all)
	for _, m := range regexp.MustCompile(`"\$ref": "#/([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		var node any = all
		for _, part := range strings.Split(m[1], "/") {
			obj, _ := node.(map[string]any)
			node = obj[part]
		}
		if node == nil {
			t.Errorf("$ref #/%s does not resolve", m[1])
		}
	}
}
