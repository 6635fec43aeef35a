package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/webhooks"
	"google.golang.org/protobuf/proto"
)

func TestViewConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return alerts.NewView() },
		View: func(p projections.Projection) any { return p.(*alerts.View).Contents() },
	})
}

// clock is the injected clock: it stands still until moved.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// opsReceiver is the operator's webhook receiver on loopback: it keeps
// the notices whose signature checks out at the injected clock's time.
type opsReceiver struct {
	secret string
	clk    *clock
	mu     sync.Mutex
	got    []webhooks.OpsPayload
	bodies []string
	bad    int
	srv    *httptest.Server
}

func newOpsReceiver(t *testing.T, clk *clock) *opsReceiver {
	rc := &opsReceiver{secret: "ops-alerts-shared-secret", clk: clk}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		var p webhooks.OpsPayload
		if webhooks.Verify(rc.secret, r.Header, body, rc.clk.Now(), 5*time.Minute) != nil || json.Unmarshal(body, &p) != nil ||
			p.DeliveryID != r.Header.Get(webhooks.HeaderDeliveryID) {
			rc.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		rc.got, rc.bodies = append(rc.got, p), append(rc.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// notices returns the referral of each notice received, in order.
func (rc *opsReceiver) notices(t *testing.T) []string {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, p := range rc.got {
		var n alerts.Notice
		if err := json.Unmarshal(p.Data, &n); err != nil || p.Type != alerts.EventType {
			t.Fatalf("notice %s of type %s: %v", p.Data, p.Type, err)
		}
		out = append(out, n.ReferralID)
	}
	return out
}

// fixture is a log with its clock, the webhook service that sends to the
// operations endpoint, and the alerts service.
type fixture struct {
	t     *testing.T
	store *events.Store
	clk   *clock
	wh    *webhooks.Service
	ops   *opsReceiver
	svc   *alerts.Service
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	l := eventstest.Start(t, false)
	clk := &clock{t: t0}
	f := &fixture{t: t, clk: clk, store: events.New(l.JS, events.Options{Now: clk.Now, Keys: l.Keys})}
	f.ops = newOpsReceiver(t, clk)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wh, err := webhooks.Open(ctx, l.JS, f.store, webhooks.Options{Master: eventstest.Master(), Now: clk.Now, Client: f.ops.srv.Client(), SendEvery: time.Hour, AllowPrivate: true,
		Ops: webhooks.Ops{URL: f.ops.srv.URL, Secret: f.ops.secret}})
	if err != nil {
		t.Fatal(err)
	}
	go wh.Run(ctx)
	<-wh.Loaded()
	f.wh = wh
	f.svc = f.alerts(ctx)
	return f
}

// alerts starts an alerts service (a process) on the fixture's log.
func (f *fixture) alerts(ctx context.Context) *alerts.Service {
	svc := alerts.New(f.store, alerts.Options{After: 4 * time.Hour, Now: f.clk.Now, Every: time.Hour, Notifier: f.wh})
	go svc.Engine().Run(ctx)
	return svc
}

// referral appends a referral's events at the clock's now, one command
// each, and returns its id.
func (f *fixture) referral(evs ...proto.Message) string {
	f.t.Helper()
	id := uuid.NewString()
	f.then(id, evs...)
	return id
}

func (f *fixture) then(id string, evs ...proto.Message) {
	f.t.Helper()
	ctx := context.Background()
	for _, e := range evs {
		v, err := f.store.Version(ctx, aggregate.Referral.Aggregate(id))
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.store.Append(ctx, aggregate.Referral.Aggregate(id), v, events.Event{Payload: e}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// check raises the alerts due at t and sends what is due; it returns how
// many were raised and the referrals alerted now, in order.
func (f *fixture) check(at time.Time) (int, []string) {
	f.t.Helper()
	f.clk.Set(at)
	n, err := f.svc.Check(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.wh.SendDue(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, a := range f.svc.Alerts() {
		ids = append(ids, a.ReferralID)
	}
	return n, ids
}

func received(urgency pathwayv1.Priority, concern bool) *pathwayv1.ReferralReceived {
	return &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: urgency,
		Person:       &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Quillonetta", FamilyName: "Zabrowski", Phone: "07700900461"},
		Safeguarding: &pathwayv1.Safeguarding{Concern: concern, Details: "Disclosed risk at home"}}
}

var (
	urgent  = pathwayv1.Priority_PRIORITY_URGENT
	routine = pathwayv1.Priority_PRIORITY_ROUTINE
	accept  = &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "accept"}
)

// TestUrgentAndSafeguardingWaitsRaiseAlerts: urgent and safeguarding
// referrals that wait to be triaged or assigned beyond the threshold
// are listed with their wait and sent, signed, to the operations webhook
// once each, however often and by however many processes it is checked;
// routine ones, those picked up in time and those closed never are; an
// alert clears when its referral is assigned, and a referral that waits
// again raises a new one.
func TestUrgentAndSafeguardingWaitsRaiseAlerts(t *testing.T) {
	f := newFixture(t)
	untriaged := f.referral(received(urgent, false)) // nobody triages it
	safeguarding := f.referral(referral.Receive(received(routine, true))...)
	f.referral(received(routine, false), accept, &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: routine})
	pickedUp := f.referral(received(urgent, false), accept)
	closed := f.referral(received(urgent, false))
	f.clk.Set(t0.Add(time.Hour))
	// Triaged an hour later, and no PCN covers its practice: its wait
	// goes on from when it was received.
	f.then(safeguarding, accept, &pathwayv1.ReferralWaitlisted{Queue: "unmatched", Priority: urgent})
	f.then(pickedUp, &pathwayv1.ReferralAssigned{WorkerId: "w1", Queue: "U12345"})
	f.then(closed, &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED})
	f.clk.Set(t0.Add(2 * time.Hour))
	later := f.referral(received(urgent, false), accept)

	if n, ids := f.check(t0.Add(4*time.Hour - time.Minute)); n != 0 || len(ids) != 0 {
		t.Fatalf("a minute before the threshold: raised %d, alerts %v; want none", n, ids)
	}
	n, ids := f.check(t0.Add(4 * time.Hour))
	if want := []string{safeguarding, untriaged}; n != 2 || !slices.Equal(ids, want) {
		t.Fatalf("at the threshold: raised %d, alerts %v; want %v (safeguarding first)", n, ids, want)
	}
	a := f.svc.Alerts()[0]
	if !a.Safeguarding || a.Priority != urgent || a.Status != referral.StatusWaitlisted || a.Queue != "unmatched" || a.Waited != 4*time.Hour || !a.Since.Equal(t0) {
		t.Errorf("safeguarding alert %+v, want urgent, waitlisted on unmatched, 4h since %v", a, t0)
	}
	if got := sorted(f.ops.notices(t)); !slices.Equal(got, sorted([]string{safeguarding, untriaged})) || f.ops.bad != 0 {
		t.Fatalf("operations webhook got %v (%d badly signed), want the two alerts", got, f.ops.bad)
	}
	for _, body := range f.ops.bodies {
		for _, personal := range []string{"9434765919", "Quillonetta", "Zabrowski", "07700900461", "Disclosed"} {
			if strings.Contains(body, personal) {
				t.Errorf("a notice carries %q: %s", personal, body)
			}
		}
	}

	// Checked again, and by another process: listed still, sent no more.
	if n, ids := f.check(t0.Add(4*time.Hour + 30*time.Minute)); n != 0 || len(ids) != 2 {
		t.Fatalf("checked again: raised %d, alerts %v; want none raised, two listed", n, ids)
	}
	other := f.alerts(t.Context())
	if n, err := other.Check(t.Context()); err != nil || n != 2 {
		t.Fatalf("another process: raised %d (%v), want the two logged there too", n, err)
	}
	f.wh.SendDue(t.Context())
	if got := f.ops.notices(t); len(got) != 2 {
		t.Fatalf("after another check and another process, the webhook got %v; want each alert once", got)
	}

	// Assigned, it clears; a referral whose wait passes the threshold
	// later is raised then; a reopened one waits, and alerts, again.
	f.clk.Set(t0.Add(5 * time.Hour))
	f.then(untriaged, accept, &pathwayv1.ReferralAssigned{WorkerId: "w2", Queue: "U12345"})
	if n, ids := f.check(t0.Add(5 * time.Hour)); n != 0 || !slices.Equal(ids, []string{safeguarding}) {
		t.Fatalf("after the untriaged one was assigned: raised %d, alerts %v; want only %s", n, ids, safeguarding)
	}
	if n, ids := f.check(t0.Add(6 * time.Hour)); n != 1 || !slices.Equal(ids, []string{safeguarding, later}) {
		t.Fatalf("six hours on: raised %d, alerts %v; want %s raised", n, ids, later)
	}
	f.then(untriaged, &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED},
		&pathwayv1.ReferralReopened{Reason: "came back"})
	if _, ids := f.check(t0.Add(9*time.Hour + 59*time.Minute)); slices.Contains(ids, untriaged) {
		t.Fatalf("reopened at 6h: alerted before 4h more passed: %v", ids)
	}
	if n, ids := f.check(t0.Add(10 * time.Hour)); n != 1 || !slices.Contains(ids, untriaged) {
		t.Fatalf("reopened at 6h, checked at 10h: raised %d, alerts %v; want it alerting again", n, ids)
	}
	if got := sorted(f.ops.notices(t)); !slices.Equal(got, sorted([]string{safeguarding, untriaged, later, untriaged})) {
		t.Fatalf("the webhook got %v, want the four alerts once each", got)
	}
	for _, d := range f.wh.OpsDeliveries("") {
		if d.Status != webhooks.StatusDelivered || d.Partner != webhooks.OpsPartner {
			t.Errorf("delivery %s: %s to %q, want delivered to operations", d.ID, d.Status, d.Partner)
		}
	}
}

// TestAlertsWaitForTheView: a check made while the view is behind the
// log waits for it, so an alert is never missed because the view had not
// yet read the referral.
func TestAlertsWaitForTheView(t *testing.T) {
	f := newFixture(t)
	svc := alerts.New(f.store, alerts.Options{After: time.Hour, Now: f.clk.Now})
	id := f.referral(referral.Receive(received(routine, true))...)
	f.clk.Set(t0.Add(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() { n, err := svc.Check(ctx); done <- result{n, err} }()
	go svc.Engine().Run(ctx)
	if r := <-done; r.err != nil || r.n != 1 || svc.Alerts()[0].ReferralID != id {
		t.Fatalf("check on a view not yet caught up: raised %d, %v; want the safeguarding referral", r.n, r.err)
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
