package directorysync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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

type counts struct{ listed, created, updated, retired, reinstated, unchanged, skipped int }

func countsOf(r directorysync.Report) counts {
	return counts{r.Listed, r.Created, r.Updated, r.Retired, r.Reinstated, r.Unchanged, r.Skipped}
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
	src := oruktest.NewSource(t, "Walking group", "Befriending", "Debt advice")
	var stages []directorysync.Progress
	sy := syncer(t, lg.Store, lg, func(p directorysync.Progress) { stages = append(stages, p) })
	ctx := context.Background()

	rep, err := sy.Sync(ctx, src.URL+"/", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 3, created: 3}); got != want {
		t.Fatalf("first sync: got %+v, want %+v", got, want)
	}
	queries := src.Queries()
	if !rep.Since.IsZero() || strings.Contains(queries[0], "modified_after") {
		t.Errorf("first sync asked for changes since %v (%s), want everything", rep.Since, queries[0])
	}
	if len(queries) != 2 {
		t.Errorf("first sync listed %d pages (%q), want 2 of 2 services", len(queries), queries)
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
	src.Fetched()

	src.Change(2, func(m map[string]any) { m["description"] = "Befriending by phone and in person" })
	rep, err = sy.Sync(ctx, src.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 1, updated: 1}); got != want {
		t.Fatalf("sync after one change: got %+v, want %+v (%+v)", got, want, rep.Results)
	}
	if got := src.Fetched(); !slices.Equal(got, []string{oruktest.SourceID(2)}) {
		t.Errorf("fetched %v, want only the changed service", got)
	}
	if q := src.Queries(); !strings.Contains(q[0], "modified_after=") || rep.Since.IsZero() {
		t.Errorf("second sync asked %q, want modified_after", q[0])
	}
	svc, _, err := events.Get(ctx, lg.Store, aggregate.Service, partner.ServiceIDFor(oruktest.SourceID(2)))
	if err != nil || svc.Details().GetDescription() != "Befriending by phone and in person" {
		t.Errorf("the change did not reach the directory: %q %v", svc.Details().GetDescription(), err)
	}

	rep, err = sy.Sync(ctx, src.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created+rep.Updated+rep.Retired != 0 {
		t.Errorf("a sync with nothing changed: got %+v, want no change", countsOf(rep))
	}

	rep, err = sy.Sync(ctx, src.URL, true)
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
	src := oruktest.NewSource(t, "Walking group", "Befriending", "Debt advice")
	src.Change(3, func(m map[string]any) { m["organization"] = nil })
	src.Remove(1) // listed, then gone
	sy := syncer(t, lg.Store, lg, nil)
	rep, err := sy.Sync(context.Background(), src.URL, false)
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
	if r := reasons[oruktest.SourceID(1)]; !strings.Contains(r, "not found") {
		t.Errorf("the missing service: got %q", r)
	}
	if r := reasons[oruktest.SourceID(3)]; !strings.Contains(r, "organization") {
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

// A record the source sets inactive retires its service, with an event;
// set active again, it is reinstated. Each is reported once.
func TestSyncRetiresAndReinstates(t *testing.T) {
	lg := eventstest.Start(t, false)
	src := oruktest.NewSource(t, "Walking group", "Befriending")
	sy := syncer(t, lg.Store, lg, nil)
	ctx := context.Background()
	if _, err := sy.Sync(ctx, src.URL, false); err != nil {
		t.Fatal(err)
	}
	id := partner.ServiceIDFor(oruktest.SourceID(1))

	src.Change(1, func(m map[string]any) { m["status"] = "inactive" })
	rep, err := sy.Sync(ctx, src.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countsOf(rep), (counts{listed: 1, retired: 1}); got != want {
		t.Fatalf("after the source set one inactive: got %+v, want %+v (%+v)", got, want, rep.Results)
	}
	svc, _, err := events.Get(ctx, lg.Store, aggregate.Service, id)
	if err != nil || svc.Retired() != "inactive" {
		t.Fatalf("service retired %q (%v), want inactive", svc.Retired(), err)
	}
	rep, err = sy.Sync(ctx, src.URL, false)
	if err != nil || rep.Retired != 0 {
		t.Errorf("the next sync retired it again: %+v %v", countsOf(rep), err)
	}

	src.Change(1, func(m map[string]any) { m["status"] = "active" })
	rep, err = sy.Sync(ctx, src.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reinstated != 1 {
		t.Errorf("after the source set it active again: got %+v, want one reinstated", countsOf(rep))
	}
	if svc, _, _ := events.Get(ctx, lg.Store, aggregate.Service, id); svc.Retired() != "" {
		t.Errorf("still retired: %q", svc.Retired())
	}
}

// Every syncs at once, reports each sync, goes on after a failed one, and
// returns when its context ends.
func TestEvery(t *testing.T) {
	lg := eventstest.Start(t, false)
	src := oruktest.NewSource(t, "Walking group")
	sy := syncer(t, lg.Store, lg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reports []directorysync.Report
	err := sy.Every(ctx, src.URL, time.Hour, func(rep directorysync.Report, err error) {
		if err != nil {
			t.Errorf("sync: %v", err)
		}
		reports = append(reports, rep)
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Every returned %v, want context.Canceled", err)
	}
	if len(reports) != 1 || reports[0].Created != 1 {
		t.Errorf("reports: %+v, want one sync that created the service", reports)
	}

	// A failing source is reported, and the schedule goes on.
	failing := directorysync.New(directory.New(lg.Store), failingMemory{}, directorysync.Options{})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var errs []error
	err = failing.Every(ctx, src.URL, time.Minute, func(_ directorysync.Report, err error) {
		errs = append(errs, err)
		cancel()
	})
	if !errors.Is(err, context.Canceled) || len(errs) != 1 || errs[0] == nil || !strings.Contains(errs[0].Error(), "memory unavailable") {
		t.Errorf("a failing sync: Every %v, reported %v; want the failure reported and Every to end only with its context", err, errs)
	}
}

type failingMemory struct{}

func (failingMemory) Last(context.Context, string) (time.Time, error) {
	return time.Time{}, errors.New("memory unavailable")
}

func (failingMemory) Remember(context.Context, string, time.Time, directorysync.Report) error {
	return errors.New("memory unavailable")
}
