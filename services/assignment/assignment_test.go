package assignment_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

func start(tb testing.TB) *events.Store { return eventstest.Start(tb, true).Store }

func register(tb testing.TB, s *events.Store, capacity uint32, languages ...string) string {
	tb.Helper()
	id := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "worker", ID: id}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
		Name: "Worker " + id[:4], Pcn: "U12345", Practices: []string{"A81001", "A81002"}, Capacity: capacity, Languages: languages}}); err != nil {
		tb.Fatal(err)
	}
	return id
}

// accepted appends a referral accepted by triage.
func accepted(tb testing.TB, s *events.Store, urgency pathwayv1.Priority, language string) string {
	tb.Helper()
	id := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: urgency, Person: &pathwayv1.Person{Language: language}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: urgency, RuleId: "accept"}},
	); err != nil {
		tb.Fatal(err)
	}
	return id
}

func runService(tb testing.TB, s *events.Store, consumer string) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- assignment.New(s, assignment.Options{Consumer: consumer}).Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

func status(tb testing.TB, s *events.Store, id string) *referral.Referral {
	tb.Helper()
	r, _, err := events.Get(context.Background(), s, aggregate.Referral, id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// settle waits until every referral is assigned, waitlisted or closed.
func settle(tb testing.TB, s *events.Store, ids []string) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending := 0
		for _, id := range ids {
			if st := status(tb, s, id).Status(); st == referral.StatusAccepted {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d referrals still unplaced after 60s", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMustShowWaitlistOrderAndPull: two workers with capacity 2, six
// referrals: four assigned, two wait with the urgent one first; a
// discharge assigns the head of the waitlist.
func TestMustShowWaitlistOrderAndPull(t *testing.T) {
	s := start(t)
	stop := runService(t, s, "")
	defer stop()
	register(t, s, 2)
	register(t, s, 2)
	var ids []string
	for i := range 6 {
		u := pathwayv1.Priority_PRIORITY_ROUTINE
		if i == 5 {
			u = pathwayv1.Priority_PRIORITY_URGENT
		}
		ids = append(ids, accepted(t, s, u, ""))
		settle(t, s, ids)
	}
	var waiting, assigned []string
	for _, id := range ids {
		switch status(t, s, id).Status() {
		case referral.StatusAssigned:
			assigned = append(assigned, id)
		case referral.StatusWaitlisted:
			waiting = append(waiting, id)
		}
	}
	if len(assigned) != 4 || len(waiting) != 2 {
		t.Fatalf("%d assigned, %d waiting; want 4 and 2", len(assigned), len(waiting))
	}
	// The last referral is urgent: it is placed before it had to wait,
	// or heads the waitlist. Here all places were full, so it waits first.
	ctx := context.Background()
	sv := assignment.New(s, assignment.Options{Consumer: "probe"})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go sv.ViewEngine().Run(runCtx)
	last, _ := s.LastSequence(ctx)
	sv.ViewEngine().WaitFor(ctx, last)
	list := sv.View().Waitlist("U12345")
	if len(list) != 2 || list[0] != ids[5] || list[1] != ids[4] {
		t.Fatalf("waitlist %v, want [%s %s] (urgent first)", list, ids[5], ids[4])
	}

	// Discharge one case: the head of the waitlist is assigned.
	r := status(t, s, assigned[0])
	if _, err := s.Append(ctx, events.Aggregate{Type: "referral", ID: r.ID()}, r.Version(), events.Event{Payload: &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(t, s, ids[5]).Status() != referral.StatusAssigned {
		if time.Now().After(deadline) {
			t.Fatalf("head of the waitlist not assigned after a discharge: %s", status(t, s, ids[5]).Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := status(t, s, ids[4]).Status(); st != referral.StatusWaitlisted {
		t.Fatalf("second on the waitlist is %s, want still waitlisted", st)
	}
}

// TestTwoServicesNeverExceedCapacity races two assignment services that
// each see every event over 300 referrals, with discharges freeing places
// as they go, and checks from the log that no worker's caseload ever went
// over capacity, and that every referral ended in exactly one place.
func TestTwoServicesNeverExceedCapacity(t *testing.T) {
	s := start(t)
	workers := []string{register(t, s, 5, "pl"), register(t, s, 3), register(t, s, 7)}
	capacity := map[string]int{workers[0]: 5, workers[1]: 3, workers[2]: 7}
	// A starts at once; B starts late, so it works through the backlog
	// while A handles new events: the two decide about different
	// referrals at the same moment, for the same workers.
	stopA := runService(t, s, "assign-a")
	var stopB func()
	var startB sync.Once

	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 100 {
				u := []pathwayv1.Priority{pathwayv1.Priority_PRIORITY_URGENT, pathwayv1.Priority_PRIORITY_HIGH, pathwayv1.Priority_PRIORITY_ROUTINE}[rng.IntN(3)]
				id := accepted(t, s, u, []string{"", "pl"}[rng.IntN(2)])
				mu.Lock()
				ids = append(ids, id)
				if len(ids) == 150 {
					startB.Do(func() { stopB = runService(t, s, "assign-b") })
				}
				// Now and then discharge an assigned case.
				if rng.IntN(4) == 0 {
					victim := ids[rng.IntN(len(ids))]
					mu.Unlock()
					r := status(t, s, victim)
					if r.Status() == referral.StatusAssigned {
						s.Append(context.Background(), events.Aggregate{Type: "referral", ID: victim}, r.Version(),
							events.Event{Payload: &pathwayv1.ReferralDischarged{}})
					}
					continue
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	settle(t, s, ids)
	// The pulls that discharges started finish: every place is filled.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, id := range ids {
			if status(t, s, id).Status() == referral.StatusAssigned {
				n++
			}
		}
		if n >= 15 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopA()
	stopB()

	// Replay each worker's caseload through the log.
	ctx := context.Background()
	for _, wid := range workers {
		recs, _, err := s.Load(ctx, events.Aggregate{Type: "worker", ID: wid})
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string]bool{}
		peak := 0
		for _, rec := range recs {
			switch p := rec.Payload.(type) {
			case *pathwayv1.WorkerCaseAssigned:
				if cases[p.GetReferralId()] {
					t.Fatalf("worker %s: case %s assigned twice", wid, p.GetReferralId())
				}
				cases[p.GetReferralId()] = true
			case *pathwayv1.WorkerCaseReleased:
				delete(cases, p.GetReferralId())
			}
			if len(cases) > capacity[wid] {
				t.Fatalf("worker %s: caseload %d over capacity %d at sequence %d", wid, len(cases), capacity[wid], rec.Sequence)
			}
			peak = max(peak, len(cases))
		}
		if peak != capacity[wid] {
			t.Errorf("worker %s: peak caseload %d, want it filled to %d", wid, peak, capacity[wid])
		}
		// The referral side agrees with the worker side.
		for id := range cases {
			if r := status(t, s, id); r.Status() != referral.StatusAssigned || r.Worker() != wid {
				t.Fatalf("worker %s carries %s, which is %s with %q", wid, id, r.Status(), r.Worker())
			}
		}
	}
	assigned, waiting := 0, 0
	for _, id := range ids {
		switch status(t, s, id).Status() {
		case referral.StatusAssigned:
			assigned++
		case referral.StatusWaitlisted:
			waiting++
		}
	}
	t.Logf("%d referrals: %d assigned, %d waiting at the end", len(ids), assigned, waiting)

	// Nobody is both waitlisted and on a caseload, or on two waitlists:
	// replay the read models from the log and cross-check.
	wl, cl := waitlists.New(), caseloads.New()
	for _, p := range []projections.Projection{wl, cl} {
		if _, err := projections.Replay(ctx, s, p, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]string{}
	for _, q := range wl.Queues() {
		for _, e := range wl.Ordered(q) {
			if other, ok := seen[e.ID]; ok {
				t.Fatalf("%s waits on %s and %s", e.ID, other, q)
			}
			seen[e.ID] = q
			if _, onCase := cl.Cases[e.ID]; onCase {
				t.Fatalf("%s is waitlisted on %s and on a caseload", e.ID, q)
			}
		}
	}
	if len(seen) != waiting || len(cl.Cases) != assigned {
		t.Fatalf("read models show %d waiting and %d on caseloads, the referrals %d and %d", len(seen), len(cl.Cases), waiting, assigned)
	}
	if assigned != 15 {
		t.Errorf("%d assigned at the end, want every place (15) filled", assigned)
	}
	if waiting > 0 && assigned < 15 {
		t.Errorf("referrals wait while places are free")
	}
}

// TestUnmatchedIsRequeuedWhenCovered: a referral from a practice no PCN
// covers waits on "unmatched"; when a worker covering it registers, it
// moves to that PCN and is assigned.
func TestUnmatchedIsRequeuedWhenCovered(t *testing.T) {
	s := start(t)
	stop := runService(t, s, "")
	defer stop()
	id := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "C99001", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "r"}}); err != nil {
		t.Fatal(err)
	}
	settle(t, s, []string{id})
	if st := status(t, s, id).Status(); st != referral.StatusWaitlisted {
		t.Fatalf("uncovered practice: %s, want waitlisted (unmatched)", st)
	}
	wid := uuid.NewString()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: "worker", ID: wid}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
		Name: "New", Pcn: "U54321", Practices: []string{"C99001"}, Capacity: 1}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(t, s, id).Status() != referral.StatusAssigned {
		if time.Now().After(deadline) {
			t.Fatalf("after a covering worker registered: %s, want assigned", status(t, s, id).Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w := status(t, s, id).Worker(); w != wid {
		t.Fatalf("assigned to %s, want the new worker %s", w, wid)
	}
}
