package assignment

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestTwoInstancesRaceForTheLastPlace: in each of 100 rounds, two
// assignment instances place two different referrals at the same moment
// for one worker with one place left. Exactly one is assigned; the other
// waits.
func TestTwoInstancesRaceForTheLastPlace(t *testing.T) {
	store := eventstest.Start(t, true).Store
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := New(store, Options{Consumer: "a"}), New(store, Options{Consumer: "b"})
	for _, s := range []*Service{a, b} {
		go s.engine.Run(ctx)
	}
	for round := range 100 {
		wid := uuid.NewString()
		if _, err := store.Append(ctx, events.Aggregate{Type: "worker", ID: wid}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{
			Name: "W", Pcn: "U12345", Practices: []string{"B8" + string(rune('0'+round/10)) + "00" + string(rune('0'+round%10))}, Capacity: 1}}); err != nil {
			t.Fatal(err)
		}
		practice := "B8" + string(rune('0'+round/10)) + "00" + string(rune('0'+round%10))
		var refs [2]string
		for i := range refs {
			refs[i] = uuid.NewString()
			if _, err := store.Append(ctx, events.Aggregate{Type: "referral", ID: refs[i]}, 0,
				events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: practice, Urgency: pathwayv1.Priority_PRIORITY_ROUTINE}},
				events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "r"}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []*Service{a, b} {
			if err := s.catchUp(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Service{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.place(ctx, refs[i], uint64(round+1)) }()
		}
		wg.Wait()
		assigned := 0
		for i, id := range refs {
			if errs[i] != nil {
				t.Fatalf("round %d: %v", round, errs[i])
			}
			r, err := getRef(ctx, store, id)
			if err != nil {
				t.Fatal(err)
			}
			switch r.Status() {
			case referral.StatusAssigned:
				assigned++
			case referral.StatusWaitlisted:
			default:
				t.Fatalf("round %d: referral is %s", round, r.Status())
			}
		}
		if assigned != 1 {
			t.Fatalf("round %d: %d referrals assigned to a worker with one place", round, assigned)
		}
	}
}

// TestAbsenceEndFreesPlaces: a worker away until a date frees their
// places when the (injected) clock passes it.
func TestAbsenceEndFreesPlaces(t *testing.T) {
	store := eventstest.Start(t, true).Store
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s := New(store, Options{Now: now, Consumer: "tick"})
	go s.engine.Run(ctx)
	s.lastTick = now()
	wid := uuid.NewString()
	if _, err := store.Append(ctx, events.Aggregate{Type: "worker", ID: wid}, 0,
		events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "W", Pcn: "U12345", Practices: []string{"A81001"}, Capacity: 2}},
		events.Event{Payload: &pathwayv1.WorkerAvailabilityChanged{AbsentFrom: timestamppb.New(clock.Add(-time.Hour)), AbsentUntil: timestamppb.New(clock.Add(48 * time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, err := store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, RuleId: "r"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.place(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	if r, _ := getRef(ctx, store, id); r.Status() != referral.StatusWaitlisted {
		t.Fatalf("while the only worker is away: %s, want waitlisted", r.Status())
	}
	if err := s.Tick(ctx); err != nil { // before the end: still away
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(72 * time.Hour)
	mu.Unlock()
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := getRef(ctx, store, id); r.Status() != referral.StatusAssigned || r.Worker() != wid {
		t.Fatalf("after the absence ended: %s with %q, want assigned to %s", r.Status(), r.Worker(), wid)
	}
}

func getRef(ctx context.Context, store *events.Store, id string) (*referral.Referral, error) {
	r, _, err := events.Get(ctx, store, aggregate.Referral, id)
	return r, err
}
