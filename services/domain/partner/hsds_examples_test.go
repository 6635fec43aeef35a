package partner_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// TestEveryPublishedExampleImports reads every example file of the HSDS
// 3.0 specification and of the Open Referral UK profile (testdata/README.md
// says where they came from): none is refused, every record is either
// imported or skipped with reasons at JSON paths, and the services among
// them are found.
func TestEveryPublishedExampleImports(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d example files (%v), want the specification's and the profile's", len(files), err)
	}
	services := 0
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := partner.ParseHSDS(data)
			if err != nil {
				t.Fatalf("got the file refused: %v", err)
			}
			if len(recs) == 0 {
				t.Fatalf("got no records, want each record imported or skipped with a reason")
			}
			for _, r := range recs {
				if !strings.HasPrefix(r.Path, "$") {
					t.Errorf("record %d: path %q, want a JSON path", r.Index, r.Path)
				}
				if r.Skip != "" {
					if len(r.Reasons) == 0 {
						t.Errorf("record %d skipped without reasons", r.Index)
					}
					for _, p := range r.Reasons {
						if !strings.HasPrefix(p.Path, "$") || p.Reason == "" {
							t.Errorf("record %d: reason %+v, want a JSON path and a reason", r.Index, p)
						}
					}
					continue
				}
				if r.Kind == partner.KindService {
					services++
					if errs := partner.ValidateService(r.Service); len(errs) > 0 {
						t.Errorf("record %d: imported service is invalid: %v", r.Index, errs)
					}
				}
			}
			base := filepath.Base(f)
			wantService := strings.HasPrefix(base, "service") || base == "organization_full.json" || base == "tabular.json"
			gotService := slices.ContainsFunc(recs, func(r partner.Record) bool { return r.Kind == partner.KindService })
			if wantService != gotService {
				t.Errorf("got a service imported %v, want %v: %+v", gotService, wantService, recs)
			}
		})
	}
	if services < 10 {
		t.Errorf("imported %d services across the examples, want at least 10", services)
	}
}

// TestFullServiceExample: the specification's full service keeps what a
// link worker uses, and its one location (latitude 100, a US postal
// address) is left out with every reason, not the service.
func TestFullServiceExample(t *testing.T) {
	data, err := os.ReadFile("testdata/hsds3/service_full.json")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := partner.ParseHSDS(data)
	if err != nil || len(recs) != 1 || recs[0].Skip != "" {
		t.Fatalf("got %+v, %v; want one imported service", recs, err)
	}
	d := recs[0].Service
	el := d.GetEligibility()
	if el.GetMinAge() != 12 || el.GetMaxAge() != 100 || !strings.HasPrefix(el.GetDescription(), "This service is intended for all people aged 12") {
		t.Errorf("eligibility: got %v, want ages 12 to 100 and the description", el)
	}
	if len(d.GetLanguages()) != 1 || d.GetLanguages()[0].GetName() != "Urdu" || d.GetLanguages()[0].GetCode() != "ur" {
		t.Errorf("languages: got %v, want Urdu (ur)", d.GetLanguages())
	}
	if len(d.GetSchedules()) != 1 {
		t.Fatalf("schedules: got %v, want one", d.GetSchedules())
	}
	if s := d.GetSchedules()[0]; s.GetFreq() != "WEEKLY" || !slices.Equal(s.GetByday(), []string{"TH", "FR"}) || s.GetOpensAt() != "10:00" || s.GetClosesAt() != "18:00" {
		t.Errorf("schedule: got %v, want weekly on TH and FR, 10:00 to 18:00", s)
	}
	if !strings.HasPrefix(d.GetFeesDescription(), "Non-NHS patients are expected to pay") {
		t.Errorf("fees_description: got %q", d.GetFeesDescription())
	}
	if len(d.GetCostOptions()) != 1 || d.GetCostOptions()[0].GetAmount() != "35" || d.GetCostOptions()[0].GetCurrency() != "GBP" {
		t.Errorf("cost options: got %v, want 35 GBP", d.GetCostOptions())
	}
	if !strings.HasPrefix(d.GetApplicationProcess(), "If you are an NHS patient please ask your GP") {
		t.Errorf("application_process: got %q", d.GetApplicationProcess())
	}
	if len(d.GetServiceAreas()) == 0 || !strings.Contains(d.GetServiceAreas()[0], "MyCity") {
		t.Errorf("service areas: got %v, want the free text", d.GetServiceAreas())
	}
	wantPhone := &pathwayv1.Phone{Number: "+441234234567", Extension: "100"}
	if ph := d.GetContact().GetPhones(); len(ph) != 1 || ph[0].GetNumber() != wantPhone.Number || ph[0].GetExtension() != wantPhone.Extension {
		t.Errorf("phones: got %v, want %v (the example quotes the number)", ph, wantPhone)
	}
	if len(d.GetContacts()) != 1 || d.GetContacts()[0].GetTitle() != "Reception Manager" {
		t.Errorf("contacts: got %v, want the reception manager", d.GetContacts())
	}
	if len(d.GetLocations()) != 0 {
		t.Errorf("locations: got %v, want the example's location left out", d.GetLocations())
	}
	var paths []string
	for _, p := range recs[0].Dropped {
		paths = append(paths, p.Path)
	}
	for _, want := range []string{"$.service_at_locations[0].location.latitude", "$.service_at_locations[0].location.addresses[0].postal_code"} {
		if !slices.Contains(paths, want) {
			t.Errorf("dropped: got %v, want %s among them", recs[0].Dropped, want)
		}
	}
	if p := recs[0].Partner; len(p.GetIdentifiers()) != 1 || p.GetIdentifiers()[0].GetScheme() != "GB-COH" || p.GetRegistrationNumber() != "1234567" {
		t.Errorf("organization identifiers: got %v (registration %q), want GB-COH 1234567", p.GetIdentifiers(), p.GetRegistrationNumber())
	}
}

// ukService is the full service example placed in Middlesbrough, with a
// second location that is wrong, as a region might publish it.
func ukService(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/hsds3/service_full.json")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	for _, r := range [][2]string{{`"latitude": 100`, `"latitude": 54.5742`}, {`"longitude": 101`, `"longitude": -1.235`},
		{`"postal_code": "ABC 1234"`, `"postal_code": "ts1 3ba"`}, {`"country": "US"`, `"country": "GB"`},
		{`"city": "MyCity"`, `"city": "Middlesbrough"`}, {`"address_type": "postal"`, `"address_type": "physical"`}} {
		s = strings.Replace(s, r[0], r[1], 1)
	}
	bad := `{"id": "far-away", "location": {"id": "loc-2", "name": "Overseas office", "latitude": -95,
	  "addresses": [{"address_1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "FR", "address_type": "physical"}]}},
	  {"id": "postal-only", "location": {"id": "loc-3", "name": "Head office", "addresses": [{"address_1": "PO Box 1", "city": "Stockton", "postal_code": "TS18 1AA", "country": "GB", "address_type": "postal"}]}}]`
	i := strings.Index(s, `"service_at_locations": [`)
	j := i + strings.Index(s[i:], "\n    }\n  ],") + len("\n    }\n  ]")
	return []byte(s[:j-1] + ",\n" + bad + s[j:])
}

// TestBadLocationKeepsTheService: one bad location and two good ones (one
// with only a postal address) import with the good ones, reporting the
// bad one with every reason; a postal address is never the place.
func TestBadLocationKeepsTheService(t *testing.T) {
	recs, err := partner.ParseHSDS(ukService(t))
	if err != nil || len(recs) != 1 || recs[0].Skip != "" {
		t.Fatalf("got %+v, %v; want one imported service", recs, err)
	}
	locs := recs[0].Service.GetLocations()
	if len(locs) != 2 {
		t.Fatalf("locations: got %v, want the Middlesbrough one and the head office", locs)
	}
	l := locs[0]
	if l.GetAddress() != "1-30 Main Street" || l.GetAddress_2() != "MyVillage" || l.GetCity() != "Middlesbrough" || l.GetPostcode() != "TS1 3BA" || l.GetLatitude() != 54.5742 {
		t.Errorf("location: got %v, want 1-30 Main Street, MyVillage, Middlesbrough TS1 3BA at 54.5742", l)
	}
	if len(l.GetAccessibility()) != 1 || !strings.Contains(l.GetAccessibility()[0].GetDescription(), "induction loops") {
		t.Errorf("accessibility: got %v, want the induction loops", l.GetAccessibility())
	}
	if len(l.GetSchedules()) != 1 || len(l.GetLanguages()) != 1 {
		t.Errorf("location schedules %v and languages %v, want one each", l.GetSchedules(), l.GetLanguages())
	}
	head := locs[1]
	if head.GetPostcode() != "" || head.GetCity() != "" || head.GetPostalAddress().GetPostcode() != "TS18 1AA" {
		t.Errorf("postal-only location: got %v, want no physical address and the postal one apart", head)
	}
	var dropped []string
	for _, p := range recs[0].Dropped {
		if strings.HasPrefix(p.Path, "$.service_at_locations[1]") {
			dropped = append(dropped, p.Path)
		}
	}
	want := []string{"$.service_at_locations[1].location.latitude", "$.service_at_locations[1].location.addresses[0].postal_code",
		"$.service_at_locations[1].location.addresses[0].country"}
	slices.Sort(dropped)
	slices.Sort(want)
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped: got %v, want every reason of the overseas office: %v", dropped, want)
	}
}

// TestServiceAtLocationPage: service_at_location records are read as
// services at locations, and two of one service join into one service.
func TestServiceAtLocationPage(t *testing.T) {
	sal := func(id, loc, postcode string) string {
		return `{"id": "` + id + `", "location": {"id": "` + loc + `", "name": "Hall ` + loc + `", "addresses": [{"address_1": "1 Road", "city": "Stockton", "postal_code": "` + postcode + `", "address_type": "physical"}]},
		  "schedules": [{"freq": "WEEKLY", "byday": "MO", "opens_at": "09:30", "closes_at": "11:00"}],
		  "service": {"id": "walk-1", "name": "Walking group", "organization": {"id": "org-a", "name": "Tees Walkers"}}}`
	}
	recs, err := partner.ParseHSDS([]byte(`{"total_items": 2, "contents": [` + sal("sal-1", "l1", "TS18 1AA") + `,` + sal("sal-2", "l2", "TS17 6AA") + `]}`))
	if err != nil || len(recs) != 1 || recs[0].Skip != "" {
		t.Fatalf("got %+v, %v; want one service", recs, err)
	}
	locs := recs[0].Service.GetLocations()
	if len(locs) != 2 || locs[0].GetPostcode() != "TS18 1AA" || locs[1].GetPostcode() != "TS17 6AA" || len(locs[1].GetSchedules()) != 1 {
		t.Errorf("locations: got %v, want both halls with their schedules", locs)
	}
}

// TestOrganizationWithServices: an organization with services nested
// gives each service with the organization as its partner.
func TestOrganizationWithServices(t *testing.T) {
	recs, err := partner.ParseHSDS([]byte(`{"id": "org-a", "name": "Tees Walkers", "website": "https://walkers.example",
	  "services": [{"id": "w1", "name": "Walking group"}, {"id": "w2", "name": "Nordic walking", "status": "defunct"}, {"id": "", "name": "No id"}]}`))
	if err != nil || len(recs) != 3 {
		t.Fatalf("got %+v, %v; want three records", recs, err)
	}
	for i, want := range []struct{ path, id, retire string }{{"$.services[0]", "w1", ""}, {"$.services[1]", "w2", "defunct"}} {
		r := recs[i]
		if r.Path != want.path || r.HSDSID != want.id || r.Retire != want.retire || r.PartnerID != "org-a" || r.Partner.GetName() != "Tees Walkers" || r.Skip != "" {
			t.Errorf("record %d: got %+v, want %s %s retire %q of org-a", i, r, want.path, want.id, want.retire)
		}
	}
	if recs[2].Skip == "" || recs[2].Reasons[0].Path != "$.services[2].id" {
		t.Errorf("record 2: got reasons %v, want the missing id at $.services[2].id", recs[2].Reasons)
	}
}

// TestEveryReasonReported: a record with several faults is skipped with
// each, at its path.
func TestEveryReasonReported(t *testing.T) {
	recs, err := partner.ParseHSDS([]byte(`[{"id": "x1", "name": "", "minimum_age": "twelve", "url": "ftp://x", "organization": {"id": "org a", "name": ""}}]`))
	if err != nil || len(recs) != 1 {
		t.Fatalf("got %+v, %v", recs, err)
	}
	var got []string
	for _, p := range recs[0].Reasons {
		got = append(got, p.Path)
	}
	for _, want := range []string{"$[0].minimum_age", "$[0].organization.id", "$[0].organization.name", "$[0].name", "$[0].url"} {
		if !slices.Contains(got, want) {
			t.Errorf("reasons: got %v, want %s among them", recs[0].Reasons, want)
		}
	}
}

// TestTabularForm: the tabular example (one array per CSV table) is
// joined into the same service as the nested full example.
func TestTabularForm(t *testing.T) {
	read := func(name string) partner.Record {
		data, err := os.ReadFile("testdata/hsds3/" + name)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := partner.ParseHSDS(data)
		if err != nil || len(recs) != 1 || recs[0].Skip != "" {
			t.Fatalf("%s: got %+v, %v; want one service", name, recs, err)
		}
		return recs[0]
	}
	tab, full := read("tabular.json"), read("service_full.json")
	if tab.Path != `$["services.csv"][0]` || tab.PartnerID != full.PartnerID || tab.HSDSID != full.HSDSID {
		t.Errorf("tabular: got %s %s of %s, want %s of %s", tab.Path, tab.HSDSID, tab.PartnerID, full.HSDSID, full.PartnerID)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"schedules", len(tab.Service.GetSchedules()), len(full.Service.GetSchedules())},
		{"languages", tab.Service.GetLanguages()[0].GetName(), "Urdu"},
		{"cost options", tab.Service.GetCostOptions()[0].GetAmount(), "35"},
		{"contacts", tab.Service.GetContacts()[0].GetPhones()[0].GetNumber(), "+441234234567"},
		{"eligibility", tab.Service.GetEligibility().GetDescription(), full.Service.GetEligibility().GetDescription()},
		{"dropped location", len(tab.Dropped), 3},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestBadPhonesAreLeftOut: a phone number that is not one is left out,
// saying where, wherever it is (the organization's, the service's, a
// contact's), and the service is imported with the good ones.
func TestBadPhonesAreLeftOut(t *testing.T) {
	recs, err := partner.ParseHSDS([]byte(`{"id": "s1", "name": "Walking group",
	  "organization": {"id": "org-a", "name": "Tees Walkers", "phones": [{"number": "12"}]},
	  "phones": [{"number": "not a phone"}, {"number": "01642 000111", "extension": "4"}],
	  "contacts": [{"name": "Sam", "phones": [{"number": "0800 1"}]}]}`))
	if err != nil || len(recs) != 1 || recs[0].Skip != "" {
		t.Fatalf("got %+v, %v; want the service imported", recs, err)
	}
	var got []string
	for _, p := range recs[0].Dropped {
		got = append(got, p.Path)
	}
	want := []string{"$.organization.phones[0].number", "$.phones[0].number", "$.contacts[0].phones[0].number"}
	if !slices.Equal(got, want) {
		t.Errorf("dropped: got %v, want %v", recs[0].Dropped, want)
	}
	if c := recs[0].Service.GetContact(); c.GetPhone() != "+441642000111" || len(c.GetPhones()) != 1 || c.GetPhones()[0].GetExtension() != "4" {
		t.Errorf("contact: got %v, want +441642000111 ext. 4", c)
	}
}

// TestTemporarilyClosed: a service temporarily closed stays in the
// directory with the closure first in its notice.
func TestTemporarilyClosed(t *testing.T) {
	recs, err := partner.ParseHSDS([]byte(`{"id": "s1", "name": "Choir", "status": "temporarily closed", "alert": "Back in March.", "organization": {"id": "org-a", "name": "A"}}`))
	if err != nil || len(recs) != 1 || recs[0].Skip != "" || recs[0].Retire != "" {
		t.Fatalf("got %+v, %v; want the service kept", recs, err)
	}
	if got := recs[0].Service.GetAlert(); got != "Temporarily closed. Back in March." {
		t.Errorf("alert: got %q, want the closure first", got)
	}
}

// FuzzParseHSDS: whatever the file, ParseHSDS never panics, and each
// record it returns is either imported with details that pass
// ValidateService (and ValidatePartner) or skipped with reasons.
func FuzzParseHSDS(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`[{"id": 7, "name": "x", "organization_id": "o"}, 42, null, {"service": {}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := partner.ParseHSDS(data)
		if err != nil {
			return
		}
		for _, r := range recs {
			switch {
			case r.Skip != "":
				if len(r.Reasons) == 0 {
					t.Fatalf("record %d skipped without reasons", r.Index)
				}
			case r.Kind == partner.KindService:
				if errs := partner.ValidateService(r.Service); len(errs) > 0 {
					t.Fatalf("record %d imported but invalid: %v", r.Index, errs)
				}
				fallthrough
			case r.Kind == partner.KindOrganization:
				if r.Partner != nil {
					if errs := partner.ValidatePartner(r.Partner); len(errs) > 0 {
						t.Fatalf("record %d: partner invalid: %v", r.Index, errs)
					}
				}
			default:
				t.Fatalf("record %d neither imported nor skipped: %+v", r.Index, r)
			}
		}
	})
}

// TestEveryPublishedCSVExampleImports: the CSV example of the
// specification and of the profile (one file a table) import as the same
// service as their nested JSON, and a file that is not CSV is reported,
// not the whole set refused.
func TestEveryPublishedCSVExampleImports(t *testing.T) {
	for _, dir := range []string{"testdata/hsds3/csv", "testdata/oruk/csv"} {
		t.Run(dir, func(t *testing.T) {
			names, err := filepath.Glob(filepath.Join(dir, "*.csv"))
			if err != nil || len(names) < 15 {
				t.Fatalf("found %d CSV files (%v), want the example's tables", len(names), err)
			}
			files := map[string][]byte{}
			for _, n := range names {
				data, err := os.ReadFile(n)
				if err != nil {
					t.Fatal(err)
				}
				files[filepath.Base(n)] = data
			}
			files["broken.csv"] = []byte("id,name\n\"unclosed,x\n")
			recs, err := partner.ParseHSDSTables(files)
			if err != nil || len(recs) != 1 || recs[0].Skip != "" {
				t.Fatalf("got %+v, %v; want the one service", recs, err)
			}
			r := recs[0]
			if r.Path != `$["services.csv"][0]` || r.HSDSID != "ac148810-d857-441c-9679-408f346de14b" || r.PartnerID != "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610" {
				t.Errorf("got %s %s of %s, want the counselling service of the example organization", r.Path, r.HSDSID, r.PartnerID)
			}
			d := r.Service
			if d.GetEligibility().GetMinAge() != 12 || len(d.GetSchedules()) == 0 || d.GetSchedules()[0].GetOpensAt() != "10:00" ||
				d.GetContact().GetPhone() != "+441234234567" {
				t.Errorf("service: got %v, want ages from 12, the 10:00 schedule and +441234234567", d)
			}
			if len(r.Dropped) == 0 || r.Dropped[0].Path != `$["broken.csv"]` {
				t.Errorf("dropped: got %v, want broken.csv reported first", r.Dropped)
			}
		})
	}
}
