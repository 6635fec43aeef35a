// Command kubeschemas writes the Kubernetes JSON schemas that deploy's
// tests validate the Helm chart against with kubeconform, so that the
// validation needs no network: for each kind the chart renders, a
// standalone, strict schema (every reference inlined, no property the
// API does not know) made from the OpenAPI document of the Kubernetes
// release, as kubeconform's own schema repository makes them. Run it from
// the repository root when the chart uses a new kind or the release
// changes:
//
//	go run ./deploy/kubeschemas
//
// It takes the OpenAPI document from the k8s.io/kubernetes module of that
// release (go mod download), and writes
// deploy/kubeschemas/<release>-standalone-strict/<kind>-<group>-<version>.json.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// release is the Kubernetes release the schemas are of.
const release = "v1.37.2"

// kinds are those the chart renders: group ("" for core), version, kind.
var kinds = [][3]string{
	{"", "v1", "Service"},
	{"", "v1", "ServiceAccount"},
	{"apps", "v1", "Deployment"},
	{"networking.k8s.io", "v1", "NetworkPolicy"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschemas:", err)
		os.Exit(1)
	}
}

func run() error {
	out, err := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+release).Output()
	if err != nil {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %w", release, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	dir := filepath.Join("deploy", "kubeschemas", release+"-standalone-strict")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, k := range kinds {
		name, def, ok := find(doc.Definitions, k)
		if !ok {
			return fmt.Errorf("no definition of %v in the OpenAPI document", k)
		}
		c := converter{defs: doc.Definitions, stack: map[string]bool{name: true}}
		schema := c.convert(def).(map[string]any)
		schema["$schema"] = "http://json-schema.org/schema#"
		b, err := json.Marshal(schema)
		if err != nil {
			return err
		}
		file := strings.ToLower(k[2]) + "-" + suffix(k[0], k[1]) + ".json"
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, b, "", " "); err != nil {
			return err
		}
		pretty.WriteByte('\n')
		if err := os.WriteFile(filepath.Join(dir, file), pretty.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Println(filepath.Join(dir, file))
	}
	return nil
}

// suffix is kubeconform's KindSuffix without its leading '-': the
// group's first label and the version, or the version alone for core.
func suffix(group, version string) string {
	if group == "" {
		return version
	}
	return strings.Split(group, ".")[0] + "-" + version
}

// find returns the definition of kind k.
func find(defs map[string]map[string]any, k [3]string) (string, map[string]any, bool) {
	for name, def := range defs {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m := g.(map[string]any)
			if m["group"] == k[0] && m["version"] == k[1] && m["kind"] == k[2] {
				return name, def, true
			}
		}
	}
	return "", nil, false
}

// converter turns OpenAPI v2 definitions into standalone strict JSON
// schemas.
type converter struct {
	defs  map[string]map[string]any
	stack map[string]bool // the definitions being inlined, against cycles
}

func (c *converter) convert(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			switch {
			case strings.HasSuffix(name, ".IntOrString"):
				return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
			case strings.HasSuffix(name, ".Quantity"):
				return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
			case c.stack[name]:
				return map[string]any{} // a recursive type: anything below this depth
			}
			c.stack[name] = true
			defer delete(c.stack, name)
			return c.convert(c.defs[name])
		}
		out := map[string]any{}
		for k, e := range v {
			switch {
			case k == "description" || k == "format" || strings.HasPrefix(k, "x-kubernetes-"):
				continue
			case k == "properties":
				props := map[string]any{}
				for p, s := range e.(map[string]any) {
					props[p] = c.convert(s)
				}
				out[k] = props
			default:
				out[k] = c.convert(e)
			}
		}
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = c.convert(e)
		}
		return out
	}
	return v
}
