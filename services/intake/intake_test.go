package intake_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var now = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// nhsNumber returns the i-th valid NHS number of the 999 test range.
func nhsNumber(tb testing.TB, i int) string {
	tb.Helper()
	for n := 999_000_000 + i*10; ; n++ {
		s := fmt.Sprintf("%09d", n)
		sum := 0
		for j, c := range s {
			sum += int(c-'0') * (10 - j)
		}
		check := 11 - sum%11
		if check == 11 {
			check = 0
		}
		if check == 10 {
			continue
		}
		nhs := s + fmt.Sprint(check)
		if !referral.ValidNHSNumber(nhs) {
			tb.Fatalf("made an invalid NHS number %s", nhs)
		}
		return nhs
	}
}

func submission(nhs string) intake.Submission {
	return intake.Submission{
		Submission: referral.Submission{
			Source:   "gp_practice",
			Referrer: referral.Referrer{Name: "Dr A Example", Role: "GP", Organisation: "A81001"},
			Person: referral.Person{NHSNumber: nhs, GivenName: "Sam", FamilyName: "Example", DateOfBirth: "1956-03-14",
				Postcode: "TS1 3BA", Phone: "07700900123"},
			GPPractice: "A81001", Needs: []string{"loneliness"}, Urgency: "routine",
			Consent: referral.Consent{Given: true, RecordedBy: "Dr A Example", RecordedAt: "2026-11-20T10:00:00Z"},
		},
		Actor:   &pathwayv1.Actor{Id: "test", Role: pathwayv1.Role_ROLE_REFERRER, Organisation: "A81001"},
		Channel: "json",
	}
}

func keyer(tb testing.TB) person.Keyer {
	tb.Helper()
	k, err := person.NewKeyer(make([]byte, person.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// received counts the ReferralReceived events in the log.
func received(tb testing.TB, store *events.Store) int {
	tb.Helper()
	n := 0
	for rec, err := range store.Read(context.Background(), 1, events.TypeSubject(referral.AggregateType)) {
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok {
			n++
		}
	}
	return n
}

// TestConcurrentCreatesForDifferentPeople: 64 referrals for 64 people,
// submitted at once through two intake processes, all succeed: different
// people never contend for the rule of one open episode each.
func TestConcurrentCreatesForDifferentPeople(t *testing.T) {
	store := eventstest.Start(t, true).Store
	a, b := intake.New(store, keyer(t), clock), intake.New(store, keyer(t), clock)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 64)
	ids := make([]string, 64)
	for i := range 64 {
		svc := a
		if i%2 == 1 {
			svc = b
		}
		wg.Go(func() {
			res, err := svc.Submit(ctx, submission(nhsNumber(t, i)))
			errs[i], ids[i] = err, res.ID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("referral %d: %v, want it created", i, err)
		}
		seen[ids[i]] = true
	}
	if len(seen) != 64 || received(t, store) != 64 {
		t.Fatalf("got %d distinct ids and %d ReferralReceived events, want 64 of each", len(seen), received(t, store))
	}
}

// TestRacingCreatesForOnePerson: two processes submitting referrals for
// the same person at once make exactly one episode; the other answers
// that the person has an open referral, naming it.
func TestRacingCreatesForOnePerson(t *testing.T) {
	store := eventstest.Start(t, false).Store
	a, b := intake.New(store, keyer(t), clock), intake.New(store, keyer(t), clock)
	ctx := context.Background()
	for round := range 20 {
		nhs := nhsNumber(t, round)
		var wg sync.WaitGroup
		var res [2]intake.Result
		var errs [2]error
		for i, svc := range []*intake.Service{a, b} {
			wg.Go(func() { res[i], errs[i] = svc.Submit(ctx, submission(nhs)) })
		}
		wg.Wait()
		created, refused := 0, 0
		var winner string
		for i := range 2 {
			var dup *intake.DuplicateError
			switch {
			case errs[i] == nil:
				created++
				winner = res[i].ID
			case errors.As(errs[i], &dup):
				refused++
				if dup.OpenID == "" {
					t.Errorf("round %d: the refusal names no open referral", round)
				}
			default:
				t.Fatalf("round %d: %v", round, errs[i])
			}
		}
		if created != 1 || refused != 1 {
			t.Fatalf("round %d: %d created and %d refused, want one of each", round, created, refused)
		}
		for i := range 2 {
			var dup *intake.DuplicateError
			if errors.As(errs[i], &dup) && dup.OpenID != winner {
				t.Errorf("round %d: refused naming %s, want the episode made, %s", round, dup.OpenID, winner)
			}
		}
	}
	if n := received(t, store); n != 20 {
		t.Fatalf("%d ReferralReceived events, want 20: one episode a person", n)
	}
}

// TestRetriedCommandAfterDuplicateWindow: a case-work command retried with
// the same idempotency key long after the stream's duplicate window has
// passed appends nothing and answers with the original sequence.
func TestRetriedCommandAfterDuplicateWindow(t *testing.T) {
	store := eventstest.StartWith(t, false, events.StreamConfig{Duplicates: 100 * time.Millisecond}).Store
	svc := intake.New(store, keyer(t), time.Now) // the store records real times
	ctx := context.Background()
	res, err := svc.Submit(ctx, submission(nhsNumber(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	staff := &pathwayv1.Actor{Id: "lw", Role: pathwayv1.Role_ROLE_LINK_WORKER}
	if _, err := svc.Triage(ctx, res.ID, events.Command{Actor: staff}, &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Reason: "fits"}); err != nil {
		t.Fatal(err)
	}
	if _, err := assign(ctx, store, res.ID); err != nil {
		t.Fatal(err)
	}
	contact := &pathwayv1.ContactRecorded{Kind: pathwayv1.ContactKind_CONTACT_KIND_PHONE, At: timestamppb.Now(), Note: "first call"}
	cmd := events.Command{Actor: staff, IdempotencyKey: "contact-1"}
	first, err := svc.RecordContact(ctx, res.ID, cmd, contact)
	if err != nil {
		t.Fatal(err)
	}
	// Another command moves the referral on, so a retry would decide from
	// a newer version than the original's.
	if _, err := svc.RecordContact(ctx, res.ID, events.Command{Actor: staff, IdempotencyKey: "contact-2"}, contact); err != nil {
		t.Fatal(err)
	}
	before := version(t, store, res.ID)
	time.Sleep(150 * time.Millisecond) // let the server's 100 ms duplicate window pass
	again, err := svc.RecordContact(ctx, res.ID, cmd, contact)
	if err != nil {
		t.Fatalf("retry: %v, want the original answer", err)
	}
	if again != first {
		t.Errorf("retry answered sequence %d, want the original %d", again, first)
	}
	if after := version(t, store, res.ID); after != before {
		t.Errorf("retry moved the referral from version %d to %d: it wrote again", before, after)
	}
	r, _, err := events.Get(ctx, store, aggregate.Referral, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	contacts := 0
	for _, c := range r.History() {
		if _, ok := c.Payload.(*pathwayv1.ContactRecorded); ok {
			contacts++
		}
	}
	if contacts != 2 {
		t.Errorf("%d contacts on the timeline, want 2", contacts)
	}
}

func version(tb testing.TB, store *events.Store, id string) uint64 {
	tb.Helper()
	v, err := store.Version(context.Background(), aggregate.Referral.Aggregate(id))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// assign puts the referral on a link worker's caseload, as the assignment
// service would.
func assign(ctx context.Context, store *events.Store, id string) (uint64, error) {
	return events.Do(ctx, store, aggregate.Referral, id, events.Command{Actor: &pathwayv1.Actor{Id: "assignment", Role: pathwayv1.Role_ROLE_SYSTEM}},
		func(*referral.Referral) ([]proto.Message, error) {
			return []proto.Message{&pathwayv1.ReferralAssigned{WorkerId: "w1", Queue: "U12345", Reason: "test"}}, nil
		})
}

// TestBackfillGuardsEpisodesOfAnOlderLog: on a log written before person
// aggregates existed, Backfill records the open episodes, so a new
// referral for a person with an open one is refused; a closed one is not
// in the way, and a second Backfill changes nothing.
func TestBackfillGuardsEpisodesOfAnOlderLog(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	svc := intake.New(l.Store, keyer(t), clock)
	old := func(nhs string, closed bool) string {
		ev, errs := submission(nhs).Submission.Event(now)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		id := uuid.NewString()
		evs := []events.Event{{Payload: ev}}
		if closed {
			evs = append(evs, events.Event{Payload: &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}})
		}
		if _, err := l.Store.Append(ctx, aggregate.Referral.Aggregate(id), 0, evs...); err != nil {
			t.Fatal(err)
		}
		return id
	}
	openID := old(nhsNumber(t, 1), false)
	old(nhsNumber(t, 2), true)
	if _, err := intake.OpenPersonKeyer(ctx, l.JS, 1, eventstest.Master()); err != nil {
		t.Fatal(err)
	}
	if err := svc.Backfill(ctx, l.JS, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	last, _ := l.Store.LastSequence(ctx)
	if err := svc.Backfill(ctx, l.JS, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Store.LastSequence(ctx); again != last {
		t.Errorf("a second backfill appended %d events, want none", again-last)
	}
	var dup *intake.DuplicateError
	if _, err := svc.Submit(ctx, submission(nhsNumber(t, 1))); !errors.As(err, &dup) || dup.OpenID != openID {
		t.Errorf("new referral for a person with an open one from the older log: %v, want a duplicate of %s", err, openID)
	}
	if _, err := svc.Submit(ctx, submission(nhsNumber(t, 2))); err != nil {
		t.Errorf("new referral for a person whose older referral closed: %v, want it created", err)
	}
}

// TestClaimWithoutItsReferral: intake claims a person's episode and then
// appends the referral, each on its own. A claim whose referral is not in
// the log counts as a create under way for person.ClaimWindow (another
// referral for the person is refused, naming it), then is ignored; and a
// retry with the key of the create that claimed completes it.
func TestClaimWithoutItsReferral(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	k := keyer(t)
	clockAt := time.Now()
	svc := intake.New(l.Store, k, func() time.Time { return clockAt })
	nhs := nhsNumber(t, 7)
	// A process claimed for referral "stranded" and stopped before the
	// referral.
	claimOnly := func(id, key string) {
		t.Helper()
		if _, err := l.Store.Append(ctx, aggregate.Person.Aggregate(k.ByNHS(nhs)), events.AnyVersion,
			events.Event{Payload: &pathwayv1.PersonEpisodeOpened{ReferralId: id}, IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	claimOnly("0198d6a4-0000-7000-8000-000000000001", "")
	var dup *intake.DuplicateError
	if _, err := svc.Submit(ctx, submission(nhs)); !errors.As(err, &dup) || dup.OpenID != "0198d6a4-0000-7000-8000-000000000001" || dup.Organisation != "" {
		t.Fatalf("within the window: %v %+v, want the claim under way named as open, of no known organisation", err, dup)
	}
	clockAt = clockAt.Add(person.ClaimWindow + time.Second)
	res, err := svc.Submit(ctx, submission(nhs))
	if err != nil {
		t.Fatalf("after the window: %v, want the stranded claim ignored", err)
	}
	if received(t, l.Store) != 1 {
		t.Fatal("want one referral in the log")
	}
	// A referral in the log is named with the organisation that made it.
	if _, err := svc.Submit(ctx, submission(nhs)); !errors.As(err, &dup) || dup.OpenID != res.ID || dup.Organisation != "A81001" {
		t.Fatalf("with the referral open: %v, want it named, of A81001", err)
	}
	// A create that claimed under its key and stopped is completed by a
	// retry with the key.
	other := nhsNumber(t, 8)
	sub := submission(other)
	sub.IdempotencyKey = "retried-create"
	first, err := svc.Submit(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" {
		t.Fatal("no id")
	}
	if _, err := svc.Cancel(ctx, first.ID, events.Command{}, pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR, "test"); err != nil {
		t.Fatal(err)
	}
	sub2 := submission(other)
	sub2.IdempotencyKey = "stranded-create"
	// Intake scopes a key to the referrer's organisation and derives the
	// referral's id from it (a UUIDv5 in its namespace).
	strandedKey := "A81001\x00key\x00stranded-create"
	strandedID := uuid.NewSHA1(uuid.MustParse("6f1d3c2a-5b7e-4e8a-9c0d-2a4b6c8e0f13"), []byte(strandedKey)).String()
	if _, err := l.Store.Append(ctx, aggregate.Person.Aggregate(k.ByNHS(other)), events.AnyVersion,
		events.Event{Payload: &pathwayv1.PersonEpisodeOpened{ReferralId: strandedID}, IdempotencyKey: strandedKey}); err != nil {
		t.Fatal(err)
	}
	done, err := svc.Submit(ctx, sub2)
	if err != nil || done.ID != strandedID || !done.Created {
		t.Fatalf("retry of a stranded create: %+v, %v; want referral %s created", done, err, strandedID)
	}
}
