package referral_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/domain/referral"
)

// mark sets every string of v (a pointer to a struct) to "~path~", the
// field's JSON path, every bool to true, and every slice of strings to
// one such marker (a slice of structs to one struct so marked), and returns the paths it marked.
func mark(v reflect.Value, path string) []string {
	var paths []string
	switch v.Kind() {
	case reflect.Pointer:
		return mark(v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			p := name
			if path != "" {
				p = path + "." + name
			}
			paths = append(paths, mark(v.Field(i), p)...)
		}
	case reflect.String:
		v.SetString("~" + path + "~")
		paths = append(paths, path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			// One element, each of its fields marked.
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			return append(paths, mark(v.Index(0).Addr(), path)...)
		}
		v.Set(reflect.ValueOf([]string{"~" + path + "~"}))
		paths = append(paths, path)
	}
	return paths
}

// TestPseudonymShowsOnlyCodedFacts fills every field of a submission and
// checks that its pseudonym shows only the fields on the list of coded
// facts, and the initials for the name; so does a submission made from
// the pseudonym.
func TestPseudonymShowsOnlyCodedFacts(t *testing.T) {
	var s referral.Submission
	paths := mark(reflect.ValueOf(&s), "")
	shown := []string{"source", "referrer.organisation", "gp_practice", "needs", "urgency", "person.preferred_contact", "person.language", "consent.recorded_at"}
	b, err := json.Marshal(s.Pseudonymised())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got, want := strings.Contains(string(b), "~"+p+"~"), slices.Contains(shown, p); got != want {
			t.Errorf("%s: shown %v, want %v", p, got, want)
		}
	}
	// The names are "~person.given_name~" and "~person.family_name~".
	if ps := s.Pseudonymised(); ps.Person.Initials != "P.P." || !ps.Safeguarding.Concern || !ps.Consent.Given || !ps.Person.InterpreterNeeded {
		t.Errorf("pseudonym %+v, want the initials P.P. and the flags", ps)
	}
	// A submission made from the pseudonym holds the same, and no name.
	back := s.Pseudonymised().Submission()
	bb, _ := json.Marshal(back)
	for _, p := range paths {
		if got, want := strings.Contains(string(bb), "~"+p+"~"), slices.Contains(shown, p); got != want {
			t.Errorf("the pseudonym's submission, %s: shown %v, want %v", p, got, want)
		}
	}
}

func TestInitials(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"Sam", "Example"}, "S.E."},
		{[]string{" élodie", "o'brien"}, "É.O."},
		{[]string{"", "'Nkosi"}, "N."},
		{[]string{"", ""}, "?"},
	} {
		if got := referral.Initials(tc.names...); got != tc.want {
			t.Errorf("Initials(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
