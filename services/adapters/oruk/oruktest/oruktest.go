// Package oruktest checks Open Referral UK answers against the HSDS 3.0
// JSON schemas of the specification repository (testdata/hsds; see its
// README for where they come from), with a maintained JSON-schema
// validator (github.com/santhosh-tekuri/jsonschema/v6), and holds the
// standard's own example records as fixtures (testdata/examples).
package oruktest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed testdata/hsds testdata/examples
var files embed.FS

// base is the address the schemas are loaded under; their $refs are
// relative ("phone.json"), so they resolve among themselves.
const base = "https://openreferral.test/schema/"

// Schema names: the modular HSDS schemas by file name, the compiled list
// schemas, and Page, the paging object of the ORUK OpenAPI document.
const (
	Service          = "service.json"
	ServiceList      = "compiled/service_list.json"
	Organization     = "organization.json"
	OrganizationList = "compiled/organization_list.json"
	Taxonomy         = "taxonomy.json"
	TaxonomyTerm     = "taxonomy_term.json"
	Page             = "openapi.json#/components/schemas/Page"
	// Index is the API's index document (GET /).
	Index = "openapi.json#/paths/~1/get/responses/200/content/application~1json/schema"
)

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	loadErr  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := fs.Glob(files, "testdata/hsds/*.json")
	if err != nil {
		loadErr = err
		return
	}
	entries = append(entries, "testdata/hsds/compiled/service_list.json", "testdata/hsds/compiled/organization_list.json")
	for _, name := range entries {
		data, err := files.ReadFile(name)
		if err != nil {
			loadErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", name, err)
			return
		}
		rel, _ := stripPrefix(name, "testdata/hsds/")
		if err := c.AddResource(base+rel, doc); err != nil {
			loadErr = fmt.Errorf("%s: %w", name, err)
			return
		}
	}
	compiled = map[string]*jsonschema.Schema{}
	for _, name := range []string{Service, ServiceList, Organization, OrganizationList, Taxonomy, TaxonomyTerm, Page, Index} {
		s, err := c.Compile(base + name)
		if err != nil {
			loadErr = fmt.Errorf("compile %s: %w", name, err)
			return
		}
		compiled[name] = s
	}
}

func stripPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// Check validates the JSON document body against the named schema (one of
// the constants above) and returns the validator's error, which lists
// every violation with its JSON path.
func Check(schema string, body []byte) error {
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	s, ok := compiled[schema]
	if !ok {
		return fmt.Errorf("oruktest: no schema %q", schema)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%#v", ve) // every violation, with its path
		}
		return err
	}
	return nil
}

// Validate fails tb when body does not validate against schema.
func Validate(tb testing.TB, schema string, body []byte) {
	tb.Helper()
	if err := Check(schema, body); err != nil {
		tb.Fatalf("answer is not valid against HSDS %s: %v\n%s", schema, err, clip(body))
	}
}

// ValidatePage fails tb unless body is an ORUK page (the OpenAPI Page
// object with every paging field) whose contents each validate against
// item. It returns the decoded page.
func ValidatePage(tb testing.TB, item string, body []byte) PageOf {
	tb.Helper()
	Validate(tb, Page, body)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		tb.Fatalf("page: %v", err)
	}
	for _, k := range []string{"total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"} {
		if _, ok := raw[k]; !ok {
			tb.Fatalf("page has no %q: %s", k, clip(body))
		}
	}
	var p PageOf
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("page: %v", err)
	}
	for i, c := range p.Contents {
		if err := Check(item, c); err != nil {
			tb.Fatalf("contents[%d] is not valid against HSDS %s: %v\n%s", i, item, err, clip(c))
		}
	}
	return p
}

// PageOf is a decoded ORUK page.
type PageOf struct {
	TotalItems int               `json:"total_items"`
	TotalPages int               `json:"total_pages"`
	PageNumber int               `json:"page_number"`
	Size       int               `json:"size"`
	FirstPage  bool              `json:"first_page"`
	LastPage   bool              `json:"last_page"`
	Empty      bool              `json:"empty"`
	Contents   []json.RawMessage `json:"contents"`
}

// Example returns one of the standard's example files (testdata/examples:
// service_full.json, service_list.json, organization_full.json,
// organization_list.json, taxonomy_list.json).
func Example(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := files.ReadFile(path.Join("testdata/examples", name))
	if err != nil {
		tb.Fatalf("example %s: %v", name, err)
	}
	return data
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
