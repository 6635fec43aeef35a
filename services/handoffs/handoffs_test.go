package handoffs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections/caseloads"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var staff = events.Command{Actor: &pathwayv1.Actor{Id: "k1", Role: pathwayv1.Role_ROLE_LINK_WORKER}}

// world is a log with a worker's caseload, a partner and its service.
type world struct {
	store   *events.Store
	clk     *clock
	svc     *handoffs.Service
	dir     *directory.Service
	service string
	worker  string
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	log := eventstest.Start(tb, false)
	store := events.New(log.JS, events.Options{Now: clk.Now, Keys: log.Keys})
	w := &world{store: store, clk: clk, svc: handoffs.New(store, handoffs.Options{Now: clk.Now}), dir: directory.New(store), worker: uuid.NewString()}
	ctx := context.Background()
	if _, err := w.dir.SavePartner(ctx, "org-a", &pathwayv1.PartnerRegistered{Name: "Tees Walkers"}, staff); err != nil {
		tb.Fatal(err)
	}
	w.service = partner.ServiceIDFor("walk-1")
	if _, err := w.dir.SaveService(ctx, w.service, &pathwayv1.ServiceDetails{PartnerId: "org-a", Name: "Walking group",
		Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}}, 0, staff); err != nil {
		tb.Fatal(err)
	}
	if _, err := store.Append(ctx, events.Aggregate{Type: "worker", ID: w.worker}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
		Name: "Alex", Pcn: "U12345", Practices: []string{"A81001"}, Capacity: 5}}); err != nil {
		tb.Fatal(err)
	}
	return w
}

// assigned appends a referral accepted and on the worker's caseload.
func (w *world) assigned(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	_, err := w.store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: &pathwayv1.Person{GivenName: "Sam", FamilyName: "Example", NhsNumber: "9434765919", Phone: "07700900123"},
			Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}, Consent: &pathwayv1.Consent{Given: true}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "accept"}},
		events.Event{Payload: &pathwayv1.ReferralAssigned{WorkerId: w.worker}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.store.Append(ctx, events.Aggregate{Type: "worker", ID: w.worker}, events.AnyVersion, events.Event{Payload: &pathwayv1.WorkerCaseAssigned{ReferralId: id}}); err != nil {
		tb.Fatal(err)
	}
	return id
}

func (w *world) handoff(tb testing.TB, ref string) string {
	tb.Helper()
	id, _, err := w.svc.RequestHandoff(context.Background(), ref, handoffs.HandoffInput{ServiceID: w.service, Consent: true,
		Shared: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME}}, staff)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func (w *world) types(tb testing.TB, id string) []string {
	tb.Helper()
	recs, _, err := w.store.Load(context.Background(), events.Aggregate{Type: handoff.AggregateType, ID: id})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// TestDeadlineRemindersAndExpiry drives the clock through a handoff's
// response window: reminders a week and two days before the deadline,
// expiry at it, nothing for a handoff that was answered, and the expired
// handoff shown as needing action on the caseload.
func TestDeadlineRemindersAndExpiry(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	unanswered := w.handoff(t, w.assigned(t))
	answered := w.handoff(t, w.assigned(t))
	if _, _, err := w.svc.Act(ctx, answered, handoff.ActionAccept, "", "", "", staff, nil); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.svc.Run(runCtx) }()
	last, _ := w.store.LastSequence(ctx)
	if err := w.svc.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		advance time.Duration
		want    int
		last    string
	}{
		{24 * time.Hour, 0, "pathway.v1.HandoffRequested"},
		{6 * 24 * time.Hour, 1, "pathway.v1.HandoffReminderSent"}, // day 7: a week before
		{time.Hour, 0, "pathway.v1.HandoffReminderSent"},          // not sent twice
		{5 * 24 * time.Hour, 1, "pathway.v1.HandoffReminderSent"}, // day 12: two days before
		{2*24*time.Hour - 2*time.Hour, 0, "pathway.v1.HandoffReminderSent"},
		{time.Hour, 1, "pathway.v1.HandoffExpired"}, // day 14: the deadline
		{24 * time.Hour, 0, "pathway.v1.HandoffExpired"},
	}
	for i, s := range steps {
		w.clk.Add(s.advance)
		n, err := w.svc.Tick(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		types := w.types(t, unanswered)
		if n != s.want || types[len(types)-1] != s.last {
			t.Fatalf("step %d (at %v): appended %d, last event %s; want %d, %s", i, w.clk.Now(), n, types[len(types)-1], s.want, s.last)
		}
	}
	if got := w.types(t, answered); len(got) != 2 {
		t.Errorf("the answered handoff has events %v, want only requested and accepted", got)
	}
	h, _ := handoffs.LoadHandoff(ctx, w.store, unanswered)
	if h.Status() != handoff.StatusExpired || h.Reminders() != 2 {
		t.Errorf("unanswered: %s with %d reminders, want expired with 2", h.Status(), h.Reminders())
	}
	// The partner can no longer accept it.
	if _, _, err := w.svc.Act(ctx, unanswered, handoff.ActionAccept, "", "", "", staff, nil); !errors.Is(err, handoff.ErrConflict) {
		t.Errorf("accept after expiry: %v, want ErrConflict", err)
	}

	// The caseload shows the expired handoff as needing action, due at once.
	cl := caseloads.New()
	for rec, err := range w.store.Read(ctx, 1, events.AllSubjects) {
		if err != nil {
			t.Fatal(err)
		}
		cl.Apply(rec)
	}
	var needing []string
	for _, c := range cl.CasesOf(w.worker) {
		needing = append(needing, c.NeedsAction()...)
		if len(c.NeedsAction()) > 0 && c.NextActionDue().After(h.UpdatedAt()) {
			t.Errorf("next action due %v, want no later than the expiry at %v", c.NextActionDue(), h.UpdatedAt())
		}
	}
	if len(needing) != 1 || needing[0] != unanswered {
		t.Errorf("handoffs needing action %v, want [%s]", needing, unanswered)
	}
	// Cancelling it clears the flag.
	if _, _, err := w.svc.Act(ctx, unanswered, handoff.ActionCancel, "circumstances-changed", "", "", staff, nil); err != nil {
		t.Fatal(err)
	}
	cl = caseloads.New()
	for rec, err := range w.store.Read(ctx, 1, events.AllSubjects) {
		if err != nil {
			t.Fatal(err)
		}
		cl.Apply(rec)
	}
	for _, c := range cl.CasesOf(w.worker) {
		if len(c.NeedsAction()) > 0 {
			t.Errorf("after cancel, case %s still needs action on %v", c.ID, c.NeedsAction())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestTwoClocksRecordOnce: two deadline clocks on one log expire a
// handoff once.
func TestTwoClocksRecordOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.handoff(t, w.assigned(t))
	other := handoffs.New(w.store, handoffs.Options{Now: w.clk.Now})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, s := range []*handoffs.Service{w.svc, other} {
		go s.Run(runCtx)
		last, _ := w.store.LastSequence(ctx)
		if err := s.WaitFor(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	w.clk.Add(15 * 24 * time.Hour)
	var wg sync.WaitGroup
	for _, s := range []*handoffs.Service{w.svc, other} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Tick(ctx) }()
	}
	wg.Wait()
	expired := 0
	for _, typ := range w.types(t, id) {
		if typ == "pathway.v1.HandoffExpired" {
			expired++
		}
	}
	if expired != 1 {
		t.Errorf("%d HandoffExpired events, want 1: %v", expired, w.types(t, id))
	}
}

// TestImportIdempotent: the same records twice change nothing the second
// time; a changed record is updated.
func TestImportIdempotent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	recs, err := partner.ParseHSDS([]byte(`[
	 {"id": "s1", "name": "Gardening club", "organization": {"id": "org-g", "name": "Green Tees"}, "attributes": [{"taxonomy_term": {"name": "Gardening"}}]},
	 {"id": "s2", "name": "Choir", "organization": {"id": "org-g", "name": "Green Tees"}, "attributes": [{"taxonomy_term": {"name": "Singing"}}]},
	 {"id": "s3", "name": "Bad", "organization": {"id": "org g", "name": "Bad Org"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.dir.Import(ctx, recs, staff, nil)
	if err != nil || rep.Created != 2 || rep.Skipped != 1 || rep.Partners != 1 {
		t.Fatalf("first import: %+v %v; want 2 created, 1 skipped, 1 partner", rep, err)
	}
	before, _ := w.store.LastSequence(ctx)
	rep, _ = w.dir.Import(ctx, recs, staff, nil)
	after, _ := w.store.LastSequence(ctx)
	if rep.Unchanged != 2 || rep.Created != 0 || after != before {
		t.Errorf("second import: %+v, log %d -> %d; want 2 unchanged and nothing appended", rep, before, after)
	}
	recs[1].Service.Description = "Tuesday evenings"
	rep, _ = w.dir.Import(ctx, recs, staff, nil)
	if rep.Updated != 1 || rep.Unchanged != 1 {
		t.Errorf("changed import: %+v, want 1 updated and 1 unchanged", rep)
	}
}

// TestActRetryIsIdempotent: a partner's answer retried with the same
// Idempotency-Key (its first answer's acknowledgement was lost) gets the
// original result instead of a conflict, and appends nothing.
func TestActRetryIsIdempotent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.handoff(t, w.assigned(t))
	c := events.Command{Actor: &pathwayv1.Actor{Id: "p1", Role: pathwayv1.Role_ROLE_PARTNER}, IdempotencyKey: "accept-1"}
	seq, st, err := w.svc.Act(ctx, id, handoff.ActionAccept, "", "", "", c, nil)
	if err != nil || st != handoff.StatusAccepted {
		t.Fatalf("accept: %s, %v", st, err)
	}
	if _, _, err := w.svc.Act(ctx, id, handoff.ActionStart, "", "", "", events.Command{Actor: c.Actor}, nil); err != nil {
		t.Fatal(err)
	}
	before := len(w.types(t, id))
	again, st2, err := w.svc.Act(ctx, id, handoff.ActionAccept, "", "", "", c, nil)
	if err != nil || again != seq || st2 != handoff.StatusAccepted {
		t.Errorf("retried accept: seq %d, %s, %v; want the original %d, accepted", again, st2, err, seq)
	}
	if after := len(w.types(t, id)); after != before {
		t.Errorf("the retry appended %d events", after-before)
	}
	// Without the key, accepting an in-progress handoff is a conflict.
	if _, _, err := w.svc.Act(ctx, id, handoff.ActionAccept, "", "", "", events.Command{Actor: c.Actor}, nil); !errors.Is(err, handoff.ErrConflict) {
		t.Errorf("a second accept without the key: %v, want ErrConflict", err)
	}
}

// TestReferralClosingCancelsHandoffs: a discharge cancels the handoffs the
// partner has not answered and leaves accepted work alone; a cancelled
// referral takes every open handoff with it.
func TestReferralClosingCancelsHandoffs(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	discharged := w.assigned(t)
	unanswered, accepted := w.handoff(t, discharged), w.handoff(t, discharged)
	if _, _, err := w.svc.Act(ctx, accepted, handoff.ActionAccept, "", "", "", staff, nil); err != nil {
		t.Fatal(err)
	}
	cancelledRef := w.assigned(t)
	inProgress := w.handoff(t, cancelledRef)
	w.svc.Act(ctx, inProgress, handoff.ActionAccept, "", "", "", staff, nil)
	w.svc.Act(ctx, inProgress, handoff.ActionStart, "", "", "", staff, nil)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.svc.Run(runCtx)
	in := intake.New(w.store, person.Keyer{}, intake.Options{Now: w.clk.Now})
	if _, err := in.Discharge(ctx, discharged, staff, pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Cancel(ctx, cancelledRef, staff, pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR, "wrong person"); err != nil {
		t.Fatal(err)
	}
	status := func(id string) handoff.Status {
		h, err := handoffs.LoadHandoff(ctx, w.store, id)
		if err != nil {
			t.Fatal(err)
		}
		return h.Status()
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(unanswered) != handoff.StatusCancelled || status(inProgress) != handoff.StatusCancelled {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: unanswered %s, in progress %s; want both cancelled", status(unanswered), status(inProgress))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := status(accepted); got != handoff.StatusAccepted {
		t.Errorf("the accepted handoff of the discharged referral is %s, want still accepted", got)
	}
}

// TestInjectedIDs: a handoff requested without an Idempotency-Key takes
// its id from the injected generator.
func TestInjectedIDs(t *testing.T) {
	w := newWorld(t)
	want := uuid.MustParse("01900000-0000-7000-8000-0000000000ab")
	w.svc = handoffs.New(w.store, handoffs.Options{Now: w.clk.Now, NewID: func() (uuid.UUID, error) { return want, nil }})
	if id := w.handoff(t, w.assigned(t)); id != want.String() {
		t.Errorf("handoff id %s, want the generator's %s", id, want)
	}
}

// TestRetiredServiceRefusesHandoffs is issue 14's must-show: an import
// that marks a service inactive retires it; the handoff already made to
// it stays where it was, and a new one is refused. Marked active again,
// it takes handoffs once more.
func TestRetiredServiceRefusesHandoffs(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	open := w.handoff(t, w.assigned(t))
	record := func(status string) []partner.Record {
		recs, err := partner.ParseHSDS([]byte(`{"id": "walk-1", "name": "Walking group", "status": "` + status + `", "organization_id": "org-a",
		  "attributes": [{"taxonomy_term": {"name": "Befriending"}}]}`))
		if err != nil || len(recs) != 1 || recs[0].Skip != "" {
			t.Fatalf("parse: got %+v, %v; want one record", recs, err)
		}
		return recs
	}
	rep, err := w.dir.Import(ctx, record("inactive"), staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retired != 1 || rep.Results[0].Action != directory.ActionRetired {
		t.Fatalf("import of an inactive record: got %+v, want the service retired", rep)
	}
	svc, err := directory.LoadService(ctx, w.store, w.service)
	if err != nil || svc.Retired() != "inactive" {
		t.Fatalf("service after the import: retired %q (%v), want inactive", svc.Retired(), err)
	}
	if got := w.types(t, open); got[len(got)-1] != "pathway.v1.HandoffRequested" {
		t.Errorf("the open handoff: got events %v, want it still requested", got)
	}
	_, _, err = w.svc.RequestHandoff(ctx, w.assigned(t), handoffs.HandoffInput{ServiceID: w.service, Consent: true,
		Shared: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME}}, staff)
	if !errors.Is(err, handoff.ErrConflict) {
		t.Fatalf("a handoff to the retired service: got %v, want handoff.ErrConflict", err)
	}
	// The same file again changes nothing.
	if rep, err := w.dir.Import(ctx, record("inactive"), staff, nil); err != nil || rep.Unchanged != 1 {
		t.Fatalf("the same import again: got %+v, %v; want unchanged", rep, err)
	}
	if rep, err := w.dir.Import(ctx, record("active"), staff, nil); err != nil || rep.Reinstated != 1 {
		t.Fatalf("import of the record active again: got %+v, %v; want it reinstated", rep, err)
	}
	if _, _, err := w.svc.RequestHandoff(ctx, w.assigned(t), handoffs.HandoffInput{ServiceID: w.service, Consent: true,
		Shared: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME}}, staff); err != nil {
		t.Fatalf("a handoff to the reinstated service: got %v, want it requested", err)
	}
}

// TestImportOfARetiredServiceNeverHeld: a record marked defunct for a
// service pathway never had is skipped saying so, and adds neither the
// service nor its organization.
func TestImportOfARetiredServiceNeverHeld(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	recs, err := partner.ParseHSDS([]byte(`{"id": "gone-1", "name": "Old club", "status": "defunct", "organization": {"id": "org-new", "name": "New Org"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.dir.Import(ctx, recs, staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 1 || rep.Partners != 0 || len(rep.Results[0].Reasons) != 1 || rep.Results[0].Reasons[0].Path != "$.status" {
		t.Fatalf("got %+v, want the record skipped at $.status and no partner added", rep)
	}
	if p, err := directory.LoadPartner(ctx, w.store, "org-new"); err != nil || p.Exists() {
		t.Errorf("partner org-new: exists %v (%v), want none", p.Exists(), err)
	}
}
