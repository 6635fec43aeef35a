package kernel_test

import (
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/domain/kernel"
)

func TestTextRule(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     string
		line  string // the word the Line reason must hold; "" for none
		prose string // the same for Prose
	}{
		{name: "plain", v: "Sam O'Neill-Smith"},
		{name: "accents and other scripts", v: "Zoë Łukasz Nguyễn 李 محمد שרה"},
		{name: "emoji", v: "likes 🌳 walks"},
		{name: "a replacement character sent as such", v: "a \ufffd b"},
		{name: "NUL", v: "Sam\x00", line: "control", prose: "control"},
		{name: "escape", v: "\x1b[31mred", line: "control", prose: "control"},
		{name: "DEL", v: "a\x7fb", line: "control", prose: "control"},
		{name: "C1 (NEL)", v: "a\u0085b", line: "control", prose: "control"},
		{name: "LF", v: "line one\nline two", line: "control"},
		{name: "CR LF", v: "line one\r\nline two", line: "control"},
		{name: "a lone CR", v: "over\rwrite", line: "control", prose: "control"},
		{name: "CR at the end", v: "text\r", line: "control", prose: "control"},
		{name: "tab", v: "a\tb", line: "control"},
		{name: "line separator", v: "a\u2028b", line: "control"},
		{name: "RLO", v: "invoice\u202Efdp.exe", line: "bidirectional", prose: "bidirectional"},
		{name: "LRE", v: "\u202Aa", line: "bidirectional", prose: "bidirectional"},
		{name: "PDF", v: "a\u202C", line: "bidirectional", prose: "bidirectional"},
		{name: "LRI", v: "a\u2066b", line: "bidirectional", prose: "bidirectional"},
		{name: "PDI", v: "a\u2069b", line: "bidirectional", prose: "bidirectional"},
		{name: "zero-width space", v: "Sa\u200Bm", line: "zero-width", prose: "zero-width"},
		{name: "zero-width joiner", v: "Sa\u200Dm", line: "zero-width", prose: "zero-width"},
		{name: "word joiner", v: "Sa\u2060m", line: "zero-width", prose: "zero-width"},
		{name: "byte order mark", v: "\uFEFFSam", line: "zero-width", prose: "zero-width"},
		{name: "invalid UTF-8", v: "Sam\xff", line: "UTF-8", prose: "UTF-8"},
		{name: "a truncated sequence", v: "Zo\xc3", line: "UTF-8", prose: "UTF-8"},
		{name: "an encoded surrogate", v: "a\xed\xa0\x80b", line: "UTF-8", prose: "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []struct {
				check func(string, string) []kernel.FieldError
				kind  string
				want  string
			}{{kernel.Line, "Line", tc.line}, {kernel.Prose, "Prose", tc.prose}} {
				errs := c.check("person.given_name", tc.v)
				switch {
				case c.want == "" && errs != nil:
					t.Errorf("%s: got %v, want no error", c.kind, errs)
				case c.want != "" && (len(errs) != 1 || errs[0].Field != "person.given_name" || !strings.Contains(errs[0].Reason, c.want)):
					t.Errorf("%s: got %v, want one error on person.given_name about %s", c.kind, errs, c.want)
				case c.want != "" && strings.Contains(errs[0].Reason, tc.v):
					t.Errorf("%s: the reason %q repeats the value", c.kind, errs[0].Reason)
				}
			}
		})
	}
}
