package referral

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// Limits of a submission.
const (
	maxAge         = 120 // years: an older person is implausible
	maxNameLen     = 100 // characters of a given or family name
	maxShortLen    = 200 // characters of a referrer's name or role, or of who recorded consent
	maxTextLen     = 2000
	maxEmailLen    = 254
	maxExternalRef = 100
	consentSkew    = 5 * time.Minute // clock skew allowed on consent.recorded_at
)

// selfReferral is the source of a referral the person made themselves,
// the only one that may leave out the NHS number.
const selfReferral = "self"

// The SNOMED CT code every ReferralReceived carries.
const (
	snomedSystem          = "http://snomed.info/sct"
	snomedReferral        = "871731000000106"
	snomedReferralDisplay = "Referral to social prescribing service"
)

// ValidNHSNumber reports whether s is an NHS number: exactly 10 digits
// whose last is the modulus 11 check digit of the first nine (weighted 10
// down to 2; the check digit is 11 minus the remainder, 11 becomes 0 and
// 10 is never valid). s must already be normalised: spaces are rejected.
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := range len(s) {
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
	return check == int(s[9]-'0') // a check of 10 matches no digit
}

// NormaliseNHSNumber removes the spaces and hyphens people write NHS
// numbers with: "943 476 5919" becomes "9434765919". It does not check
// the result.
func NormaliseNHSNumber(s string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
}

// postcodeRe matches a normalised UK postcode: the outward code (A9, A99,
// AA9, AA99, A9A or AA9A, with the letters Royal Mail allows in each
// position), one space and the inward code (9AA); or GIR 0AA.
var postcodeRe = regexp.MustCompile(`^(?:GIR 0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY]) [0-9][ABD-HJLNP-UW-Z]{2})$`)

// NormalisePostcode returns a postcode in upper case with one space before
// the inward code: "ts13ba" and " ts1  3ba" become "TS1 3BA". Spaces are
// only taken out between the outward and inward codes, so "TS13 BA" is
// returned as it is (and is not valid) rather than guessed at. The result
// is only a postcode if ValidPostcode(s).
func NormalisePostcode(s string) string {
	parts := strings.Fields(strings.ToUpper(s))
	switch {
	case len(parts) == 1 && len(parts[0]) > 3:
		c := parts[0]
		return c[:len(c)-3] + " " + c[len(c)-3:]
	case len(parts) == 2 && len(parts[1]) == 3:
		return parts[0] + " " + parts[1]
	}
	return strings.Join(parts, " ")
}

// ValidPostcode reports whether s is a UK postcode in any letter case,
// with or without the space before the inward code.
func ValidPostcode(s string) bool {
	return postcodeRe.MatchString(NormalisePostcode(s))
}

// PostcodeDistrict returns the outward code (district) of a normalised
// postcode: "TS1 3BA" gives "TS1".
func PostcodeDistrict(normalised string) string {
	out, _, _ := strings.Cut(normalised, " ")
	return out
}

var (
	odsRe      = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	practiceRe = regexp.MustCompile(`^[A-Z][0-9]{5}$`)
	pcnRe      = regexp.MustCompile(`^U[0-9]{5}$`)
	// languageRe is a BCP 47-like tag: a primary language subtag of two
	// or three letters, then optional subtags (script, region, variant,
	// extension) of one to eight letters or digits.
	languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$`)
	// ukPhoneRe is a UK number in national form: 0, a non-zero digit,
	// then 8 or 9 more digits.
	ukPhoneRe = regexp.MustCompile(`^0[1-9][0-9]{8,9}$`)
)

// ValidODSCode reports whether s has the form of an ODS organisation code:
// 3 to 10 upper-case letters and digits.
func ValidODSCode(s string) bool { return odsRe.MatchString(s) }

// ValidPracticeCode reports whether s has the form of a GP practice's ODS
// code: one upper-case letter and five digits, e.g. A81001.
func ValidPracticeCode(s string) bool { return practiceRe.MatchString(s) }

// ValidPCNCode reports whether s has the form of a primary care network's
// ODS code: U and five digits, e.g. U12345.
func ValidPCNCode(s string) bool { return pcnRe.MatchString(s) }

// Unmatched is the queue of referrals from practices that no PCN's link
// workers cover: they wait there, visible, for staff.
const Unmatched = "unmatched"

// CheckScope checks the scope of a report or a view as a caller gives it:
// a PCN's ODS code or Unmatched, and a GP practice's ODS code, each
// optional ("" for all). It returns each field in error.
func CheckScope(pcn, practice string) []kernel.FieldError {
	var errs []kernel.FieldError
	if pcn != "" && pcn != Unmatched && !ValidPCNCode(pcn) {
		errs = append(errs, kernel.FieldError{Field: "pcn", Reason: "must be a PCN's ODS code, U and five digits (e.g. U12345), or " + Unmatched})
	}
	if practice != "" && !ValidPracticeCode(practice) {
		errs = append(errs, kernel.FieldError{Field: "practice", Reason: "must be a GP practice's ODS code, a letter and five digits (e.g. A81001)"})
	}
	return errs
}

// normalisePhone returns a UK phone number in national form
// ("+44 7700 900123" becomes "07700900123"), or "" when s is not one.
func normalisePhone(s string) string {
	c := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(c, "+44"); ok {
		c = "0" + strings.TrimPrefix(rest, "0") // +44 (0)7700 ...
	}
	if !ukPhoneRe.MatchString(c) {
		return ""
	}
	return c
}

// validEmail reports whether s looks like an email address: one @, a
// local part, and a domain with a dot inside it; no spaces or controls.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") {
		return false
	}
	if strings.Index(domain, ".") <= 0 || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// printableASCII reports whether s holds only printable ASCII characters
// (space to tilde).
func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// canonicalLanguage returns a language tag in the conventional case of
// BCP 47: language lower case, script title case, region upper case
// ("PT-br" becomes "pt-BR"); subtags after a singleton are lower case.
func canonicalLanguage(tag string) string {
	subtags := strings.Split(tag, "-")
	extension := false
	for i, st := range subtags {
		switch {
		case i == 0 || extension:
			st = strings.ToLower(st)
		case len(st) == 1:
			st, extension = strings.ToLower(st), true
		case len(st) == 2:
			st = strings.ToUpper(st)
		case len(st) == 4 && !strings.ContainsAny(st[:1], "0123456789"):
			st = strings.ToUpper(st[:1]) + strings.ToLower(st[1:])
		default:
			st = strings.ToLower(st)
		}
		subtags[i] = st
	}
	return strings.Join(subtags, "-")
}

// dateTimeRe matches a FHIR date, dateTime or instant: a year, a year and
// month, a date, or a date and time to the second (with optional
// fraction) and its zone.
var dateTimeRe = regexp.MustCompile(`^[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))?)?)?$`)

// ParseDateTime reads a FHIR date, dateTime or instant of any precision
// ("2021", "2021-11", "2021-11-26", "2021-11-26T10:00:00+01:00") and
// returns the start of the period it names (a date without a zone is
// taken in UTC). ok is false when s is none of these forms or not a real
// date or time. It is safe for concurrent use.
func ParseDateTime(s string) (t time.Time, ok bool) {
	if !dateTimeRe.MatchString(s) {
		return time.Time{}, false
	}
	var err error
	switch len(s) {
	case 4:
		t, err = time.Parse("2006", s)
	case 7:
		t, err = time.Parse("2006-01", s)
	case 10:
		t, err = time.Parse(time.DateOnly, s)
	default:
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	return t, err == nil
}

// civilDate returns the calendar date of t in its own location, as
// midnight UTC, so dates compare without time zones.
func civilDate(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// yearsBetween returns the whole years from a date of birth to the date of
// at, in at's location. Someone born on 29 February turns a year older on
// 1 March in other years.
func yearsBetween(year int, month time.Month, day int, at time.Time) int {
	age := at.Year() - year
	if at.Month() < month || at.Month() == month && at.Day() < day {
		age--
	}
	return age
}

// fieldErrors collects the invalid fields of one submission.
type fieldErrors []kernel.FieldError

func (e *fieldErrors) add(field, format string, args ...any) {
	*e = append(*e, kernel.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// missing records a required field that is absent.
func (e *fieldErrors) missing(field, format string, args ...any) {
	*e = append(*e, kernel.FieldError{Field: field, Reason: fmt.Sprintf(format, args...), Missing: true})
}

// line checks a name or a one-line text field: present when required,
// at most limit characters, and only characters kernel.Line allows.
func (e *fieldErrors) line(field, v string, required bool, limit int) {
	e.text(field, v, required, limit, kernel.Line)
}

// prose checks a free-text field as line does, allowing tab and line
// breaks (kernel.Prose).
func (e *fieldErrors) prose(field, v string, required bool, limit int) {
	e.text(field, v, required, limit, kernel.Prose)
}

func (e *fieldErrors) text(field, v string, required bool, limit int, rule func(field, v string) []kernel.FieldError) {
	switch {
	case required && strings.TrimSpace(v) == "":
		e.missing(field, "is required")
	case utf8.RuneCountInString(v) > limit:
		e.add(field, "must be at most %d characters", limit)
	default:
		*e = append(*e, rule(field, v)...)
	}
}

// oneOf checks a field that takes a name from a controlled list.
func (e *fieldErrors) oneOf(field, v string, set enumSet, required bool) {
	if _, ok := set.number[v]; ok {
		return
	}
	list := strings.Join(set.names, ", ")
	switch {
	case v != "":
		e.add(field, "must be one of %s", list)
	case required:
		e.missing(field, "is required; one of %s", list)
	}
}

// Validate returns every invalid field of s, in the order of the JSON
// body, or nil when s is a valid referral at time now. Each FieldError
// names the field by its JSON path (e.g. "person.nhs_number", "needs[1]")
// and gives a reason that never repeats the submitted value. It is safe
// for concurrent use.
func (s Submission) Validate(now time.Time) []kernel.FieldError {
	var errs fieldErrors
	errs.oneOf("source", s.Source, sources, true)
	s.validateReferrer(&errs)
	s.validatePerson(&errs, now)
	switch {
	case s.GPPractice == "":
		errs.missing("gp_practice", "is required: the ODS code of the person's registered GP practice")
	case !ValidPracticeCode(s.GPPractice):
		errs.add("gp_practice", "must be a GP practice ODS code: one letter and five digits, e.g. A81001")
	}
	s.validateNeeds(&errs)
	errs.prose("what_matters", s.WhatMatters, false, maxTextLen)
	errs.oneOf("urgency", s.Urgency, urgencies, true)
	if s.Safeguarding.Concern && strings.TrimSpace(s.Safeguarding.Details) == "" {
		errs.missing("safeguarding.details", "is required when there is a safeguarding concern")
	} else {
		errs.prose("safeguarding.details", s.Safeguarding.Details, false, maxTextLen)
	}
	s.validateConsent(&errs, now)
	switch {
	case !printableASCII(s.ExternalReference):
		errs.add("external_reference", "must be printable ASCII")
	case len(s.ExternalReference) > maxExternalRef:
		errs.add("external_reference", "must be at most %d characters", maxExternalRef)
	}
	s.validateSent(&errs, now)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Limits of what a FHIR sender gave that pathway keeps as sent.
const (
	maxCodings = 20  // categories or profiles
	maxURILen  = 500 // characters of a profile, code system or sender reference
)

// validateSent checks what a FHIR sender gave that pathway keeps as sent:
// authored_on, category, profiles, the sender's reference, the
// practitioner's identifier and the organisation's name, the language's
// code system.
func (s Submission) validateSent(errs *fieldErrors, now time.Time) {
	if s.AuthoredOn != "" {
		if at, ok := ParseDateTime(s.AuthoredOn); !ok {
			errs.add("authored_on", "must be a date or an RFC 3339 time, e.g. 2026-11-20T10:00:00Z, 2026-11-20, 2026-11 or 2026")
		} else if at.After(now.Add(consentSkew)) {
			errs.add("authored_on", "must not be in the future")
		}
	}
	if len(s.Category) > maxCodings {
		errs.add("category", "must have at most %d codings", maxCodings)
	}
	for i, c := range s.Category {
		f := fmt.Sprintf("category[%d]", i)
		errs.line(f+".system", c.System, false, maxURILen)
		errs.line(f+".code", c.Code, true, maxShortLen)
		errs.line(f+".display", c.Display, false, maxShortLen)
	}
	if len(s.Profiles) > maxCodings {
		errs.add("profiles", "must have at most %d profiles", maxCodings)
	}
	for i, p := range s.Profiles {
		errs.line(fmt.Sprintf("profiles[%d]", i), p, true, maxURILen)
	}
	errs.line("sender_reference", s.SenderReference, false, maxURILen)
	errs.line("referrer.practitioner", s.Referrer.Practitioner, false, maxURILen)
	errs.line("referrer.organisation_name", s.Referrer.OrganisationName, false, maxShortLen)
	errs.line("person.language_system", s.Person.LanguageSystem, false, maxURILen)
}

func (s Submission) validateReferrer(errs *fieldErrors) {
	r := s.Referrer
	errs.line("referrer.name", r.Name, true, maxShortLen)
	errs.line("referrer.role", r.Role, false, maxShortLen)
	switch {
	case r.Organisation == "":
		errs.missing("referrer.organisation", "is required: the ODS code of the referring organisation")
	case !ValidODSCode(r.Organisation):
		errs.add("referrer.organisation", "must be an ODS code: 3 to 10 upper-case letters and digits")
	}
}

func (s Submission) validatePerson(errs *fieldErrors, now time.Time) {
	p := s.Person
	switch nhs := NormaliseNHSNumber(p.NHSNumber); {
	case nhs == "" && s.Source != selfReferral:
		errs.missing("person.nhs_number", "is required unless the person refers themselves")
	case nhs != "" && !ValidNHSNumber(nhs):
		errs.add("person.nhs_number", "must be a 10-digit NHS number with a valid check digit")
	}
	errs.line("person.given_name", p.GivenName, true, maxNameLen)
	errs.line("person.family_name", p.FamilyName, true, maxNameLen)
	if p.DateOfBirth == "" {
		errs.missing("person.date_of_birth", "is required (YYYY-MM-DD)")
	} else if dob, err := time.Parse(time.DateOnly, p.DateOfBirth); err != nil {
		errs.add("person.date_of_birth", "must be a real date as YYYY-MM-DD")
	} else if dob.After(civilDate(now)) {
		errs.add("person.date_of_birth", "must not be in the future")
	} else if yearsBetween(dob.Year(), dob.Month(), dob.Day(), now) > maxAge {
		errs.add("person.date_of_birth", "is implausible: the person would be older than %d", maxAge)
	}
	switch {
	case p.Postcode == "":
		errs.missing("person.postcode", "is required")
	case !ValidPostcode(p.Postcode):
		errs.add("person.postcode", "must be a UK postcode, e.g. TS1 3BA")
	}
	s.validateContact(errs)
	if p.Language != "" && !languageRe.MatchString(p.Language) {
		errs.add("person.language", "must be a language tag such as en, pl or pt-BR")
	}
	errs.prose("person.accessibility_needs", p.AccessibilityNeeds, false, maxTextLen)
	errs.oneOf("person.sex", p.Sex, sexes, false)
	if _, ok := EthnicCategoryDisplay(p.Ethnicity); p.Ethnicity != "" && !ok {
		errs.add("person.ethnicity", "must be an NHS ethnic category code, one of %s (Z: not stated, 99: not known)", strings.Join(EthnicCategoryCodes(), ", "))
	}
}

// validateContact checks that the person can be reached: a phone number or
// an email address, and the one their preferred contact method needs.
func (s Submission) validateContact(errs *fieldErrors) {
	p := s.Person
	var needPhone, needEmail bool
	switch p.PreferredContact {
	case "phone", "sms":
		needPhone = true
	case "email":
		needEmail = true
	}
	switch {
	case p.Phone == "" && needPhone:
		errs.missing("person.phone", "is required when the preferred contact is %s", p.PreferredContact)
	case p.Phone == "" && p.Email == "" && !needEmail:
		errs.missing("person.phone", "a phone number or an email address is required")
	case p.Phone != "" && normalisePhone(p.Phone) == "":
		errs.add("person.phone", "must be a UK phone number of 10 or 11 digits, e.g. 07700 900123 or +44 7700 900123")
	}
	switch {
	case p.Email == "" && needEmail:
		errs.missing("person.email", "is required when the preferred contact is email")
	case p.Email == "":
	case len(p.Email) > maxEmailLen:
		errs.add("person.email", "must be at most %d characters", maxEmailLen)
	case kernel.Line("person.email", p.Email) != nil:
		*errs = append(*errs, kernel.Line("person.email", p.Email)...)
	case !validEmail(p.Email):
		errs.add("person.email", "must be an email address, e.g. name@example.org")
	}
	errs.oneOf("person.preferred_contact", p.PreferredContact, contactMethods, false)
}

func (s Submission) validateNeeds(errs *fieldErrors) {
	if len(s.Needs) == 0 {
		errs.missing("needs", "at least one need is required; one of %s", strings.Join(needs.names, ", "))
		return
	}
	seen := make(map[string]bool, len(s.Needs))
	for i, n := range s.Needs {
		field := fmt.Sprintf("needs[%d]", i)
		if _, ok := needs.number[n]; !ok {
			errs.add(field, "must be one of %s", strings.Join(needs.names, ", "))
		} else if seen[n] {
			errs.add(field, "repeats an earlier need")
		}
		seen[n] = true
	}
}

func (s Submission) validateConsent(errs *fieldErrors, now time.Time) {
	c := s.Consent
	if !c.Given {
		errs.add("consent.given", "consent to the referral must be given")
	}
	errs.line("consent.recorded_by", c.RecordedBy, true, maxShortLen)
	if c.RecordedAt == "" {
		errs.missing("consent.recorded_at", "is required (RFC 3339 time)")
	} else if at, ok := ParseDateTime(c.RecordedAt); !ok {
		errs.add("consent.recorded_at", "must be an RFC 3339 time, e.g. 2026-11-20T10:00:00Z, or a date (2026-11-20, 2026-11 or 2026)")
	} else if at.After(now.Add(consentSkew)) {
		errs.add("consent.recorded_at", "must not be in the future")
	}
}

// Event validates s at time now and returns the ReferralReceived that
// records it, or nil and every invalid field (see Validate). Values are
// normalised: the NHS number to its digits, the postcode and phone number
// to their usual forms, names trimmed and the language tag in BCP 47 case.
// The person's age band (AgeBand) is computed from the date of birth on
// the UK date of now.
// The event carries SNOMED CT 871731000000106 |Referral to social
// prescribing service|; Channel is left for the caller to set. It is safe
// for concurrent use.
func (s Submission) Event(now time.Time) (*pathwayv1.ReferralReceived, []kernel.FieldError) {
	if errs := s.Validate(now); errs != nil {
		return nil, errs
	}
	// Validate has parsed both times; these cannot fail.
	dob, _ := time.Parse(time.DateOnly, s.Person.DateOfBirth)
	consentAt, _ := ParseDateTime(s.Consent.RecordedAt)
	var category []*pathwayv1.Coded
	for _, c := range s.Category {
		category = append(category, &pathwayv1.Coded{System: c.System, Code: c.Code, Display: c.Display})
	}

	ns := make([]pathwayv1.Need, len(s.Needs))
	for i, n := range s.Needs {
		ns[i] = pathwayv1.Need(needs.number[n])
	}
	p := s.Person
	var phone, language string
	if p.Phone != "" {
		phone = normalisePhone(p.Phone)
	}
	if p.Language != "" {
		language = canonicalLanguage(p.Language)
	}
	sex, _ := ParseSex(p.Sex)
	return &pathwayv1.ReferralReceived{
		Source: pathwayv1.ReferralSource(sources.number[s.Source]),
		Referrer: &pathwayv1.Referrer{
			Name:             strings.TrimSpace(s.Referrer.Name),
			Role:             strings.TrimSpace(s.Referrer.Role),
			Organisation:     s.Referrer.Organisation,
			Practitioner:     s.Referrer.Practitioner,
			OrganisationName: strings.TrimSpace(s.Referrer.OrganisationName),
		},
		Person: &pathwayv1.Person{
			NhsNumber:          NormaliseNHSNumber(p.NHSNumber),
			GivenName:          strings.TrimSpace(p.GivenName),
			FamilyName:         strings.TrimSpace(p.FamilyName),
			DateOfBirth:        &pathwayv1.Date{Year: int32(dob.Year()), Month: int32(dob.Month()), Day: int32(dob.Day())},
			Postcode:           NormalisePostcode(p.Postcode),
			Phone:              phone,
			Email:              p.Email,
			PreferredContact:   pathwayv1.ContactMethod(contactMethods.number[p.PreferredContact]),
			Language:           language,
			InterpreterNeeded:  p.InterpreterNeeded,
			AccessibilityNeeds: p.AccessibilityNeeds,
			LanguageSystem:     p.LanguageSystem,
			Sex:                sex,
			EthnicCategory:     p.Ethnicity,
			AgeBand:            AgeBand(yearsBetween(dob.Year(), dob.Month(), dob.Day(), now.In(kernel.UKTime()))),
		},
		GpPractice:   s.GPPractice,
		Needs:        ns,
		WhatMatters:  s.WhatMatters,
		Urgency:      pathwayv1.Priority(urgencies.number[s.Urgency]),
		Safeguarding: &pathwayv1.Safeguarding{Concern: s.Safeguarding.Concern, Details: s.Safeguarding.Details},
		Consent: &pathwayv1.Consent{
			Given:            s.Consent.Given,
			RecordedBy:       strings.TrimSpace(s.Consent.RecordedBy),
			RecordedAt:       timestamppb.New(consentAt),
			RecordedAtAsSent: s.Consent.RecordedAt,
		},
		ExternalReference: s.ExternalReference,
		Code:              &pathwayv1.Coded{System: snomedSystem, Code: snomedReferral, Display: snomedReferralDisplay},
		AuthoredOn:        s.AuthoredOn,
		Category:          category,
		Profiles:          slices.Clone(s.Profiles),
		SenderReference:   s.SenderReference,
	}, nil
}

// FromEvent returns the wire form of a recorded referral, as GET responses
// show it: the normalised values of the event, enums by their wire names,
// and the consent time in UTC. A missing or unknown value comes back
// empty. It is safe for concurrent use.
func FromEvent(ev *pathwayv1.ReferralReceived) Submission {
	p := ev.GetPerson()
	var dob string
	if d := p.GetDateOfBirth(); d != nil {
		dob = fmt.Sprintf("%04d-%02d-%02d", d.GetYear(), d.GetMonth(), d.GetDay())
	}
	var recordedAt string
	if t := ev.GetConsent().GetRecordedAt(); t != nil {
		recordedAt = t.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if sent := ev.GetConsent().GetRecordedAtAsSent(); sent != "" {
		recordedAt = sent
	}
	var category []Coding
	for _, c := range ev.GetCategory() {
		category = append(category, Coding{System: c.GetSystem(), Code: c.GetCode(), Display: c.GetDisplay()})
	}
	ns := make([]string, len(ev.GetNeeds()))
	for i, n := range ev.GetNeeds() {
		ns[i] = needs.name[int32(n)]
	}
	return Submission{
		Source: sources.name[int32(ev.GetSource())],
		Referrer: Referrer{
			Name:             ev.GetReferrer().GetName(),
			Role:             ev.GetReferrer().GetRole(),
			Organisation:     ev.GetReferrer().GetOrganisation(),
			Practitioner:     ev.GetReferrer().GetPractitioner(),
			OrganisationName: ev.GetReferrer().GetOrganisationName(),
		},
		Person: Person{
			NHSNumber:          p.GetNhsNumber(),
			GivenName:          p.GetGivenName(),
			FamilyName:         p.GetFamilyName(),
			DateOfBirth:        dob,
			Postcode:           p.GetPostcode(),
			Phone:              p.GetPhone(),
			Email:              p.GetEmail(),
			PreferredContact:   contactMethods.name[int32(p.GetPreferredContact())],
			Language:           p.GetLanguage(),
			InterpreterNeeded:  p.GetInterpreterNeeded(),
			AccessibilityNeeds: p.GetAccessibilityNeeds(),
			LanguageSystem:     p.GetLanguageSystem(),
			Sex:                SexName(p.GetSex()),
			Ethnicity:          p.GetEthnicCategory(),
		},
		GPPractice:   ev.GetGpPractice(),
		Needs:        ns,
		WhatMatters:  ev.GetWhatMatters(),
		Urgency:      urgencies.name[int32(ev.GetUrgency())],
		Safeguarding: Safeguarding{Concern: ev.GetSafeguarding().GetConcern(), Details: ev.GetSafeguarding().GetDetails()},
		Consent: Consent{
			Given:      ev.GetConsent().GetGiven(),
			RecordedBy: ev.GetConsent().GetRecordedBy(),
			RecordedAt: recordedAt,
		},
		ExternalReference: ev.GetExternalReference(),
		AuthoredOn:        ev.GetAuthoredOn(),
		Category:          category,
		Profiles:          slices.Clone(ev.GetProfiles()),
		SenderReference:   ev.GetSenderReference(),
	}
}

// Age returns the person's age in whole years on the date of at (in at's
// location), or 0 when the date of birth is not a YYYY-MM-DD date. It is
// only meaningful on a valid submission.
func (s Submission) Age(at time.Time) int {
	dob, err := time.Parse(time.DateOnly, s.Person.DateOfBirth)
	if err != nil {
		return 0
	}
	return yearsBetween(dob.Year(), dob.Month(), dob.Day(), at)
}

// Age returns the age in whole years, on the date of at (in at's
// location), of a person born on dob; 0 when dob is nil.
func Age(dob *pathwayv1.Date, at time.Time) int {
	if dob == nil {
		return 0
	}
	return yearsBetween(int(dob.GetYear()), time.Month(dob.GetMonth()), int(dob.GetDay()), at)
}
