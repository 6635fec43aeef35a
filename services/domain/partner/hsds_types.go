package partner

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// The parts of Open Referral UK / HSDS 3.0 records (and of the older
// Open Referral UK 1.0 form) that the directory keeps. Publishers write
// ids, extensions and numbers as text or as numbers; flexString and
// flexNumber take either, so one odd field is reported on its own rather
// than refusing the record.

// flexString is text, a number or a boolean as text; null is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case b[0] == '{' || b[0] == '[':
		*f = "" // not text; the field is treated as absent
	default:
		*f = flexString(string(b))
	}
	return nil
}

// flexNumber is a number, or a number written as text. bad is set when
// the field holds something else; set when it holds a number.
type flexNumber struct {
	v        float64
	set, bad bool
}

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*f = flexNumber{}
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			f.bad = true
			return nil
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		f.bad = true
		return nil
	}
	f.v, f.set = v, true
	return nil
}

// flexAmount is a money amount: a JSON number or numeric text, kept as
// the decimal text it was written as.
type flexAmount string

func (f *flexAmount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	switch {
	case len(b) == 0 || string(b) == "null":
	case b[0] == '"':
		_ = json.Unmarshal(b, &s)
	default:
		s = string(b)
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "£")
	if v, err := strconv.ParseFloat(s, 64); err == nil && s != "" && !strings.ContainsAny(s, "eE") {
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	*f = flexAmount(s)
	return nil
}

type hsdsService struct {
	ID                  flexString         `json:"id"`
	Name                string             `json:"name"`
	AlternateName       string             `json:"alternate_name"`
	Description         string             `json:"description"`
	URL                 string             `json:"url"`
	Email               string             `json:"email"`
	Status              flexString         `json:"status"`
	Interpretation      string             `json:"interpretation_services"`
	ApplicationProcess  string             `json:"application_process"`
	FeesDescription     string             `json:"fees_description"`
	Fees                string             `json:"fees"`
	WaitTime            string             `json:"wait_time"`
	Alert               string             `json:"alert"`
	MinimumAge          flexNumber         `json:"minimum_age"`
	MaximumAge          flexNumber         `json:"maximum_age"`
	EligibilityDesc     string             `json:"eligibility_description"`
	OrganizationID      flexString         `json:"organization_id"`
	Organization        *hsdsOrg           `json:"organization"`
	Phones              []hsdsPhone        `json:"phones"`
	Contacts            []hsdsContact      `json:"contacts"`
	ServiceAtLocations  []hsdsSAL          `json:"service_at_locations"`
	Attributes          []hsdsAttribute    `json:"attributes"`
	ServiceTaxonomys    []hsdsOldTaxon     `json:"service_taxonomys"`
	Eligibilitys        []hsdsOldElig      `json:"eligibilitys"`
	ServiceAreas        []hsdsArea         `json:"service_areas"`
	TaxonomyTermsInline []hsdsTerm         `json:"taxonomy_terms"`
	Schedules           []hsdsSchedule     `json:"schedules"`
	Languages           []hsdsLanguage     `json:"languages"`
	CostOptions         []hsdsCostOption   `json:"cost_options"`
	RequiredDocuments   []hsdsRequiredDocs `json:"required_documents"`
}

type hsdsOrg struct {
	ID            flexString        `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	Email         string            `json:"email"`
	Website       string            `json:"website"`
	URL           string            `json:"url"`
	CharityNumber flexString        `json:"charity_number"`
	CompanyNumber flexString        `json:"company_number"`
	Phones        []hsdsPhone       `json:"phones"`
	Identifiers   []hsdsOrgIdent    `json:"organization_identifiers"`
	Services      []json.RawMessage `json:"services"`
}

type hsdsOrgIdent struct {
	Scheme     string     `json:"identifier_scheme"`
	Type       string     `json:"identifier_type"`
	Identifier flexString `json:"identifier"`
}

type hsdsPhone struct {
	Number      flexString     `json:"number"`
	Extension   flexString     `json:"extension"`
	Type        string         `json:"type"`
	Description string         `json:"description"`
	Languages   []hsdsLanguage `json:"languages"`
}

type hsdsContact struct {
	Name       string      `json:"name"`
	Title      string      `json:"title"`
	Department string      `json:"department"`
	Email      string      `json:"email"`
	Phones     []hsdsPhone `json:"phones"`
}

type hsdsSAL struct {
	Service   json.RawMessage `json:"service"`
	Location  *hsdsLocation   `json:"location"`
	Schedules []hsdsSchedule  `json:"schedules"`
	Phones    []hsdsPhone     `json:"phones"`
}

type hsdsLocation struct {
	ID                flexString          `json:"id"`
	LocationType      string              `json:"location_type"`
	Name              string              `json:"name"`
	Description       string              `json:"description"`
	Transportation    string              `json:"transportation"`
	Latitude          flexNumber          `json:"latitude"`
	Longitude         flexNumber          `json:"longitude"`
	Addresses         []hsdsAddress       `json:"addresses"`
	PhysicalAddresses []hsdsAddress       `json:"physical_addresses"`
	PostalAddresses   []hsdsAddress       `json:"postal_addresses"`
	Accessibility     []hsdsAccessibility `json:"accessibility"`
	Schedules         []hsdsSchedule      `json:"schedules"`
	Languages         []hsdsLanguage      `json:"languages"`
	Phones            []hsdsPhone         `json:"phones"`
}

type hsdsAddress struct {
	Address1      string `json:"address_1"`
	Address2      string `json:"address_2"`
	City          string `json:"city"`
	Region        string `json:"region"`
	StateProvince string `json:"state_province"`
	PostalCode    string `json:"postal_code"`
	Country       string `json:"country"`
	AddressType   string `json:"address_type"`
}

type hsdsAccessibility struct {
	Description   string `json:"description"`
	Accessibility string `json:"accessibility"`
	Details       string `json:"details"`
	URL           string `json:"url"`
}

type hsdsSchedule struct {
	Freq          flexString `json:"freq"`
	Interval      flexNumber `json:"interval"`
	Byday         flexString `json:"byday"`
	Bymonthday    flexString `json:"bymonthday"`
	OpensAt       flexString `json:"opens_at"`
	ClosesAt      flexString `json:"closes_at"`
	ValidFrom     string     `json:"valid_from"`
	ValidTo       string     `json:"valid_to"`
	Description   string     `json:"description"`
	Notes         string     `json:"notes"`
	AttendingType string     `json:"attending_type"`
	ScheduleLink  string     `json:"schedule_link"`
}

type hsdsLanguage struct {
	Name     string     `json:"name"`
	Code     flexString `json:"code"`
	Note     string     `json:"note"`
	Language flexString `json:"language"`
}

type hsdsCostOption struct {
	Option            string     `json:"option"`
	Amount            flexAmount `json:"amount"`
	Currency          string     `json:"currency"`
	AmountDescription string     `json:"amount_description"`
	ValidFrom         string     `json:"valid_from"`
	ValidTo           string     `json:"valid_to"`
}

type hsdsRequiredDocs struct {
	Document string `json:"document"`
	Name     string `json:"name"`
}

type hsdsAttribute struct {
	TaxonomyTerm *hsdsTerm `json:"taxonomy_term"`
}

type hsdsTerm struct {
	Code flexString `json:"code"`
	Name string     `json:"name"`
	Term string     `json:"term"`
}

type hsdsOldTaxon struct {
	Taxonomy *hsdsTerm `json:"taxonomy"`
}

type hsdsOldElig struct {
	Eligibility string     `json:"eligibility"`
	MinimumAge  flexNumber `json:"minimum_age"`
	MaximumAge  flexNumber `json:"maximum_age"`
}

type hsdsArea struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	ServiceArea string `json:"service_area"`
}
