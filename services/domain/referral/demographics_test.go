package referral_test

import (
	"strings"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// TestSexAndEthnicity: both are optional; a value outside the NHS Data
// Dictionary's closed set is refused with the allowed values listed and
// the value not echoed; valid ones are recorded and read back.
func TestSexAndEthnicity(t *testing.T) {
	for _, tc := range []struct {
		name, sex, ethnicity string
		field, reason        string
	}{
		{name: "neither recorded"},
		{name: "both recorded", sex: "female", ethnicity: "H"},
		{name: "not stated and not known", sex: "not_known", ethnicity: "99"},
		{name: "ethnicity not stated", sex: "indeterminate", ethnicity: "Z"},
		{name: "sex as a code", sex: "2", field: "person.sex", reason: "must be one of male, female, indeterminate, not_known"},
		{name: "sex as a FHIR word", sex: "unknown", field: "person.sex", reason: "must be one of male, female, indeterminate, not_known"},
		{name: "ethnicity lower case", ethnicity: "h", field: "person.ethnicity", reason: "A, B, C, D, E, F, G, H, J, K, L, M, N, P, R, S, Z, 99"},
		{name: "ethnicity I (not in the set)", ethnicity: "I", field: "person.ethnicity", reason: "must be an NHS ethnic category code"},
		{name: "ethnicity as words", ethnicity: "White British", field: "person.ethnicity", reason: "must be an NHS ethnic category code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			s.Person.Sex, s.Person.Ethnicity = tc.sex, tc.ethnicity
			ev, errs := s.Event(now)
			if tc.field == "" {
				if errs != nil {
					t.Fatalf("got errors %v, want none", errs)
				}
				back := referral.FromEvent(ev)
				if back.Person.Sex != tc.sex || back.Person.Ethnicity != tc.ethnicity {
					t.Fatalf("read back sex %q ethnicity %q, want %q %q", back.Person.Sex, back.Person.Ethnicity, tc.sex, tc.ethnicity)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Reason, tc.reason) {
				t.Fatalf("got %v, want one error on %s containing %q", errs, tc.field, tc.reason)
			}
			if v := tc.sex + tc.ethnicity; strings.Contains(errs[0].Reason, v) && len(v) > 1 {
				t.Fatalf("the reason %q repeats the value %q", errs[0].Reason, v)
			}
		})
	}
}

func TestSexCodes(t *testing.T) {
	for s, want := range map[pathwayv1.Sex]string{pathwayv1.Sex_SEX_MALE: "1", pathwayv1.Sex_SEX_FEMALE: "2",
		pathwayv1.Sex_SEX_INDETERMINATE: "9", pathwayv1.Sex_SEX_NOT_KNOWN: "X", pathwayv1.Sex_SEX_UNSPECIFIED: ""} {
		if got := referral.SexCode(s); got != want {
			t.Errorf("SexCode(%v) = %q, want %q", s, got, want)
		}
	}
}

func TestAgeBands(t *testing.T) {
	for age, want := range map[int]string{0: "0-17", 17: "0-17", 18: "18-24", 24: "18-24", 25: "25-34", 34: "25-34", 35: "35-44",
		54: "45-54", 55: "55-64", 64: "55-64", 65: "65-74", 74: "65-74", 75: "75-84", 84: "75-84", 85: "85+", 120: "85+"} {
		if got := referral.AgeBand(age); got != want {
			t.Errorf("AgeBand(%d) = %q, want %q", age, got, want)
		}
	}
	if got := strings.Join(referral.AgeBandNames(), ","); got != "0-17,18-24,25-34,35-44,45-54,55-64,65-74,75-84,85+" {
		t.Errorf("AgeBandNames: %s", got)
	}
}

// TestAgeBandAtReceipt: intake records the age band on the UK date of
// receipt, so a person whose 18th birthday begins at midnight in BST is
// 18-24 from 23:00 UTC the day before.
func TestAgeBandAtReceipt(t *testing.T) {
	s := valid()
	s.Person.DateOfBirth = "2008-06-01"
	s.Consent.RecordedAt = "2026-05-01T10:00:00Z"
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 5, 31, 22, 59, 0, 0, time.UTC), "0-17"},  // 23:59 BST on 31 May
		{time.Date(2026, 5, 31, 23, 0, 0, 0, time.UTC), "18-24"},  // 00:00 BST on 1 June
		{time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), "18-24"}, // months later
	} {
		ev, errs := s.Event(tc.at)
		if errs != nil {
			t.Fatal(errs)
		}
		if got := ev.GetPerson().GetAgeBand(); got != tc.want {
			t.Errorf("received at %s: age band %q, want %q", tc.at, got, tc.want)
		}
	}
}
