package partner_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"google.golang.org/protobuf/proto"
)

// hsds30 is an HSDS 3.0 service with everything the directory keeps: the
// organization nested, taxonomy terms as attributes, a location with an
// address, an age range, contacts and phones.
const hsds30 = `{
  "id": "tees-svc-0001",
  "name": "Thursday Club",
  "description": "A weekly drop-in with tea and activities.",
  "url": "https://teesfriends.org.uk/thursday",
  "email": "",
  "status": "active",
  "minimum_age": 18,
  "maximum_age": 99,
  "eligibility_description": "Adults living in Middlesbrough",
  "organization": {
    "id": "tees-friends",
    "name": " Tees Friends ",
    "description": "A befriending charity.",
    "email": "hello@teesfriends.org.uk",
    "website": "https://teesfriends.org.uk",
    "legal_status": "Registered charity",
    "charity_number": "1123456",
    "phones": [{"number": ""}, {"number": "01642 000111"}]
  },
  "phones": [{"number": "01642 000222"}],
  "contacts": [{"name": "Jo Bloggs", "email": "jo@teesfriends.org.uk", "phones": [{"number": "07400 123999"}]}],
  "service_areas": [{"name": "ts1"}, {"name": "Teesside"}],
  "attributes": [
    {"taxonomy_term": {"code": "bef", "name": "Befriending"}},
    {"taxonomy_term": {"code": "art", "name": "Arts and crafts"}},
    {"taxonomy_term": {"code": "bef", "name": "Befriending"}},
    {"taxonomy_term": null}
  ],
  "service_at_locations": [
    {"location": {"name": "Central Library", "latitude": 54.5742, "longitude": -1.2350,
      "addresses": [{"address_1": "Centre Square", "city": "Middlesbrough", "postal_code": "ts13ba"}]}},
    {"location": null}
  ]
}`

// hsds30Want is what hsds30 maps to.
var (
	hsds30Partner = &pathwayv1.PartnerRegistered{
		Name: "Tees Friends", Description: "A befriending charity.", HsdsOrganizationId: "tees-friends",
		Contact: &pathwayv1.ContactPoint{Email: "hello@teesfriends.org.uk", Url: "https://teesfriends.org.uk", Phone: "+441642000111",
			Phones: []*pathwayv1.Phone{{Number: "+441642000111"}}},
		RegistrationNumber: "1123456",
	}
	hsds30Service = &pathwayv1.ServiceDetails{
		PartnerId: "tees-friends", Name: "Thursday Club", Description: "A weekly drop-in with tea and activities.",
		HsdsServiceId: "tees-svc-0001",
		Needs:         []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_ARTS_AND_CULTURE},
		TaxonomyTerms: []string{"Befriending", "Arts and crafts"},
		Eligibility: &pathwayv1.Eligibility{MinAge: 18, MaxAge: 99, Description: "Adults living in Middlesbrough",
			PostcodeDistricts: []string{"TS1"}},
		Locations: []*pathwayv1.Location{{Name: "Central Library", Address: "Centre Square", City: "Middlesbrough", Postcode: "TS1 3BA",
			Latitude: 54.5742, Longitude: -1.2350}},
		Contact: &pathwayv1.ContactPoint{Name: "Jo Bloggs", Email: "jo@teesfriends.org.uk", Phone: "+441642000222",
			Url: "https://teesfriends.org.uk/thursday", Phones: []*pathwayv1.Phone{{Number: "+441642000222"}}},
		Contacts:     []*pathwayv1.Contact{{Name: "Jo Bloggs", Email: "jo@teesfriends.org.uk", Phones: []*pathwayv1.Phone{{Number: "+447400123999"}}}},
		ServiceAreas: []string{"Teesside"},
	}
)

// hsds30Minimal names its organization at the top level, nests only the
// organization's name, and takes its contact from contacts[0].
const hsds30Minimal = `{
  "id": "tees-svc-0002",
  "name": "Walking for health",
  "organization_id": "tees-walks",
  "organization": {"name": "Tees Walks", "url": "http://teeswalks.example", "company_number": "09876543"},
  "contacts": [{"name": "Sam", "email": "sam@teeswalks.example", "phones": [{"number": "07400 123111"}]}]
}`

var (
	hsds30MinimalPartner = &pathwayv1.PartnerRegistered{Name: "Tees Walks", HsdsOrganizationId: "tees-walks",
		Contact: &pathwayv1.ContactPoint{Url: "http://teeswalks.example"}, RegistrationNumber: "09876543"}
	hsds30MinimalService = &pathwayv1.ServiceDetails{
		PartnerId: "tees-walks", Name: "Walking for health", HsdsServiceId: "tees-svc-0002",
		Needs:       []pathwayv1.Need{pathwayv1.Need_NEED_PHYSICAL_ACTIVITY},
		Eligibility: &pathwayv1.Eligibility{},
		Contact:     &pathwayv1.ContactPoint{Name: "Sam", Email: "sam@teeswalks.example", Phone: "+447400123111"},
		Contacts:    []*pathwayv1.Contact{{Name: "Sam", Email: "sam@teeswalks.example", Phones: []*pathwayv1.Phone{{Number: "+447400123111"}}}},
	}
)

// oruk is the older Open Referral UK form: service_taxonomys,
// eligibilitys and physical_addresses.
const oruk = `{
  "id": "oruk-42",
  "name": "Money matters",
  "status": "active",
  "organization": {"id": "cab_tees", "name": "Citizens Advice Tees"},
  "service_taxonomys": [{"taxonomy": {"id": "t1", "name": "Debt advice", "vocabulary": "esdTopics"}}, {"taxonomy": null}],
  "eligibilitys": [{"eligibility": "Adults", "minimum_age": 16}, {"eligibility": "ignored", "maximum_age": 120}],
  "service_at_locations": [{"location": {"name": "Advice centre",
    "physical_addresses": [{"address_1": "1 High Street", "city": "Stockton-on-Tees", "postal_code": "TS18 1AA"}]}}]
}`

var (
	orukPartner = &pathwayv1.PartnerRegistered{Name: "Citizens Advice Tees", HsdsOrganizationId: "cab_tees", Contact: &pathwayv1.ContactPoint{}}
	orukService = &pathwayv1.ServiceDetails{
		PartnerId: "cab_tees", Name: "Money matters", HsdsServiceId: "oruk-42",
		Needs:         []pathwayv1.Need{pathwayv1.Need_NEED_DEBT},
		TaxonomyTerms: []string{"Debt advice"},
		Eligibility:   &pathwayv1.Eligibility{MinAge: 16, MaxAge: 120, Description: "Adults"},
		Locations:     []*pathwayv1.Location{{Name: "Advice centre", Address: "1 High Street", City: "Stockton-on-Tees", Postcode: "TS18 1AA"}},
		Contact:       &pathwayv1.ContactPoint{},
	}
)

// org is a valid nested organization for the bad records.
const org = `"organization": {"id": "org-1", "name": "Org One"}`

// badRecords are records that must be skipped, with a word the reason
// must contain (the field).
var badRecords = []struct {
	name      string
	json      string
	wantField string
}{
	{"missing id", `{"name": "No id", ` + org + `}`, "id"},
	{"blank id", `{"id": "   ", "name": "Blank id", ` + org + `}`, "id"},
	{"id too long", `{"id": "` + strings.Repeat("x", 201) + `", "name": "Long id", ` + org + `}`, "id"},
	{"no organization at all", `{"id": "b1", "name": "Loose", "status": "active"}`, "organization"},
	{"organization_id with a dot", `{"id": "b1", "name": "Loose", "organization_id": "org.1"}`, "organization_id"},
	{"organization id with a dot", `{"id": "b2", "name": "Dotted", "organization": {"id": "org.1", "name": "Org"}}`, "organization.id"},
	{"organization id with a space", `{"id": "b3", "name": "Spaced", "organization": {"id": "org 1", "name": "Org"}}`, "organization.id"},
	{"no organization id at all", `{"id": "b4", "name": "Anonymous", "organization": {"name": "Org"}}`, "organization.id"},
	{"organization without a name", `{"id": "b5", "name": "Nameless org", "organization": {"id": "org-1"}}`, "organization.name"},
	{"organization with a bad email", `{"id": "b6", "name": "Bad mail", "organization": {"id": "org-1", "name": "Org", "email": "nope"}}`, "organization.email"},
	{"status unknown", `{"id": "b7", "name": "Gone", "status": "vanished", ` + org + `}`, "status"},
	{"min age above max age", `{"id": "b9", "name": "Odd ages", "minimum_age": 65, "maximum_age": 18, ` + org + `}`, "minimum_age"},
	{"negative age", `{"id": "b10", "name": "Negative", "minimum_age": -1, ` + org + `}`, "minimum_age"},
	{"age above 130", `{"id": "b11", "name": "Ancient", "maximum_age": 150, ` + org + `}`, "maximum_age"},
	{"no service name", `{"id": "b14", ` + org + `}`, "name"},
	{"service url not http", `{"id": "b15", "name": "FTP", "url": "ftp://example.org", ` + org + `}`, "$[1].url"},
	{"a number, not an object", `42`, "$[1]: not an HSDS record"},
	{"a string, not an object", `"tees-svc-0001"`, "$[1]: not an HSDS record"},
	{"an array, not an object", `[{"id": "x"}]`, "$[1]: not an HSDS record"},
	{"a field of the wrong type", `{"id": "b16", "name": {"en": "Numeric id"}, ` + org + `}`, "not an HSDS service: name: a JSON object where text was expected"},
	{"a location alone", `{"id": "l1", "name": "Hall", "location_type": "physical", "latitude": 54.5}`, "a location with no service"},
	{"a taxonomy term", `{"id": "t1", "code": "x", "name": "Befriending", "taxonomy": "esd", "parent_id": null}`, "taxonomy term, not a service"},
}

func TestParseHSDSGoodRecords(t *testing.T) {
	for _, tc := range []struct {
		name        string
		json        string
		wantPartner *pathwayv1.PartnerRegistered
		wantService *pathwayv1.ServiceDetails
	}{
		{"HSDS 3.0 with everything", hsds30, hsds30Partner, hsds30Service},
		{"HSDS 3.0 minimal", hsds30Minimal, hsds30MinimalPartner, hsds30MinimalService},
		{"older Open Referral UK form", oruk, orukPartner, orukService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := partner.ParseHSDS([]byte("[" + tc.json + "]"))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			r := recs[0]
			if r.Skip != "" {
				t.Fatalf("got skipped: %s, want imported", r.Skip)
			}
			if r.HSDSID != tc.wantService.GetHsdsServiceId() {
				t.Errorf("HSDSID: got %q, want %q", r.HSDSID, tc.wantService.GetHsdsServiceId())
			}
			if want := partner.ServiceIDFor(r.HSDSID); r.ServiceID != want {
				t.Errorf("ServiceID: got %q, want %q", r.ServiceID, want)
			}
			if !proto.Equal(r.Partner, tc.wantPartner) {
				t.Errorf("partner:\n got %v\nwant %v", r.Partner, tc.wantPartner)
			}
			if !proto.Equal(r.Service, tc.wantService) {
				t.Errorf("service:\n got %v\nwant %v", r.Service, tc.wantService)
			}
			if errs := partner.ValidateService(r.Service); len(errs) > 0 {
				t.Errorf("ValidateService of an imported service: got %v, want none", errs)
			}
		})
	}
}

func TestParseHSDSSkipsBadRecords(t *testing.T) {
	for _, tc := range badRecords {
		t.Run(tc.name, func(t *testing.T) {
			// A good record either side: a bad one must not spoil them.
			recs, err := partner.ParseHSDS([]byte("[" + hsds30Minimal + ",\n" + tc.json + ",\n" + oruk + "]"))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(recs) != 3 {
				t.Fatalf("got %d records, want 3", len(recs))
			}
			bad := recs[1]
			if bad.Index != 1 {
				t.Errorf("Index: got %d, want 1", bad.Index)
			}
			if bad.Skip == "" {
				t.Fatalf("got imported (service %v), want skipped for %s", bad.Service, tc.wantField)
			}
			if !strings.Contains(bad.Skip, tc.wantField) {
				t.Errorf("skip reason: got %q, want one naming %q", bad.Skip, tc.wantField)
			}
			if bad.Service != nil {
				t.Errorf("service of a skipped record: got %v, want nil", bad.Service)
			}
			for _, i := range []int{0, 2} {
				if recs[i].Skip != "" || recs[i].Service == nil {
					t.Errorf("record %d: got skip %q service %v, want imported", i, recs[i].Skip, recs[i].Service)
				}
			}
		})
	}
}

func TestParseHSDSForms(t *testing.T) {
	array := "[" + hsds30 + "," + hsds30Minimal + "," + oruk + "]"
	page := `{"totalElements": 3, "totalPages": 1, "number": 1, "size": 50, "first": true, "last": true,
	  "contents": [` + hsds30 + "," + hsds30Minimal + "," + oruk + `]}`
	want, err := partner.ParseHSDS([]byte(array))
	if err != nil {
		t.Fatalf("array: got error %v, want none", err)
	}
	wantIDs := []string{"tees-svc-0001", "tees-svc-0002", "oruk-42"}
	for _, tc := range []struct {
		name string
		data string
	}{
		{"array", array},
		{"array with surrounding space", "\n\t " + array + " \n"},
		{"paged contents", page},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := partner.ParseHSDS([]byte(tc.data))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(recs) != len(wantIDs) {
				t.Fatalf("got %d records, want %d", len(recs), len(wantIDs))
			}
			for i, r := range recs {
				if r.Index != i || r.HSDSID != wantIDs[i] || r.Skip != "" {
					t.Errorf("record %d: got index %d id %q skip %q, want %d %q imported", i, r.Index, r.HSDSID, r.Skip, i, wantIDs[i])
				}
				if r.ServiceID != want[i].ServiceID || !proto.Equal(r.Service, want[i].Service) || !proto.Equal(r.Partner, want[i].Partner) {
					t.Errorf("record %d: got %+v, want the array form's %+v", i, r, want[i])
				}
			}
		})
	}
}

func TestParseHSDSEmpty(t *testing.T) {
	for _, data := range []string{`[]`, `{"contents": []}`} {
		t.Run(data, func(t *testing.T) {
			recs, err := partner.ParseHSDS([]byte(data))
			if err != nil || len(recs) != 0 {
				t.Errorf("got %d records, error %v, want 0 and none", len(recs), err)
			}
		})
	}
}

func TestParseHSDSRejectsOtherFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
	}{
		{"empty", ``},
		{"blank", "  \n"},
		{"null", `null`},
		{"a number", `42`},
		{"a string", `"services"`},
		{"truncated array", `[{"id": "x"},`},
		{"malformed object", `{"contents": [}`},
		{"CSV", "id,name\nx,Thursday Club\n"},
		{"too many records", "[" + strings.TrimSuffix(strings.Repeat("{},", partner.MaxImportRecords+1), ",") + "]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := partner.ParseHSDS([]byte(tc.data))
			if !errors.Is(err, partner.ErrInvalid) {
				t.Fatalf("got %d records, error %v, want ErrInvalid", len(recs), err)
			}
		})
	}
}

func TestServiceIDsAreIdempotent(t *testing.T) {
	data := []byte("[" + hsds30 + "," + hsds30Minimal + "," + oruk + "]")
	first, err := partner.ParseHSDS(data)
	if err != nil {
		t.Fatalf("first parse: got error %v, want none", err)
	}
	second, err := partner.ParseHSDS(data)
	if err != nil {
		t.Fatalf("second parse: got error %v, want none", err)
	}
	seen := map[string]string{}
	for i := range first {
		if first[i].ServiceID == "" || first[i].ServiceID != second[i].ServiceID {
			t.Errorf("record %d: got ids %q and %q across two parses, want one non-empty id", i, first[i].ServiceID, second[i].ServiceID)
		}
		if other, dup := seen[first[i].ServiceID]; dup {
			t.Errorf("record %d: got the id of HSDS service %q, want its own", i, other)
		}
		seen[first[i].ServiceID] = first[i].HSDSID
	}

	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"same id", "tees-svc-0001", "tees-svc-0001", true},
		{"other id", "tees-svc-0001", "tees-svc-0002", false},
		{"ids differ in case", "abc", "ABC", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := partner.ServiceIDFor(tc.a), partner.ServiceIDFor(tc.b)
			if (a == b) != tc.same {
				t.Errorf("ServiceIDFor(%q) = %q, ServiceIDFor(%q) = %q: got equal %v, want %v", tc.a, a, tc.b, b, a == b, tc.same)
			}
		})
	}

	// An id with surrounding space is the same service.
	recs, err := partner.ParseHSDS([]byte("[" + strings.Replace(hsds30, `"tees-svc-0001"`, `"  tees-svc-0001 "`, 1) + "]"))
	if err != nil {
		t.Fatalf("padded id: got error %v, want none", err)
	}
	if recs[0].ServiceID != first[0].ServiceID {
		t.Errorf("padded id: got service id %q, want %q", recs[0].ServiceID, first[0].ServiceID)
	}
}

func TestNeedsFor(t *testing.T) {
	const (
		arts       = pathwayv1.Need_NEED_ARTS_AND_CULTURE
		loneliness = pathwayv1.Need_NEED_LONELINESS
		other      = pathwayv1.Need_NEED_OTHER
	)
	for _, tc := range []struct {
		terms []string
		want  []pathwayv1.Need
	}{
		{[]string{"Arts and crafts"}, []pathwayv1.Need{arts}},
		{[]string{"ART CLASSES"}, []pathwayv1.Need{arts}},
		{[]string{"Heart health"}, []pathwayv1.Need{pathwayv1.Need_NEED_LONG_TERM_CONDITION}},
		{[]string{"Heartbeat club"}, []pathwayv1.Need{other}},
		{[]string{"Painting"}, []pathwayv1.Need{arts}},
		{[]string{"Lawn bowls"}, []pathwayv1.Need{pathwayv1.Need_NEED_PHYSICAL_ACTIVITY}},
		{[]string{"Single parents group"}, []pathwayv1.Need{pathwayv1.Need_NEED_PARENTING}},
		{[]string{"Weight loss"}, []pathwayv1.Need{other}},
		{[]string{"Smart phones"}, []pathwayv1.Need{other}},
		{[]string{"Befriending"}, []pathwayv1.Need{loneliness}},
		{[]string{"Social isolation"}, []pathwayv1.Need{loneliness}},
		{[]string{"Community garden"}, []pathwayv1.Need{pathwayv1.Need_NEED_NATURE_AND_GARDENING}},
		{[]string{"Self-management of diabetes"}, []pathwayv1.Need{pathwayv1.Need_NEED_LONG_TERM_CONDITION}},
		{[]string{"Debt advice", "Befriending", "Befriending"}, []pathwayv1.Need{loneliness, pathwayv1.Need_NEED_DEBT}},
		{[]string{"Choir", "Walking netball"}, []pathwayv1.Need{pathwayv1.Need_NEED_PHYSICAL_ACTIVITY, arts}},
		{[]string{"Quantum chromodynamics"}, []pathwayv1.Need{other}},
		{[]string{""}, []pathwayv1.Need{other}},
		{nil, []pathwayv1.Need{other}},
	} {
		t.Run(fmt.Sprintf("%q", tc.terms), func(t *testing.T) {
			got := partner.NeedsFor(tc.terms)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNeedsForHeartIsNotArt(t *testing.T) {
	if got := partner.NeedsFor([]string{"Heart health"}); slices.Contains(got, pathwayv1.Need_NEED_ARTS_AND_CULTURE) {
		t.Errorf("got %v, want no arts_and_culture", got)
	}
}

func TestParseHSDSDuplicateIDs(t *testing.T) {
	recs, err := partner.ParseHSDS([]byte(`[
	 {"id": "s1", "name": "Choir", "organization": {"id": "org-a", "name": "A"}},
	 {"id": "s1", "name": "Choir again", "organization": {"id": "org-a", "name": "A"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Skip != "" || recs[1].Skip != "$[1].id: the same service as record 0 ($[0])" {
		t.Errorf("got skips %q and %q, want the second skipped as a duplicate of record 0", recs[0].Skip, recs[1].Skip)
	}
}

// TestParseHSDSOversizedFieldsAreSkipped: a record too large for one event
// is skipped with a reason instead of failing the import part-way.
func TestParseHSDSOversizedFieldsAreSkipped(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	recs, err := partner.ParseHSDS([]byte(`[{"id": "s1", "name": "Choir", "eligibility_description": "` + big + `", "organization": {"id": "org-a", "name": "A"}},
	 {"id": "s2", "name": "Walk", "organization": {"id": "org-a", "name": "A"}, "attributes": [{"taxonomy_term": {"name": "` + big[:300] + `"}}]},
	 {"id": "s3", "name": "Fine", "organization": {"id": "org-a", "name": "A"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(recs[0].Skip, "$[0].eligibility_description: must be at most") || recs[1].Skip != "" || recs[2].Skip != "" {
		t.Errorf("skips %q, %q, %q; want the first skipped naming the field, the others kept", recs[0].Skip, recs[1].Skip, recs[2].Skip)
	}
	if len(recs[1].Dropped) != 1 || recs[1].Dropped[0].Path != "$[1].attributes[0].name" || len(recs[1].Service.GetTaxonomyTerms()) != 0 {
		t.Errorf("record 1: dropped %v, terms %v; want the long taxonomy term left out at $[1].attributes[0].name", recs[1].Dropped, recs[1].Service.GetTaxonomyTerms())
	}
}
