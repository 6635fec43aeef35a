package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// CSV exports: every read endpoint (a GET of the route table) answers
// Accept: text/csv (or ?format=csv) with its JSON answer as a table, for
// the spreadsheets commissioners and managers work in. The rows are the
// answer's list (the longest list of objects in it: queues, entries,
// workers...), one column per field, nested fields named with dots
// (summary.waiting); the answer's other plain fields (the queue, as_of,
// sequence) are repeated on every row, so a row keeps its context when
// rows are filtered. An answer without a list is one row. A list that
// pages sends all of it to a CSV request without a limit (page).

// csvType is the media type of the exports.
const csvType = "text/csv"

// wantsCSV reports whether the request asks for CSV: ?format=csv, or an
// Accept header that names text/csv ahead of any JSON type.
func wantsCSV(r *http.Request) bool {
	if r.URL.Query().Get("format") == "csv" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case csvType:
			return true
		case "application/json", "application/problem+json", "application/*", "*/*":
			return false
		}
	}
	return false
}

// csvCapable serves h's JSON answer as CSV to a request that asks for it
// (wantsCSV). An answer other than a 200 in JSON (a problem, say) is sent
// as it is.
func csvCapable(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !wantsCSV(r) {
			h(w, r)
			return
		}
		rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
		h(rec, r)
		if rec.status == http.StatusOK && strings.HasPrefix(rec.header.Get("Content-Type"), "application/json") {
			if table, err := toCSV(rec.body.Bytes()); err == nil {
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.Header().Set("Content-Type", csvType+"; charset=utf-8")
				w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", csvName(r)))
				w.Header().Del("Content-Length")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(table)
				return
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// csvName names an export's file after its path: /v1/waitlists/U12345
// is waitlists-U12345.csv.
func csvName(r *http.Request) string {
	p := strings.TrimPrefix(path.Clean(r.URL.Path), "/v1/")
	name := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			return c
		}
		return '-'
	}, p)
	return name + ".csv"
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(status int) {
	if !b.wrote {
		b.status = status
	}
}

// paging fields are about the page, not the data: not columns.
var pagingFields = map[string]bool{"total": true, "limit": true, "offset": true, "next": true}

// toCSV turns a JSON answer into CSV (see the package comment above).
func toCSV(body []byte) ([]byte, error) {
	v, err := decodeOrdered(json.NewDecoder(bytes.NewReader(body)))
	if err != nil {
		return nil, err
	}
	top, ok := v.(*object)
	if !ok {
		return nil, errors.New("the answer is not a JSON object")
	}
	// The rows: the longest list of objects at the top level.
	var rows []any
	listKey := ""
	for _, f := range top.fields {
		l, ok := f.value.([]any)
		if !ok || (len(l) > 0 && !isObject(l[0])) {
			continue
		}
		if listKey == "" || len(l) > len(rows) {
			rows, listKey = l, f.key
		}
	}
	// The context: the other plain fields, on every row.
	ctx := &object{}
	for _, f := range top.fields {
		if _, isList := f.value.([]any); f.key == listKey || pagingFields[f.key] || isList {
			continue
		}
		ctx.fields = append(ctx.fields, f)
	}
	if listKey == "" {
		rows = []any{&object{}} // no list: the answer is one row
	}
	var cols []string
	seen := map[string]bool{}
	flat := make([]map[string]string, len(rows))
	for i, row := range rows {
		cells := map[string]string{}
		add := func(k, v string) {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
			cells[k] = v
		}
		flatten("", ctx, add)
		flatten("", row.(*object), add)
		flat[i] = cells
	}
	if len(rows) == 0 { // an empty list: the header of its context alone
		flatten("", ctx, func(k, _ string) { cols = append(cols, k) })
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(cols)
	for _, cells := range flat {
		line := make([]string, len(cols))
		for j, c := range cols {
			line[j] = edge.CSVCell(cells[c])
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

// flatten adds o's fields as cells: nested objects by dotted names, lists
// of plain values joined with "; ", anything else as JSON.
func flatten(prefix string, o *object, add func(k, v string)) {
	for _, f := range o.fields {
		k := prefix + f.key
		if sub, ok := f.value.(*object); ok {
			flatten(k+".", sub, add)
			continue
		}
		add(k, cell(f.value))
	}
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if isObject(e) {
				b, _ := json.Marshal(plain(v))
				return string(b)
			}
			parts = append(parts, cell(e))
		}
		return strings.Join(parts, "; ")
	}
	b, _ := json.Marshal(plain(v))
	return string(b)
}

// object is a JSON object with its fields in the order sent.
type object struct{ fields []field }

type field struct {
	key   string
	value any
}

// plain turns decoded values back into maps and slices, for JSON.
func plain(v any) any {
	switch x := v.(type) {
	case *object:
		m := make(map[string]any, len(x.fields))
		for _, f := range x.fields {
			m[f.key] = plain(f.value)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// decodeOrdered decodes one JSON value, keeping objects' field order.
func decodeOrdered(d *json.Decoder) (any, error) {
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	return decodeFrom(d, tok)
}

func decodeFrom(d *json.Decoder, tok json.Token) (any, error) {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				vt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeFrom(d, vt)
				if err != nil {
					return nil, err
				}
				o.fields = append(o.fields, field{key, v})
			}
			_, err := d.Token() // }
			return o, err
		case '[':
			l := []any{}
			for d.More() {
				vt, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeFrom(d, vt)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := d.Token() // ]
			return l, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	}
	return tok, nil
}

func isObject(v any) bool {
	_, ok := v.(*object)
	return ok
}
