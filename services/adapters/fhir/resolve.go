package fhir

import (
	"encoding/json"
	"strings"
)

// resolver finds the resource a reference names, within what was sent:
// "#id" among the contained resources of the resource that refers, and
// in a message Bundle a `urn:uuid:` (or any other) fullUrl, a relative
// "Type/id" (matched against each entry's resource type and id, and
// against the end of an absolute fullUrl). Nothing is fetched from
// elsewhere.
type resolver struct {
	contained map[string]json.RawMessage
	entries   map[string]json.RawMessage
	// all is every entry's resource, in the Bundle's order.
	all []json.RawMessage
}

// head is what every resource has.
type head struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

func headOf(raw json.RawMessage) head {
	var h head
	_ = json.Unmarshal(raw, &h)
	return h
}

// containedOf indexes resources contained in one resource by "#id".
func containedOf(list []json.RawMessage) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, raw := range list {
		if h := headOf(raw); h.ID != "" {
			m["#"+h.ID] = raw
		}
	}
	return m
}

// bundleEntry is one entry of a Bundle.
type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
}

// index adds a Bundle's entries to r.
func (r *resolver) index(entries []bundleEntry) {
	if r.entries == nil {
		r.entries = map[string]json.RawMessage{}
	}
	for _, e := range entries {
		if len(e.Resource) == 0 {
			continue
		}
		r.all = append(r.all, e.Resource)
		h := headOf(e.Resource)
		if e.FullURL != "" {
			r.entries[e.FullURL] = e.Resource
			if rel, ok := relativeOf(e.FullURL); ok {
				r.entries[rel] = e.Resource
			}
		}
		if h.ResourceType != "" && h.ID != "" {
			if _, taken := r.entries[h.ResourceType+"/"+h.ID]; !taken {
				r.entries[h.ResourceType+"/"+h.ID] = e.Resource
			}
		}
	}
}

// relativeOf returns "Type/id" from the end of an absolute RESTful URL
// (https://example.org/fhir/Patient/123 gives Patient/123).
func relativeOf(url string) (string, bool) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return "", false
	}
	parts := strings.Split(strings.TrimSuffix(url, "/"), "/")
	if len(parts) < 2 {
		return "", false
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1], true
}

// resolve returns the resource ref names and its type; ok is false when
// nothing sent has it.
func (r *resolver) resolve(ref *reference) (json.RawMessage, string, bool) {
	if r == nil || ref == nil || ref.Reference == "" {
		return nil, "", false
	}
	var raw json.RawMessage
	var ok bool
	if strings.HasPrefix(ref.Reference, "#") {
		raw, ok = r.contained[ref.Reference]
	} else {
		raw, ok = r.entries[ref.Reference]
		if !ok {
			if rel, abs := relativeOf(ref.Reference); abs {
				raw, ok = r.entries[rel]
			}
		}
	}
	if !ok {
		return nil, "", false
	}
	h := headOf(raw)
	if h.ResourceType == "" {
		return nil, "", false
	}
	return raw, h.ResourceType, true
}

// resolveAs decodes the resource ref names into v when it is of type
// want; ok is false otherwise.
func (r *resolver) resolveAs(ref *reference, want string, v any) bool {
	raw, typ, ok := r.resolve(ref)
	if !ok || typ != want {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

// sameSystem reports whether an identifier or code system got is want,
// in either spelling the NHS publishes its identifier systems with
// ("https://fhir.nhs.uk/Id/..." and "https://fhir.nhs.uk/id/...").
func sameSystem(got, want string) bool {
	if got == want {
		return true
	}
	const upper, lower = "https://fhir.nhs.uk/Id/", "https://fhir.nhs.uk/id/"
	return strings.HasPrefix(want, upper) && got == lower+strings.TrimPrefix(want, upper)
}

// odsOf returns the first ODS organisation code among ids.
func odsOf(ids []identifier) string {
	for _, id := range ids {
		if sameSystem(id.System, SystemODS) && id.Value != "" {
			return id.Value
		}
	}
	return ""
}

// organisationOf returns the ODS code and name of the organisation ref
// names: an Organization (sent, or by identifier), or the organization of
// a PractitionerRole.
func (r *resolver) organisationOf(ref *reference) (code, name string) {
	if ref == nil {
		return "", ""
	}
	if ref.Identifier != nil && sameSystem(ref.Identifier.System, SystemODS) {
		code, name = ref.Identifier.Value, ref.Display
	}
	var org organization
	var role practitionerRole
	switch {
	case r.resolveAs(ref, "Organization", &org):
		if c := odsOf(org.Identifier); c != "" {
			code = c
		}
		if org.Name != "" {
			name = org.Name
		}
	case r.resolveAs(ref, "PractitionerRole", &role) && role.Organization != nil:
		return r.organisationOf(role.Organization)
	}
	return code, name
}

// nameOf is a HumanName as one line: its text, or prefix, given and family
// names.
func nameOf(names []humanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	if n.Text != "" {
		return n.Text
	}
	parts := append(append(append([]string{}, n.Prefix...), n.Given...), n.Family)
	return strings.TrimSpace(strings.Join(strings.Fields(strings.Join(parts, " ")), " "))
}
