package referral

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ValidNHSNumber reports whether s is 10 digits with a valid modulus 11
// check digit: digits 1-9 weighted 10 down to 2, the check digit is 11
// minus the remainder of their sum by 11 (11 becomes 0; 10 is invalid).
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := range 10 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(s[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(s[9]-'0')
}

// NormaliseNHSNumber removes the spaces and hyphens people write NHS
// numbers with ("943 476 5919").
func NormaliseNHSNumber(s string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
}

// postcodeRe matches a UK postcode without spaces, upper case: outward
// code A9, A99, AA9, AA99, A9A or AA9A, then inward code 9AA; and GIR 0AA.
var postcodeRe = regexp.MustCompile(`^(GIR0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2})$`)

// NormalisePostcode returns s in upper case with one space before the
// inward code ("ts13ba" becomes "TS1 3BA"); s is returned compacted if it
// is too short to be a postcode.
func NormalisePostcode(s string) string {
	c := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(c) < 5 {
		return c
	}
	return c[:len(c)-3] + " " + c[len(c)-3:]
}

// ValidPostcode reports whether s is a UK postcode, in any case and
// spacing.
func ValidPostcode(s string) bool {
	return postcodeRe.MatchString(strings.ReplaceAll(NormalisePostcode(s), " ", ""))
}

// PostcodeDistrict returns the outward code of a normalised postcode
// ("TS1 3BA" gives "TS1").
func PostcodeDistrict(normalised string) string {
	out, _, _ := strings.Cut(normalised, " ")
	return out
}

var (
	odsRe      = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	practiceRe = regexp.MustCompile(`^[A-Z][0-9]{5}$`)
	pcnRe      = regexp.MustCompile(`^U[0-9]{5}$`)
	languageRe = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)
	phoneRe    = regexp.MustCompile(`^0[0-9]{9,10}$`)
)

// ValidODSCode reports whether s has the form of an ODS organisation code.
func ValidODSCode(s string) bool { return odsRe.MatchString(s) }

// ValidPracticeCode reports whether s has the form of a GP practice ODS
// code: one letter and five digits (A81001).
func ValidPracticeCode(s string) bool { return practiceRe.MatchString(s) }

// ValidPCNCode reports whether s has the form of a primary care network
// ODS code: U and five digits (U12345).
func ValidPCNCode(s string) bool { return pcnRe.MatchString(s) }

// normalisePhone returns a UK number in national form (07700900123), or
// "" when s is not one.
func normalisePhone(s string) string {
	c := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(c, "+44"); ok {
		c = "0" + strings.TrimPrefix(rest, "0")
	}
	if !phoneRe.MatchString(c) {
		return ""
	}
	return c
}

// maxAge is the oldest plausible age of a person referred.
const maxAge = 120

// Validate reports every invalid field of s at once, by its JSON path. The
// reasons never repeat a submitted value.
func (s Submission) Validate(now time.Time) []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	text := func(field, v string, required bool, max int) {
		switch {
		case required && strings.TrimSpace(v) == "":
			add(field, "is required")
		case utf8.RuneCountInString(v) > max:
			add(field, "must be at most %d characters", max)
		}
	}
	oneOf := func(field, v string, set enumSet, required bool) {
		if v == "" {
			if required {
				add(field, "is required; one of %s", strings.Join(set.names, ", "))
			}
			return
		}
		if _, ok := set.number[v]; !ok {
			add(field, "must be one of %s", strings.Join(set.names, ", "))
		}
	}

	oneOf("source", s.Source, sources, true)
	text("referrer.name", s.Referrer.Name, true, 200)
	text("referrer.role", s.Referrer.Role, false, 100)
	if s.Referrer.Organisation == "" {
		add("referrer.organisation", "is required: the ODS code of the referring organisation")
	} else if !ValidODSCode(s.Referrer.Organisation) {
		add("referrer.organisation", "must be an ODS code: 3 to 10 upper-case letters and digits")
	}

	p := s.Person
	if nhs := NormaliseNHSNumber(p.NHSNumber); nhs != "" {
		if !ValidNHSNumber(nhs) {
			add("person.nhs_number", "must be a 10-digit NHS number with a valid check digit")
		}
	} else if s.Source != "self" {
		add("person.nhs_number", "is required unless the person refers themselves")
	}
	text("person.given_name", p.GivenName, true, 100)
	text("person.family_name", p.FamilyName, true, 100)
	if p.DateOfBirth == "" {
		add("person.date_of_birth", "is required (YYYY-MM-DD)")
	} else if dob, err := time.Parse(time.DateOnly, p.DateOfBirth); err != nil {
		add("person.date_of_birth", "must be a real date as YYYY-MM-DD")
	} else if dob.After(now) {
		add("person.date_of_birth", "must not be in the future")
	} else if dob.Before(now.AddDate(-maxAge, 0, 0)) {
		add("person.date_of_birth", "is implausible: more than %d years ago", maxAge)
	}
	if p.Postcode == "" {
		add("person.postcode", "is required")
	} else if !ValidPostcode(p.Postcode) {
		add("person.postcode", "must be a UK postcode, e.g. TS1 3BA")
	}
	phoneOK := p.Phone != "" && normalisePhone(p.Phone) != ""
	if p.Phone != "" && !phoneOK {
		add("person.phone", "must be a UK phone number of 10 or 11 digits")
	}
	emailOK := false
	if p.Email != "" {
		a, err := mail.ParseAddress(p.Email)
		emailOK = err == nil && a.Address == p.Email && len(p.Email) <= 254 && strings.Contains(p.Email[strings.LastIndex(p.Email, "@"):], ".")
		if !emailOK {
			add("person.email", "must be an email address")
		}
	}
	if p.Phone == "" && p.Email == "" {
		add("person.phone", "a phone number or an email address is required")
	}
	oneOf("person.preferred_contact", p.PreferredContact, contactMethods, false)
	switch p.PreferredContact {
	case "phone", "sms":
		if p.Phone == "" {
			add("person.phone", "is required when the preferred contact is %s", p.PreferredContact)
		}
	case "email":
		if p.Email == "" {
			add("person.email", "is required when the preferred contact is email")
		}
	}
	if p.Language != "" && !languageRe.MatchString(p.Language) {
		add("person.language", "must be a language tag such as en, pl or pt-BR")
	}
	text("person.accessibility_needs", p.AccessibilityNeeds, false, 2000)

	if s.GPPractice == "" {
		add("gp_practice", "is required: the ODS code of the person's registered practice")
	} else if !ValidPracticeCode(s.GPPractice) {
		add("gp_practice", "must be a GP practice ODS code: one letter and five digits, e.g. A81001")
	}
	if len(s.Needs) == 0 {
		add("needs", "at least one need is required; one of %s", strings.Join(needs.names, ", "))
	}
	seen := map[string]bool{}
	for i, n := range s.Needs {
		field := fmt.Sprintf("needs[%d]", i)
		if _, ok := needs.number[n]; !ok {
			add(field, "must be one of %s", strings.Join(needs.names, ", "))
		} else if seen[n] {
			add(field, "is listed twice")
		}
		seen[n] = true
	}
	text("what_matters", s.WhatMatters, false, 2000)
	oneOf("urgency", s.Urgency, urgencies, true)
	if s.Safeguarding.Concern {
		text("safeguarding.details", s.Safeguarding.Details, true, 2000)
	} else {
		text("safeguarding.details", s.Safeguarding.Details, false, 2000)
	}
	if !s.Consent.Given {
		add("consent.given", "consent to the referral must be given")
	}
	text("consent.recorded_by", s.Consent.RecordedBy, true, 200)
	if s.Consent.RecordedAt == "" {
		add("consent.recorded_at", "is required (RFC 3339 time)")
	} else if at, err := time.Parse(time.RFC3339, s.Consent.RecordedAt); err != nil {
		add("consent.recorded_at", "must be an RFC 3339 time, e.g. 2026-11-20T10:00:00Z")
	} else if at.After(now.Add(5 * time.Minute)) {
		add("consent.recorded_at", "must not be in the future")
	}
	if len(s.ExternalReference) > 100 {
		add("external_reference", "must be at most 100 characters")
	}
	for _, c := range s.ExternalReference {
		if c < 0x20 || c > 0x7e {
			add("external_reference", "must be printable ASCII")
			break
		}
	}
	return errs
}

// Event validates s and returns the ReferralReceived it records, with
// values normalised; or the invalid fields.
func (s Submission) Event(now time.Time) (*pathwayv1.ReferralReceived, []FieldError) {
	if errs := s.Validate(now); len(errs) > 0 {
		return nil, errs
	}
	dob, _ := time.Parse(time.DateOnly, s.Person.DateOfBirth)
	consentAt, _ := time.Parse(time.RFC3339, s.Consent.RecordedAt)
	ns := make([]pathwayv1.Need, len(s.Needs))
	for i, n := range s.Needs {
		ns[i] = pathwayv1.Need(needs.number[n])
	}
	p := s.Person
	phone := ""
	if p.Phone != "" {
		phone = normalisePhone(p.Phone)
	}
	return &pathwayv1.ReferralReceived{
		Source:   pathwayv1.ReferralSource(sources.number[s.Source]),
		Referrer: &pathwayv1.Referrer{Name: s.Referrer.Name, Role: s.Referrer.Role, Organisation: s.Referrer.Organisation},
		Person: &pathwayv1.Person{
			NhsNumber:          NormaliseNHSNumber(p.NHSNumber),
			GivenName:          strings.TrimSpace(p.GivenName),
			FamilyName:         strings.TrimSpace(p.FamilyName),
			DateOfBirth:        &pathwayv1.Date{Year: int32(dob.Year()), Month: int32(dob.Month()), Day: int32(dob.Day())},
			Postcode:           NormalisePostcode(p.Postcode),
			Phone:              phone,
			Email:              p.Email,
			PreferredContact:   pathwayv1.ContactMethod(contactMethods.number[p.PreferredContact]),
			Language:           p.Language,
			InterpreterNeeded:  p.InterpreterNeeded,
			AccessibilityNeeds: p.AccessibilityNeeds,
		},
		GpPractice:        s.GPPractice,
		Needs:             ns,
		WhatMatters:       s.WhatMatters,
		Urgency:           pathwayv1.Priority(urgencies.number[s.Urgency]),
		Safeguarding:      &pathwayv1.Safeguarding{Concern: s.Safeguarding.Concern, Details: s.Safeguarding.Details},
		Consent:           &pathwayv1.Consent{Given: true, RecordedBy: s.Consent.RecordedBy, RecordedAt: timestamppb.New(consentAt)},
		ExternalReference: s.ExternalReference,
		Code:              &pathwayv1.Coded{System: "http://snomed.info/sct", Code: "871731000000106", Display: "Referral to social prescribing service"},
	}, nil
}

// FromEvent returns the wire form of a recorded referral.
func FromEvent(ev *pathwayv1.ReferralReceived) Submission {
	p := ev.GetPerson()
	var dob string
	if d := p.GetDateOfBirth(); d != nil {
		dob = time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	var recordedAt string
	if t := ev.GetConsent().GetRecordedAt(); t != nil {
		recordedAt = t.AsTime().UTC().Format(time.RFC3339)
	}
	ns := make([]string, 0, len(ev.GetNeeds()))
	for _, n := range ev.GetNeeds() {
		ns = append(ns, needs.name[int32(n)])
	}
	return Submission{
		Source:   sources.name[int32(ev.GetSource())],
		Referrer: Referrer{Name: ev.GetReferrer().GetName(), Role: ev.GetReferrer().GetRole(), Organisation: ev.GetReferrer().GetOrganisation()},
		Person: Person{
			NHSNumber: p.GetNhsNumber(), GivenName: p.GetGivenName(), FamilyName: p.GetFamilyName(),
			DateOfBirth: dob, Postcode: p.GetPostcode(), Phone: p.GetPhone(), Email: p.GetEmail(),
			PreferredContact: contactMethods.name[int32(p.GetPreferredContact())], Language: p.GetLanguage(),
			InterpreterNeeded: p.GetInterpreterNeeded(), AccessibilityNeeds: p.GetAccessibilityNeeds(),
		},
		GPPractice:        ev.GetGpPractice(),
		Needs:             ns,
		WhatMatters:       ev.GetWhatMatters(),
		Urgency:           urgencies.name[int32(ev.GetUrgency())],
		Safeguarding:      Safeguarding{Concern: ev.GetSafeguarding().GetConcern(), Details: ev.GetSafeguarding().GetDetails()},
		Consent:           Consent{Given: ev.GetConsent().GetGiven(), RecordedBy: ev.GetConsent().GetRecordedBy(), RecordedAt: recordedAt},
		ExternalReference: ev.GetExternalReference(),
	}
}

// Age returns the person's age in whole years at a time; 0 when the date
// of birth is missing.
func Age(dob *pathwayv1.Date, at time.Time) int {
	if dob == nil {
		return 0
	}
	age := at.Year() - int(dob.GetYear())
	if at.Month() < time.Month(dob.GetMonth()) || at.Month() == time.Month(dob.GetMonth()) && at.Day() < int(dob.GetDay()) {
		age--
	}
	return age
}
