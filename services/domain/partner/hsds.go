package partner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Record is one service of an HSDS import, mapped onto the directory: the
// partner that runs it and its details. Skip is set, with the reason, for
// a record that cannot be imported; the other fields may then be empty.
type Record struct {
	// Index is the record's position in the file, from 0.
	Index int
	// HSDSID is the record's HSDS service id ("" when it has none).
	HSDSID string
	// ServiceID is the service's aggregate id, derived from HSDSID, so a
	// second import of the same record updates the same service.
	ServiceID string
	Partner   *pathwayv1.PartnerRegistered
	Service   *pathwayv1.ServiceDetails
	Skip      string
}

// hsdsService is the part of an HSDS 3.0 service record (and of the older
// Open Referral UK form) that the directory keeps.
type hsdsService struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Description         string          `json:"description"`
	URL                 string          `json:"url"`
	Email               string          `json:"email"`
	Status              string          `json:"status"`
	MinimumAge          *float64        `json:"minimum_age"`
	MaximumAge          *float64        `json:"maximum_age"`
	EligibilityDesc     string          `json:"eligibility_description"`
	OrganizationID      string          `json:"organization_id"`
	Organization        *hsdsOrg        `json:"organization"`
	Phones              []hsdsPhone     `json:"phones"`
	Contacts            []hsdsContact   `json:"contacts"`
	ServiceAtLocations  []hsdsSAL       `json:"service_at_locations"`
	Attributes          []hsdsAttribute `json:"attributes"`
	ServiceTaxonomys    []hsdsOldTaxon  `json:"service_taxonomys"`
	Eligibilitys        []hsdsOldElig   `json:"eligibilitys"`
	ServiceAreas        []hsdsArea      `json:"service_areas"`
	TaxonomyTermsInline []hsdsTerm      `json:"taxonomy_terms"`
}

type hsdsOrg struct {
	ID                 string      `json:"id"`
	Name               string      `json:"name"`
	Description        string      `json:"description"`
	Email              string      `json:"email"`
	Website            string      `json:"website"`
	URL                string      `json:"url"`
	LegalStatus        string      `json:"legal_status"`
	RegistrationNumber string      `json:"charity_number"`
	CompanyNumber      string      `json:"company_number"`
	Phones             []hsdsPhone `json:"phones"`
}

type hsdsPhone struct {
	Number string `json:"number"`
}

type hsdsContact struct {
	Name   string      `json:"name"`
	Email  string      `json:"email"`
	Phones []hsdsPhone `json:"phones"`
}

type hsdsSAL struct {
	Location *hsdsLocation `json:"location"`
}

type hsdsLocation struct {
	Name              string        `json:"name"`
	Latitude          float64       `json:"latitude"`
	Longitude         float64       `json:"longitude"`
	Addresses         []hsdsAddress `json:"addresses"`
	PhysicalAddresses []hsdsAddress `json:"physical_addresses"`
}

type hsdsAddress struct {
	Address1   string `json:"address_1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
}

type hsdsAttribute struct {
	TaxonomyTerm *hsdsTerm `json:"taxonomy_term"`
}

type hsdsTerm struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Term string `json:"term"`
}

type hsdsOldTaxon struct {
	Taxonomy *hsdsTerm `json:"taxonomy"`
}

type hsdsOldElig struct {
	Eligibility string   `json:"eligibility"`
	MinimumAge  *float64 `json:"minimum_age"`
	MaximumAge  *float64 `json:"maximum_age"`
}

type hsdsArea struct {
	Name string `json:"name"`
}

// MaxImportRecords bounds one import.
const MaxImportRecords = 10_000

// ParseHSDS reads an HSDS 3.0 import: a JSON array of service records with
// their organization nested, or the paged {"contents": [...]} form the
// Open Referral UK API returns. It maps every record it can and marks the
// rest skipped with a reason; the error is for a file that is not one of
// the two forms at all.
func ParseHSDS(data []byte) ([]Record, error) {
	data = bytes.TrimSpace(data)
	var raw []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, ErrInvalid.Errorf("not a JSON array of HSDS services: %v", jsonReason(err))
		}
	case len(data) > 0 && data[0] == '{':
		var page struct {
			Contents *[]json.RawMessage `json:"contents"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, ErrInvalid.Errorf("not an HSDS page: %v", jsonReason(err))
		}
		if page.Contents == nil {
			return nil, ErrInvalid.Errorf("a JSON object must be an HSDS page with a \"contents\" array of services")
		}
		raw = *page.Contents
	default:
		return nil, ErrInvalid.Errorf("want a JSON array of HSDS services or a page {\"contents\": [...]}")
	}
	if len(raw) > MaxImportRecords {
		return nil, ErrInvalid.Errorf("%d records; at most %d in one import", len(raw), MaxImportRecords)
	}
	out := make([]Record, len(raw))
	first := map[string]int{}
	for i, r := range raw {
		out[i] = mapRecord(i, r)
		if out[i].Skip != "" {
			continue
		}
		if j, dup := first[out[i].HSDSID]; dup {
			out[i] = Record{Index: i, HSDSID: out[i].HSDSID, Skip: fmt.Sprintf("id: the same HSDS id as record %d", j)}
			continue
		}
		first[out[i].HSDSID] = i
	}
	return out, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	return "unexpected JSON structure"
}

// serviceNamespace derives service ids from HSDS service ids.
var serviceNamespace = uuid.MustParse("6f1c2a5e-8a4b-5d7e-9c3f-2b1a0e9d8c7b")

// ServiceIDFor is the aggregate id of the service with HSDS id hsdsID.
func ServiceIDFor(hsdsID string) string {
	return uuid.NewSHA1(serviceNamespace, []byte(hsdsID)).String()
}

func mapRecord(i int, raw json.RawMessage) Record {
	rec := Record{Index: i}
	var s hsdsService
	if err := json.Unmarshal(raw, &s); err != nil {
		rec.Skip = "not an HSDS service record: " + jsonReason(err)
		return rec
	}
	rec.HSDSID = strings.TrimSpace(s.ID)
	if rec.HSDSID == "" || len(rec.HSDSID) > 200 {
		rec.Skip = "id: every service needs an HSDS id (at most 200 characters)"
		return rec
	}
	switch strings.ToLower(s.Status) {
	case "inactive", "defunct":
		rec.Skip = "status: the service is " + strings.ToLower(s.Status)
		return rec
	}
	orgID := s.OrganizationID
	if s.Organization != nil && s.Organization.ID != "" {
		orgID = s.Organization.ID
	}
	if s.Organization == nil {
		rec.Skip = "organization: the service's organization must be nested in the record"
		return rec
	}
	if !ValidID(orgID) {
		rec.Skip = "organization.id: must be 1 to 64 letters, digits, - or _"
		return rec
	}
	rec.ServiceID = ServiceIDFor(rec.HSDSID)
	org := s.Organization
	web := org.Website
	if web == "" {
		web = org.URL
	}
	reg := org.RegistrationNumber
	if reg == "" {
		reg = org.CompanyNumber
	}
	rec.Partner = &pathwayv1.PartnerRegistered{Name: strings.TrimSpace(org.Name), Description: org.Description, HsdsOrganizationId: orgID,
		Contact: &pathwayv1.ContactPoint{Email: org.Email, Url: web, Phone: firstPhone(org.Phones)}, RegistrationNumber: reg}
	if errs := ValidatePartner(rec.Partner); len(errs) > 0 {
		rec.Skip = "organization." + errs[0].Field + ": " + errs[0].Reason
		return rec
	}

	d := &pathwayv1.ServiceDetails{PartnerId: orgID, Name: strings.TrimSpace(s.Name), Description: s.Description, HsdsServiceId: rec.HSDSID,
		Contact: &pathwayv1.ContactPoint{Email: s.Email, Url: s.URL, Phone: firstPhone(s.Phones)}, Eligibility: &pathwayv1.Eligibility{Description: s.EligibilityDesc}}
	if len(s.Contacts) > 0 {
		c := s.Contacts[0]
		d.Contact.Name = c.Name
		if d.Contact.Email == "" {
			d.Contact.Email = c.Email
		}
		if d.Contact.Phone == "" {
			d.Contact.Phone = firstPhone(c.Phones)
		}
	}
	minAge, maxAge := s.MinimumAge, s.MaximumAge
	for _, e := range s.Eligibilitys {
		if minAge == nil {
			minAge = e.MinimumAge
		}
		if maxAge == nil {
			maxAge = e.MaximumAge
		}
		if d.Eligibility.Description == "" {
			d.Eligibility.Description = e.Eligibility
		}
	}
	for _, a := range []struct {
		v *float64
		p *uint32
	}{{minAge, &d.Eligibility.MinAge}, {maxAge, &d.Eligibility.MaxAge}} {
		if a.v != nil {
			if *a.v < 0 || *a.v > 130 {
				rec.Skip = "minimum_age and maximum_age must be 0 to 130"
				return rec
			}
			*a.p = uint32(*a.v)
		}
	}
	for _, area := range s.ServiceAreas {
		if n := strings.ToUpper(strings.TrimSpace(area.Name)); districtRe.MatchString(n) {
			d.Eligibility.PostcodeDistricts = append(d.Eligibility.PostcodeDistricts, n)
		}
	}
	var terms []hsdsTerm
	for _, a := range s.Attributes {
		if a.TaxonomyTerm != nil {
			terms = append(terms, *a.TaxonomyTerm)
		}
	}
	for _, t := range s.ServiceTaxonomys {
		if t.Taxonomy != nil {
			terms = append(terms, *t.Taxonomy)
		}
	}
	terms = append(terms, s.TaxonomyTermsInline...)
	for _, t := range terms {
		label := firstNonEmpty(t.Name, t.Term, t.Code)
		if label != "" && !slices.Contains(d.TaxonomyTerms, label) && len(d.TaxonomyTerms) < 50 {
			d.TaxonomyTerms = append(d.TaxonomyTerms, label)
		}
	}
	d.Needs = NeedsFor(append(slices.Clone(d.TaxonomyTerms), d.Name))
	for _, sal := range s.ServiceAtLocations {
		l := sal.Location
		if l == nil {
			continue
		}
		loc := &pathwayv1.Location{Name: l.Name, Latitude: l.Latitude, Longitude: l.Longitude}
		for _, a := range append(l.Addresses, l.PhysicalAddresses...) {
			loc.Address = strings.Trim(strings.Join([]string{a.Address1, a.City}, ", "), ", ")
			if a.PostalCode != "" {
				loc.Postcode = referral.NormalisePostcode(a.PostalCode)
			}
			break
		}
		d.Locations = append(d.Locations, loc)
	}
	if errs := ValidateService(d); len(errs) > 0 {
		rec.Skip = errs[0].Field + ": " + errs[0].Reason
		return rec
	}
	rec.Service = d
	return rec
}

func firstPhone(ps []hsdsPhone) string {
	for _, p := range ps {
		if p.Number != "" {
			return p.Number
		}
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// needWords maps words in taxonomy terms and service names to needs. A
// word ending in * matches any word it starts ("lonel*" finds "lonely" and
// "loneliness"); any other matches whole words only ("art" finds "art",
// not "heart" or "artificial"; "pain" not "painting").
var needWords = []struct {
	words []string
	need  pathwayv1.Need
}{
	{[]string{"lonel*", "isolat*", "befriend*", "social group*", "companion*", "friendship*", "lunch club*", "social activit*", "social prescrib*", "coffee morning*"}, pathwayv1.Need_NEED_LONELINESS},
	{[]string{"mental*", "wellbeing", "well-being", "anxiety", "anxious", "depress*", "peer support", "talking therap*", "counselling", "stress"}, pathwayv1.Need_NEED_MENTAL_HEALTH},
	{[]string{"long-term condition*", "long term condition*", "diabet*", "copd", "arthritis", "pain", "chronic pain", "self-management", "self management", "stroke", "cardiac", "heart health"}, pathwayv1.Need_NEED_LONG_TERM_CONDITION},
	{[]string{"walk*", "exercise*", "physical activit*", "sport*", "fitness", "swim*", "danc*", "yoga", "cycling", "bowls"}, pathwayv1.Need_NEED_PHYSICAL_ACTIVITY},
	{[]string{"housing", "homeless*", "tenan*"}, pathwayv1.Need_NEED_HOUSING},
	{[]string{"debt*", "money", "financ*", "budget*"}, pathwayv1.Need_NEED_DEBT},
	{[]string{"benefit*", "welfare", "citizens advice"}, pathwayv1.Need_NEED_BENEFITS},
	{[]string{"employ*", "job*", "work skills", "volunteer*", "careers"}, pathwayv1.Need_NEED_EMPLOYMENT},
	{[]string{"carer*", "caring"}, pathwayv1.Need_NEED_CARING},
	{[]string{"bereave*", "grief", "grieving"}, pathwayv1.Need_NEED_BEREAVEMENT},
	{[]string{"food*", "meal*", "pantry", "pantries", "cooking"}, pathwayv1.Need_NEED_FOOD},
	{[]string{"alcohol*", "drug*", "substance*", "addiction*", "gambling"}, pathwayv1.Need_NEED_SUBSTANCE_USE},
	{[]string{"digital*", "computer*", "online", "internet"}, pathwayv1.Need_NEED_DIGITAL_INCLUSION},
	{[]string{"legal", "law centre", "solicitor*"}, pathwayv1.Need_NEED_LEGAL_ADVICE},
	{[]string{"art", "arts", "artist*", "craft*", "music*", "choir*", "singing", "creative*", "culture*", "cultural", "heritage", "museum*", "painting"}, pathwayv1.Need_NEED_ARTS_AND_CULTURE},
	{[]string{"garden*", "allotment*", "nature", "green space*", "outdoor*", "conservation"}, pathwayv1.Need_NEED_NATURE_AND_GARDENING},
	{[]string{"parent*", "famil*", "child*"}, pathwayv1.Need_NEED_PARENTING},
}

// NeedsFor maps free-text taxonomy terms to needs by the words they use
// (see needWords); NEED_OTHER when none matches.
func NeedsFor(terms []string) []pathwayv1.Need {
	var out []pathwayv1.Need
	for _, t := range terms {
		t = " " + strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return ' '
		}, strings.ToLower(t))), " ") + " "
		for _, nw := range needWords {
			for _, w := range nw.words {
				if matchesWord(t, w) && !slices.Contains(out, nw.need) {
					out = append(out, nw.need)
				}
			}
		}
	}
	if len(out) == 0 {
		return []pathwayv1.Need{pathwayv1.Need_NEED_OTHER}
	}
	slices.Sort(out)
	return out
}

// matchesWord reports whether the padded text t (" word word ") holds the
// keyword w: a whole word or phrase, or with a trailing * any word that
// starts with it.
func matchesWord(t, w string) bool {
	if stem, ok := strings.CutSuffix(w, "*"); ok {
		return strings.Contains(t, " "+stem)
	}
	return strings.Contains(t, " "+w+" ")
}
