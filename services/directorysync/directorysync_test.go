package directorysync_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/directorysync"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// source is a local Open Referral UK API: GET /services pages the
// services (modified_after filtering on last_modified), GET
// /services/{id} gives one in full. Its records are the standard's
// service_full example made into distinct UK services.
type source struct {
	mu       sync.Mutex
	services map[string]map[string]any
	queries  []string // the query of every list request
	fetched  []string // the id of every service fetched
}

func newSource(tb testing.TB, names ...string) (*source, *httptest.Server) {
	tb.Helper()
	s := &source{services: map[string]map[string]any{}}
	for i, name := range names {
		var m map[string]any
		if err := json.Unmarshal(oruktest.Example(tb, "service_full.json"), &m); err != nil {
			tb.Fatal(err)
		}
		m["id"] = "0000000" + strconv.Itoa(i+1) + "-d857-441c-9679-408f346de14b"
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
	return s, srv
}

// change edits service i (from 1) and marks it modified now.
func (s *source) change(i int, edit func(m map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.services["0000000"+strconv.Itoa(i)+"-d857-441c-9679-408f346de14b"]
	edit(m)
	m["last_modified"] = time.Now().UTC().Format(time.RFC3339Nano)
}

func (s *source) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, r.URL.RawQuery)
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("per_page"))
	page, size = max(page, 1), max(size, 1)
	var ids []string
	for id, m := range s.services {
		if after := q.Get("modified_after"); after != "" {
			t, err := time.Parse(time.RFC3339, after)
			if err != nil {
				http.Error(w, "bad modified_after", http.StatusBadRequest)
				return
			}
			lm, _ := time.Parse(time.RFC3339Nano, m["last_modified"].(string))
			if lm.Before(t) {
				continue
			}
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
	_ = json.NewEncoder(w).Encode(map[string]any{"total_items": len(ids), "total_pages": pages, "page_number": page, "size": len(contents),
		"first_page": page == 1, "last_page": page >= pages, "empty": len(ids) == 0, "contents": contents})
}

func (s *source) one(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched = append(s.fetched, r.PathValue("id"))
	m, ok := s.services[r.PathValue("id")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(m)
}

func (s *source) takeFetched() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fetched
	s.fetched = nil
	slices.Sort(f)
	return f
}

type counts struct{ listed, created, updated, retired, unchanged, skipped int }

func countsOf(r directorysync.Report) counts {
	return counts{r.Listed, r.Created, r.Updated, r.Retired, r.Unchanged, r.Skipped}
}

func syncer(tb testing.TB, store *events.Store, lg *eventstest.Log, progress func(directorysync.Progress)) *directorysync.Syncer {
	tb.Helper()
	st, err := directorysync.OpenState(context.Background(), lg.JS, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return directorysync.New(directory.New(store), st, directorysync.Options{PerPage: 2, Progress: progress,
		Actor: events.Command{Actor: &pathwayv1.Actor{Id: "pathway-directory-sync", Role: pathwayv1.Role_ROLE_ADMIN}}})
}

// A first sync creates the source's services; a second after a change
// asks only for what changed since and updates only that; a sync with no
// change leaves everything as it is; a full sync finds every service
// unchanged.
func TestSyncIsIncrementalAndIdempotent(t *testing.T) {
	lg := eventstest.Start(t, false)
	src, srv := newSource(t, "Walking group", "Befriending", "Debt advice")
	var stages []directorysync.Progress
	sy := syncer(t, lg.Store, lg, func(p directorysync.Progress) { stages = append(stages, p) })
	ctx := context.Background()

	rep, err := sy.Sync(ctx, srv.URL+"/api/", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 3, created: 3}); got != want {
		t.Fatalf("first sync: got %+v, want %+v", got, want)
	}
	if !rep.Since.IsZero() || strings.Contains(src.queries[0], "modified_after") {
		t.Errorf("first sync asked for changes since %v (%s), want everything", rep.Since, src.queries[0])
	}
	if len(src.queries) != 2 {
		t.Errorf("first sync listed %d pages (%q), want 2 of 2 services", len(src.queries), src.queries)
	}
	if len(stages) == 0 || stages[len(stages)-1] != (directorysync.Progress{Stage: "importing", Done: 3, Total: 3}) {
		t.Errorf("progress: got %+v, want it to end importing 3/3", stages)
	}
	for _, r := range rep.Results {
		svc, _, err := events.Get(ctx, lg.Store, aggregate.Service, r.ServiceID)
		if err != nil || !svc.Exists() || svc.Details().GetHsdsServiceId() != r.HSDSID {
			t.Errorf("service %s (%s) not in the directory: %v", r.ServiceID, r.HSDSID, err)
		}
	}
	src.takeFetched()

	src.change(2, func(m map[string]any) { m["description"] = "Befriending by phone and in person" })
	src.queries = nil
	rep, err = sy.Sync(ctx, srv.URL+"/api", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 1, updated: 1}); got != want {
		t.Fatalf("sync after one change: got %+v, want %+v (%+v)", got, want, rep.Results)
	}
	if got := src.takeFetched(); !slices.Equal(got, []string{"00000002-d857-441c-9679-408f346de14b"}) {
		t.Errorf("fetched %v, want only the changed service", got)
	}
	if !strings.Contains(src.queries[0], "modified_after=") || rep.Since.IsZero() {
		t.Errorf("second sync asked %q, want modified_after", src.queries[0])
	}
	svc, _, err := events.Get(ctx, lg.Store, aggregate.Service, partner.ServiceIDFor("00000002-d857-441c-9679-408f346de14b"))
	if err != nil || svc.Details().GetDescription() != "Befriending by phone and in person" {
		t.Errorf("the change did not reach the directory: %q %v", svc.Details().GetDescription(), err)
	}

	rep, err = sy.Sync(ctx, srv.URL+"/api", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created+rep.Updated+rep.Retired != 0 {
		t.Errorf("a sync with nothing changed: got %+v, want no change", countsOf(rep))
	}

	rep, err = sy.Sync(ctx, srv.URL+"/api", true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 3, unchanged: 3}); got != want {
		t.Errorf("a full sync again: got %+v, want %+v", got, want)
	}
}

// A service the source lists but cannot give, and a record the directory
// cannot take, are skipped with their reasons; the rest are imported.
func TestSyncSkipsWithReasons(t *testing.T) {
	lg := eventstest.Start(t, false)
	src, srv := newSource(t, "Walking group", "Befriending", "Debt advice")
	src.change(3, func(m map[string]any) { m["organization"] = nil })
	srv.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/00000001-d857-441c-9679-408f346de14b") {
				http.NotFound(w, r) // listed, then gone
				return
			}
			next.ServeHTTP(w, r)
		})
	}(srv.Config.Handler)
	sy := syncer(t, lg.Store, lg, nil)
	rep, err := sy.Sync(context.Background(), srv.URL+"/api", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 3, created: 1, skipped: 2}); got != want {
		t.Fatalf("got %+v, want %+v: %+v", got, want, rep.Results)
	}
	reasons := map[string]string{}
	for _, r := range rep.Results {
		reasons[r.HSDSID] = r.Action + ": " + r.Reason
	}
	if r := reasons["00000001-d857-441c-9679-408f346de14b"]; !strings.Contains(r, "not found") {
		t.Errorf("the missing service: got %q", r)
	}
	if r := reasons["00000003-d857-441c-9679-408f346de14b"]; !strings.Contains(r, "organization") {
		t.Errorf("the service without its organization: got %q", r)
	}
}

// A source that is not an ORUK API fails the sync, which is then not
// remembered: the next sync asks for everything again.
func TestFailedSyncIsNotRemembered(t *testing.T) {
	lg := eventstest.Start(t, false)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"hello": "world"}`)) }))
	t.Cleanup(bad.Close)
	sy := syncer(t, lg.Store, lg, nil)
	if _, err := sy.Sync(context.Background(), bad.URL, false); err == nil || !strings.Contains(err.Error(), "not an Open Referral UK page") {
		t.Fatalf("got %v, want not an Open Referral UK page", err)
	}
	st, _ := directorysync.OpenState(context.Background(), lg.JS, 1)
	if last, err := st.Last(context.Background(), bad.URL); err != nil || !last.IsZero() {
		t.Errorf("a failed sync was remembered: %v %v", last, err)
	}
	for _, u := range []string{"ftp://example.org", "https://user:pw@example.org/api", "https://example.org/api?key=1", "not a url"} {
		if _, err := directorysync.ParseSource(u); err == nil {
			t.Errorf("ParseSource(%q) took it", u)
		}
	}
}
