package partner

import (
	"fmt"
	"net/url"
	"regexp"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Limits of the directory fields a service keeps beyond its name and
// description; an import keeps the first ones of longer lists.
const (
	maxSchedules   = 50
	maxLanguages   = 50
	maxCostOptions = 20
	maxAreas       = 50
	maxContacts    = 20
	maxPhones      = 10
	maxDocuments   = 20
	maxAccess      = 20
	maxProse       = 2000
	maxLine        = 200
)

var (
	dayRe      = regexp.MustCompile(`^(-?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$`)
	timeRe     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	dateRe     = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
	langCodeRe = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	amountRe   = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,4})?$`)
	countryRe  = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Frequencies are the schedule frequencies HSDS 3.0 names.
var Frequencies = []string{"WEEKLY", "MONTHLY"}

// fieldErrs gathers field errors under paths.
type fieldErrs []kernel.FieldError

func (e *fieldErrs) add(field, reason string) {
	*e = append(*e, kernel.FieldError{Field: field, Reason: reason})
}

// line checks a one-line text of at most n bytes.
func (e *fieldErrs) line(field, v string, n int) {
	if len(v) > n {
		e.add(field, fmt.Sprintf("must be at most %d characters", n))
		return
	}
	*e = append(*e, kernel.Line(field, v)...)
}

// prose checks a free text of at most n bytes.
func (e *fieldErrs) prose(field, v string, n int) {
	if len(v) > n {
		e.add(field, fmt.Sprintf("must be at most %d characters", n))
		return
	}
	*e = append(*e, kernel.Prose(field, v)...)
}

func (e *fieldErrs) url(field, v string) {
	if v == "" {
		return
	}
	if pu, err := url.Parse(v); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || len(v) > 2000 {
		e.add(field, "must be an http or https URL")
		return
	}
	e.line(field, v, 2000)
}

func (e *fieldErrs) count(field string, n, most int) bool {
	if n > most {
		e.add(field, fmt.Sprintf("at most %d", most))
		return false
	}
	return true
}

// validateExtra checks the fields of d that came with the full Open
// Referral UK service: schedules, languages, fees, how to apply, areas,
// contacts and documents.
func validateExtra(d *pathwayv1.ServiceDetails) []kernel.FieldError {
	var e fieldErrs
	e.line("alternate_name", d.GetAlternateName(), maxLine)
	for _, f := range []struct{ name, v string }{{"fees_description", d.GetFeesDescription()}, {"application_process", d.GetApplicationProcess()},
		{"interpretation_services", d.GetInterpretationServices()}, {"wait_time", d.GetWaitTime()}, {"alert", d.GetAlert()}} {
		e.prose(f.name, f.v, maxProse)
	}
	if e.count("schedules", len(d.GetSchedules()), maxSchedules) {
		for i, s := range d.GetSchedules() {
			e.schedule(fmt.Sprintf("schedules[%d]", i), s)
		}
	}
	if e.count("languages", len(d.GetLanguages()), maxLanguages) {
		for i, l := range d.GetLanguages() {
			e.language(fmt.Sprintf("languages[%d]", i), l)
		}
	}
	if e.count("cost_options", len(d.GetCostOptions()), maxCostOptions) {
		for i, c := range d.GetCostOptions() {
			f := fmt.Sprintf("cost_options[%d]", i)
			e.line(f+".option", c.GetOption(), maxLine)
			e.prose(f+".amount_description", c.GetAmountDescription(), maxProse)
			if c.GetAmount() != "" && !amountRe.MatchString(c.GetAmount()) {
				e.add(f+".amount", "must be a decimal amount such as 35 or 2.50")
			}
			if c.GetCurrency() != "" && !currencyRe.MatchString(c.GetCurrency()) {
				e.add(f+".currency", "must be an ISO 4217 code such as GBP")
			}
			e.date(f+".valid_from", c.GetValidFrom())
			e.date(f+".valid_to", c.GetValidTo())
		}
	}
	if e.count("service_areas", len(d.GetServiceAreas()), maxAreas) {
		for i, a := range d.GetServiceAreas() {
			e.prose(fmt.Sprintf("service_areas[%d]", i), a, maxProse)
		}
	}
	if e.count("required_documents", len(d.GetRequiredDocuments()), maxDocuments) {
		for i, a := range d.GetRequiredDocuments() {
			e.prose(fmt.Sprintf("required_documents[%d]", i), a, maxProse)
		}
	}
	if e.count("contacts", len(d.GetContacts()), maxContacts) {
		for i, c := range d.GetContacts() {
			f := fmt.Sprintf("contacts[%d]", i)
			e.line(f+".name", c.GetName(), maxLine)
			e.line(f+".title", c.GetTitle(), maxLine)
			e.line(f+".department", c.GetDepartment(), maxLine)
			e.email(f+".email", c.GetEmail())
			e.phones(f+".phones", c.GetPhones())
		}
	}
	e.phones("contact.phones", d.GetContact().GetPhones())
	return e
}

func (e *fieldErrs) email(field, v string) {
	if v != "" && !validEmail(v) {
		e.add(field, "is not an email address")
		return
	}
	e.line(field, v, 254)
}

func validEmail(v string) bool {
	at := -1
	for i := range len(v) {
		if v[i] == '@' {
			at = i
		}
	}
	return len(v) <= 254 && at > 0 && at < len(v)-1
}

func (e *fieldErrs) date(field, v string) {
	if v != "" && !dateRe.MatchString(v) {
		e.add(field, "must be a date YYYY-MM-DD")
	}
}

func (e *fieldErrs) schedule(f string, s *pathwayv1.Schedule) {
	if s.GetFreq() != "" && s.GetFreq() != "WEEKLY" && s.GetFreq() != "MONTHLY" {
		e.add(f+".freq", "must be WEEKLY or MONTHLY")
	}
	if s.GetInterval() > 52 {
		e.add(f+".interval", "must be at most 52")
	}
	if e.count(f+".byday", len(s.GetByday()), 35) {
		for i, d := range s.GetByday() {
			if !dayRe.MatchString(d) {
				e.add(fmt.Sprintf("%s.byday[%d]", f, i), "must be a day MO, TU, WE, TH, FR, SA or SU, with an ordinal for a monthly rule (1MO, -1FR)")
			}
		}
	}
	if e.count(f+".bymonthday", len(s.GetBymonthday()), 31) {
		for i, d := range s.GetBymonthday() {
			if d == 0 || d < -31 || d > 31 {
				e.add(fmt.Sprintf("%s.bymonthday[%d]", f, i), "must be 1 to 31, or -1 to -31 from the month's end")
			}
		}
	}
	for _, t := range []struct{ name, v string }{{"opens_at", s.GetOpensAt()}, {"closes_at", s.GetClosesAt()}} {
		if t.v != "" && !timeRe.MatchString(t.v) {
			e.add(f+"."+t.name, "must be a time HH:MM")
		}
	}
	e.date(f+".valid_from", s.GetValidFrom())
	e.date(f+".valid_to", s.GetValidTo())
	e.prose(f+".description", s.GetDescription(), maxProse)
	e.prose(f+".notes", s.GetNotes(), maxProse)
	e.prose(f+".attending_type", s.GetAttendingType(), maxLine)
	e.url(f+".schedule_link", s.GetScheduleLink())
}

func (e *fieldErrs) language(f string, l *pathwayv1.Language) {
	if l.GetName() == "" && l.GetCode() == "" {
		e.add(f, "needs a name or a code")
	}
	e.line(f+".name", l.GetName(), 100)
	if l.GetCode() != "" && !langCodeRe.MatchString(l.GetCode()) {
		e.add(f+".code", "must be an ISO 639 language code such as ur or pl")
	}
	e.prose(f+".note", l.GetNote(), 500)
}

func (e *fieldErrs) phones(f string, ps []*pathwayv1.Phone) {
	if !e.count(f, len(ps), maxPhones) {
		return
	}
	for i, p := range ps {
		pf := fmt.Sprintf("%s[%d]", f, i)
		if !validStoredPhone(p.GetNumber()) {
			e.add(pf+".number", "must be an E.164 number such as +441234234567 (or a UK short number's digits)")
		}
		if p.GetExtension() != "" && !extensionRe.MatchString(p.GetExtension()) {
			e.add(pf+".extension", "must be 1 to 10 digits")
		}
		e.line(pf+".type", p.GetType(), 20)
		e.prose(pf+".description", p.GetDescription(), 500)
		if e.count(pf+".languages", len(p.GetLanguages()), 20) {
			for j, l := range p.GetLanguages() {
				e.line(fmt.Sprintf("%s.languages[%d]", pf, j), l, 100)
			}
		}
	}
}

// locationProblems lists every invalid field of one location, with field
// names under prefix.
func locationProblems(prefix string, l *pathwayv1.Location) []kernel.FieldError {
	var e fieldErrs
	e.location(prefix, l)
	return e
}

func (e *fieldErrs) location(f string, l *pathwayv1.Location) {
	e.line(f+".name", l.GetName(), maxLine)
	e.prose(f+".address", l.GetAddress(), 500)
	e.line(f+".address_2", l.GetAddress_2(), maxLine)
	e.line(f+".city", l.GetCity(), 100)
	e.line(f+".region", l.GetRegion(), 100)
	e.prose(f+".description", l.GetDescription(), maxProse)
	e.prose(f+".transportation", l.GetTransportation(), maxProse)
	e.line(f+".hsds_location_id", l.GetHsdsLocationId(), maxLine)
	switch l.GetLocationType() {
	case "", "physical", "postal", "virtual":
	default:
		e.add(f+".location_type", "must be physical, postal or virtual")
	}
	if l.GetPostcode() != "" && !referral.ValidPostcode(referral.NormalisePostcode(l.GetPostcode())) {
		e.add(f+".postcode", "is not a UK postcode")
	}
	if c := l.GetCountry(); c != "" && !countryRe.MatchString(c) {
		e.add(f+".country", "must be an ISO 3166-1 code such as GB")
	} else if c != "" && c != "GB" {
		e.add(f+".country", "is "+c+": the directory holds places in the UK (GB)")
	}
	if l.GetLatitude() < -90 || l.GetLatitude() > 90 {
		e.add(f+".latitude", "must be -90 to 90")
	}
	if l.GetLongitude() < -180 || l.GetLongitude() > 180 {
		e.add(f+".longitude", "must be -180 to 180")
	}
	if a := l.GetPostalAddress(); a != nil {
		pf := f + ".postal_address"
		e.prose(pf+".address_1", a.GetAddress_1(), 500)
		e.line(pf+".address_2", a.GetAddress_2(), maxLine)
		e.line(pf+".city", a.GetCity(), 100)
		e.line(pf+".region", a.GetRegion(), 100)
		if a.GetPostcode() != "" && !referral.ValidPostcode(referral.NormalisePostcode(a.GetPostcode())) {
			e.add(pf+".postcode", "is not a UK postcode")
		}
		if c := a.GetCountry(); c != "" && c != "GB" {
			e.add(pf+".country", "must be GB: the directory holds places in the UK")
		}
	}
	if e.count(f+".accessibility", len(l.GetAccessibility()), maxAccess) {
		for i, a := range l.GetAccessibility() {
			af := fmt.Sprintf("%s.accessibility[%d]", f, i)
			e.prose(af+".description", a.GetDescription(), maxProse)
			e.prose(af+".details", a.GetDetails(), maxProse)
			e.url(af+".url", a.GetUrl())
		}
	}
	if e.count(f+".schedules", len(l.GetSchedules()), maxSchedules) {
		for i, s := range l.GetSchedules() {
			e.schedule(fmt.Sprintf("%s.schedules[%d]", f, i), s)
		}
	}
	if e.count(f+".languages", len(l.GetLanguages()), maxLanguages) {
		for i, lg := range l.GetLanguages() {
			e.language(fmt.Sprintf("%s.languages[%d]", f, i), lg)
		}
	}
	e.phones(f+".phones", l.GetPhones())
}
