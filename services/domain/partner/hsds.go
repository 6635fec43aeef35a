package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// Problem is one reason an import skipped a record or left part of one
// out, at its place in the file as a JSON path ("$.contents[2].name").
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// String is the problem as one line: "path: reason".
func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Record kinds.
const (
	// KindService is a service, with its organization nested or named.
	KindService = "service"
	// KindOrganization is an organization published without services:
	// the partner alone.
	KindOrganization = "organization"
)

// Record is one service of an Open Referral UK / HSDS import, mapped onto
// the directory: the partner that runs it and its details. A record whose
// Reasons are not empty is skipped; the other fields may then be empty.
type Record struct {
	// Index is the record's position in the import, from 0.
	Index int
	// Path is where the record is in the file, as a JSON path: "$" for a
	// single service, "$.contents[3]", "$.services[1]" for a service
	// nested in an organization.
	Path string
	// Kind is KindService or KindOrganization ("" for a skipped record of
	// another kind).
	Kind string
	// HSDSID is the record's HSDS service id ("" when it has none).
	HSDSID string
	// ServiceID is the service's aggregate id, derived from HSDSID, so a
	// second import of the same record updates the same service.
	ServiceID string
	// PartnerID is the organisation the service belongs to; a record
	// made by hand may leave it empty for Partner's (or Service's) own.
	PartnerID string
	// Partner is the organization's details when the file gives them;
	// nil when the service only names its organization (organization_id),
	// which must then be in the directory already.
	Partner *pathwayv1.PartnerRegistered
	// Service is the service's details; nil for KindOrganization.
	Service *pathwayv1.ServiceDetails
	// Retire is "inactive" or "defunct" when the directory marks the
	// service so: the import takes it out of pathway's directory.
	Retire string
	// Reasons say why the record is skipped, every one; empty when it is
	// imported.
	Reasons []Problem
	// Dropped are the parts of an imported record left out, each with its
	// reason: a location outside the UK, a phone number that is not one.
	Dropped []Problem
	// Skip is Reasons in one line ("" when imported).
	Skip string

	fromSAL bool // made from a service_at_location record
}

// MaxImportRecords bounds one import.
const MaxImportRecords = 10_000

// ParseHSDS reads an Open Referral UK / HSDS 3.0 import in any shape the
// standard publishes: a page of services ({"contents": [...]}, as GET
// /services answers), a single full service (GET /services/{id}), a JSON
// array of services, an organization with its services nested (GET
// /organizations/{id}), a page or array of organizations, a page of
// service_at_location records (GET /service_at_locations), and the
// tabular form (one array per CSV table). It maps every record on its own
// and marks each it cannot import skipped with every reason and its JSON
// path; a record of a kind that holds no service (a taxonomy, a location
// alone, the API's version document) is skipped saying so. Parts of a
// record that are wrong are dropped (Record.Dropped) and the rest
// imported: a location outside the UK, a phone number that is not one.
// service_at_location records of one service become one service with
// every location. The error, an ErrInvalid, is only for a file that is
// not JSON or holds more than MaxImportRecords records.
func ParseHSDS(data []byte) ([]Record, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, ErrInvalid.Errorf("the file is empty: want Open Referral UK / HSDS JSON")
	}
	if !json.Valid(data) {
		var v any
		return nil, ErrInvalid.Errorf("not JSON: %s", jsonReason(json.Unmarshal(data, &v)))
	}
	var items []item
	switch data[0] {
	case '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, ErrInvalid.Errorf("not a JSON array of HSDS records: %s", jsonReason(err))
		}
		for i, r := range raw {
			items = append(items, item{path: fmt.Sprintf("$[%d]", i), raw: r})
		}
	case '{':
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, ErrInvalid.Errorf("not an HSDS record: %s", jsonReason(err))
		}
		switch {
		case top["contents"] != nil:
			var raw []json.RawMessage
			if err := json.Unmarshal(top["contents"], &raw); err != nil {
				items = append(items, item{path: "$.contents", raw: nil})
				break
			}
			for i, r := range raw {
				items = append(items, item{path: fmt.Sprintf("$.contents[%d]", i), raw: r})
			}
		case isTabular(top):
			return parseTables(top, nil, "$")
		default:
			items = append(items, item{path: "$", raw: data})
		}
	default:
		return nil, ErrInvalid.Errorf("want Open Referral UK / HSDS JSON: an object or an array")
	}
	return mapItems(items, nil)
}

// parseTables maps the tabular form: tables of rows by file name, with
// the problems found reading them.
func parseTables(top map[string]json.RawMessage, probs []Problem, path string) ([]Record, error) {
	nested, more := nestTabular(top)
	probs = append(probs, more...)
	if len(nested) == 0 {
		return []Record{skipped(Record{Path: path}, append(probs, Problem{path, "tabular data with no rows in organizations.csv or services.csv: nothing to import"})...)}, nil
	}
	return mapItems(nested, probs)
}

// mapItems maps the records of a file; tableProblems, parts of the file
// left out, are reported with the first record.
func mapItems(items []item, tableProblems []Problem) ([]Record, error) {
	// A record with too few fields to tell what it is (just an id and a
	// name) is read as its neighbours are, or as a service.
	fallback, counts := KindService, map[string]int{}
	for i := range items {
		var obj map[string]json.RawMessage
		if json.Unmarshal(items[i].raw, &obj) == nil && obj != nil {
			items[i].kind, items[i].object = kindOf(obj), true
			_, named := obj["name"]
			items[i].guess = items[i].kind == "" && (named || obj["id"] != nil)
			if items[i].kind != "" {
				counts[items[i].kind]++
			}
		}
	}
	for k, n := range counts {
		if n > counts[fallback] || n == counts[fallback] && k < fallback {
			fallback = k
		}
	}
	var out []Record
	for _, it := range items {
		out = append(out, mapItem(it, fallback)...)
		if len(out) > MaxImportRecords {
			return nil, ErrInvalid.Errorf("more than %d records; at most %d in one import", MaxImportRecords, MaxImportRecords)
		}
	}
	out = mergeRecords(out)
	if len(tableProblems) > 0 && len(out) > 0 {
		out[0].Dropped = append(tableProblems, out[0].Dropped...)
	}
	return out, nil
}

// item is one top-level record of a file and its path; ParseHSDS sets
// what kind of record it is.
type item struct {
	path string
	raw  json.RawMessage
	// object is set when raw is a JSON object, kind to what it holds;
	// guess when its kind cannot be told (only an id and a name).
	object, guess bool
	kind          string
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s: a JSON %s where %s was expected", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		}
		return fmt.Sprintf("a JSON %s where %s was expected", te.Value, jsonKind(te.Type.Kind().String()))
	}
	return "unexpected JSON structure"
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "text"
	case "float64", "int", "uint32":
		return "a number"
	}
	return "another type"
}

// kindOf tells what an HSDS object is by the fields it has.
func kindOf(obj map[string]json.RawMessage) string {
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := obj[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("service") && (has("location") || has("location_id") || has("service_id")):
		return "service_at_location"
	case has("services"):
		return KindOrganization
	case has("organization", "organization_id", "service_at_locations", "status", "eligibility_description", "fees_description",
		"application_process", "minimum_age", "maximum_age", "cost_options", "service_areas", "program"):
		return KindService
	case has("website", "legal_status", "tax_status", "year_incorporated", "organization_identifiers", "parent_organization_id", "logo"):
		return KindOrganization
	case has("location_type", "latitude", "longitude", "addresses", "transportation", "physical_addresses"):
		return "location"
	case has("taxonomy_detail", "term_uri", "parent_id") || has("code") && has("taxonomy"):
		return "taxonomy_term"
	case has("openapi_url", "profile"):
		return "metadata"
	case has("version") && has("uri"):
		return "taxonomy"
	}
	return ""
}

// mapItem maps one top-level record to the records it holds: itself, or
// an organization's services.
func mapItem(it item, fallback string) []Record {
	if !it.object {
		return []Record{skipped(Record{Path: it.path}, Problem{it.path, "not an HSDS record: want a JSON object"})}
	}
	k := it.kind
	if it.guess {
		k = fallback
	}
	switch k {
	case KindService:
		return []Record{mapServiceRecord(it.path, it.raw, nil, nil)}
	case KindOrganization:
		return mapOrganization(it.path, it.raw)
	case "service_at_location":
		return []Record{mapServiceAtLocation(it.path, it.raw)}
	case "location":
		return []Record{skipped(Record{Path: it.path}, Problem{it.path, "a location with no service: import its service (with service_at_locations) or a service_at_location record"})}
	case "taxonomy_term", "taxonomy":
		return []Record{skipped(Record{Path: it.path}, Problem{it.path, "a " + strings.ReplaceAll(k, "_", " ") + ", not a service: taxonomy terms are imported with the services that carry them"})}
	case "metadata":
		return []Record{skipped(Record{Path: it.path}, Problem{it.path, "the API's version and profile document: it holds no services"})}
	}
	return []Record{skipped(Record{Path: it.path}, Problem{it.path, "not a service, organization or service_at_location record (it has none of their fields)"})}
}

func skipped(r Record, reasons ...Problem) Record {
	r.Reasons = append(r.Reasons, reasons...)
	parts := make([]string, len(r.Reasons))
	for i, p := range r.Reasons {
		parts[i] = p.String()
	}
	r.Skip = strings.Join(parts, "; ")
	r.Partner, r.Service, r.ServiceID, r.Kind = nil, nil, "", ""
	return r
}

// mergeRecords numbers the records, joins the service_at_location records
// of one service into one (every location), and skips a second record of
// the same service.
func mergeRecords(recs []Record) []Record {
	first := map[string]int{}
	out := recs[:0]
	for _, r := range recs {
		if r.Service != nil && r.Skip == "" {
			if j, dup := first[r.HSDSID]; dup {
				prev := &out[j]
				if r.fromSAL && prev.fromSAL {
					for _, l := range r.Service.Locations {
						if l.GetHsdsLocationId() == "" || !slices.ContainsFunc(prev.Service.Locations, func(o *pathwayv1.Location) bool {
							return o.GetHsdsLocationId() == l.GetHsdsLocationId()
						}) {
							prev.Service.Locations = append(prev.Service.Locations, l)
						}
					}
					prev.Dropped = append(prev.Dropped, r.Dropped...)
					continue
				}
				r = skipped(r, Problem{r.Path + ".id", fmt.Sprintf("the same service as record %d (%s)", j, prev.Path)})
			} else {
				first[r.HSDSID] = len(out)
			}
		}
		r.Index = len(out)
		out = append(out, r)
	}
	return out
}

// serviceNamespace derives service ids from HSDS service ids.
var serviceNamespace = uuid.MustParse("6f1c2a5e-8a4b-5d7e-9c3f-2b1a0e9d8c7b")

// ServiceIDFor is the aggregate id of the service with HSDS id hsdsID.
func ServiceIDFor(hsdsID string) string {
	return uuid.NewSHA1(serviceNamespace, []byte(hsdsID)).String()
}

// mapOrganization maps an organization: each nested service is a record,
// and an organization without services is one partner-only record.
func mapOrganization(path string, raw json.RawMessage) []Record {
	var o hsdsOrg
	if err := json.Unmarshal(raw, &o); err != nil {
		return []Record{skipped(Record{Path: path}, Problem{path, "not an HSDS organization: " + jsonReason(err)})}
	}
	p, probs, dropped := mapPartner(path, &o)
	if len(o.Services) == 0 {
		r := Record{Path: path, Kind: KindOrganization, PartnerID: p.GetHsdsOrganizationId(), Partner: p, Dropped: dropped}
		if len(probs) > 0 {
			return []Record{skipped(r, probs...)}
		}
		return []Record{r}
	}
	out := make([]Record, 0, len(o.Services))
	for i, s := range o.Services {
		out = append(out, mapServiceRecord(fmt.Sprintf("%s.services[%d]", path, i), s, &o, nil))
	}
	return out
}

// mapServiceAtLocation maps a service_at_location record: its service,
// delivered at its location (with the record's own schedules, phones and
// contacts there).
func mapServiceAtLocation(path string, raw json.RawMessage) Record {
	var sal hsdsSAL
	if err := json.Unmarshal(raw, &sal); err != nil {
		return skipped(Record{Path: path}, Problem{path, "not an HSDS service_at_location: " + jsonReason(err)})
	}
	if len(sal.Service) == 0 || string(sal.Service) == "null" {
		return skipped(Record{Path: path}, Problem{path + ".service", "the service must be nested in the service_at_location record"})
	}
	r := mapServiceRecord(path+".service", sal.Service, nil, &salAt{path: path, sal: &sal})
	r.Path = path
	return r
}

// salAt is a service_at_location record a service came from.
type salAt struct {
	path string
	sal  *hsdsSAL
}

// mapServiceRecord maps one service at path. org is the organization it
// is nested in, if any; at the service_at_location record it came from.
func mapServiceRecord(path string, raw json.RawMessage, org *hsdsOrg, at *salAt) Record {
	rec := Record{Path: path, Kind: KindService, fromSAL: at != nil}
	var s hsdsService
	if err := json.Unmarshal(raw, &s); err != nil {
		return skipped(rec, Problem{path, "not an HSDS service: " + jsonReason(err)})
	}
	m := mapper{}
	rec.HSDSID = strings.TrimSpace(string(s.ID))
	if rec.HSDSID == "" || len(rec.HSDSID) > 200 {
		m.reason(path+".id", "every service needs an HSDS id (1 to 200 characters)")
	} else {
		for _, fe := range kernel.Line("id", rec.HSDSID) {
			m.reason(path+".id", fe.Reason)
		}
	}
	closed := false
	switch st := strings.ToLower(strings.TrimSpace(string(s.Status))); st {
	case "temporarily closed":
		closed = true
	case "", "active":
	case "inactive", "defunct":
		rec.Retire = st
	default:
		m.reason(path+".status", "must be active, inactive, defunct or temporarily closed")
	}

	orgPath := path + ".organization"
	switch {
	case s.Organization != nil:
		org = s.Organization
	case org != nil:
		if i := strings.LastIndex(path, ".services["); i >= 0 {
			orgPath = path[:i]
		}
	}
	if org != nil {
		if strings.TrimSpace(string(org.ID)) == "" && strings.TrimSpace(string(s.OrganizationID)) != "" {
			o := *org
			o.ID = s.OrganizationID
			org = &o
		}
		p, probs, dropped := mapPartner(orgPath, org)
		m.reasons = append(m.reasons, probs...)
		m.dropped = append(m.dropped, dropped...)
		rec.Partner, rec.PartnerID = p, p.GetHsdsOrganizationId()
	} else {
		rec.PartnerID = strings.TrimSpace(string(s.OrganizationID))
		switch {
		case rec.PartnerID == "":
			m.reason(path+".organization", "the service names no organization: nest it, or give the organization_id of a partner already in the directory")
		case !ValidID(rec.PartnerID):
			m.reason(path+".organization_id", "must be 1 to 64 letters, digits, - or _")
		}
	}

	d := m.service(path, &s)
	d.PartnerId, d.HsdsServiceId = rec.PartnerID, rec.HSDSID
	if closed {
		// Still in the directory, but a link worker must see it first.
		d.Alert = strings.TrimSpace("Temporarily closed. " + d.Alert)
	}
	if at != nil {
		if l := m.salLocation(at); l != nil {
			d.Locations = append(d.Locations, l)
		}
	}
	for _, fe := range ValidateService(d) {
		if fe.Field == "partner_id" || fe.Field == "hsds_service_id" {
			continue // reported above, at the organization and id
		}
		m.reason(path+"."+hsdsField(fe.Field), fe.Reason)
	}
	rec.Dropped = m.dropped
	if len(m.reasons) > 0 {
		return skipped(rec, m.reasons...)
	}
	rec.ServiceID = ServiceIDFor(rec.HSDSID)
	rec.Service = d
	return rec
}

// hsdsField names a field of ServiceDetails as HSDS names it, for paths.
func hsdsField(f string) string {
	for _, r := range [][2]string{{"eligibility.description", "eligibility_description"}, {"eligibility.min_age", "minimum_age"},
		{"eligibility.max_age", "maximum_age"}, {"eligibility.postcode_districts", "service_areas"}, {"taxonomy_terms", "attributes"},
		{"contact.email", "email"}, {"contact.url", "url"}, {"contact.phones", "phones"}, {"contact", "contacts"}, {"locations", "service_at_locations"}} {
		if rest, ok := strings.CutPrefix(f, r[0]); ok {
			return r[1] + rest
		}
	}
	return f
}

// mapPartner maps an organization to a partner, with every problem.
func mapPartner(path string, o *hsdsOrg) (p *pathwayv1.PartnerRegistered, reasons, dropped []Problem) {
	var m mapper
	id := strings.TrimSpace(string(o.ID))
	if !ValidID(id) {
		m.reason(path+".id", "the organization id must be 1 to 64 letters, digits, - or _")
	}
	web := firstNonEmpty(o.Website, o.URL)
	reg := firstNonEmpty(string(o.CharityNumber), string(o.CompanyNumber))
	p = &pathwayv1.PartnerRegistered{Name: strings.TrimSpace(o.Name), Description: strings.TrimSpace(o.Description), HsdsOrganizationId: id,
		Contact: &pathwayv1.ContactPoint{Email: strings.TrimSpace(o.Email), Url: web, Phones: m.phones(path+".phones", o.Phones)}}
	for i, oi := range o.Identifiers {
		ident := &pathwayv1.OrganizationIdentifier{Scheme: strings.TrimSpace(oi.Scheme), Type: strings.TrimSpace(oi.Type), Identifier: strings.TrimSpace(string(oi.Identifier))}
		var e fieldErrs
		e.line("identifier", ident.GetIdentifier(), 50)
		e.line("identifier_scheme", ident.GetScheme(), 50)
		e.line("identifier_type", ident.GetType(), 100)
		if ident.GetIdentifier() == "" {
			e.add("identifier", "is empty")
		}
		if m.drop(fmt.Sprintf("%s.organization_identifiers[%d]", path, i), e) || len(p.Identifiers) == 10 {
			continue
		}
		p.Identifiers = append(p.Identifiers, ident)
		if reg == "" && (ident.Scheme == "GB-CHC" || ident.Scheme == "GB-SC" || ident.Scheme == "GB-NIC" || ident.Scheme == "GB-COH") {
			reg = ident.Identifier
		}
	}
	p.RegistrationNumber = reg
	if len(p.Contact.Phones) > 0 {
		p.Contact.Phone = p.Contact.Phones[0].GetNumber()
	}
	for _, fe := range ValidatePartner(p) {
		if fe.Field == "hsds_organization_id" {
			continue
		}
		f := strings.NewReplacer("contact.url", "website", "contact.email", "email", "contact.phones", "phones", "registration_number", "charity_number").Replace(fe.Field)
		m.reason(path+"."+f, fe.Reason)
	}
	return p, m.reasons, m.dropped
}

// mapper gathers the reasons a record is skipped and the parts dropped.
type mapper struct {
	reasons []Problem
	dropped []Problem
}

func (m *mapper) reason(path, r string) { m.reasons = append(m.reasons, Problem{path, r}) }

// drop records the field errors of a part at path as dropped, and
// reports whether there were any.
func (m *mapper) drop(path string, errs []kernel.FieldError) bool {
	for _, fe := range errs {
		p := path
		if fe.Field != "" {
			p += "." + fe.Field
		}
		m.dropped = append(m.dropped, Problem{p, fe.Reason + " (left out)"})
	}
	return len(errs) > 0
}

// phones normalises phone numbers, dropping those that are not.
func (m *mapper) phones(path string, ps []hsdsPhone) []*pathwayv1.Phone {
	var out []*pathwayv1.Phone
	for i, p := range ps {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(string(p.Number)) == "" {
			continue
		}
		num, ext, reason := NormalisePhone(string(p.Number), string(p.Extension))
		if reason != "" {
			m.dropped = append(m.dropped, Problem{pp + ".number", fmt.Sprintf("%q %s (left out)", clip(string(p.Number), 40), reason)})
			continue
		}
		ph := &pathwayv1.Phone{Number: num, Extension: ext, Type: strings.ToLower(strings.TrimSpace(p.Type)), Description: strings.TrimSpace(p.Description)}
		for _, l := range p.Languages {
			if n := firstNonEmpty(l.Name, string(l.Code)); n != "" && len(ph.Languages) < 20 {
				ph.Languages = append(ph.Languages, n)
			}
		}
		var e fieldErrs
		e.phones("", []*pathwayv1.Phone{ph})
		if m.drop(pp, trimField(e, "[0].")) || len(out) == maxPhones {
			continue
		}
		out = append(out, ph)
	}
	return out
}

// trimField strips a prefix up to and including sep from field names.
func trimField(errs []kernel.FieldError, sep string) []kernel.FieldError {
	for i := range errs {
		if _, rest, ok := strings.Cut(errs[i].Field, sep); ok {
			errs[i].Field = rest
		}
	}
	return errs
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// service maps the directory fields of a service.
func (m *mapper) service(path string, s *hsdsService) *pathwayv1.ServiceDetails {
	d := &pathwayv1.ServiceDetails{Name: strings.TrimSpace(s.Name), AlternateName: strings.TrimSpace(s.AlternateName), Description: strings.TrimSpace(s.Description),
		Contact:         &pathwayv1.ContactPoint{Email: strings.TrimSpace(s.Email), Url: strings.TrimSpace(s.URL), Phones: m.phones(path+".phones", s.Phones)},
		Eligibility:     &pathwayv1.Eligibility{Description: strings.TrimSpace(s.EligibilityDesc)},
		FeesDescription: strings.TrimSpace(firstNonEmpty(s.FeesDescription, s.Fees)), ApplicationProcess: strings.TrimSpace(s.ApplicationProcess),
		InterpretationServices: strings.TrimSpace(s.Interpretation), WaitTime: strings.TrimSpace(s.WaitTime), Alert: strings.TrimSpace(s.Alert)}
	if len(d.Contact.Phones) > 0 {
		d.Contact.Phone = d.Contact.Phones[0].GetNumber()
	}
	for i, c := range s.Contacts {
		cp := fmt.Sprintf("%s.contacts[%d]", path, i)
		ct := &pathwayv1.Contact{Name: strings.TrimSpace(c.Name), Title: strings.TrimSpace(c.Title), Department: strings.TrimSpace(c.Department),
			Email: strings.TrimSpace(c.Email), Phones: m.phones(cp+".phones", c.Phones)}
		if ct.Name == "" && ct.Title == "" && ct.Email == "" && len(ct.Phones) == 0 {
			continue
		}
		var e fieldErrs
		e.line("name", ct.GetName(), maxLine)
		e.line("title", ct.GetTitle(), maxLine)
		e.line("department", ct.GetDepartment(), maxLine)
		e.email("email", ct.GetEmail())
		if m.drop(cp, e) || len(d.Contacts) == maxContacts {
			continue
		}
		d.Contacts = append(d.Contacts, ct)
		if d.Contact.Name == "" {
			d.Contact.Name = ct.Name
		}
		if d.Contact.Email == "" {
			d.Contact.Email = ct.Email
		}
		if d.Contact.Phone == "" && len(ct.Phones) > 0 {
			d.Contact.Phone = ct.Phones[0].GetNumber()
		}
	}

	minAge, maxAge := s.MinimumAge, s.MaximumAge
	minPath, maxPath := path+".minimum_age", path+".maximum_age"
	for i, e := range s.Eligibilitys {
		if !minAge.set {
			minAge, minPath = e.MinimumAge, fmt.Sprintf("%s.eligibilitys[%d].minimum_age", path, i)
		}
		if !maxAge.set {
			maxAge, maxPath = e.MaximumAge, fmt.Sprintf("%s.eligibilitys[%d].maximum_age", path, i)
		}
		if d.Eligibility.Description == "" {
			d.Eligibility.Description = strings.TrimSpace(e.Eligibility)
		}
	}
	for _, a := range []struct {
		v    flexNumber
		path string
		p    *uint32
	}{{minAge, minPath, &d.Eligibility.MinAge}, {maxAge, maxPath, &d.Eligibility.MaxAge}} {
		switch {
		case a.v.bad:
			m.reason(a.path, "must be a number")
		case !a.v.set:
		case a.v.v < 0 || a.v.v > 130 || a.v.v != float64(int(a.v.v)):
			m.reason(a.path, "must be a whole number of years, 0 to 130")
		default:
			*a.p = uint32(a.v.v)
		}
	}
	if d.Eligibility.MaxAge != 0 && d.Eligibility.MinAge > d.Eligibility.MaxAge {
		m.reason(minPath, "must not be above maximum_age")
		d.Eligibility.MinAge = 0
	}

	for i, area := range s.ServiceAreas {
		ap := fmt.Sprintf("%s.service_areas[%d]", path, i)
		name := strings.TrimSpace(area.Name)
		if n := strings.ToUpper(name); districtRe.MatchString(n) {
			if !slices.Contains(d.Eligibility.PostcodeDistricts, n) && len(d.Eligibility.PostcodeDistricts) < 100 {
				d.Eligibility.PostcodeDistricts = append(d.Eligibility.PostcodeDistricts, n)
			}
			continue
		}
		for _, text := range []string{name, strings.TrimSpace(area.Description), strings.TrimSpace(area.ServiceArea)} {
			if text == "" || slices.Contains(d.ServiceAreas, text) {
				continue
			}
			var e fieldErrs
			e.prose("", text, maxProse)
			if m.drop(ap, e) || len(d.ServiceAreas) == maxAreas {
				continue
			}
			d.ServiceAreas = append(d.ServiceAreas, text)
		}
	}

	type term struct {
		hsdsTerm
		from string
		at   int
	}
	var terms []term
	for i, a := range s.Attributes {
		if a.TaxonomyTerm != nil {
			terms = append(terms, term{*a.TaxonomyTerm, "attributes", i})
		}
	}
	for i, t := range s.ServiceTaxonomys {
		if t.Taxonomy != nil {
			terms = append(terms, term{*t.Taxonomy, "service_taxonomys", i})
		}
	}
	for i, t := range s.TaxonomyTermsInline {
		terms = append(terms, term{t, "taxonomy_terms", i})
	}
	for _, t := range terms {
		label := firstNonEmpty(t.Name, t.Term, string(t.Code))
		if label == "" || slices.Contains(d.TaxonomyTerms, label) || len(d.TaxonomyTerms) == 50 {
			continue
		}
		var e fieldErrs
		e.line("name", label, maxLine)
		if m.drop(fmt.Sprintf("%s.%s[%d]", path, t.from, t.at), e) {
			continue
		}
		d.TaxonomyTerms = append(d.TaxonomyTerms, label)
	}
	d.Needs = NeedsFor(append(slices.Clone(d.TaxonomyTerms), d.Name))

	d.Schedules = m.schedules(path+".schedules", s.Schedules)
	d.Languages = m.languages(path+".languages", s.Languages)
	for i, c := range s.CostOptions {
		co := &pathwayv1.CostOption{Option: strings.TrimSpace(c.Option), Amount: string(c.Amount), Currency: strings.ToUpper(strings.TrimSpace(c.Currency)),
			AmountDescription: strings.TrimSpace(c.AmountDescription), ValidFrom: date(c.ValidFrom), ValidTo: date(c.ValidTo)}
		d2 := &pathwayv1.ServiceDetails{CostOptions: []*pathwayv1.CostOption{co}}
		if m.drop(fmt.Sprintf("%s.cost_options[%d]", path, i), trimField(validateExtra(d2), "].")) || len(d.CostOptions) == maxCostOptions {
			continue
		}
		d.CostOptions = append(d.CostOptions, co)
	}
	for i, doc := range s.RequiredDocuments {
		text := strings.TrimSpace(firstNonEmpty(doc.Document, doc.Name))
		if text == "" {
			continue
		}
		var e fieldErrs
		e.prose("", text, maxProse)
		if m.drop(fmt.Sprintf("%s.required_documents[%d]", path, i), e) || len(d.RequiredDocuments) == maxDocuments {
			continue
		}
		d.RequiredDocuments = append(d.RequiredDocuments, text)
	}
	for i, sal := range s.ServiceAtLocations {
		if l := m.salLocation(&salAt{path: fmt.Sprintf("%s.service_at_locations[%d]", path, i), sal: &sal}); l != nil && len(d.Locations) < 50 {
			d.Locations = append(d.Locations, l)
		}
	}
	return d
}

func date(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 10 && s[10] == 'T' {
		return s[:10]
	}
	return s
}

// schedules maps schedules, dropping those that are wrong.
func (m *mapper) schedules(path string, ss []hsdsSchedule) []*pathwayv1.Schedule {
	var out []*pathwayv1.Schedule
	for i, s := range ss {
		sp := fmt.Sprintf("%s[%d]", path, i)
		sc := &pathwayv1.Schedule{Freq: strings.ToUpper(strings.TrimSpace(string(s.Freq))), ValidFrom: date(s.ValidFrom), ValidTo: date(s.ValidTo),
			OpensAt: hhmm(string(s.OpensAt)), ClosesAt: hhmm(string(s.ClosesAt)), Description: strings.TrimSpace(s.Description), Notes: strings.TrimSpace(s.Notes),
			AttendingType: strings.TrimSpace(s.AttendingType), ScheduleLink: strings.TrimSpace(s.ScheduleLink)}
		var e fieldErrs
		if s.Interval.bad || s.Interval.v < 0 || s.Interval.v > 52 || s.Interval.v != float64(int(s.Interval.v)) {
			e.add("interval", "must be a whole number 1 to 52")
		} else {
			sc.Interval = uint32(s.Interval.v)
		}
		for _, d := range splitList(string(s.Byday)) {
			sc.Byday = append(sc.Byday, strings.ToUpper(d))
		}
		for _, d := range splitList(string(s.Bymonthday)) {
			var n int32
			if _, err := fmt.Sscan(d, &n); err != nil {
				e.add("bymonthday", "must be days of the month, such as 1,15")
				break
			}
			sc.Bymonthday = append(sc.Bymonthday, n)
		}
		if sc.Freq == "" && len(sc.Byday) == 0 && sc.OpensAt == "" && sc.Description == "" && sc.Notes == "" {
			continue
		}
		e.schedule("", sc)
		if m.drop(sp, trimField(e, ".")) || len(out) == maxSchedules {
			continue
		}
		out = append(out, sc)
	}
	return out
}

// hhmm reads an HSDS time ("10:00:00", "10:00", "10:00:00Z") as HH:MM.
func hhmm(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 5 && s[2] == ':' && (len(s) == 5 || s[5] == ':' || s[5] == 'Z' || s[5] == '+' || s[5] == '-') {
		return s[:5]
	}
	if len(s) == 4 && s[1] == ':' {
		return "0" + s
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// languages maps languages, dropping those without a name or code.
func (m *mapper) languages(path string, ls []hsdsLanguage) []*pathwayv1.Language {
	var out []*pathwayv1.Language
	for i, l := range ls {
		lg := &pathwayv1.Language{Name: strings.TrimSpace(l.Name), Code: strings.ToLower(strings.TrimSpace(string(l.Code))), Note: strings.TrimSpace(l.Note)}
		if lg.Name == "" && lg.Code == "" {
			if string(l.Language) != "" { // the older form: {"language": "English"}
				lg.Name = strings.TrimSpace(string(l.Language))
			}
		}
		var e fieldErrs
		e.language("", lg)
		if m.drop(fmt.Sprintf("%s[%d]", path, i), trimField(e, ".")) || len(out) == maxLanguages || slices.ContainsFunc(out, func(o *pathwayv1.Language) bool {
			return o.Name == lg.Name && o.Code == lg.Code
		}) {
			continue
		}
		out = append(out, lg)
	}
	return out
}

// salLocation maps the location of a service_at_location, with the
// record's own schedules and phones; nil, with what was wrong dropped,
// when the location cannot be kept.
func (m *mapper) salLocation(at *salAt) *pathwayv1.Location {
	l := at.sal.Location
	if l == nil {
		return nil
	}
	lp := at.path + ".location"
	loc := &pathwayv1.Location{Name: strings.TrimSpace(l.Name), Description: strings.TrimSpace(l.Description), HsdsLocationId: strings.TrimSpace(string(l.ID)),
		LocationType: strings.ToLower(strings.TrimSpace(l.LocationType)), Transportation: strings.TrimSpace(l.Transportation)}
	var e fieldErrs
	for _, c := range []struct {
		name string
		v    flexNumber
		p    *float64
	}{{"latitude", l.Latitude, &loc.Latitude}, {"longitude", l.Longitude, &loc.Longitude}} {
		if c.v.bad {
			e.add(c.name, "must be a number")
		}
		*c.p = c.v.v
	}
	// The physical address is where the service is; a postal address is
	// only where to write.
	type addr struct {
		a    hsdsAddress
		path string
	}
	var physical, postal *addr
	for i, a := range l.Addresses {
		ap := fmt.Sprintf("addresses[%d]", i)
		switch t := strings.ToLower(strings.TrimSpace(a.AddressType)); {
		case t == "postal" && postal == nil:
			postal = &addr{a, ap}
		case (t == "" || t == "physical") && physical == nil:
			physical = &addr{a, ap}
		}
	}
	for i, a := range l.PhysicalAddresses {
		if physical == nil {
			physical = &addr{a, fmt.Sprintf("physical_addresses[%d]", i)}
		}
	}
	for i, a := range l.PostalAddresses {
		if postal == nil {
			postal = &addr{a, fmt.Sprintf("postal_addresses[%d]", i)}
		}
	}
	country := func(c string) string {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "UK" || c == "GBR" {
			return "GB"
		}
		return c
	}
	fieldPath := map[string]string{}
	if physical != nil {
		a := physical.a
		loc.Address, loc.Address_2, loc.City = strings.TrimSpace(a.Address1), strings.TrimSpace(a.Address2), strings.TrimSpace(a.City)
		loc.Region, loc.Country = strings.TrimSpace(firstNonEmpty(a.Region, a.StateProvince)), country(a.Country)
		loc.Postcode = strings.TrimSpace(a.PostalCode)
		if normalisedPostcode(loc.Postcode) != "" {
			loc.Postcode = normalisedPostcode(loc.Postcode)
		}
		for k, v := range map[string]string{"address": "address_1", "address_2": "address_2", "city": "city", "region": "region", "country": "country", "postcode": "postal_code"} {
			fieldPath[k] = physical.path + "." + v
		}
	}
	if postal != nil {
		a := postal.a
		pa := &pathwayv1.Address{Address_1: strings.TrimSpace(a.Address1), Address_2: strings.TrimSpace(a.Address2), City: strings.TrimSpace(a.City),
			Region: strings.TrimSpace(firstNonEmpty(a.Region, a.StateProvince)), Country: country(a.Country), Postcode: strings.TrimSpace(a.PostalCode)}
		if normalisedPostcode(pa.Postcode) != "" {
			pa.Postcode = normalisedPostcode(pa.Postcode)
		}
		loc.PostalAddress = pa
		for k, v := range map[string]string{"address_1": "address_1", "address_2": "address_2", "city": "city", "region": "region", "country": "country", "postcode": "postal_code"} {
			fieldPath["postal_address."+k] = postal.path + "." + v
		}
	}
	for i, a := range l.Accessibility {
		ac := &pathwayv1.Accessibility{Description: strings.TrimSpace(firstNonEmpty(a.Description, a.Accessibility)), Details: strings.TrimSpace(a.Details), Url: strings.TrimSpace(a.URL)}
		if ac.Description == "" && ac.Details == "" {
			continue
		}
		var ae fieldErrs
		ae.prose("description", ac.Description, maxProse)
		ae.prose("details", ac.Details, maxProse)
		ae.url("url", ac.Url)
		if m.drop(fmt.Sprintf("%s.accessibility[%d]", lp, i), ae) || len(loc.Accessibility) == maxAccess {
			continue
		}
		loc.Accessibility = append(loc.Accessibility, ac)
	}
	loc.Schedules = m.schedules(lp+".schedules", l.Schedules)
	for _, sc := range m.schedules(at.path+".schedules", at.sal.Schedules) {
		if !slices.ContainsFunc(loc.Schedules, func(o *pathwayv1.Schedule) bool { return proto.Equal(o, sc) }) {
			loc.Schedules = append(loc.Schedules, sc) // the same session may be on both
		}
	}
	loc.Languages = m.languages(lp+".languages", l.Languages)
	loc.Phones = m.phones(lp+".phones", l.Phones)
	for _, ph := range m.phones(at.path+".phones", at.sal.Phones) {
		if !slices.ContainsFunc(loc.Phones, func(o *pathwayv1.Phone) bool { return proto.Equal(o, ph) }) {
			loc.Phones = append(loc.Phones, ph)
		}
	}
	if len(loc.Schedules) > maxSchedules {
		loc.Schedules = loc.Schedules[:maxSchedules]
	}
	if len(loc.Phones) > maxPhones {
		loc.Phones = loc.Phones[:maxPhones]
	}
	problems := append([]kernel.FieldError(e), locationProblems("", loc)...)
	if len(problems) == 0 {
		return loc
	}
	name := loc.Name
	if name == "" {
		name = loc.HsdsLocationId
	}
	for _, fe := range problems {
		f := strings.TrimPrefix(fe.Field, ".")
		if p, ok := fieldPath[f]; ok {
			f = p
		}
		m.dropped = append(m.dropped, Problem{lp + "." + f, fe.Reason + fmt.Sprintf(" (location %q left out)", clip(name, 60))})
	}
	return nil
}

// normalisedPostcode is a UK postcode in its standard form ("TS1 3BA"),
// or "" when s is not one.
func normalisedPostcode(s string) string {
	n := referral.NormalisePostcode(s)
	if !referral.ValidPostcode(n) {
		return ""
	}
	return n
}

// isTabular reports whether an object is the tabular form of HSDS: one
// array of rows per CSV table ("services.csv": [...]).
func isTabular(top map[string]json.RawMessage) bool {
	for k := range top {
		if strings.HasSuffix(k, ".csv") {
			return true
		}
	}
	return false
}

type row = map[string]any

// nestTabular joins the tables of the tabular form into services with
// their organization, locations and the rest nested, as the API publishes
// them: a row of a table belongs to each record its foreign keys name
// (service_id, location_id, organization_id, contact_id,
// service_at_location_id; an attribute's link_id). An organization with
// no services is kept as an organization. A table that is not an array of
// objects is reported and left out.
func nestTabular(top map[string]json.RawMessage) ([]item, []Problem) {
	var probs []Problem
	tables := map[string][]row{}
	for k, raw := range top {
		var rows []row
		if err := json.Unmarshal(raw, &rows); err != nil {
			probs = append(probs, Problem{fmt.Sprintf("$[%q]", k), "not a table (an array of rows): " + jsonReason(err) + " (left out)"})
			continue
		}
		tables[strings.TrimSuffix(k, ".csv")] = rows
	}
	str := func(r row, k string) string {
		switch v := r[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	// of lists the rows of table whose column key is id, by an index of
	// the column made on first use (so a large file joins in linear time).
	index := map[[2]string]map[string][]row{}
	of := func(table, key, id string) []any {
		out := []any{}
		if id == "" {
			return out
		}
		ix, ok := index[[2]string{table, key}]
		if !ok {
			ix = map[string][]row{}
			for _, r := range tables[table] {
				if v := str(r, key); v != "" {
					ix[v] = append(ix[v], r)
				}
			}
			index[[2]string{table, key}] = ix
		}
		for _, r := range ix[id] {
			out = append(out, maps.Clone(r))
		}
		return out
	}
	byID := func(table, id string) row {
		if rows := of(table, "id", id); len(rows) > 0 {
			return rows[0].(row)
		}
		return nil
	}
	withPhones := func(key, id string) []any {
		ps := of("phones", key, id)
		for _, p := range ps {
			p.(row)["languages"] = of("languages", "phone_id", str(p.(row), "id"))
		}
		return ps
	}
	location := func(id string) row {
		l := byID("locations", id)
		if l == nil {
			return nil
		}
		n := maps.Clone(l)
		n["addresses"], n["accessibility"], n["languages"] = of("addresses", "location_id", id), of("accessibility", "location_id", id), of("languages", "location_id", id)
		n["phones"], n["schedules"] = withPhones("location_id", id), of("schedules", "location_id", id)
		return n
	}
	organization := func(id string) row {
		o := byID("organizations", id)
		if o == nil {
			return nil
		}
		n := maps.Clone(o)
		n["organization_identifiers"], n["phones"] = of("organization_identifiers", "organization_id", id), withPhones("organization_id", id)
		return n
	}
	var items []item
	withServices := map[string]bool{}
	for i, svc := range tables["services"] {
		id := str(svc, "id")
		n := maps.Clone(svc)
		orgID := str(svc, "organization_id")
		if o := organization(orgID); o != nil {
			n["organization"] = o
			withServices[orgID] = true
		}
		n["phones"], n["schedules"], n["languages"] = withPhones("service_id", id), of("schedules", "service_id", id), of("languages", "service_id", id)
		n["service_areas"], n["required_documents"], n["cost_options"] = of("service_areas", "service_id", id), of("required_documents", "service_id", id), of("cost_options", "service_id", id)
		contacts := of("contacts", "service_id", id)
		for _, c := range contacts {
			c.(row)["phones"] = withPhones("contact_id", str(c.(row), "id"))
		}
		n["contacts"] = contacts
		var attrs []any
		for _, a := range of("attributes", "link_id", id) {
			if t := byID("taxonomy_terms", str(a.(row), "taxonomy_term_id")); t != nil {
				attrs = append(attrs, row{"taxonomy_term": t})
			}
		}
		n["attributes"] = attrs
		var sals []any
		for _, sal := range of("service_at_location", "service_id", id) {
			salID := str(sal.(row), "id")
			if l := location(str(sal.(row), "location_id")); l != nil {
				sals = append(sals, row{"id": salID, "location": l, "schedules": of("schedules", "service_at_location_id", salID),
					"phones": withPhones("service_at_location_id", salID)})
			}
		}
		n["service_at_locations"] = sals
		raw, err := json.Marshal(n)
		if err != nil {
			probs = append(probs, Problem{fmt.Sprintf(`$["services.csv"][%d]`, i), "cannot be read (left out)"})
			continue
		}
		items = append(items, item{path: fmt.Sprintf(`$["services.csv"][%d]`, i), raw: raw})
	}
	for i, o := range tables["organizations"] {
		if withServices[str(o, "id")] {
			continue
		}
		raw, err := json.Marshal(organization(str(o, "id")))
		if err != nil {
			continue
		}
		items = append(items, item{path: fmt.Sprintf(`$["organizations.csv"][%d]`, i), raw: raw})
	}
	return items, probs
}
