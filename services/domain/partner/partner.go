// Package partner holds the rules of the VCSE directory: partner
// organisations (the partner aggregate) and the services they run (the
// service aggregate), with their needs served, eligibility, schedules,
// languages, fees, locations, contacts and capacity signal, and whether
// the service has left the directory (Retire, Reinstate). Field names
// follow Open Referral UK / HSDS 3.0, and every shape of it the standard
// publishes maps onto them (ParseHSDS); phone numbers are kept in E.164
// (NormalisePhone). It imports no NATS or HTTP.
package partner

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"google.golang.org/protobuf/proto"
)

// Aggregate types in the event log.
const (
	PartnerType = "partner"
	ServiceType = "service"
)

var (
	// ErrConflict reports a command the state does not allow. It is a
	// kernel.Conflict error; the errors that wrap it say what.
	ErrConflict = kernel.Errorf(kernel.Conflict, "partner: not allowed in this state")
	// ErrInvalid reports invalid fields or an invalid import. It is a
	// kernel.Invalid error; the errors that wrap it list the fields
	// (kernel.Error.Fields) or say what is wrong.
	ErrInvalid = kernel.Errorf(kernel.Invalid, "partner: invalid")
)

// idRe is an organisation id: the HSDS organization id, which is also the
// organisation of the partner's API keys and its aggregate id.
var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s can be a partner id.
func ValidID(s string) bool { return idRe.MatchString(s) }

// capacityNames are the wire names of the capacity signals (HL7 Gravity).
var capacityNames = map[string]pathwayv1.CapacityStatus{
	"capacity":                       pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY,
	"no-capacity":                    pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY,
	"waitlist":                       pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST,
	"additional-assessment-required": pathwayv1.CapacityStatus_CAPACITY_STATUS_ADDITIONAL_ASSESSMENT_REQUIRED,
}

// ParseCapacity returns the capacity signal named s.
func ParseCapacity(s string) (pathwayv1.CapacityStatus, bool) {
	c, ok := capacityNames[s]
	return c, ok
}

// CapacityName is the wire name of c.
func CapacityName(c pathwayv1.CapacityStatus) string {
	for k, v := range capacityNames {
		if v == c {
			return k
		}
	}
	return "unknown"
}

// CapacityNames lists the wire names, for messages.
const CapacityNames = "capacity, no-capacity, waitlist or additional-assessment-required"

// Partner is the state of one partner organisation.
type Partner struct {
	id      string
	version uint64
	details *pathwayv1.PartnerRegistered
}

// ReplayPartner builds a partner from its events.
func ReplayPartner(id string, changes []kernel.Change) *Partner {
	p := &Partner{id: id}
	for _, c := range changes {
		p.Apply(c)
	}
	return p
}

// Apply applies one event.
func (p *Partner) Apply(c kernel.Change) {
	p.version = c.Sequence
	switch e := c.Payload.(type) {
	case *pathwayv1.PartnerRegistered:
		p.details = e
	case *pathwayv1.PartnerUpdated:
		p.details = &pathwayv1.PartnerRegistered{Name: e.GetName(), Description: e.GetDescription(), HsdsOrganizationId: e.GetHsdsOrganizationId(),
			Contact: e.GetContact(), RegistrationNumber: e.GetRegistrationNumber(), Identifiers: e.GetIdentifiers()}
	}
}

// ID returns the partner's id (its organisation id).
func (p *Partner) ID() string { return p.id }

// Version is the sequence of the partner's last event.
func (p *Partner) Version() uint64 { return p.version }

// Exists reports whether the partner was registered.
func (p *Partner) Exists() bool { return p.details != nil }

// Details returns the partner's current details.
func (p *Partner) Details() *pathwayv1.PartnerRegistered { return p.details }

// ValidatePartner lists every invalid field of d.
func ValidatePartner(d *pathwayv1.PartnerRegistered) []kernel.FieldError {
	var errs []kernel.FieldError
	if n := strings.TrimSpace(d.GetName()); n == "" || len(n) > 200 {
		errs = append(errs, kernel.FieldError{Field: "name", Reason: "is required, at most 200 characters"})
	} else {
		errs = append(errs, kernel.Line("name", d.GetName())...)
	}
	if len(d.GetDescription()) > 4000 {
		errs = append(errs, kernel.FieldError{Field: "description", Reason: "must be at most 4000 characters"})
	} else {
		errs = append(errs, kernel.Prose("description", d.GetDescription())...)
	}
	if len(d.GetRegistrationNumber()) > 50 || len(d.GetHsdsOrganizationId()) > 64 {
		errs = append(errs, kernel.FieldError{Field: "registration_number", Reason: "must be at most 50 characters"})
	} else {
		errs = append(errs, kernel.Line("registration_number", d.GetRegistrationNumber())...)
		errs = append(errs, kernel.Line("hsds_organization_id", d.GetHsdsOrganizationId())...)
	}
	errs = append(errs, validateContact("contact", d.GetContact())...)
	var e fieldErrs
	if e.count("identifiers", len(d.GetIdentifiers()), 10) {
		for i, id := range d.GetIdentifiers() {
			f := fmt.Sprintf("identifiers[%d]", i)
			if id.GetIdentifier() == "" {
				e.add(f+".identifier", "is required")
			}
			e.line(f+".identifier", id.GetIdentifier(), 50)
			e.line(f+".scheme", id.GetScheme(), 50)
			e.line(f+".type", id.GetType(), 100)
		}
	}
	e.phones("contact.phones", d.GetContact().GetPhones())
	return append(errs, e...)
}

// Save decides the events that register the partner or bring its details
// up to d: PartnerRegistered when new, PartnerUpdated when changed,
// nothing when unchanged. Errors wrap ErrInvalid.
func (p *Partner) Save(d *pathwayv1.PartnerRegistered) ([]proto.Message, error) {
	if errs := ValidatePartner(d); len(errs) > 0 {
		return nil, invalid(errs)
	}
	if d.Contact == nil {
		d.Contact = &pathwayv1.ContactPoint{} // so "no contact" compares equal however it came
	}
	if !p.Exists() {
		return []proto.Message{d}, nil
	}
	if proto.Equal(p.details, d) {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.PartnerUpdated{Name: d.GetName(), Description: d.GetDescription(), HsdsOrganizationId: d.GetHsdsOrganizationId(),
		Contact: d.GetContact(), RegistrationNumber: d.GetRegistrationNumber(), Identifiers: d.GetIdentifiers()}}, nil
}

// Service is the state of one service in the directory.
type Service struct {
	id       string
	version  uint64
	details  *pathwayv1.ServiceDetails
	capacity pathwayv1.CapacityStatus
	// retired is the HSDS status that retired the service ("inactive" or
	// "defunct"); empty while it is in the directory.
	retired string
}

// ReplayService builds a service from its events.
func ReplayService(id string, changes []kernel.Change) *Service {
	s := &Service{id: id}
	for _, c := range changes {
		s.Apply(c)
	}
	return s
}

// Apply applies one event.
func (s *Service) Apply(c kernel.Change) {
	s.version = c.Sequence
	switch e := c.Payload.(type) {
	case *pathwayv1.ServiceRegistered:
		s.details, s.capacity = e.GetDetails(), e.GetCapacityStatus()
	case *pathwayv1.ServiceUpdated:
		s.details = e.GetDetails()
	case *pathwayv1.ServiceCapacityChanged:
		s.capacity = e.GetStatus()
	case *pathwayv1.ServiceRetired:
		s.retired = e.GetStatus()
	case *pathwayv1.ServiceReinstated:
		s.retired = ""
	}
}

// ID returns the service's id.
func (s *Service) ID() string { return s.id }

// Version is the sequence of the service's last event.
func (s *Service) Version() uint64 { return s.version }

// Exists reports whether the service was registered.
func (s *Service) Exists() bool { return s.details != nil }

// Details returns the service's directory fields.
func (s *Service) Details() *pathwayv1.ServiceDetails { return s.details }

// Capacity returns the service's capacity signal.
func (s *Service) Capacity() pathwayv1.CapacityStatus { return s.capacity }

// Retired returns the status that took the service out of the directory
// ("inactive" or "defunct"), or "" while it is in the directory and takes
// new handoffs.
func (s *Service) Retired() string { return s.retired }

// PartnerID returns the partner that runs the service.
func (s *Service) PartnerID() string { return s.details.GetPartnerId() }

// ValidateService lists every invalid field of d.
func ValidateService(d *pathwayv1.ServiceDetails) []kernel.FieldError {
	var errs []kernel.FieldError
	add := func(f, r string) { errs = append(errs, kernel.FieldError{Field: f, Reason: r}) }
	if !ValidID(d.GetPartnerId()) {
		add("partner_id", "must be the partner's organisation id: 1 to 64 letters, digits, - or _")
	}
	if n := strings.TrimSpace(d.GetName()); n == "" || len(n) > 200 {
		add("name", "is required, at most 200 characters")
	} else {
		errs = append(errs, kernel.Line("name", d.GetName())...)
	}
	if len(d.GetDescription()) > 4000 {
		add("description", "must be at most 4000 characters")
	} else {
		errs = append(errs, kernel.Prose("description", d.GetDescription())...)
	}
	if len(d.GetNeeds()) == 0 {
		add("needs", "name at least one need the service meets")
	}
	for i, n := range d.GetNeeds() {
		if n == pathwayv1.Need_NEED_UNSPECIFIED {
			add(fmt.Sprintf("needs[%d]", i), "is not a known need")
		}
	}
	if len(d.GetTaxonomyTerms()) > 50 {
		add("taxonomy_terms", "at most 50")
	} else {
		for i, term := range d.GetTaxonomyTerms() {
			if term == "" || len(term) > 200 {
				add(fmt.Sprintf("taxonomy_terms[%d]", i), "must be 1 to 200 characters")
			} else {
				errs = append(errs, kernel.Line(fmt.Sprintf("taxonomy_terms[%d]", i), term)...)
			}
		}
	}
	if len(d.GetHsdsServiceId()) > 200 {
		add("hsds_service_id", "must be at most 200 characters")
	} else {
		errs = append(errs, kernel.Line("hsds_service_id", d.GetHsdsServiceId())...)
	}
	if len(d.GetEligibility().GetDescription()) > 2000 {
		add("eligibility.description", "must be at most 2000 characters")
	} else {
		errs = append(errs, kernel.Prose("eligibility.description", d.GetEligibility().GetDescription())...)
	}
	if len(d.GetEligibility().GetPostcodeDistricts()) > 100 {
		add("eligibility.postcode_districts", "at most 100")
	}
	if len(d.GetLocations()) > 50 {
		add("locations", "at most 50")
	}
	el := d.GetEligibility()
	if el.GetMaxAge() != 0 && el.GetMinAge() > el.GetMaxAge() {
		add("eligibility.min_age", "must not be above max_age")
	}
	if el.GetMaxAge() > 130 {
		add("eligibility.max_age", "must be at most 130")
	}
	for i, pd := range el.GetPostcodeDistricts() {
		if !districtRe.MatchString(pd) {
			add(fmt.Sprintf("eligibility.postcode_districts[%d]", i), "must be a postcode district such as TS1 or an area such as TS")
		}
	}
	for i, l := range d.GetLocations() {
		errs = append(errs, locationProblems(fmt.Sprintf("locations[%d]", i), l)...)
	}
	errs = append(errs, validateContact("contact", d.GetContact())...)
	return append(errs, validateExtra(d)...)
}

var districtRe = regexp.MustCompile(`^[A-Z]{1,2}([0-9][0-9A-Z]?)?$`)

func validateContact(field string, c *pathwayv1.ContactPoint) []kernel.FieldError {
	var errs []kernel.FieldError
	if c.GetEmail() != "" && (len(c.GetEmail()) > 254 || !strings.Contains(c.GetEmail(), "@")) {
		errs = append(errs, kernel.FieldError{Field: field + ".email", Reason: "is not an email address"})
	}
	if u := c.GetUrl(); u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			errs = append(errs, kernel.FieldError{Field: field + ".url", Reason: "must be an http or https URL"})
		}
	}
	if len(c.GetPhone()) > 40 || len(c.GetName()) > 200 {
		errs = append(errs, kernel.FieldError{Field: field, Reason: "name at most 200 and phone at most 40 characters"})
	}
	for _, f := range []struct{ name, v string }{{"name", c.GetName()}, {"email", c.GetEmail()}, {"phone", c.GetPhone()}, {"url", c.GetUrl()}} {
		errs = append(errs, kernel.Line(field+"."+f.name, f.v)...)
	}
	return errs
}

// Save decides the events that register the service (with capacity, when
// new) or bring its details up to d: nothing when unchanged. A service
// cannot move to another partner. Errors wrap ErrInvalid or ErrConflict.
func (s *Service) Save(d *pathwayv1.ServiceDetails, capacity pathwayv1.CapacityStatus) ([]proto.Message, error) {
	if errs := ValidateService(d); len(errs) > 0 {
		return nil, invalid(errs)
	}
	if d.Contact == nil {
		d.Contact = &pathwayv1.ContactPoint{}
	}
	if d.Eligibility == nil {
		d.Eligibility = &pathwayv1.Eligibility{}
	}
	if !s.Exists() {
		if capacity == pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED {
			capacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY
		}
		return []proto.Message{&pathwayv1.ServiceRegistered{Details: d, CapacityStatus: capacity}}, nil
	}
	if s.details.GetPartnerId() != d.GetPartnerId() {
		return nil, ErrConflict.Errorf("the service belongs to another partner")
	}
	if proto.Equal(s.details, d) {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.ServiceUpdated{Details: d}}, nil
}

// ChangeCapacity decides a new capacity signal; nothing when unchanged.
func (s *Service) ChangeCapacity(c pathwayv1.CapacityStatus, note string) ([]proto.Message, error) {
	if !s.Exists() {
		return nil, ErrConflict.Errorf("no such service")
	}
	if c == pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED {
		return nil, invalid([]kernel.FieldError{{Field: "status", Reason: "must be " + CapacityNames}})
	}
	if len(note) > 2000 {
		return nil, invalid([]kernel.FieldError{{Field: "note", Reason: "must be at most 2000 characters"}})
	}
	if errs := kernel.Prose("note", note); errs != nil {
		return nil, invalid(errs)
	}
	if c == s.capacity {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.ServiceCapacityChanged{Status: c, PreviousStatus: s.capacity, Note: note}}, nil
}

// retiredStatuses are the HSDS service statuses that take a service out
// of the directory.
var retiredStatuses = []string{"inactive", "defunct"}

// Retire decides taking the service out of the directory because its
// directory marks it status ("inactive" or "defunct"); reason is an
// optional note. Nothing when it is already retired with that status.
// Errors: ErrConflict when the service does not exist, ErrInvalid for
// another status or a reason too long or not prose.
func (s *Service) Retire(status, reason string) ([]proto.Message, error) {
	if !s.Exists() {
		return nil, ErrConflict.Errorf("no such service")
	}
	if !slices.Contains(retiredStatuses, status) {
		return nil, invalid([]kernel.FieldError{{Field: "status", Reason: "must be inactive or defunct"}})
	}
	if errs := checkReason(reason); errs != nil {
		return nil, invalid(errs)
	}
	if s.retired == status {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.ServiceRetired{Status: status, Reason: reason}}, nil
}

// Reinstate decides returning a retired service to the directory; reason
// is an optional note. Nothing when it is not retired. Errors: ErrConflict
// when it does not exist, ErrInvalid for a reason too long or not prose.
func (s *Service) Reinstate(reason string) ([]proto.Message, error) {
	if !s.Exists() {
		return nil, ErrConflict.Errorf("no such service")
	}
	if errs := checkReason(reason); errs != nil {
		return nil, invalid(errs)
	}
	if s.retired == "" {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.ServiceReinstated{Reason: reason}}, nil
}

// checkReason checks the note of a retirement or reinstatement: at most
// 2000 characters of prose.
func checkReason(reason string) []kernel.FieldError {
	if len(reason) > 2000 {
		return []kernel.FieldError{{Field: "reason", Reason: "must be at most 2000 characters"}}
	}
	return kernel.Prose("reason", reason)
}

// invalid is ErrInvalid listing fields.
func invalid(fields []kernel.FieldError) error { return ErrInvalid.WithFields(fields...) }
