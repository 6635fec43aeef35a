package oruk_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"google.golang.org/protobuf/proto"
)

// directoryServer is the ORUK endpoints over a real log, with the
// directory importer to fill it.
type directoryServer struct {
	t        testing.TB
	base     string
	store    *events.Store
	dir      *directory.Service
	partners *projections.Engine
	view     *projections.Engine
}

func start(tb testing.TB) *directoryServer {
	tb.Helper()
	lg := eventstest.Start(tb, false)
	url, eng, view := oruktest.Serve(tb, lg.Store, lg.JS)
	return &directoryServer{t: tb, base: url, store: lg.Store, dir: directory.New(lg.Store), partners: eng, view: view}
}

// importJSON imports HSDS records (an array or a page) and waits until
// the read model has them.
func (s *directoryServer) importJSON(data []byte) directory.ImportReport {
	s.t.Helper()
	recs, err := partner.ParseHSDS(data)
	if err != nil {
		s.t.Fatal(err)
	}
	rep, err := s.dir.Import(context.Background(), recs, events.Command{Actor: &pathwayv1.Actor{Id: "test", Role: pathwayv1.Role_ROLE_ADMIN}}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.waitFor(rep.Sequence)
	return rep
}

// waitFor waits until both read models have reached seq.
func (s *directoryServer) waitFor(seq uint64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, e := range []*projections.Engine{s.partners, s.view} {
		if err := e.WaitFor(ctx, seq); err != nil {
			s.t.Fatal(err)
		}
	}
}

// retire retires service id as its directory marking it status would.
func (s *directoryServer) retire(id, status string) {
	s.t.Helper()
	seq, err := events.Do(context.Background(), s.store, aggregate.Service, id, events.Command{Actor: &pathwayv1.Actor{Id: "test", Role: pathwayv1.Role_ROLE_ADMIN}},
		func(svc *partner.Service) ([]proto.Message, error) { return svc.Retire(status, "") })
	if err != nil {
		s.t.Fatal(err)
	}
	s.waitFor(seq)
}

// with returns s reporting to t (a subtest's).
func (s *directoryServer) with(t testing.TB) *directoryServer {
	c := *s
	c.t = t
	return &c
}

// get fetches path and returns the status and body.
func (s *directoryServer) get(path string) (int, []byte) {
	s.t.Helper()
	res, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// ok fetches path, wants 200 with JSON, and validates it against schema
// (a page of them when page is true).
func (s *directoryServer) ok(path, schema string, page bool) []byte {
	s.t.Helper()
	status, body := s.get(path)
	if status != http.StatusOK {
		s.t.Fatalf("GET %s: got %d, want 200: %s", path, status, body)
	}
	if page {
		oruktest.ValidatePage(s.t, schema, body)
	} else {
		oruktest.Validate(s.t, schema, body)
	}
	return body
}

// record is the standard's service_full example made a UK service: a
// valid UK postcode and coordinates (the example's are placeholders), with
// edit applied to the decoded record.
func record(tb testing.TB, edit func(m map[string]any)) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(oruktest.Example(tb, "service_full.json"), &m); err != nil {
		tb.Fatal(err)
	}
	for _, sal := range m["service_at_locations"].([]any) {
		loc := sal.(map[string]any)["location"].(map[string]any)
		loc["latitude"], loc["longitude"] = 54.5742, -1.2350
		for _, a := range loc["addresses"].([]any) {
			a := a.(map[string]any)
			a["postal_code"], a["country"], a["address_type"] = "TS1 2AA", "GB", "physical"
		}
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func encode(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func decode[T any](tb testing.TB, body []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// The standard's full service comes back on GET /oruk/services/{id} and
// in the list, valid against HSDS 3.0, with what it was imported with.
func TestFullServiceComesBack(t *testing.T) {
	s := start(t)
	rep := s.importJSON(encode(t, []any{record(t, nil)}))
	if rep.Created != 1 {
		t.Fatalf("import: %+v", rep)
	}
	id := rep.Results[0].ServiceID

	one := decode[oruk.Service](t, s.ok("/oruk/services/"+id, oruktest.Service, false))
	list := oruktest.ValidatePage(t, oruktest.ServiceList, s.ok("/oruk/services?text=counselling", oruktest.ServiceList, true))
	if list.TotalItems != 1 || len(list.Contents) != 1 {
		t.Fatalf("search for counselling: got %d services, want 1", list.TotalItems)
	}
	oruktest.Validate(t, oruktest.Service, list.Contents[0])
	listed := decode[oruk.Service](t, list.Contents[0])
	for name, got := range map[string]oruk.Service{"GET /oruk/services/{id}": one, "GET /oruk/services": listed} {
		t.Run(name, func(t *testing.T) {
			if got.ID != id || got.Name != "Community Counselling" || got.Status != "active" {
				t.Errorf("got id %s name %q status %q, want %s Community Counselling active", got.ID, got.Name, got.Status, id)
			}
			if !strings.Contains(got.EligibilityDescription, "aged 12 and over") {
				t.Errorf("eligibility_description: got %q", got.EligibilityDescription)
			}
			if got.MinimumAge == nil || *got.MinimumAge != 12 || got.MaximumAge == nil || *got.MaximumAge != 100 {
				t.Errorf("ages: got %v-%v, want 12-100", got.MinimumAge, got.MaximumAge)
			}
			if got.Organization == nil || got.Organization.ID != "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610" || got.OrganizationID != got.Organization.ID {
				t.Errorf("organization: got %+v", got.Organization)
			}
			if len(got.ServiceAtLocations) != 1 {
				t.Fatalf("service_at_locations: got %d, want 1", len(got.ServiceAtLocations))
			}
			loc := got.ServiceAtLocations[0].Location
			if loc.LocationType != "physical" || loc.Name != "MyCity Civic Center" || len(loc.Addresses) != 1 || loc.Addresses[0].PostalCode != "TS1 2AA" ||
				!strings.Contains(loc.Addresses[0].Address1, "1-30 Main Street") {
				t.Errorf("location: got %+v", loc)
			}
			if loc.Latitude == nil || *loc.Latitude != 54.5742 {
				t.Errorf("latitude: got %v", loc.Latitude)
			}
			if len(got.Schedules) != 1 || got.Schedules[0].Freq != "WEEKLY" || got.Schedules[0].ByDay != "TH,FR" || got.Schedules[0].OpensAt != "10:00" ||
				got.Schedules[0].ClosesAt != "18:00" || got.Schedules[0].ServiceID != id {
				t.Errorf("schedules: got %+v, want weekly on TH,FR 10:00-18:00", got.Schedules)
			}
			if len(got.Languages) != 1 || got.Languages[0].Name != "Urdu" || got.Languages[0].Code != "ur" {
				t.Errorf("languages: got %+v, want Urdu (ur)", got.Languages)
			}
			if !strings.Contains(got.FeesDescription, "£50 per hour") {
				t.Errorf("fees_description: got %q", got.FeesDescription)
			}
			if len(got.CostOptions) == 0 || got.CostOptions[0].Amount == nil {
				t.Errorf("cost_options: got %+v, want the example's priced option", got.CostOptions)
			}
			if !strings.Contains(got.ApplicationProcess, "referral letter") {
				t.Errorf("application_process: got %q", got.ApplicationProcess)
			}
			if len(got.Phones) == 0 || got.Phones[0].Number != "+441234234567" {
				t.Errorf("phones: got %+v, want +441234234567", got.Phones)
			}
			if loc := got.ServiceAtLocations[0].Location; len(loc.Addresses) == 0 || loc.Addresses[0].City != "MyCity" || loc.Addresses[0].AddressType != "physical" ||
				len(loc.Schedules) != 1 || len(loc.Accessibility) != 1 || len(loc.Languages) != 1 {
				t.Errorf("the location's city, schedules, accessibility and languages: got %+v", loc)
			}
			if got.PathwayCapacityStatus != "capacity" {
				t.Errorf("pathway_capacity_status: got %q, want capacity", got.PathwayCapacityStatus)
			}
			if !contains(got.PathwayNeeds, "mental_health") {
				t.Errorf("pathway_needs: got %v, want mental_health among them", got.PathwayNeeds)
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// A service that is not there is 404 problem+json.
func TestServiceNotFound(t *testing.T) {
	s := start(t)
	s.importJSON(encode(t, []any{record(t, nil)}))
	for _, id := range []string{"0b6a8f5e-0000-4000-8000-000000000000", "*", ">", "a.b", "0B6A8F5E-0000-4000-8000-000000000000", "%2A"} {
		status, body := s.get("/oruk/services/" + id)
		if status != http.StatusNotFound || !strings.Contains(string(body), "no such service") {
			t.Errorf("%s: got %d %s, want 404 no such service", id, status, body)
		}
	}
}

// Each ORUK filter narrows the list, and the list pages as the standard
// pages; every answer validates.
func TestServiceFiltersAndPaging(t *testing.T) {
	s := start(t)
	type svc struct {
		id, name, postcode, term string
		lat, lon                 float64
		minAge, maxAge           float64
	}
	// Middlesbrough TS1, Stockton TS18 (about 5 km apart), Leeds LS1 (about 80 km).
	svcs := []svc{
		{"11111111-1111-4111-8111-111111111111", "Walking group", "TS1 2AA", "Walking", 54.5742, -1.2350, 18, 0},
		{"22222222-2222-4222-8222-222222222222", "Befriending over the phone", "TS18 1AA", "Befriending", 54.5700, -1.3187, 65, 0},
		{"33333333-3333-4333-8333-333333333333", "Debt advice", "LS1 1AA", "Debt advice", 53.7997, -1.5492, 0, 0},
		{"44444444-4444-4444-8444-444444444444", "Young carers club", "TS1 3BB", "Carers", 54.5760, -1.2300, 8, 17},
	}
	var recs []any
	for _, v := range svcs {
		recs = append(recs, record(t, func(m map[string]any) {
			m["id"], m["name"], m["description"] = v.id, v.name, v.name+" for local people"
			m["minimum_age"], m["maximum_age"] = v.minAge, v.maxAge
			if v.maxAge == 0 {
				delete(m, "maximum_age")
			}
			m["attributes"] = []any{map[string]any{"id": v.id, "taxonomy_term": map[string]any{"id": v.id, "name": v.term}}}
			m["service_areas"] = []any{}
			loc := m["service_at_locations"].([]any)[0].(map[string]any)["location"].(map[string]any)
			loc["latitude"], loc["longitude"] = v.lat, v.lon
			loc["addresses"].([]any)[0].(map[string]any)["postal_code"] = v.postcode
		}))
	}
	before := time.Now()
	rep := s.importJSON(encode(t, recs))
	if rep.Created != 4 {
		t.Fatalf("import: %+v", rep)
	}
	ids := func(t *testing.T, path string) []string {
		t.Helper()
		p := oruktest.ValidatePage(t, oruktest.ServiceList, s.with(t).ok(path, oruktest.ServiceList, true))
		var out []string
		for _, c := range p.Contents {
			out = append(out, decode[oruk.Service](t, c).Name)
		}
		return out
	}
	walkTerm := decode[oruk.Service](t, s.ok("/oruk/services/"+rep.Results[0].ServiceID, oruktest.Service, false))
	var termID string
	for _, a := range walkTerm.Attributes {
		if a.TaxonomyTerm.Name == "Walking" {
			termID = a.TaxonomyTermID
		}
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"Befriending over the phone", "Debt advice", "Walking group", "Young carers club"}},
		{"text=debt", []string{"Debt advice"}},
		{"search=befriending", []string{"Befriending over the phone"}},
		{"taxonomy_term_id=" + termID, []string{"Walking group"}},
		{"taxonomy_term_id=loneliness", []string{"Befriending over the phone"}},
		{"taxonomy_id=" + oruk.NeedsTaxonomy.ID + "&text=debt", []string{"Debt advice"}},
		{"age=70", []string{"Befriending over the phone", "Debt advice", "Walking group"}},
		{"age=12", []string{"Debt advice", "Young carers club"}},
		{"postcode=TS1+2AA&proximity=1000", []string{"Walking group", "Young carers club"}},
		{"postcode=TS1+2AA&proximity=10000", []string{"Walking group", "Young carers club", "Befriending over the phone"}},
		{"postcode=TS1&proximity=200000", []string{"Young carers club", "Walking group", "Befriending over the phone", "Debt advice"}},
		{"organization_id=d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610&text=walking", []string{"Walking group"}},
		{"organization_id=aaaaaaaa-d3ce-4f73-9a2f-4dd0ecc6c610", nil},
		{"modified_after=" + url.QueryEscape(before.Add(-time.Minute).UTC().Format(time.RFC3339)), []string{"Befriending over the phone", "Debt advice", "Walking group", "Young carers club"}},
		{"modified_after=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil},
		{"modified_after=" + before.Add(-time.Hour).In(time.FixedZone("", 3600)).Format(time.RFC3339), // the + unescaped
			[]string{"Befriending over the phone", "Debt advice", "Walking group", "Young carers club"}},
		{"modified_after=2020-01-01", []string{"Befriending over the phone", "Debt advice", "Walking group", "Young carers club"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got := ids(t, "/oruk/services?"+tc.query)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		var seen []string
		for n := 1; n <= 2; n++ {
			p := oruktest.ValidatePage(t, oruktest.ServiceList, s.with(t).ok("/oruk/services?per_page=3&page="+strconv.Itoa(n), oruktest.ServiceList, true))
			want := oruktest.PageOf{TotalItems: 4, TotalPages: 2, PageNumber: n, Size: 3, FirstPage: n == 1, LastPage: n == 2}
			if n == 2 {
				want.Size = 1
			}
			p.Contents, want.Contents = nil, nil
			if p.TotalItems != want.TotalItems || p.TotalPages != want.TotalPages || p.PageNumber != want.PageNumber || p.Size != want.Size ||
				p.FirstPage != want.FirstPage || p.LastPage != want.LastPage || p.Empty {
				t.Errorf("page %d: got %+v, want %+v", n, p, want)
			}
			seen = append(seen, ids(t, "/oruk/services?per_page=3&page="+strconv.Itoa(n))...)
		}
		if len(seen) != 4 {
			t.Errorf("two pages of 3 gave %v, want all four services once", seen)
		}
		p := oruktest.ValidatePage(t, oruktest.ServiceList, s.with(t).ok("/oruk/services?text=nothing-matches", oruktest.ServiceList, true))
		if !p.Empty || p.TotalItems != 0 || p.TotalPages != 0 || len(p.Contents) != 0 {
			t.Errorf("empty result: got %+v", p)
		}
	})
}

// Invalid filters are refused together, each with its reason.
func TestInvalidQuery(t *testing.T) {
	s := start(t)
	status, body := s.get("/oruk/services?page=0&per_page=1000&postcode=nowhere&age=old&modified_after=yesterday&proximity=far")
	if status != http.StatusBadRequest {
		t.Fatalf("got %d, want 400: %s", status, body)
	}
	var p struct {
		Errors []struct{ Field, Reason string }
	}
	_ = json.Unmarshal(body, &p)
	got := map[string]bool{}
	for _, e := range p.Errors {
		got[e.Field] = true
	}
	for _, f := range []string{"page", "per_page", "postcode", "age", "modified_after", "proximity"} {
		if !got[f] {
			t.Errorf("no error for %s in %s", f, body)
		}
	}
	status, body = s.get("/oruk/services?postcode=ZE1+0AA&proximity=1000")
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), "ZE1 0AA") {
		t.Errorf("proximity from a postcode pathway has no place near: got %d %s, want 422 naming it", status, body)
	}
}

// Organizations, taxonomies and the index document validate and list
// what the directory holds.
func TestOrganizationsTaxonomiesIndex(t *testing.T) {
	s := start(t)
	s.importJSON(encode(t, []any{record(t, nil)}))

	orgs := oruktest.ValidatePage(t, oruktest.OrganizationList, s.ok("/oruk/organizations", oruktest.OrganizationList, true))
	if orgs.TotalItems != 1 {
		t.Fatalf("organizations: got %d, want 1", orgs.TotalItems)
	}
	oruktest.Validate(t, oruktest.Organization, orgs.Contents[0])
	org := decode[oruk.Organization](t, orgs.Contents[0])
	if org.ID != "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610" || org.Name == "" {
		t.Errorf("organization: got %+v", org)
	}
	full := decode[oruk.Organization](t, s.ok("/oruk/organizations/"+org.ID, oruktest.Organization, false))
	if len(full.Services) != 1 || full.Services[0].Name != "Community Counselling" {
		t.Errorf("organization's services: got %+v", full.Services)
	}

	tax := oruktest.ValidatePage(t, oruktest.Taxonomy, s.ok("/oruk/taxonomies", oruktest.Taxonomy, true))
	if tax.TotalItems != 2 {
		t.Errorf("taxonomies: got %d, want 2 (pathway needs, source terms)", tax.TotalItems)
	}
	s.ok("/oruk/taxonomies/"+oruk.NeedsTaxonomy.ID, oruktest.Taxonomy, false)
	terms := oruktest.ValidatePage(t, oruktest.TaxonomyTerm, s.ok("/oruk/taxonomy_terms?taxonomy_id="+oruk.SourceTaxonomy.ID, oruktest.TaxonomyTerm, true))
	if terms.TotalItems != 1 || !strings.Contains(string(terms.Contents[0]), `"name":"name"`) {
		t.Errorf("source terms: got %d: %s", terms.TotalItems, terms.Contents)
	}

	idx := decode[oruk.Index](t, s.ok("/oruk/", oruktest.Index, false))
	if idx.Version != "3.0" || idx.OpenAPIURL == "" || idx.Profile == "" || idx.Extensions["pathway_capacity_status"] == "" {
		t.Errorf("index: got %+v", idx)
	}
}

// A retired service leaves the list and reads back with its status; a
// client asking for changes since before it sees it go.
func TestRetiredService(t *testing.T) {
	s := start(t)
	rep := s.importJSON(encode(t, []any{record(t, nil)}))
	id := rep.Results[0].ServiceID
	before := time.Now().UTC() // after the import: only the retirement is newer
	s.retire(id, "inactive")

	got := decode[oruk.Service](t, s.ok("/oruk/services/"+id, oruktest.Service, false))
	if got.Status != "inactive" {
		t.Errorf("GET /oruk/services/{id}: status %q, want inactive", got.Status)
	}
	if p := oruktest.ValidatePage(t, oruktest.ServiceList, s.ok("/oruk/services", oruktest.ServiceList, true)); p.TotalItems != 0 {
		t.Errorf("the list still shows the retired service: %s", p.Contents)
	}
	p := oruktest.ValidatePage(t, oruktest.ServiceList, s.ok("/oruk/services?modified_after="+url.QueryEscape(before.Format(time.RFC3339Nano)), oruktest.ServiceList, true))
	if p.TotalItems != 1 || decode[oruk.Service](t, p.Contents[0]).Status != "inactive" {
		t.Errorf("changes since before the retirement: got %s, want the service, inactive", p.Contents)
	}
	org := decode[oruk.Organization](t, s.ok("/oruk/organizations/"+got.OrganizationID, oruktest.Organization, false))
	if len(org.Services) != 1 || org.Services[0].Status != "inactive" {
		t.Errorf("the organization's services: got %+v", org.Services)
	}
}
