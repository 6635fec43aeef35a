package oruktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Source is a local Open Referral UK API for tests of a sync: GET
// /api/services pages its services as the ORUK API does (page, per_page,
// modified_after on last_modified), GET /api/services/{id} gives one in
// full. Its services are the standard's service_full example made into
// distinct UK services (a TS1 postcode and its coordinates). It is safe
// for concurrent use.
type Source struct {
	// URL is the API's base address (…/api).
	URL      string
	mu       sync.Mutex
	services map[string]map[string]any
	queries  []string
	fetched  []string
}

// SourceID is the HSDS id of the Source's i-th service (from 1).
func SourceID(i int) string { return "0000000" + strconv.Itoa(i) + "-d857-441c-9679-408f346de14b" }

// NewSource starts a Source with one service per name, each last
// modified a day ago; it stops when the test ends.
func NewSource(tb testing.TB, names ...string) *Source {
	tb.Helper()
	s := &Source{services: map[string]map[string]any{}}
	for i, name := range names {
		var m map[string]any
		if err := json.Unmarshal(Example(tb, "service_full.json"), &m); err != nil {
			tb.Fatal(err)
		}
		m["id"] = SourceID(i + 1)
		m["name"], m["description"] = name, name+": a service of the test source"
		m["last_modified"] = time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
		for _, sal := range m["service_at_locations"].([]any) {
			loc := sal.(map[string]any)["location"].(map[string]any)
			loc["latitude"], loc["longitude"] = 54.5742, -1.2350
			for _, a := range loc["addresses"].([]any) {
				a := a.(map[string]any)
				a["postal_code"], a["country"], a["address_type"] = "TS1 2AA", "GB", "physical"
			}
		}
		s.services[m["id"].(string)] = m
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/services", s.list)
	mux.HandleFunc("GET /api/services/{id}", s.one)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	s.URL = srv.URL + "/api"
	return s
}

// Change edits the i-th service (from 1) and marks it modified now.
func (s *Source) Change(i int, edit func(m map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.services[SourceID(i)]
	edit(m)
	m["last_modified"] = time.Now().UTC().Format(time.RFC3339Nano)
}

// Remove takes the i-th service out of the source's full reads (it is
// still listed, as a source that lists a record it then cannot give).
func (s *Source) Remove(i int) {
	s.Change(i, func(m map[string]any) { m["-gone"] = true })
}

// Queries returns the query string of every list request since the last
// call.
func (s *Source) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queries
	s.queries = nil
	return q
}

// Fetched returns, sorted, the id of every service fetched in full since
// the last call.
func (s *Source) Fetched() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fetched
	s.fetched = nil
	slices.Sort(f)
	return f
}

func (s *Source) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, r.URL.RawQuery)
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("per_page"))
	page, size = max(page, 1), max(size, 1)
	var after time.Time
	if v := q.Get("modified_after"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			http.Error(w, "modified_after must be RFC 3339", http.StatusBadRequest)
			return
		}
		after = t
	}
	var ids []string
	for id, m := range s.services {
		lm, _ := time.Parse(time.RFC3339Nano, m["last_modified"].(string))
		if lm.Before(after) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	from := min((page-1)*size, len(ids))
	to := min(from+size, len(ids))
	contents := []any{}
	for _, id := range ids[from:to] {
		m := s.services[id]
		contents = append(contents, map[string]any{"id": id, "name": m["name"], "status": m["status"], "last_modified": m["last_modified"]})
	}
	pages := (len(ids) + size - 1) / size
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"total_items": len(ids), "total_pages": pages, "page_number": page, "size": len(contents),
		"first_page": page == 1, "last_page": page >= pages, "empty": len(ids) == 0, "contents": contents})
}

func (s *Source) one(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched = append(s.fetched, r.PathValue("id"))
	m, ok := s.services[r.PathValue("id")]
	if !ok || m["-gone"] == true {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m)
}
