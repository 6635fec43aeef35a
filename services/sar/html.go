package sar

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

//go:embed summary.html
var summaryHTML string

var summary = template.Must(template.New("summary").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(london).Format("2 Jan 2006 15:04")
	},
	"kind": func(typ string) string { return strings.TrimPrefix(typ, "pathway.v1.") },
	"role": func(r string) string { return strings.ToLower(strings.TrimPrefix(r, "ROLE_")) },
	"fields": func(m map[string]any) []field {
		var out []field
		flatten("", m, &out)
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	},
}).Parse(summaryHTML))

var london = func() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}()

type field struct{ Name, Value string }

func flatten(prefix string, v any, out *[]field) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, e, out)
		}
	case []any:
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		*out = append(*out, field{Name: strings.ReplaceAll(prefix, "_", " "), Value: fmt.Sprint(x)})
	}
}

// WriteHTML writes a readable summary of x: a page a person can be given,
// with each referral, what each partner was shared, and who read the
// record.
func WriteHTML(w io.Writer, x Export) error { return summary.Execute(w, x) }
