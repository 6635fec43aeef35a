package httpapi_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestImportFullServiceComesBackOnSearch is issue 14's must-show through
// the API: the HSDS 3.0 full service, placed in Middlesbrough, imports with
// its schedules, languages, fees, eligibility description and physical
// location, and search (by the city, and by a postcode) and the service's
// read give them back; a second location that is wrong is reported at its
// JSON path and the service kept. Every published example file imports
// through the API without a 400.
func TestImportFullServiceComesBackOnSearch(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin, ops := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, "")
	fixtures := filepath.Join("..", "..", "domain", "partner", "testdata")
	files, err := filepath.Glob(filepath.Join(fixtures, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("example files: %v %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct{ Results []struct{ Action string } }
		if code, body := p.do("POST", "/v1/directory/import", admin, data, &rep); code != http.StatusOK || len(rep.Results) == 0 {
			t.Errorf("%s: got %d %s, want 200 with each record's result", f, code, body)
		}
	}

	data, err := os.ReadFile(filepath.Join(fixtures, "hsds3", "service_full.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, r := range [][2]string{{`"id": "ac148810-d857-441c-9679-408f346de14b"`, `"id": "mbro-counselling"`}, {`"latitude": 100`, `"latitude": 54.5742`}, {`"longitude": 101`, `"longitude": -1.235`},
		{`"postal_code": "ABC 1234"`, `"postal_code": "TS1 3BA"`}, {`"country": "US"`, `"country": "GB"`}, {`"city": "MyCity"`, `"city": "Middlesbrough"`},
		{`"address_type": "postal"`, `"address_type": "physical"`}} {
		s = strings.Replace(s, r[0], r[1], 1)
	}
	i := strings.Index(s, `"service_at_locations": [`) + len(`"service_at_locations": [`)
	s = s[:i] + `{"id": "bad", "location": {"id": "l-bad", "name": "Overseas", "latitude": 95}},` + s[i:]
	var rep struct {
		Created  int
		Sequence uint64
		Results  []struct {
			Action    string
			ServiceID string `json:"service_id"`
			Dropped   []struct{ Path, Reason string }
		}
	}
	if code, body := p.do("POST", "/v1/directory/import", admin, []byte(s), &rep); code != http.StatusOK || rep.Created != 1 {
		t.Fatalf("import: got %d %s, want the service created", code, body)
	}
	if d := rep.Results[0].Dropped; len(d) != 1 || d[0].Path != "$.service_at_locations[0].location.latitude" {
		t.Errorf("dropped: got %+v, want the overseas location's latitude", d)
	}
	type service struct {
		Name        string
		Eligibility string `json:"eligibility_description"`
		Fees        string `json:"fees_description"`
		Languages   []struct{ Name, Code string }
		Schedules   []struct {
			Freq     string
			Byday    []string
			OpensAt  string `json:"opens_at"`
			ClosesAt string `json:"closes_at"`
		}
		Locations []struct{ Address, City, Postcode string }
		Contact   struct {
			Phones []struct{ Number, Extension string }
		}
	}
	check := func(what string, sv service) {
		t.Helper()
		if !strings.HasPrefix(sv.Eligibility, "This service is intended for all people aged 12") || !strings.HasPrefix(sv.Fees, "Non-NHS patients") ||
			len(sv.Languages) != 1 || sv.Languages[0].Name != "Urdu" || len(sv.Schedules) != 1 || strings.Join(sv.Schedules[0].Byday, ",") != "TH,FR" ||
			sv.Schedules[0].OpensAt != "10:00" || sv.Schedules[0].ClosesAt != "18:00" || len(sv.Locations) != 1 || sv.Locations[0].City != "Middlesbrough" || sv.Locations[0].Postcode != "TS1 3BA" ||
			len(sv.Contact.Phones) != 1 || sv.Contact.Phones[0].Number != "+441234234567" || sv.Contact.Phones[0].Extension != "100" {
			t.Errorf("%s: got %+v, want the eligibility, fees, Urdu, the Thursday and Friday sessions, the Middlesbrough location and +441234234567 x100", what, sv)
		}
	}
	for _, q := range []string{"text=middlesbrough", "postcode=TS1+3BA", "text=counselling&postcode=TS1"} {
		var found struct{ Services []service }
		if code, body := p.do("GET", fmt.Sprintf("/v1/directory/services?%s&min_seq=%d", q, rep.Sequence), ops, nil, &found); code != http.StatusOK || len(found.Services) == 0 || found.Services[0].Name != "Community Counselling" {
			t.Fatalf("search %s: got %d %s, want the counselling service first", q, code, body)
		}
		check("search "+q, found.Services[0])
	}
	var one struct{ Service service }
	if code, body := p.do("GET", fmt.Sprintf("/v1/directory/services/%s?min_seq=%d", rep.Results[0].ServiceID, rep.Sequence), ops, nil, &one); code != http.StatusOK {
		t.Fatalf("read: got %d %s", code, body)
	}
	check("read", one.Service)
}

// TestServiceBodyKeepsWhatLinkWorkersUse: an admin entering a service by
// hand gives the same fields an import keeps; its phone numbers are
// stored in E.164 and one that is not a number is refused by name.
func TestServiceBodyKeepsWhatLinkWorkersUse(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin, ops := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, "")
	if code, body := p.do("POST", "/v1/directory/partners", admin, map[string]any{"id": "org-a", "name": "Tees Walkers",
		"contact":     map[string]any{"phones": []any{map[string]any{"number": "01642 000111"}}},
		"identifiers": []any{map[string]any{"scheme": "GB-CHC", "identifier": "1123456"}}}, nil); code != http.StatusCreated {
		t.Fatalf("partner: %d %s", code, body)
	}
	svc := map[string]any{"partner_id": "org-a", "name": "Walking group", "needs": []string{"physical_activity"},
		"eligibility_description": "Adults who can walk a mile",
		"schedules":               []any{map[string]any{"freq": "WEEKLY", "byday": []string{"TU"}, "opens_at": "10:00", "closes_at": "11:30"}},
		"languages":               []any{map[string]any{"name": "Polish", "code": "pl"}},
		"fees_description":        "Free", "application_process": "Just turn up",
		"locations": []any{map[string]any{"name": "Albert Park gates", "address": "Linthorpe Road", "city": "Middlesbrough", "postcode": "ts5 6aa",
			"accessibility": []any{map[string]any{"description": "Flat paths"}}}},
		"contact": map[string]any{"phones": []any{map[string]any{"number": "+44 (0)1642 000222", "extension": "3"}}}}
	var saved struct {
		ID       string
		Sequence uint64
	}
	if code, body := p.do("POST", "/v1/directory/services", admin, svc, &saved); code != http.StatusCreated {
		t.Fatalf("service: %d %s", code, body)
	}
	var one struct {
		Service struct {
			Eligibility string `json:"eligibility_description"`
			Apply       string `json:"application_process"`
			Schedules   []struct{ Byday []string }
			Languages   []struct{ Code string }
			Locations   []struct {
				City, Postcode string
				Accessibility  []struct{ Description string }
			}
			Contact struct {
				Phones []struct{ Number, Extension string }
			}
		}
	}
	if code, body := p.do("GET", fmt.Sprintf("/v1/directory/services/%s?min_seq=%d", saved.ID, saved.Sequence), ops, nil, &one); code != http.StatusOK {
		t.Fatalf("read: %d %s", code, body)
	}
	sv := one.Service
	if sv.Eligibility != "Adults who can walk a mile" || sv.Apply != "Just turn up" || len(sv.Schedules) != 1 || sv.Schedules[0].Byday[0] != "TU" ||
		len(sv.Languages) != 1 || sv.Languages[0].Code != "pl" || len(sv.Locations) != 1 || sv.Locations[0].Postcode != "TS5 6AA" ||
		len(sv.Locations[0].Accessibility) != 1 || len(sv.Contact.Phones) != 1 || sv.Contact.Phones[0].Number != "+441642000222" || sv.Contact.Phones[0].Extension != "3" {
		t.Errorf("read: got %+v, want every field given, the phone as +441642000222 ext. 3", sv)
	}
	svc["contact"] = map[string]any{"phones": []any{map[string]any{"number": "12"}}}
	svc["schedules"] = []any{map[string]any{"freq": "DAILY", "byday": []string{"XX"}}}
	var problem struct{ Errors []struct{ Field string } }
	code, _ := p.do("POST", "/v1/directory/services", admin, svc, &problem)
	var fields []string
	for _, e := range problem.Errors {
		fields = append(fields, e.Field)
	}
	if code != http.StatusBadRequest || strings.Join(fields, ",") != "contact.phones[0].number,schedules[0].freq,schedules[0].byday[0]" {
		t.Errorf("a bad phone and schedule: got %d %v, want 400 naming the phone, the frequency and the day", code, fields)
	}
}
