package referral_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/domain/referral"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestNHSNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"9434765919", true},
		{"4010232137", true},
		{"9434765918", false}, // wrong check digit
		{"9434765910", false},
		{"1000000010", false}, // check digit computes to 10: never valid
		{"943476591", false},  // 9 digits
		{"94347659190", false},
		{"943476591A", false},
		{"", false},
		{"943 476 5919", false}, // callers normalise first
	} {
		if got := referral.ValidNHSNumber(tc.in); got != tc.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := referral.NormaliseNHSNumber(" 943-476 5919 "); got != "9434765919" {
		t.Errorf("NormaliseNHSNumber: got %q, want 9434765919", got)
	}
}

func TestPostcodes(t *testing.T) {
	for _, tc := range []struct {
		in, norm string
		valid    bool
	}{
		{"TS1 3BA", "TS1 3BA", true},
		{"ts13ba", "TS1 3BA", true},
		{"M1 1AE", "M1 1AE", true},         // A9 9AA
		{"B33 8TH", "B33 8TH", true},       // A99 9AA
		{"CR2 6XH", "CR2 6XH", true},       // AA9 9AA
		{"DN55 1PT", "DN55 1PT", true},     // AA99 9AA
		{"W1A 0AX", "W1A 0AX", true},       // A9A 9AA
		{"EC1A 1BB", "EC1A 1BB", true},     // AA9A 9AA
		{"  sw1a  2aa ", "SW1A 2AA", true}, // extra spaces
		{"GIR 0AA", "GIR 0AA", true},
		{"TS1", "TS1", false},
		{"12345", "12 345", false},
		{"QS1 3BA", "QS1 3BA", false}, // Q never starts a postcode
		{"TS1 3CA", "TS1 3CA", false}, // C never in the inward code
		{"", "", false},
	} {
		if got := referral.ValidPostcode(tc.in); got != tc.valid {
			t.Errorf("ValidPostcode(%q) = %v, want %v", tc.in, got, tc.valid)
		}
		if got := referral.NormalisePostcode(tc.in); tc.valid && got != tc.norm {
			t.Errorf("NormalisePostcode(%q) = %q, want %q", tc.in, got, tc.norm)
		}
	}
	if got := referral.PostcodeDistrict("TS1 3BA"); got != "TS1" {
		t.Errorf("PostcodeDistrict: got %q, want TS1", got)
	}
}

func TestCodes(t *testing.T) {
	for in, want := range map[string][3]bool{ // ODS, practice, PCN
		"A81001":      {true, true, false},
		"U12345":      {true, true, true},
		"X26":         {true, false, false},
		"a81001":      {false, false, false},
		"A8100":       {true, false, false},
		"A81001X":     {true, false, false},
		"AB":          {false, false, false},
		"TOOLONGCODE": {false, false, false},
	} {
		got := [3]bool{referral.ValidODSCode(in), referral.ValidPracticeCode(in), referral.ValidPCNCode(in)}
		if got != want {
			t.Errorf("%q: ODS/practice/PCN = %v, want %v", in, got, want)
		}
	}
}

func valid() referral.Submission {
	return referral.Submission{
		Source:   "gp_practice",
		Referrer: referral.Referrer{Name: "Dr A Example", Role: "GP", Organisation: "A81001"},
		Person: referral.Person{
			NHSNumber: "9434765919", GivenName: "Sam", FamilyName: "Example", DateOfBirth: "1956-03-14",
			Postcode: "TS1 3BA", Phone: "07700900123", PreferredContact: "phone", Language: "en",
		},
		GPPractice:  "A81001",
		Needs:       []string{"loneliness", "mental_health"},
		WhatMatters: "Wants to get out of the house and meet people again",
		Urgency:     "routine",
		Consent:     referral.Consent{Given: true, RecordedBy: "Dr A Example", RecordedAt: "2026-11-20T10:00:00Z"},
	}
}

func TestDatesOfBirth(t *testing.T) {
	for _, tc := range []struct {
		dob  string
		want string
	}{
		{"1956-03-14", ""},
		{"2026-11-24", ""}, // born today
		{"2026-11-25", "must not be in the future"},
		{"1905-01-01", "implausible"}, // 121 years
		{"2026-02-30", "real date"},
		{"14/03/1956", "real date"},
		{"", "is required"},
	} {
		t.Run(tc.dob, func(t *testing.T) {
			s := valid()
			s.Person.DateOfBirth = tc.dob
			errs := s.Validate(now)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("got %v, want valid", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "person.date_of_birth" || !strings.Contains(errs[0].Reason, tc.want) {
				t.Fatalf("got %v, want one error on person.date_of_birth saying %q", errs, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	if errs := valid().Validate(now); len(errs) != 0 {
		t.Fatalf("the example referral: got %v, want valid", errs)
	}
	s := valid()
	s.Source = "carrier_pigeon"
	s.Person.NHSNumber = "9434765918"
	s.Person.Postcode = "NOT A POSTCODE"
	s.Person.Phone = "12"
	s.GPPractice = "A8100"
	s.Needs = []string{"loneliness", "boredom", "loneliness"}
	s.Urgency = ""
	s.Safeguarding.Concern = true
	s.Consent.Given = false
	errs := s.Validate(now)
	want := []string{"source", "person.nhs_number", "person.postcode", "person.phone", "gp_practice", "needs[1]", "needs[2]", "urgency", "safeguarding.details", "consent.given"}
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Field] = true
		for _, secret := range []string{"9434765918", "NOT A POSTCODE", "Sam"} {
			if strings.Contains(e.Reason, secret) {
				t.Errorf("reason %q repeats a submitted value", e.Reason)
			}
		}
	}
	for _, f := range want {
		if !got[f] {
			t.Errorf("no error on %s; got %v", f, errs)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
}

func TestSelfReferralNeedsNoNHSNumber(t *testing.T) {
	s := valid()
	s.Person.NHSNumber = ""
	if errs := s.Validate(now); len(errs) != 1 || errs[0].Field != "person.nhs_number" {
		t.Fatalf("GP referral without NHS number: got %v, want one error on person.nhs_number", errs)
	}
	s.Source = "self"
	if errs := s.Validate(now); len(errs) != 0 {
		t.Fatalf("self-referral without NHS number: got %v, want valid", errs)
	}
}

func TestEventRoundTrip(t *testing.T) {
	s := valid()
	s.Person.Postcode = "ts13ba"
	s.Person.NHSNumber = "943 476 5919"
	s.Person.Phone = "+44 7700 900123"
	ev, errs := s.Event(now)
	if errs != nil {
		t.Fatal(errs)
	}
	if ev.GetCode().GetCode() != "871731000000106" {
		t.Errorf("SNOMED code: got %q, want 871731000000106", ev.GetCode().GetCode())
	}
	back := referral.FromEvent(ev)
	want := valid()
	if back.Person != want.Person || back.GPPractice != want.GPPractice || back.Source != want.Source ||
		strings.Join(back.Needs, ",") != strings.Join(want.Needs, ",") || back.Consent != want.Consent || back.Urgency != want.Urgency {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, want)
	}
}
