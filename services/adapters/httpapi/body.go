package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pathway-sp/pathway/services/adapters/fhir"
)

// Media types a request body may have.
const (
	jsonType = "application/json"
	fhirType = fhir.ContentType // application/fhir+json
)

// hasMediaType reports whether the request's Content-Type is one of
// types, with no parameter but charset=utf-8 (any case) and, for FHIR,
// fhirVersion. A missing Content-Type is none of them.
func hasMediaType(r *http.Request, types ...string) bool {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(types, mt) {
		return false
	}
	for k, v := range params {
		switch {
		case k == "charset" && strings.EqualFold(v, "utf-8"):
		case k == "fhirversion" && mt == fhirType:
		default:
			return false
		}
	}
	return true
}

// unsupportedMediaType answers 415 for a body that is not JSON.
func unsupportedMediaType(w http.ResponseWriter) {
	WriteProblem(w, Problem{Type: problemBase + "unsupported-media-type", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
		Detail: "send the body as " + jsonType + " (with charset=utf-8, or no charset)"})
}

// checkJSONText refuses a body that is not valid UTF-8 or that repeats a
// key within one JSON object, which encoding/json would otherwise accept
// (replacing the bytes, or keeping the last value), so that what pathway
// records is exactly what was sent. It says which key, by its path; it
// never echoes a value. A body that is not JSON at all passes: the
// decoder reports it.
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the body is not valid UTF-8")
	}
	if path, dup := duplicateKey(body); dup {
		return fmt.Errorf("duplicate key %q: each key may appear once in an object", path)
	}
	return nil
}

// duplicateKey finds the first key that appears twice in one object of
// body and returns its path (person.given_name, goals[1].description).
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		object  bool
		path    string
		keys    map[string]bool
		wantKey bool // in an object, the next string is a key
		key     string
		index   int // in an array, the index of the next value
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	// valuePath is the path of the value about to be read, and marks it
	// read in its parent.
	valuePath := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
			return join(top.path, top.key)
		}
		top.index++
		return fmt.Sprintf("%s[%d]", top.path, top.index-1)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // the end, or a syntax error the decoder reports
		}
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.object && top.wantKey {
				if k, ok := tok.(string); ok {
					if top.keys[k] {
						return truncate(join(top.path, k), 200), true
					}
					top.keys[k], top.key, top.wantKey = true, k, false
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, path: valuePath(), keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{path: valuePath()})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			valuePath()
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
