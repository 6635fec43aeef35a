package kernel

import (
	"unicode/utf8"
)

// The character rule of every name and free-text field pathway records.
// Text that reaches a record, a screen or a partner must mean what it
// shows: no invalid UTF-8, no control characters (C0, DEL and C1), which
// can cut a record short or forge a line in a log or a terminal, no
// bidirectional overrides or isolates (U+202A to U+202E, U+2066 to
// U+2069), which make text display in another order than it is stored
// ("Trojan Source"), and no zero-width characters (U+200B to U+200D,
// U+2060, U+FEFF), which make two different names look the same. Free
// text (a note, what matters to the person) may also hold tab and line
// breaks (LF, or CR LF); a name or a one-line field may not, nor the
// Unicode line and paragraph separators (U+2028, U+2029).

// Line checks a name or a one-line text field: it returns one FieldError
// naming field and the first kind of character it refuses, or nil. The
// reason never repeats the value. It is safe for concurrent use.
func Line(field, v string) []FieldError { return checkText(field, v, false) }

// Prose checks a free-text field as Line does, but allows tab and line
// breaks (LF, or CR followed by LF) and the Unicode line and paragraph
// separators.
func Prose(field, v string) []FieldError { return checkText(field, v, true) }

// Reasons of the character rule, one per kind of character refused.
const (
	reasonUTF8     = "is not valid UTF-8"
	reasonControl  = "must not contain control characters (such as NUL, escape, or a line break in a one-line field)"
	reasonBidi     = "must not contain bidirectional override or isolate characters (U+202A to U+202E, U+2066 to U+2069)"
	reasonZeroWide = "must not contain zero-width characters (U+200B to U+200D, U+2060, U+FEFF)"
)

func checkText(field, v string, prose bool) []FieldError {
	if r := textProblem(v, prose); r != "" {
		return []FieldError{{Field: field, Reason: r}}
	}
	return nil
}

// textProblem is the reason v breaks the rule, or "" when it does not.
func textProblem(v string, prose bool) string {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size <= 1 {
			return reasonUTF8
		}
		switch {
		case prose && (r == '\t' || r == '\n' || r == '\u2028' || r == '\u2029'):
		case prose && r == '\r' && i+1 < len(v) && v[i+1] == '\n':
		case r < 0x20, r >= 0x7f && r <= 0x9f, r == '\u2028', r == '\u2029':
			return reasonControl
		case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return reasonBidi
		case r >= '\u200b' && r <= '\u200d', r == '\u2060', r == '\ufeff':
			return reasonZeroWide
		}
		i += size
	}
	return ""
}
