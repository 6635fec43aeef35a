package referral_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// submittedAt is the time the example referral is validated at.
var submittedAt = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// exampleBody is a valid POST /v1/referrals body.
const exampleBody = `{"source": "gp_practice", "referrer": {"name": "Dr A Example", "role": "GP", "organisation": "A81001"}, "person": {"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Example", "date_of_birth": "1956-03-14", "postcode": "TS1 3BA", "phone": "07700900123", "preferred_contact": "phone", "language": "en", "interpreter_needed": false}, "gp_practice": "A81001", "needs": ["loneliness", "mental_health"], "what_matters": "Wants to get out of the house and meet people again", "urgency": "routine", "safeguarding": {"concern": false}, "consent": {"given": true, "recorded_by": "Dr A Example", "recorded_at": "2026-11-20T10:00:00Z"}}`

// example returns the submission of exampleBody.
func example(tb testing.TB) referral.Submission {
	tb.Helper()
	var s referral.Submission
	if err := json.Unmarshal([]byte(exampleBody), &s); err != nil {
		tb.Fatalf("decode example: %v", err)
	}
	return s
}

// fields returns the field paths of errs, in order.
func fields(errs []kernel.FieldError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Field
	}
	return out
}

func TestValidNHSNumber(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool
	}{
		{"valid", "9434765919", true},
		{"another valid", "4010232137", true},
		{"remainder 0 gives check digit 0", "1000000060", true},
		{"check digit computes to 10", "1000000010", false},
		{"check digit computes to 10, any last digit", "1234567890", false},
		{"wrong check digit", "9434765918", false},
		{"9 digits", "943476591", false},
		{"11 digits", "94347659190", false},
		{"letters", "943476591A", false},
		{"all letters", "ABCDEFGHIJ", false},
		{"spaces not normalised", "943 476 5919", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := referral.ValidNHSNumber(tc.in); got != tc.want {
				t.Errorf("ValidNHSNumber(%q): got %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormaliseNHSNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"943 476 5919", "9434765919"},
		{"943-476-5919", "9434765919"},
		{" 9434765919 ", "9434765919"},
		{"9434765919", "9434765919"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := referral.NormaliseNHSNumber(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidPostcode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // the normalised form; "" when invalid
	}{
		{"A9 9AA", "M1 1AE", "M1 1AE"},
		{"A99 9AA", "B33 8TH", "B33 8TH"},
		{"AA9 9AA", "TS1 3BA", "TS1 3BA"},
		{"AA99 9AA", "DN55 1PT", "DN55 1PT"},
		{"A9A 9AA", "W1A 0AX", "W1A 0AX"},
		{"AA9A 9AA", "EC1A 1BB", "EC1A 1BB"},
		{"GIR 0AA", "GIR 0AA", "GIR 0AA"},
		{"lower case, no space", "ts13ba", "TS1 3BA"},
		{"mixed case", "Ec1a 1bB", "EC1A 1BB"},
		{"no space, shortest", "M11AE", "M1 1AE"},
		{"no space, longest", "EC1A1BB", "EC1A 1BB"},
		{"extra spaces", "  sw1a  2aa ", "SW1A 2AA"},
		{"girobank lower case", "gir0aa", "GIR 0AA"},
		{"empty", "", ""},
		{"outward code only", "TS1", ""},
		{"inward code only", "3BA", ""},
		{"digits", "12345", ""},
		{"space in the wrong place", "TS13 BA", ""},
		{"space inside the outward code", "T S1 3BA", ""},
		{"inward code too long", "TS1 3BAA", ""},
		{"outward code too long", "ABC1 3BA", ""},
		{"Q first", "QS1 3BA", ""},
		{"C in the inward code", "TS1 3CA", ""},
		{"letter where the inward digit goes", "TS1 ABA", ""},
		{"punctuation", "TS1-3BA", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			valid := tc.want != ""
			if got := referral.ValidPostcode(tc.in); got != valid {
				t.Fatalf("ValidPostcode(%q): got %v, want %v", tc.in, got, valid)
			}
			if !valid {
				return
			}
			if got := referral.NormalisePostcode(tc.in); got != tc.want {
				t.Errorf("NormalisePostcode(%q): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPostcodeDistrict(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TS1 3BA", "TS1"},
		{"M1 1AE", "M1"},
		{"EC1A 1BB", "EC1A"},
		{"GIR 0AA", "GIR"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := referral.PostcodeDistrict(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOrganisationCodes(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		ods, practice, pcn bool
	}{
		{"A81001", true, true, false},
		{"U12345", true, true, true}, // U and five digits is a practice's shape too
		{"RR8", true, false, false},  // an NHS trust
		{"8JK01", true, false, false},
		{"0DF", true, false, false},
		{"ABCDEFGH12", true, false, false},
		{"ABCDEFGH123", false, false, false},
		{"AB", false, false, false},
		{"a81001", false, false, false},
		{"u12345", false, false, false},
		{"A8100", true, false, false},
		{"A810011", true, false, false},
		{"AB1234", true, false, false},
		{"U1234", true, false, false},
		{"U123456", true, false, false},
		{"A81 001", false, false, false},
		{"", false, false, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := referral.ValidODSCode(tc.in); got != tc.ods {
				t.Errorf("ValidODSCode: got %v, want %v", got, tc.ods)
			}
			if got := referral.ValidPracticeCode(tc.in); got != tc.practice {
				t.Errorf("ValidPracticeCode: got %v, want %v", got, tc.practice)
			}
			if got := referral.ValidPCNCode(tc.in); got != tc.pcn {
				t.Errorf("ValidPCNCode: got %v, want %v", got, tc.pcn)
			}
		})
	}
}

func TestValidateExample(t *testing.T) {
	if errs := example(t).Validate(submittedAt); errs != nil {
		t.Fatalf("got %v, want no errors", errs)
	}
}

// TestValidateRules changes one thing in the example at a time and checks
// the one error it causes, or that it is still valid.
func TestValidateRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name   string
		change func(*referral.Submission)
		field  string // "" when the change is valid
		reason string // a part of the reason
	}{
		// source
		{"source missing", func(s *referral.Submission) { s.Source = "" }, "source", "is required"},
		{"source unknown", func(s *referral.Submission) { s.Source = "carrier_pigeon" }, "source", "must be one of gp_practice"},
		{"source in upper case", func(s *referral.Submission) { s.Source = "GP_PRACTICE" }, "source", "must be one of"},
		{"every source", func(s *referral.Submission) { s.Source = "vcse" }, "", ""},

		// referrer
		{"referrer name missing", func(s *referral.Submission) { s.Referrer.Name = "" }, "referrer.name", "is required"},
		{"referrer name blank", func(s *referral.Submission) { s.Referrer.Name = "  " }, "referrer.name", "is required"},
		{"referrer role optional", func(s *referral.Submission) { s.Referrer.Role = "" }, "", ""},
		{"referrer organisation missing", func(s *referral.Submission) { s.Referrer.Organisation = "" }, "referrer.organisation", "is required"},
		{"referrer organisation not ODS", func(s *referral.Submission) { s.Referrer.Organisation = "a81001" }, "referrer.organisation", "ODS code"},
		{"referrer organisation a trust", func(s *referral.Submission) { s.Referrer.Organisation = "RR8" }, "", ""},

		// person.nhs_number
		{"NHS number missing", func(s *referral.Submission) { s.Person.NHSNumber = "" }, "person.nhs_number", "is required unless"},
		{"NHS number wrong check digit", func(s *referral.Submission) { s.Person.NHSNumber = "9434765918" }, "person.nhs_number", "check digit"},
		{"NHS number check digit 10", func(s *referral.Submission) { s.Person.NHSNumber = "1000000010" }, "person.nhs_number", "check digit"},
		{"NHS number 9 digits", func(s *referral.Submission) { s.Person.NHSNumber = "943476591" }, "person.nhs_number", "10-digit"},
		{"NHS number letters", func(s *referral.Submission) { s.Person.NHSNumber = "94347659AB" }, "person.nhs_number", "10-digit"},
		{"NHS number with spaces", func(s *referral.Submission) { s.Person.NHSNumber = "943 476 5919" }, "", ""},
		{"NHS number with hyphens", func(s *referral.Submission) { s.Person.NHSNumber = "943-476-5919" }, "", ""},
		{"self-referral with invalid NHS number", func(s *referral.Submission) {
			s.Source, s.Person.NHSNumber = "self", "9434765918"
		}, "person.nhs_number", "check digit"},

		// names
		{"given name missing", func(s *referral.Submission) { s.Person.GivenName = "" }, "person.given_name", "is required"},
		{"family name missing", func(s *referral.Submission) { s.Person.FamilyName = " " }, "person.family_name", "is required"},
		{"given name 100 characters", func(s *referral.Submission) { s.Person.GivenName = long(100) }, "", ""},
		{"given name 101 characters", func(s *referral.Submission) { s.Person.GivenName = long(101) }, "person.given_name", "at most 100"},
		{"family name 101 characters", func(s *referral.Submission) { s.Person.FamilyName = long(101) }, "person.family_name", "at most 100"},
		{"name of 100 accented characters", func(s *referral.Submission) { s.Person.FamilyName = strings.Repeat("é", 100) }, "", ""},

		// person.postcode
		{"postcode missing", func(s *referral.Submission) { s.Person.Postcode = "" }, "person.postcode", "is required"},
		{"postcode invalid", func(s *referral.Submission) { s.Person.Postcode = "TS1 3B" }, "person.postcode", "UK postcode"},
		{"postcode lower case without space", func(s *referral.Submission) { s.Person.Postcode = "ts13ba" }, "", ""},

		// contact
		{"no phone or email", func(s *referral.Submission) {
			s.Person.Phone, s.Person.PreferredContact = "", ""
		}, "person.phone", "a phone number or an email address is required"},
		{"email only", func(s *referral.Submission) {
			s.Person.Phone, s.Person.Email, s.Person.PreferredContact = "", "sam@example.org", ""
		}, "", ""},
		{"phone with spaces", func(s *referral.Submission) { s.Person.Phone = "07700 900 123" }, "", ""},
		{"phone with +44", func(s *referral.Submission) { s.Person.Phone = "+44 7700 900123" }, "", ""},
		{"phone with +44 (0)", func(s *referral.Submission) { s.Person.Phone = "+44 (0)7700 900123" }, "", ""},
		{"landline of 10 digits", func(s *referral.Submission) { s.Person.Phone = "01642 12345" }, "", ""},
		{"phone of 9 digits", func(s *referral.Submission) { s.Person.Phone = "077009001" }, "person.phone", "UK phone number"},
		{"phone of 12 digits", func(s *referral.Submission) { s.Person.Phone = "077009001234" }, "person.phone", "UK phone number"},
		{"phone not national", func(s *referral.Submission) { s.Person.Phone = "7700900123" }, "person.phone", "UK phone number"},
		{"phone abroad", func(s *referral.Submission) { s.Person.Phone = "+33 1 23 45 67 89" }, "person.phone", "UK phone number"},
		{"phone letters", func(s *referral.Submission) { s.Person.Phone = "call me" }, "person.phone", "UK phone number"},
		{"email without @", func(s *referral.Submission) { s.Person.Email = "sam.example.org" }, "person.email", "email address"},
		{"email with two @", func(s *referral.Submission) { s.Person.Email = "sam@home@example.org" }, "person.email", "email address"},
		{"email without a dot in the domain", func(s *referral.Submission) { s.Person.Email = "sam@localhost" }, "person.email", "email address"},
		{"email with a space", func(s *referral.Submission) { s.Person.Email = "sam @example.org" }, "person.email", "email address"},
		{"email 254 characters", func(s *referral.Submission) { s.Person.Email = long(242) + "@example.org" }, "", ""},
		{"email 255 characters", func(s *referral.Submission) { s.Person.Email = long(243) + "@example.org" }, "person.email", "at most 254"},

		// person.preferred_contact
		{"preferred contact optional", func(s *referral.Submission) { s.Person.PreferredContact = "" }, "", ""},
		{"preferred contact unknown", func(s *referral.Submission) { s.Person.PreferredContact = "pigeon" }, "person.preferred_contact", "must be one of"},
		{"preferred contact letter", func(s *referral.Submission) { s.Person.PreferredContact = "letter" }, "", ""},
		{"preferred phone without a phone", func(s *referral.Submission) {
			s.Person.Phone, s.Person.Email = "", "sam@example.org"
		}, "person.phone", "preferred contact is phone"},
		{"preferred sms without a phone", func(s *referral.Submission) {
			s.Person.Phone, s.Person.Email, s.Person.PreferredContact = "", "sam@example.org", "sms"
		}, "person.phone", "preferred contact is sms"},
		{"preferred email without an email", func(s *referral.Submission) { s.Person.PreferredContact = "email" }, "person.email", "preferred contact is email"},
		{"preferred email with neither", func(s *referral.Submission) {
			s.Person.Phone, s.Person.PreferredContact = "", "email"
		}, "person.email", "preferred contact is email"},

		// person.language
		{"language optional", func(s *referral.Submission) { s.Person.Language = "" }, "", ""},
		{"language with region", func(s *referral.Submission) { s.Person.Language = "pt-BR" }, "", ""},
		{"language of three letters", func(s *referral.Submission) { s.Person.Language = "yue" }, "", ""},
		{"language with script and region", func(s *referral.Submission) { s.Person.Language = "zh-Hant-HK" }, "", ""},
		{"language as a word", func(s *referral.Submission) { s.Person.Language = "english" }, "person.language", "language tag"},
		{"language with underscore", func(s *referral.Submission) { s.Person.Language = "pt_BR" }, "person.language", "language tag"},
		{"language with empty subtag", func(s *referral.Submission) { s.Person.Language = "en-" }, "person.language", "language tag"},

		// gp_practice
		{"practice missing", func(s *referral.Submission) { s.GPPractice = "" }, "gp_practice", "is required"},
		{"practice is a trust", func(s *referral.Submission) { s.GPPractice = "RR8" }, "gp_practice", "one letter and five digits"},

		// needs
		{"needs missing", func(s *referral.Submission) { s.Needs = nil }, "needs", "at least one need is required"},
		{"needs empty", func(s *referral.Submission) { s.Needs = []string{} }, "needs", "at least one need is required"},
		{"need unknown", func(s *referral.Submission) { s.Needs = []string{"loneliness", "boredom"} }, "needs[1]", "must be one of loneliness"},
		{"need empty", func(s *referral.Submission) { s.Needs = []string{""} }, "needs[0]", "must be one of"},
		{"need twice", func(s *referral.Submission) { s.Needs = []string{"housing", "debt", "housing"} }, "needs[2]", "repeats"},

		// what_matters
		{"what matters optional", func(s *referral.Submission) { s.WhatMatters = "" }, "", ""},
		{"what matters 2000 characters", func(s *referral.Submission) { s.WhatMatters = long(2000) }, "", ""},
		{"what matters 2001 characters", func(s *referral.Submission) { s.WhatMatters = long(2001) }, "what_matters", "at most 2000"},

		// urgency
		{"urgency missing", func(s *referral.Submission) { s.Urgency = "" }, "urgency", "is required; one of urgent, high, routine"},
		{"urgency unknown", func(s *referral.Submission) { s.Urgency = "asap" }, "urgency", "must be one of urgent, high, routine"},
		{"urgency urgent", func(s *referral.Submission) { s.Urgency = "urgent" }, "", ""},

		// safeguarding
		{"concern without details", func(s *referral.Submission) { s.Safeguarding.Concern = true }, "safeguarding.details", "is required when there is a safeguarding concern"},
		{"concern with details", func(s *referral.Submission) {
			s.Safeguarding = referral.Safeguarding{Concern: true, Details: "Signs of self-neglect"}
		}, "", ""},
		{"concern with long details", func(s *referral.Submission) {
			s.Safeguarding = referral.Safeguarding{Concern: true, Details: long(2001)}
		}, "safeguarding.details", "at most 2000"},

		// consent
		{"consent not given", func(s *referral.Submission) { s.Consent.Given = false }, "consent.given", "consent to the referral must be given"},
		{"consent recorder missing", func(s *referral.Submission) { s.Consent.RecordedBy = "" }, "consent.recorded_by", "is required"},
		{"consent time missing", func(s *referral.Submission) { s.Consent.RecordedAt = "" }, "consent.recorded_at", "is required"},
		// Every FHIR date and dateTime precision is a consent time.
		{"consent time a date", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-20" }, "", ""},
		{"consent time a month", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11" }, "", ""},
		{"consent time a year", func(s *referral.Submission) { s.Consent.RecordedAt = "2026" }, "", ""},
		{"consent time not a date", func(s *referral.Submission) { s.Consent.RecordedAt = "20 Nov 2026" }, "consent.recorded_at", "RFC 3339"},
		{"consent time no such month", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-13" }, "consent.recorded_at", "RFC 3339"},
		{"consent time without zone", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-20T10:00:00" }, "consent.recorded_at", "RFC 3339"},
		{"consent year in the future", func(s *referral.Submission) { s.Consent.RecordedAt = "2027" }, "consent.recorded_at", "future"},
		{"authored on a date", func(s *referral.Submission) { s.AuthoredOn = "2026-11-20" }, "", ""},
		{"authored on not a date", func(s *referral.Submission) { s.AuthoredOn = "yesterday" }, "authored_on", "RFC 3339"},
		{"consent time with offset", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-20T10:00:00+01:00" }, "", ""},
		{"consent time with fraction", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-20T10:00:00.123Z" }, "", ""},
		{"consent within clock skew", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-24T12:05:00Z" }, "", ""},
		{"consent in the future", func(s *referral.Submission) { s.Consent.RecordedAt = "2026-11-24T12:05:01Z" }, "consent.recorded_at", "must not be in the future"},

		// external_reference
		{"external reference", func(s *referral.Submission) { s.ExternalReference = "SPOC-2026/0042" }, "", ""},
		{"external reference 100 characters", func(s *referral.Submission) { s.ExternalReference = long(100) }, "", ""},
		{"external reference 101 characters", func(s *referral.Submission) { s.ExternalReference = long(101) }, "external_reference", "at most 100"},
		{"external reference with a newline", func(s *referral.Submission) { s.ExternalReference = "ref\n1" }, "external_reference", "printable ASCII"},
		{"external reference not ASCII", func(s *referral.Submission) { s.ExternalReference = "réf" }, "external_reference", "printable ASCII"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t)
			tc.change(&s)
			errs := s.Validate(submittedAt)
			if tc.field == "" {
				if errs != nil {
					t.Fatalf("got %v, want no errors", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Reason, tc.reason) {
				t.Fatalf("got %v, want one error on %s with a reason containing %q", errs, tc.field, tc.reason)
			}
		})
	}
}

func TestValidateDateOfBirth(t *testing.T) {
	for _, tc := range []struct {
		name, dob string
		now       time.Time
		reason    string // "" when valid
	}{
		{"example", "1956-03-14", submittedAt, ""},
		{"born today", "2026-11-24", submittedAt, ""},
		{"born today in the local zone", "2026-11-25", time.Date(2026, 11, 25, 0, 30, 0, 0, time.FixedZone("+0100", 3600)), ""},
		{"born tomorrow", "2026-11-25", submittedAt, "must not be in the future"},
		{"next year", "2027-01-01", submittedAt, "must not be in the future"},
		{"120 years ago today", "1906-11-24", submittedAt, ""},
		{"121 years ago today", "1905-11-24", submittedAt, "implausible"},
		{"121 years ago tomorrow", "1905-11-25", submittedAt, ""},
		{"29 February in a leap year", "2024-02-29", submittedAt, ""},
		{"29 February in another year", "2025-02-29", submittedAt, "real date"},
		{"30 February", "2000-02-30", submittedAt, "real date"},
		{"month 13", "2000-13-01", submittedAt, "real date"},
		{"day month year", "14/03/1956", submittedAt, "YYYY-MM-DD"},
		{"single digits", "1956-3-14", submittedAt, "YYYY-MM-DD"},
		{"with a time", "1956-03-14T00:00:00Z", submittedAt, "YYYY-MM-DD"},
		{"missing", "", submittedAt, "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t)
			s.Person.DateOfBirth = tc.dob
			errs := s.Validate(tc.now)
			if tc.reason == "" {
				if errs != nil {
					t.Fatalf("got %v, want no errors", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "person.date_of_birth" || !strings.Contains(errs[0].Reason, tc.reason) {
				t.Fatalf("got %v, want one error on person.date_of_birth with a reason containing %q", errs, tc.reason)
			}
		})
	}
}

func TestValidateReportsAllErrors(t *testing.T) {
	s := referral.Submission{
		Source:   "carrier_pigeon",
		Referrer: referral.Referrer{Organisation: "a81001"},
		Person: referral.Person{
			NHSNumber:        "9434765918",
			FamilyName:       strings.Repeat("x", 101),
			DateOfBirth:      "2026-02-30",
			Postcode:         "NOT A POSTCODE",
			Phone:            "12",
			Email:            "sam.example.org",
			PreferredContact: "pigeon",
			Language:         "english",
		},
		GPPractice:        "A8100",
		Needs:             []string{"loneliness", "boredom", "loneliness"},
		WhatMatters:       strings.Repeat("x", 2001),
		Safeguarding:      referral.Safeguarding{Concern: true},
		Consent:           referral.Consent{RecordedAt: "yesterday"},
		ExternalReference: "ref\n1",
	}
	want := []string{
		"source",
		"referrer.name",
		"referrer.organisation",
		"person.nhs_number",
		"person.given_name",
		"person.family_name",
		"person.date_of_birth",
		"person.postcode",
		"person.phone",
		"person.email",
		"person.preferred_contact",
		"person.language",
		"gp_practice",
		"needs[1]",
		"needs[2]",
		"what_matters",
		"urgency",
		"safeguarding.details",
		"consent.given",
		"consent.recorded_by",
		"consent.recorded_at",
		"external_reference",
	}
	errs := s.Validate(submittedAt)
	if got := fields(errs); !reflect.DeepEqual(got, want) {
		t.Errorf("fields:\n got %v\nwant %v", got, want)
	}
	for _, e := range errs {
		if e.Reason == "" {
			t.Errorf("%s: got an empty reason, want one", e.Field)
		}
	}
	if ev, evErrs := s.Event(submittedAt); ev != nil || !reflect.DeepEqual(evErrs, errs) {
		t.Errorf("Event: got %v and %v, want nil and the errors of Validate", ev, evErrs)
	}
}

// TestReasonsOmitSubmittedValues checks that no reason repeats a value
// that may be personal data, whether the value is valid or not.
func TestReasonsOmitSubmittedValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*referral.Submission)
	}{
		{"invalid values", func(s *referral.Submission) {
			s.Person.NHSNumber = "9434765918"
			s.Person.GivenName = "Samantha" + strings.Repeat("x", 100)
			s.Person.FamilyName = "Examplesson" + strings.Repeat("x", 100)
			s.Person.Postcode = "ZZ99 9ZZ"
			s.Person.DateOfBirth = "1900-01-01"
			s.Person.Phone = "01642 1234"
			s.Person.Email = "samantha@example"
			s.ExternalReference = "Samantha\tExamplesson"
		}},
		{"valid values beside invalid ones", func(s *referral.Submission) {
			s.Person.GivenName = "Samantha"
			s.Person.FamilyName = "Examplesson"
			s.Person.Email = "samantha@example.org"
			s.Source = ""
			s.Urgency = "soon"
			s.Needs = []string{"Samantha"}
			s.Consent.Given = false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t)
			tc.change(&s)
			p := s.Person
			secrets := []string{
				p.NHSNumber, referral.NormaliseNHSNumber(p.NHSNumber), "Samantha", "Examplesson",
				p.Postcode, referral.NormalisePostcode(p.Postcode), p.DateOfBirth, p.Phone, p.Email,
			}
			errs := s.Validate(submittedAt)
			if errs == nil {
				t.Fatal("got no errors, want some")
			}
			for _, e := range errs {
				for _, secret := range secrets {
					if secret != "" && strings.Contains(e.Reason, secret) {
						t.Errorf("%s: reason %q contains the submitted value %q", e.Field, e.Reason, secret)
					}
				}
			}
		})
	}
}

func TestSelfReferralWithoutNHSNumber(t *testing.T) {
	s := example(t)
	s.Source = "self"
	s.Referrer = referral.Referrer{Name: "Sam Example", Organisation: "A81001"}
	s.Person.NHSNumber = ""
	if errs := s.Validate(submittedAt); errs != nil {
		t.Fatalf("got %v, want no errors", errs)
	}
	ev, errs := s.Event(submittedAt)
	if errs != nil {
		t.Fatalf("Event: got %v, want no errors", errs)
	}
	if got, want := ev.GetSource(), pathwayv1.ReferralSource_REFERRAL_SOURCE_SELF; got != want {
		t.Errorf("source: got %v, want %v", got, want)
	}
	if got := ev.GetPerson().GetNhsNumber(); got != "" {
		t.Errorf("NHS number: got %q, want empty", got)
	}
}

func TestEvent(t *testing.T) {
	want := &pathwayv1.ReferralReceived{
		Source:   pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE,
		Referrer: &pathwayv1.Referrer{Name: "Dr A Example", Role: "GP", Organisation: "A81001"},
		Person: &pathwayv1.Person{
			NhsNumber:        "9434765919",
			GivenName:        "Sam",
			FamilyName:       "Example",
			DateOfBirth:      &pathwayv1.Date{Year: 1956, Month: 3, Day: 14},
			Postcode:         "TS1 3BA",
			Phone:            "07700900123",
			PreferredContact: pathwayv1.ContactMethod_CONTACT_METHOD_PHONE,
			Language:         "en",
			AgeBand:          "65-74", // 70 on the day of receipt
		},
		GpPractice:   "A81001",
		Needs:        []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_MENTAL_HEALTH},
		WhatMatters:  "Wants to get out of the house and meet people again",
		Urgency:      pathwayv1.Priority_PRIORITY_ROUTINE,
		Safeguarding: &pathwayv1.Safeguarding{},
		Consent: &pathwayv1.Consent{
			Given:      true,
			RecordedBy: "Dr A Example",
			RecordedAt: timestamppb.New(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)),
		},
		Code: &pathwayv1.Coded{System: "http://snomed.info/sct", Code: "871731000000106", Display: "Referral to social prescribing service"},
	}
	for _, tc := range []struct {
		name   string
		change func(*referral.Submission)
		sent   string // consent.recorded_at as sent
	}{
		{"example", func(*referral.Submission) {}, "2026-11-20T10:00:00Z"},
		{"values to normalise", func(s *referral.Submission) {
			s.Person.NHSNumber = " 943 476-5919"
			s.Person.Postcode = "ts13ba"
			s.Person.Phone = "+44 (0)7700 900 123"
			s.Person.Language = "EN"
			s.Person.GivenName = " Sam "
			s.Referrer.Name = "Dr A Example "
			s.Consent.RecordedAt = "2026-11-20T11:00:00+01:00"
		}, "2026-11-20T11:00:00+01:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t)
			tc.change(&s)
			got, errs := s.Event(submittedAt)
			if errs != nil {
				t.Fatalf("got errors %v, want none", errs)
			}
			want := proto.Clone(want).(*pathwayv1.ReferralReceived)
			want.Consent.RecordedAtAsSent = tc.sent
			if !proto.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestEventLanguageCase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"en", "en"},
		{"EN", "en"},
		{"pt-br", "pt-BR"},
		{"ZH-HANT-hk", "zh-Hant-HK"},
		{"en-GB-oxendict", "en-GB-oxendict"},
		{"sl-rozaj-biske", "sl-rozaj-biske"},
		{"es-419", "es-419"},
		{"de-DE-u-CO-phonebk", "de-DE-u-co-phonebk"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s := example(t)
			s.Person.Language = tc.in
			ev, errs := s.Event(submittedAt)
			if errs != nil {
				t.Fatalf("got errors %v, want none", errs)
			}
			if got := ev.GetPerson().GetLanguage(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEventsAreIndependent(t *testing.T) {
	s := example(t)
	a, _ := s.Event(submittedAt)
	b, _ := s.Event(submittedAt)
	a.Code.Code = "changed"
	a.Person.GivenName = "changed"
	if b.GetCode().GetCode() != "871731000000106" || b.GetPerson().GetGivenName() != "Sam" {
		t.Errorf("changing one event changed another: got %v", b)
	}
}

func TestFromEventRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*referral.Submission) // what is submitted
		want   func(*referral.Submission) // how it comes back, from the example
	}{
		{"example", func(*referral.Submission) {}, func(*referral.Submission) {}},
		{"every field", func(s *referral.Submission) {
			s.Source = "spoc"
			s.Person.Email = "sam@example.org"
			s.Person.PreferredContact = "email"
			s.Person.InterpreterNeeded = true
			s.Person.Language = "pl"
			s.Person.AccessibilityNeeds = "Large print"
			s.Needs = []string{"parenting", "other", "housing"}
			s.Urgency = "urgent"
			s.Safeguarding = referral.Safeguarding{Concern: true, Details: "Signs of self-neglect"}
			s.ExternalReference = "SPOC-0042"
		}, nil},
		{"values to normalise", func(s *referral.Submission) {
			s.Person.NHSNumber = "943 476 5919"
			s.Person.Postcode = "ts13ba"
			s.Person.Phone = "+44 7700 900123"
			s.Person.Language = "EN"
			s.Consent.RecordedAt = "2026-11-20T11:00:00.5+01:00"
		}, func(s *referral.Submission) {
			// The consent time comes back as sent, with its zone.
			s.Consent.RecordedAt = "2026-11-20T11:00:00.5+01:00"
		}},
		{"what a FHIR sender gave, kept as sent", func(s *referral.Submission) {
			s.Consent.RecordedAt = "2026-11"
			s.AuthoredOn = "2026-11-20"
			s.Category = []referral.Coding{{System: "https://fhir.nhs.uk/CodeSystem/usecases-categories-bars", Code: "a1t1", Display: "111 to ED"}}
			s.Profiles = []string{"https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral"}
			s.SenderReference = "urn:uuid:236bb75d-90ef-461f-b71e-fde7f899802c"
			s.Referrer.Practitioner = "https://fhir.nhs.uk/Id/sds-role-profile-id|PT2489"
			s.Referrer.OrganisationName = "Sender Organization"
			s.Person.LanguageSystem = "https://fhir.hl7.org.uk/CodeSystem/UKCore-HumanLanguage"
		}, nil},
		{"self-referral without NHS number", func(s *referral.Submission) {
			s.Source = "self"
			s.Person.NHSNumber = ""
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t)
			tc.change(&s)
			want := s
			if tc.want != nil {
				want = example(t)
				tc.want(&want)
			}
			ev, errs := s.Event(submittedAt)
			if errs != nil {
				t.Fatalf("got errors %v, want none", errs)
			}
			got := referral.FromEvent(ev)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if errs := got.Validate(submittedAt); errs != nil {
				t.Errorf("the returned submission: got errors %v, want none", errs)
			}
		})
	}
}

func TestFromEventEmpty(t *testing.T) {
	got := referral.FromEvent(&pathwayv1.ReferralReceived{})
	if got.Source != "" || got.Person.DateOfBirth != "" || got.Consent.RecordedAt != "" || len(got.Needs) != 0 {
		t.Errorf("got %+v, want an empty submission", got)
	}
	if got := referral.FromEvent(nil); got.Needs == nil {
		t.Errorf("needs of a nil event: got nil, want an empty list (JSON [])")
	}
}

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		dob  string
		at   time.Time
		want int
	}{
		{"1956-03-14", time.Date(2026, 3, 13, 23, 59, 0, 0, time.UTC), 69},
		{"1956-03-14", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), 70},
		{"1956-03-14", time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), 70},
		{"2024-02-29", time.Date(2025, 2, 28, 12, 0, 0, 0, time.UTC), 0},
		{"2024-02-29", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), 1},
		{"2026-11-24", time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), 0},
		{"2000-01-01", time.Date(2017, 12, 31, 23, 30, 0, 0, time.UTC), 17},
		// At 23:30 UTC on 31 December it is already 1 January in +01:00.
		{"2000-01-01", time.Date(2017, 12, 31, 23, 30, 0, 0, time.UTC).In(time.FixedZone("+0100", 3600)), 18},
	} {
		t.Run(fmt.Sprintf("%s at %s", tc.dob, tc.at.Format(time.RFC3339)), func(t *testing.T) {
			s := example(t)
			s.Person.DateOfBirth = tc.dob
			if got := s.Age(tc.at); got != tc.want {
				t.Errorf("Submission.Age: got %d, want %d", got, tc.want)
			}
			ev, errs := s.Event(submittedAt)
			if errs != nil {
				t.Fatalf("got errors %v, want none", errs)
			}
			if got := referral.Age(ev.GetPerson().GetDateOfBirth(), tc.at); got != tc.want {
				t.Errorf("Age of the event's date: got %d, want %d", got, tc.want)
			}
		})
	}
	if got := (referral.Submission{}).Age(submittedAt); got != 0 {
		t.Errorf("no date of birth: got %d, want 0", got)
	}
	if got := referral.Age(nil, submittedAt); got != 0 {
		t.Errorf("nil date: got %d, want 0", got)
	}
}
