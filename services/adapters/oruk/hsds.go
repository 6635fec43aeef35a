package oruk

import (
	"cmp"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// The HSDS 3.0 shapes pathway publishes. Every object has a UUID id (HSDS
// requires one): pathway's own where it has one, else a UUIDv5 derived
// from its parent's id and its place, so the same directory entry always
// has the same ids. Strings the schema types as URIs or emails are given
// only when they parse as one.

// Service is an HSDS 3.0 service, fully nested.
type Service struct {
	ID                     string              `json:"id"`
	OrganizationID         string              `json:"organization_id,omitempty"`
	Name                   string              `json:"name"`
	AlternateName          string              `json:"alternate_name,omitempty"`
	Description            string              `json:"description,omitempty"`
	URL                    string              `json:"url,omitempty"`
	Email                  string              `json:"email,omitempty"`
	Status                 string              `json:"status"`
	InterpretationServices string              `json:"interpretation_services,omitempty"`
	ApplicationProcess     string              `json:"application_process,omitempty"`
	FeesDescription        string              `json:"fees_description,omitempty"`
	WaitTime               string              `json:"wait_time,omitempty"`
	EligibilityDescription string              `json:"eligibility_description,omitempty"`
	MinimumAge             *uint32             `json:"minimum_age,omitempty"`
	MaximumAge             *uint32             `json:"maximum_age,omitempty"`
	Alert                  string              `json:"alert,omitempty"`
	LastModified           string              `json:"last_modified,omitempty"`
	Phones                 []Phone             `json:"phones"`
	Schedules              []Schedule          `json:"schedules"`
	ServiceAreas           []ServiceArea       `json:"service_areas"`
	ServiceAtLocations     []ServiceAtLocation `json:"service_at_locations"`
	Languages              []Language          `json:"languages"`
	Organization           *Organization       `json:"organization,omitempty"`
	CostOptions            []CostOption        `json:"cost_options"`
	RequiredDocuments      []RequiredDocument  `json:"required_documents"`
	Contacts               []Contact           `json:"contacts"`
	Attributes             []Attribute         `json:"attributes"`

	// pathway's own additions (HSDS permits additional properties):
	// the capacity signal its partner last gave, in HL7 Gravity's words
	// (capacity, no-capacity, waitlist, additional-assessment-required),
	// and how fast the partner answers handoffs to it.
	PathwayCapacityStatus string         `json:"pathway_capacity_status"`
	PathwayResponseTimes  *ResponseTimes `json:"pathway_response_times,omitempty"`
	PathwayNeeds          []string       `json:"pathway_needs"`
}

// ResponseTimes is pathway's extension for how fast a partner answers
// handoffs to a service: hours from request to its first answer, median
// and 90th percentile, over Handoffs answered.
type ResponseTimes struct {
	Handoffs    int     `json:"handoffs"`
	MedianHours float64 `json:"median_hours"`
	P90Hours    float64 `json:"p90_hours"`
}

// Organization is an HSDS 3.0 organization.
type Organization struct {
	ID                      string                   `json:"id"`
	Name                    string                   `json:"name"`
	Description             string                   `json:"description"`
	Email                   string                   `json:"email,omitempty"`
	Website                 string                   `json:"website,omitempty"`
	Phones                  []Phone                  `json:"phones"`
	OrganizationIdentifiers []OrganizationIdentifier `json:"organization_identifiers"`
	// Services is set on /oruk/organizations/{id}: the organisation's
	// services by id and name.
	Services []ServiceRef `json:"services,omitempty"`
}

// ServiceRef names a service in an organization's list.
type ServiceRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// OrganizationIdentifier is an HSDS organization_identifier.
type OrganizationIdentifier struct {
	ID               string `json:"id"`
	OrganizationID   string `json:"organization_id"`
	IdentifierScheme string `json:"identifier_scheme,omitempty"`
	IdentifierType   string `json:"identifier_type"`
	Identifier       string `json:"identifier"`
}

// Phone is an HSDS phone.
type Phone struct {
	ID          string     `json:"id"`
	Number      string     `json:"number"`
	Extension   *float64   `json:"extension,omitempty"`
	Type        string     `json:"type,omitempty"`
	Description string     `json:"description,omitempty"`
	Languages   []Language `json:"languages"`
}

// Schedule is an HSDS schedule.
type Schedule struct {
	ID            string  `json:"id"`
	ServiceID     string  `json:"service_id,omitempty"`
	LocationID    string  `json:"location_id,omitempty"`
	ValidFrom     string  `json:"valid_from,omitempty"`
	ValidTo       string  `json:"valid_to,omitempty"`
	Freq          string  `json:"freq,omitempty"`
	Interval      float64 `json:"interval,omitempty"`
	ByDay         string  `json:"byday,omitempty"`
	ByMonthDay    string  `json:"bymonthday,omitempty"`
	Description   string  `json:"description,omitempty"`
	OpensAt       string  `json:"opens_at,omitempty"`
	ClosesAt      string  `json:"closes_at,omitempty"`
	ScheduleLink  string  `json:"schedule_link,omitempty"`
	AttendingType string  `json:"attending_type,omitempty"`
	Notes         string  `json:"notes,omitempty"`
}

// ServiceArea is an HSDS service_area.
type ServiceArea struct {
	ID          string `json:"id"`
	ServiceID   string `json:"service_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	ExtentType  string `json:"extent_type,omitempty"`
}

// ServiceAtLocation is an HSDS service_at_location with its location.
type ServiceAtLocation struct {
	ID         string    `json:"id"`
	ServiceID  string    `json:"service_id"`
	LocationID string    `json:"location_id"`
	Location   *Location `json:"location"`
}

// Location is an HSDS location.
type Location struct {
	ID             string          `json:"id"`
	LocationType   string          `json:"location_type"`
	OrganizationID string          `json:"organization_id,omitempty"`
	Name           string          `json:"name,omitempty"`
	Description    string          `json:"description,omitempty"`
	Transportation string          `json:"transportation,omitempty"`
	Latitude       *float64        `json:"latitude,omitempty"`
	Longitude      *float64        `json:"longitude,omitempty"`
	Languages      []Language      `json:"languages"`
	Addresses      []Address       `json:"addresses"`
	Accessibility  []Accessibility `json:"accessibility"`
	Phones         []Phone         `json:"phones"`
	Schedules      []Schedule      `json:"schedules"`
}

// Address is an HSDS address; every field but address_2 and region is
// required by the schema (an unknown one is "").
type Address struct {
	ID            string `json:"id"`
	LocationID    string `json:"location_id"`
	Address1      string `json:"address_1"`
	Address2      string `json:"address_2,omitempty"`
	City          string `json:"city"`
	Region        string `json:"region,omitempty"`
	StateProvince string `json:"state_province"`
	PostalCode    string `json:"postal_code"`
	Country       string `json:"country"`
	AddressType   string `json:"address_type"`
}

// Accessibility is an HSDS accessibility.
type Accessibility struct {
	ID          string `json:"id"`
	LocationID  string `json:"location_id"`
	Description string `json:"description,omitempty"`
	Details     string `json:"details,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Language is an HSDS language.
type Language struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Code string `json:"code,omitempty"`
	Note string `json:"note,omitempty"`
}

// CostOption is an HSDS cost_option.
type CostOption struct {
	ID                string   `json:"id"`
	ServiceID         string   `json:"service_id"`
	ValidFrom         string   `json:"valid_from,omitempty"`
	ValidTo           string   `json:"valid_to,omitempty"`
	Option            string   `json:"option,omitempty"`
	Currency          string   `json:"currency,omitempty"`
	Amount            *float64 `json:"amount,omitempty"`
	AmountDescription string   `json:"amount_description,omitempty"`
}

// RequiredDocument is an HSDS required_document.
type RequiredDocument struct {
	ID        string `json:"id"`
	ServiceID string `json:"service_id"`
	Document  string `json:"document"`
}

// Contact is an HSDS contact.
type Contact struct {
	ID         string  `json:"id"`
	ServiceID  string  `json:"service_id,omitempty"`
	Name       string  `json:"name,omitempty"`
	Title      string  `json:"title,omitempty"`
	Department string  `json:"department,omitempty"`
	Email      string  `json:"email,omitempty"`
	Phones     []Phone `json:"phones"`
}

// Attribute links a service to a taxonomy term.
type Attribute struct {
	ID             string        `json:"id"`
	LinkID         string        `json:"link_id"`
	LinkType       string        `json:"link_type"`
	LinkEntity     string        `json:"link_entity"`
	TaxonomyTermID string        `json:"taxonomy_term_id"`
	TaxonomyTerm   *TaxonomyTerm `json:"taxonomy_term"`
}

// TaxonomyTerm is an HSDS taxonomy_term.
type TaxonomyTerm struct {
	ID          string `json:"id"`
	Code        string `json:"code,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description"`
	TaxonomyID  string `json:"taxonomy_id"`
	Taxonomy    string `json:"taxonomy,omitempty"`
}

// Taxonomy is an HSDS taxonomy.
type Taxonomy struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version,omitempty"`
}

// idNamespace derives the ids of objects pathway has no id of its own for.
var idNamespace = uuid.MustParse("9a8f3c1e-5b2d-5e4f-8a7b-1c0d2e3f4a5b")

// childID is the id of the n-th object of kind under parent.
func childID(parent, kind string, n int) string {
	return uuid.NewSHA1(idNamespace, []byte(parent+"/"+kind+"/"+itoa(n))).String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// OrganizationID is the HSDS id of partner id: the id itself when it is a
// UUID (as a directory imported from HSDS gives), else a UUIDv5 of it, with
// the partner id kept as an organization identifier.
func OrganizationID(partnerID string) string {
	if u, err := uuid.Parse(partnerID); err == nil && len(partnerID) == 36 {
		return u.String()
	}
	return uuid.NewSHA1(idNamespace, []byte("organization/"+partnerID)).String()
}

// PartnerIdentifierType is the identifier_type of the organization
// identifier that carries pathway's partner id when it is not a UUID.
const PartnerIdentifierType = "pathway partner id"

func email(s string) string {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil && a.Address == s {
		return s
	}
	return ""
}

func uri(s string) string {
	s = strings.TrimSpace(s)
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		return s
	}
	return ""
}

// statusOf is a service's HSDS status: active, or the status that
// retired it (inactive or defunct).
func statusOf(s *partner.Service) string {
	if r := s.Retired(); r != "" {
		return r
	}
	return "active"
}

// phonesOf maps phones to HSDS phones under parent; a contact point's
// single phone when it lists none.
func phonesOf(parent string, ps []*pathwayv1.Phone, single string) []Phone {
	out := []Phone{}
	for i, p := range ps {
		ph := Phone{ID: childID(parent, "phone", i), Number: p.GetNumber(), Type: p.GetType(), Description: p.GetDescription(), Languages: []Language{}}
		if x, err := strconv.ParseFloat(p.GetExtension(), 64); err == nil {
			ph.Extension = &x
		}
		for j, l := range p.GetLanguages() {
			ph.Languages = append(ph.Languages, Language{ID: childID(ph.ID, "language", j), Name: l})
		}
		out = append(out, ph)
	}
	if len(out) == 0 && strings.TrimSpace(single) != "" {
		out = append(out, Phone{ID: childID(parent, "phone", 0), Number: strings.TrimSpace(single), Languages: []Language{}})
	}
	return out
}

func languagesOf(parent string, ls []*pathwayv1.Language) []Language {
	out := []Language{}
	for i, l := range ls {
		out = append(out, Language{ID: childID(parent, "language", i), Name: l.GetName(), Code: l.GetCode(), Note: l.GetNote()})
	}
	return out
}

// schedulesOf maps schedules to HSDS; serviceID or locationID names what
// they belong to.
func schedulesOf(parent, serviceID, locationID string, ss []*pathwayv1.Schedule) []Schedule {
	out := []Schedule{}
	for i, sc := range ss {
		days := make([]string, 0, len(sc.GetBymonthday()))
		for _, d := range sc.GetBymonthday() {
			days = append(days, strconv.Itoa(int(d)))
		}
		out = append(out, Schedule{ID: childID(parent, "schedule", i), ServiceID: serviceID, LocationID: locationID, ValidFrom: sc.GetValidFrom(), ValidTo: sc.GetValidTo(),
			Freq: sc.GetFreq(), Interval: float64(sc.GetInterval()), ByDay: strings.Join(sc.GetByday(), ","), ByMonthDay: strings.Join(days, ","),
			Description: sc.GetDescription(), OpensAt: sc.GetOpensAt(), ClosesAt: sc.GetClosesAt(), ScheduleLink: uri(sc.GetScheduleLink()),
			AttendingType: sc.GetAttendingType(), Notes: sc.GetNotes()})
	}
	return out
}

// OrganizationOf maps a partner to an HSDS organization.
func OrganizationOf(p *partner.Partner) *Organization {
	d := p.Details()
	id := OrganizationID(p.ID())
	o := &Organization{ID: id, Name: d.GetName(), Description: d.GetDescription(), Email: email(d.GetContact().GetEmail()),
		Website: uri(d.GetContact().GetUrl()), Phones: phonesOf(id, d.GetContact().GetPhones(), d.GetContact().GetPhone()), OrganizationIdentifiers: []OrganizationIdentifier{}}
	if o.Description == "" {
		o.Description = o.Name // required by HSDS; pathway does not require one
	}
	if id != p.ID() {
		o.OrganizationIdentifiers = append(o.OrganizationIdentifiers, OrganizationIdentifier{ID: childID(id, "identifier", 0), OrganizationID: id,
			IdentifierScheme: "pathway", IdentifierType: PartnerIdentifierType, Identifier: p.ID()})
	}
	for i, x := range d.GetIdentifiers() {
		o.OrganizationIdentifiers = append(o.OrganizationIdentifiers, OrganizationIdentifier{ID: childID(id, "identifier", i+1), OrganizationID: id,
			IdentifierScheme: x.GetScheme(), IdentifierType: cmp.Or(x.GetType(), x.GetScheme(), "identifier"), Identifier: x.GetIdentifier()})
	}
	if reg := d.GetRegistrationNumber(); reg != "" && len(d.GetIdentifiers()) == 0 {
		o.OrganizationIdentifiers = append(o.OrganizationIdentifiers, OrganizationIdentifier{ID: childID(id, "identifier", 1), OrganizationID: id,
			IdentifierType: "registration number", Identifier: reg})
	}
	return o
}

// Extras are what pathway knows of a service beyond its aggregate: when
// it last changed and how fast its partner answers.
type Extras struct {
	Modified  time.Time
	Responses *ResponseTimes
}

// ServiceOf maps a service and the partner that runs it to a fully nested
// HSDS service.
func ServiceOf(s *partner.Service, p *partner.Partner, x Extras) Service {
	d := s.Details()
	id := s.ID()
	out := Service{ID: id, Name: d.GetName(), AlternateName: d.GetAlternateName(), Description: d.GetDescription(), URL: uri(d.GetContact().GetUrl()),
		Email: email(d.GetContact().GetEmail()), Status: statusOf(s), InterpretationServices: d.GetInterpretationServices(),
		ApplicationProcess: d.GetApplicationProcess(), FeesDescription: d.GetFeesDescription(), WaitTime: d.GetWaitTime(), Alert: d.GetAlert(),
		EligibilityDescription: d.GetEligibility().GetDescription(),
		Phones:                 phonesOf(id, d.GetContact().GetPhones(), d.GetContact().GetPhone()), Schedules: schedulesOf(id, id, "", d.GetSchedules()),
		ServiceAreas: []ServiceArea{}, ServiceAtLocations: []ServiceAtLocation{}, Languages: languagesOf(id, d.GetLanguages()),
		CostOptions: []CostOption{}, RequiredDocuments: []RequiredDocument{}, Contacts: []Contact{}, Attributes: []Attribute{},
		PathwayCapacityStatus: partner.CapacityName(s.Capacity()), PathwayResponseTimes: x.Responses, PathwayNeeds: []string{}}
	if out.PathwayCapacityStatus == "unknown" {
		out.PathwayCapacityStatus = "capacity"
	}
	if p != nil && p.Exists() {
		out.Organization = OrganizationOf(p)
		out.OrganizationID = out.Organization.ID
	}
	if !x.Modified.IsZero() {
		out.LastModified = x.Modified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	el := d.GetEligibility()
	if el.GetMinAge() > 0 {
		v := el.GetMinAge()
		out.MinimumAge = &v
	}
	if el.GetMaxAge() > 0 {
		v := el.GetMaxAge()
		out.MaximumAge = &v
	}
	if c := d.GetContact(); c.GetName() != "" {
		out.Contacts = append(out.Contacts, Contact{ID: childID(id, "contact", 0), ServiceID: id, Name: c.GetName(), Email: email(c.GetEmail()), Phones: []Phone{}})
	}
	for i, c := range d.GetContacts() {
		cid := childID(id, "contact", i+1)
		out.Contacts = append(out.Contacts, Contact{ID: cid, ServiceID: id, Name: c.GetName(), Title: c.GetTitle(), Department: c.GetDepartment(),
			Email: email(c.GetEmail()), Phones: phonesOf(cid, c.GetPhones(), "")})
	}
	for i, c := range d.GetCostOptions() {
		co := CostOption{ID: childID(id, "cost_option", i), ServiceID: id, ValidFrom: c.GetValidFrom(), ValidTo: c.GetValidTo(), Option: c.GetOption(),
			Currency: c.GetCurrency(), AmountDescription: c.GetAmountDescription()}
		if a, err := strconv.ParseFloat(c.GetAmount(), 64); err == nil {
			co.Amount = &a
		}
		out.CostOptions = append(out.CostOptions, co)
	}
	for i, doc := range d.GetRequiredDocuments() {
		out.RequiredDocuments = append(out.RequiredDocuments, RequiredDocument{ID: childID(id, "required_document", i), ServiceID: id, Document: doc})
	}
	n := 0
	for _, area := range d.GetServiceAreas() {
		out.ServiceAreas = append(out.ServiceAreas, ServiceArea{ID: childID(id, "service_area", n), ServiceID: id, Name: area})
		n++
	}
	for _, district := range el.GetPostcodeDistricts() {
		if !slices.Contains(d.GetServiceAreas(), district) {
			out.ServiceAreas = append(out.ServiceAreas, ServiceArea{ID: childID(id, "service_area", n), ServiceID: id, Name: district, ExtentType: "postcode district"})
			n++
		}
	}
	for i, l := range d.GetLocations() {
		loc := locationOf(id, i, out.OrganizationID, l)
		out.ServiceAtLocations = append(out.ServiceAtLocations, ServiceAtLocation{ID: childID(id, "service_at_location", i), ServiceID: id, LocationID: loc.ID, Location: loc})
	}
	for i, t := range d.GetTaxonomyTerms() {
		term := sourceTerm(t)
		out.Attributes = append(out.Attributes, Attribute{ID: childID(id, "attribute", i), LinkID: id, LinkType: "service", LinkEntity: "service",
			TaxonomyTermID: term.ID, TaxonomyTerm: &term})
	}
	for i, n := range d.GetNeeds() {
		term := needTerm(n)
		out.PathwayNeeds = append(out.PathwayNeeds, term.Code)
		out.Attributes = append(out.Attributes, Attribute{ID: childID(id, "need", i), LinkID: id, LinkType: "service", LinkEntity: "service",
			TaxonomyTermID: term.ID, TaxonomyTerm: &term})
	}
	return out
}

// locationOf maps the i-th location of service serviceID: its id is the
// source's location id when that is a UUID (so services at one place share
// it), else derived.
func locationOf(serviceID string, i int, orgID string, l *pathwayv1.Location) *Location {
	locID := childID(serviceID, "location", i)
	if u, err := uuid.Parse(l.GetHsdsLocationId()); err == nil && len(l.GetHsdsLocationId()) == 36 {
		locID = u.String()
	}
	loc := &Location{ID: locID, LocationType: cmp.Or(l.GetLocationType(), "physical"), OrganizationID: orgID, Name: l.GetName(),
		Description: l.GetDescription(), Transportation: l.GetTransportation(), Languages: languagesOf(locID, l.GetLanguages()), Addresses: []Address{},
		Accessibility: []Accessibility{}, Phones: phonesOf(locID, l.GetPhones(), ""), Schedules: schedulesOf(locID, "", locID, l.GetSchedules())}
	if l.GetLatitude() != 0 || l.GetLongitude() != 0 {
		lat, lon := l.GetLatitude(), l.GetLongitude()
		loc.Latitude, loc.Longitude = &lat, &lon
	}
	if l.GetAddress() != "" || l.GetPostcode() != "" || l.GetCity() != "" {
		loc.Addresses = append(loc.Addresses, Address{ID: childID(locID, "address", 0), LocationID: locID, Address1: l.GetAddress(), Address2: l.GetAddress_2(),
			City: l.GetCity(), Region: l.GetRegion(), StateProvince: l.GetRegion(), PostalCode: l.GetPostcode(), Country: cmp.Or(l.GetCountry(), "GB"), AddressType: "physical"})
	}
	if pa := l.GetPostalAddress(); pa != nil {
		loc.Addresses = append(loc.Addresses, Address{ID: childID(locID, "address", 1), LocationID: locID, Address1: pa.GetAddress_1(), Address2: pa.GetAddress_2(),
			City: pa.GetCity(), Region: pa.GetRegion(), StateProvince: pa.GetRegion(), PostalCode: pa.GetPostcode(), Country: cmp.Or(pa.GetCountry(), "GB"), AddressType: "postal"})
	}
	for j, a := range l.GetAccessibility() {
		loc.Accessibility = append(loc.Accessibility, Accessibility{ID: childID(locID, "accessibility", j), LocationID: locID, Description: a.GetDescription(),
			Details: a.GetDetails(), URL: uri(a.GetUrl())})
	}
	return loc
}
