package dashboard_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections/demand"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// csvRows reads a CSV answer, failing unless it is one.
func csvRows(t *testing.T, b *browser, path string) [][]string {
	t.Helper()
	code, body, hdr := b.get(path)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET %s: %d %s, want 200 text/csv", path, code, hdr.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return rows
}

// column returns the values of the CSV column named name, after the
// header.
func column(t *testing.T, rows [][]string, name string) []string {
	t.Helper()
	i := slices.Index(rows[0], name)
	if i < 0 {
		t.Fatalf("CSV header %v has no %s", rows[0], name)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[i])
	}
	return out
}

// ukToday is today's UK date, as the date fields take it.
func ukToday() string { return time.Now().In(kernel.UKTime()).Format("2006-01-02") }

// ukTomorrow is tomorrow's UK date.
func ukTomorrow() string { return time.Now().In(kernel.UKTime()).AddDate(0, 0, 1).Format("2006-01-02") }

// TestOpsFilters: the overview filters by PCN, a waitlist by practice and
// by the UK dates it waited since, the funnel by PCN, practice and the
// dates received; each filtered page's CSV link keeps the filters, and
// its CSV holds only what the page shows; a filter that is not
// understood shows its error beside the field and filters nothing.
func TestOpsFilters(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.namedWorker(uuid.NewString(), "Robin Link", "U12345", "Riverside PCN", 10)
	e.namedWorker(uuid.NewString(), "Kim Coast", "U54321", "Coastal PCN", 10)
	a := e.referFrom("A81001", "U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Ann", "Able")
	b := e.referFrom("A81002", "U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Ben", "Bold")
	c := e.referFrom("A81001", "U54321", pathwayv1.Priority_PRIORITY_ROUTINE, "Cat", "Calm")
	e.caughtUp()
	ops := e.browser()
	ops.signIn(e.opsKey())

	// The overview of one PCN: its waitlist and link worker only.
	_, page, _ := ops.get("/?pcn=U54321")
	if !strings.Contains(page, `id="queue-U54321"`) || strings.Contains(page, `id="queue-U12345"`) {
		t.Errorf("the overview of U54321 shows another PCN's waitlist, or not its own")
	}
	if !strings.Contains(page, "Kim Coast") || strings.Contains(page, "Robin Link") {
		t.Errorf("the overview of U54321 shows another PCN's link worker, or not its own")
	}
	if !strings.Contains(page, `<option value="U54321" selected>Coastal PCN (U54321)</option>`) {
		t.Errorf("the PCN filter does not show the PCN chosen by its name")
	}
	rows := csvRows(t, ops, "/?format=csv&pcn=U54321&table=waitlists")
	if got := column(t, rows, "queue"); !slices.Equal(got, []string{"U54321"}) {
		t.Errorf("the overview's waitlists CSV of U54321: queues %v, want [U54321]", got)
	}
	if !strings.Contains(page, `href="/?format=csv&amp;pcn=U54321&amp;table=waitlists"`) || !strings.Contains(page, `href="/?format=csv&amp;pcn=U54321&amp;table=caseloads"`) {
		t.Errorf("the overview's CSV links do not keep the PCN")
	}
	rows = csvRows(t, ops, "/?format=csv&pcn=U54321&table=caseloads")
	if got := column(t, rows, "name"); !slices.Equal(got, []string{"Kim Coast"}) {
		t.Errorf("the overview's caseloads CSV of U54321: %v, want [Kim Coast]", got)
	}
	_, page, _ = ops.get("/?pcn=Riverside")
	if !strings.Contains(page, `id="filter-pcn-error"`) || !strings.Contains(page, `id="queue-U12345"`) || !strings.Contains(page, `id="queue-U54321"`) {
		t.Errorf("an unknown PCN: want its error beside the field and every waitlist shown")
	}

	// A waitlist by practice (typed in lower case), and by dates.
	_, page, _ = ops.get("/waitlists/U12345?practice=a81002")
	if !strings.Contains(page, `data-referral="`+b+`"`) || strings.Contains(page, `data-referral="`+a+`"`) {
		t.Errorf("the waitlist of practice A81002 shows another practice's referral, or not its own")
	}
	if !strings.Contains(page, `href="/waitlists/U12345?format=csv&amp;practice=A81002"`) {
		t.Errorf("the waitlist's CSV link does not keep the practice")
	}
	rows = csvRows(t, ops, "/waitlists/U12345?format=csv&practice=A81002")
	if got := column(t, rows, "referral_id"); !slices.Equal(got, []string{b}) {
		t.Errorf("the CSV of practice A81002: %v, want [%s]", got, b)
	}
	today := ukToday()
	tomorrow := time.Now().In(kernel.UKTime()).AddDate(0, 0, 1).Format("2006-01-02")
	_, page, _ = ops.get("/waitlists/U12345?from=" + today + "&to=" + today)
	if !strings.Contains(page, `data-referral="`+a+`"`) || !strings.Contains(page, `data-referral="`+b+`"`) {
		t.Errorf("the waitlist waiting since today (UK) lacks today's referrals")
	}
	_, page, _ = ops.get("/waitlists/U12345?from=" + tomorrow)
	if strings.Contains(page, `data-referral="`+a+`"`) || !strings.Contains(page, "No one matches") {
		t.Errorf("the waitlist waiting since tomorrow shows today's referrals")
	}
	_, page, _ = ops.get("/waitlists/U12345?from=2026-13-01&to=" + today)
	if !strings.Contains(page, `id="filter-from-error"`) || !strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, `data-referral="`+a+`"`) {
		t.Errorf("a date that is not one: want its error beside the field, and the waitlist unfiltered by it")
	}
	_, page, _ = ops.get("/waitlists/U12345?from=" + tomorrow + "&to=" + today)
	if !strings.Contains(page, "The from date must be on or before the to date") {
		t.Errorf("from after to: want the error beside the field")
	}

	// The funnel by PCN, practice and dates received.
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", "3"}, {"pcn=U54321", "1"}, {"practice=A81001", "2"}, {"pcn=U12345&practice=A81001", "1"},
		{"from=" + today, "3"}, {"from=" + tomorrow, "0"},
	} {
		rows := csvRows(t, ops, "/funnel?format=csv&"+tc.query)
		if rows[1][0] != "referrals" || rows[1][2] != tc.want {
			t.Errorf("the funnel's CSV with %q: %v, want %s referrals", tc.query, rows[1], tc.want)
		}
	}
	_, page, _ = ops.get("/funnel?pcn=U54321&practice=A81001")
	if !strings.Contains(page, `href="/funnel?format=csv&amp;pcn=U54321&amp;practice=A81001"`) || !strings.Contains(page, `id="funnel-filtered"`) {
		t.Errorf("the filtered funnel does not say so, or its CSV link drops the filters")
	}
	_ = c
}

// TestDemandPage: the demand against capacity page shows each PCN's
// referrals in this week, the places freed and the net change, the link
// workers needed with how it is computed, and downloads as CSV with its
// filters; a link worker gets 403.
func TestDemandPage(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.namedWorker(uuid.NewString(), "Robin Link", "U12345", "Riverside PCN", 10)
	for _, name := range []string{"Ann", "Ben", "Cat"} {
		e.referFrom("A81001", "U12345", pathwayv1.Priority_PRIORITY_ROUTINE, name, "Able")
	}
	gone := e.referFrom("A81002", "U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Dan", "Dune")
	_, version, err := events.Get(context.Background(), e.log.Store, aggregate.Referral, gone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "referral", ID: gone}, version,
		events.Event{Payload: &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}}); err != nil {
		t.Fatal(err)
	}
	e.caughtUp()
	ops := e.browser()
	ops.signIn(e.opsKey())
	week := demand.WeekOf(time.Now())

	code, page, _ := ops.get("/demand")
	if code != http.StatusOK || !strings.Contains(page, `<h1>Demand and capacity</h1>`) || !strings.Contains(page, `id="demand-U12345"`) {
		t.Fatalf("the demand page: %d, want 200 with Riverside's row", code)
	}
	if !strings.Contains(page, "Riverside PCN (U12345)") || !strings.Contains(page, "Link workers needed = (average referrals in per week") {
		t.Errorf("the demand page does not name the PCN or say how the link workers needed are computed")
	}
	rows := csvRows(t, ops, "/demand?format=csv&pcn=U12345")
	last := rows[len(rows)-1]
	if got := column(t, rows, "week_starting"); len(got) != demand.DefaultWeeks || got[len(got)-1] != week {
		t.Fatalf("the CSV's weeks %v, want %d ending with %s", got, demand.DefaultWeeks, week)
	}
	in, left, net := column(t, rows, "referrals_in"), column(t, rows, "left_waitlist"), column(t, rows, "net_change")
	if in[len(in)-1] != "4" || left[len(left)-1] != "1" || net[len(net)-1] != "3" {
		t.Errorf("this week in the CSV: %v, want 4 in, 1 left the waitlist, net 3", last)
	}
	if got := column(t, rows, "link_workers"); got[0] != "1" {
		t.Errorf("link workers %v, want 1", got[0])
	}
	rows = csvRows(t, ops, "/demand?format=csv&pcn=U12345&practice=A81002")
	if in := column(t, rows, "referrals_in"); in[len(in)-1] != "1" {
		t.Errorf("this week of practice A81002: %v, want 1 in", rows[len(rows)-1])
	}
	_, page, _ = ops.get("/demand?practice=A81002&from=2020-01-01")
	if !strings.Contains(page, `id="filter-from-error"`) {
		t.Errorf("a period over two years: want the error beside the from field")
	}
	if !strings.Contains(page, `href="/demand?format=csv&amp;practice=A81002"`) {
		t.Errorf("the CSV link does not keep the practice (and drops the date in error)")
	}
	lw := e.browser()
	lw.signIn(e.key(keys.RoleLinkWorker))
	if code, _, _ := lw.get("/demand"); code != http.StatusForbidden {
		t.Errorf("a link worker's demand page: %d, want 403", code)
	}
}

// TestWaitlistAssign: ops assign a referral from its waitlist row: the
// picker offers only link workers with a place free, the form sent
// without a reason comes back with the waitlist and the error beside the
// field, then the referral goes to the worker chosen, by the API's
// command, and leaves the waitlist; a referral no longer waiting is
// refused; a link worker gets 403.
func TestWaitlistAssign(t *testing.T) {
	e := newEnv(t, withWorkspace)
	free, full := uuid.NewString(), uuid.NewString()
	e.namedWorker(free, "Robin Free", "U12345", "Riverside PCN", 10)
	e.namedWorker(full, "Lee Full", "U12345", "Riverside PCN", 0)
	id := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Sam", "Example")
	other := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Pat", "Other")
	e.caughtUp()
	ops := e.browser()
	ops.signIn(e.opsKey())
	path := "/waitlists/U12345"

	_, page, _ := ops.get(path)
	if !strings.Contains(page, `href="?assign=`+id+`#row-assign-h"`) {
		t.Fatalf("the waitlist row has no Assign link")
	}
	_, page, _ = ops.get(path + "?priority=routine")
	if !strings.Contains(page, `href="?assign=`+id+`&amp;priority=routine#row-assign-h"`) {
		t.Errorf("the Assign link of a filtered waitlist does not keep its filters")
	}
	_, page, _ = ops.get(path + "?assign=" + id)
	if !strings.Contains(page, `<option value="`+free+`">Robin Free`) || strings.Contains(page, `<option value="`+full+`"`) {
		t.Errorf("the picker: want Robin (a place free) and not Lee (full)")
	}
	if !strings.Contains(page, "1 with a full caseload are left out") {
		t.Errorf("the picker does not say a full worker is left out")
	}
	token := formToken(t, page, path+"/assign")
	code, page, _ := ops.post(path+"/assign", url.Values{"csrf": {token}, "referral_id": {id}, "worker_id": {free}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `id="row-reason-error"`) || !strings.Contains(page, `href="#row-reason"`) ||
		!strings.Contains(page, `data-referral="`+id+`"`) || !strings.Contains(page, `<option value="`+free+`" selected>`) {
		t.Fatalf("assign without a reason: %d, want 422 with the waitlist, the error beside the reason and the worker kept", code)
	}
	if h := e.history(id); slices.Contains(h, "ReferralAssigned") {
		t.Fatalf("an invalid form assigned the referral: %v", h)
	}
	token = formToken(t, page, path+"/assign")
	code, _, hdr := ops.post(path+"/assign", url.Values{"csrf": {token}, "referral_id": {id}, "worker_id": {free}, "reason": {"first free place"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), path+"?done=assigned") {
		t.Fatalf("assign: %d to %q, want 303 back to the waitlist", code, hdr.Get("Location"))
	}
	if h := e.history(id); !slices.Contains(h, "ReferralAssigned") {
		t.Fatalf("after assign: %v, want ReferralAssigned", h)
	}
	e.caughtUp()
	_, page, _ = ops.get(path + "?done=assigned")
	if strings.Contains(page, `data-referral="`+id+`"`) || !strings.Contains(page, `id="done"`) {
		t.Errorf("after assign: want the referral gone from the waitlist and the notice shown")
	}

	// No longer waiting: refused, never reassigned from here.
	_, page, _ = ops.get(path + "?assign=" + id)
	if !strings.Contains(page, "no longer waiting here") {
		t.Errorf("a row that left the waitlist: want it said")
	}
	_, page, _ = ops.get(path + "?assign=" + other)
	token = formToken(t, page, path+"/assign")
	if code, page, _ := ops.post(path+"/assign", url.Values{"csrf": {token}, "referral_id": {id}, "worker_id": {free}, "reason": {"again"}}); code != http.StatusConflict ||
		!strings.Contains(page, `<a href="#row-assign">This referral is no longer waiting on this waitlist`) {
		t.Errorf("assign a referral no longer waiting: %d, want 409 saying so in the summary", code)
	}
	if h := e.history(id); slices.Contains(h, "ReferralReassigned") {
		t.Errorf("the waitlist's form reassigned a referral: %v", h)
	}
	lw := e.browser()
	lw.signIn(e.key(keys.RoleLinkWorker))
	if code, _, _ := lw.post(path+"/assign", url.Values{"referral_id": {id}, "worker_id": {free}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Errorf("a link worker's assign: %d, want 403", code)
	}
}
