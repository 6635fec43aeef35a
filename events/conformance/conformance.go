// Package conformance is the contract of pathway's event store as a test
// suite. Run it against every way of running the store (a single embedded
// server, a cluster, another storage) to show that each keeps the same
// promises: round trips, optimistic concurrency, atomic commands,
// idempotent retries, durability across restarts, safe handling of bad
// data, and personal fields sealed in the log and erasable.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Harness gives the suite a store on a fresh, empty log.
type Harness interface {
	// Store is the store under test.
	Store() *events.Store
	// JetStream is a raw client of the same stream, used to plant bad data.
	JetStream() jetstream.JetStream
	// Restart stops the server and starts it again on the same data; Store
	// and JetStream return new clients afterwards.
	Restart(tb testing.TB)
	// DuplicateWindow is the stream's duplicate window.
	DuplicateWindow() time.Duration
	// MaxMsgSize is the stream's largest accepted event.
	MaxMsgSize() int
	// DestroyKey destroys the data key named id (events.KeyID), as an
	// erasure does.
	DestroyKey(tb testing.TB, id string)
}

// Run runs the suite; open must return a harness on a fresh log each call.
func Run(t *testing.T, open func(tb testing.TB) Harness) {
	t.Run("AppendLoadRoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("StaleWriterGetsErrConcurrency", func(t *testing.T) { testStale(t, open(t)) })
	t.Run("TwoWritersRace200Rounds", func(t *testing.T) { testRace(t, open(t)) })
	t.Run("MultiEventAppendIsAllOrNothing", func(t *testing.T) { testAtomic(t, open(t)) })
	t.Run("RetryAfterLostAckIsIdempotent", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("RetryAfterDuplicateWindowIsIdempotent", func(t *testing.T) { testIdempotentAfterWindow(t, open(t)) })
	t.Run("RestartKeepsEverything", func(t *testing.T) { testRestart(t, open(t)) })
	t.Run("BadDataIsAnErrorNotAPanic", func(t *testing.T) { testBadData(t, open(t)) })
	t.Run("ReadAndSubscribeInOrder", func(t *testing.T) { testReadSubscribe(t, open(t)) })
	t.Run("ConsumerPoliciesForBadData", func(t *testing.T) { testConsumerPolicies(t, open(t)) })
	t.Run("CreateGuardsItsScope", func(t *testing.T) { testCreate(t, open(t)) })
	t.Run("AppendAllIsAtomicAcrossAggregates", func(t *testing.T) { testAppendAll(t, open(t)) })
	t.Run("PersonalFieldsAreSealed", func(t *testing.T) { testSealed(t, open(t)) })
	t.Run("DestroyedKeyErasesForGood", func(t *testing.T) { testErased(t, open(t)) })
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return c
}

// NewReferral returns an aggregate for a new referral with a random id.
func NewReferral() events.Aggregate {
	return events.Aggregate{Type: "referral", ID: uuid.NewString()}
}

var actor = &pathwayv1.Actor{Id: "key-1", Role: pathwayv1.Role_ROLE_TRIAGE, Organisation: "A81001"}

func received(what string) events.Event {
	return events.Event{
		Actor:         actor,
		CorrelationID: "corr-1",
		Payload: &pathwayv1.ReferralReceived{
			Source:      pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE,
			GpPractice:  "A81001",
			Needs:       []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS},
			WhatMatters: what,
			Urgency:     pathwayv1.Priority_PRIORITY_ROUTINE,
			Person:      &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Sam"},
		},
	}
}

func triaged(reason string) events.Event {
	return events.Event{Actor: actor, Payload: &pathwayv1.ReferralTriaged{
		Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
		Priority: pathwayv1.Priority_PRIORITY_HIGH,
		Eligible: true,
		Reason:   reason,
	}}
}

func waitlisted() events.Event {
	return events.Event{Actor: actor, Payload: &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: pathwayv1.Priority_PRIORITY_HIGH}}
}

func withKey(key string, evs ...events.Event) []events.Event {
	out := make([]events.Event, len(evs))
	for i, ev := range evs {
		ev.IdempotencyKey = key
		out[i] = ev
	}
	return out
}

func mustAppend(tb testing.TB, s *events.Store, agg events.Aggregate, expected uint64, evs ...events.Event) uint64 {
	tb.Helper()
	seq, err := s.Append(ctx(tb), agg, expected, evs...)
	if err != nil {
		tb.Fatalf("append to %s at %d: %v", agg, expected, err)
	}
	return seq
}

func mustLoad(tb testing.TB, s *events.Store, agg events.Aggregate) ([]events.Record, uint64) {
	tb.Helper()
	recs, v, err := s.Load(ctx(tb), agg)
	if err != nil {
		tb.Fatalf("load %s: %v", agg, err)
	}
	return recs, v
}

func lastSeq(tb testing.TB, s *events.Store) uint64 {
	tb.Helper()
	n, err := s.LastSequence(ctx(tb))
	if err != nil {
		tb.Fatalf("last sequence: %v", err)
	}
	return n
}

func testRoundTrip(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	other := NewReferral()
	if _, _, err := s.Load(ctx(t), agg); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("load of a new aggregate: got %v, want ErrNotFound", err)
	}
	in := []events.Event{received("meet people"), triaged("eligible"), waitlisted()}
	v1 := mustAppend(t, s, agg, 0, in...)
	mustAppend(t, s, other, 0, received("other person"))
	v2 := mustAppend(t, s, agg, v1, triaged("second look"))
	in = append(in, triaged("second look"))

	recs, version := mustLoad(t, s, agg)
	if version != v2 {
		t.Errorf("version: got %d, want %d (the last append's sequence)", version, v2)
	}
	if len(recs) != len(in) {
		t.Fatalf("loaded %d events, want %d", len(recs), len(in))
	}
	var prev uint64
	for i, rec := range recs {
		if !proto.Equal(rec.Payload, in[i].Payload) {
			t.Errorf("event %d: got %v, want %v", i, rec.Payload, in[i].Payload)
		}
		if rec.Sequence <= prev {
			t.Errorf("event %d: sequence %d after %d, want increasing", i, rec.Sequence, prev)
		}
		prev = rec.Sequence
		env := rec.Envelope
		id, err := uuid.Parse(env.GetEventId())
		if err != nil || id.Version() != 7 {
			t.Errorf("event %d: id %q, want a UUIDv7", i, env.GetEventId())
		}
		if rec.Aggregate != agg || env.GetAggregateType() != "referral" || env.GetAggregateId() != agg.ID {
			t.Errorf("event %d: aggregate %v, want %v", i, rec.Aggregate, agg)
		}
		if env.GetEventType() != events.TypeOf(in[i].Payload) || rec.Type != env.GetEventType() {
			t.Errorf("event %d: type %q, want %q", i, env.GetEventType(), events.TypeOf(in[i].Payload))
		}
		if env.GetSchemaVersion() != 1 || env.GetRecordedAt() == nil || env.GetOccurredAt() == nil {
			t.Errorf("event %d: envelope incomplete: %v", i, env)
		}
		if !proto.Equal(env.GetActor(), actor) {
			t.Errorf("event %d: actor %v, want %v", i, env.GetActor(), actor)
		}
	}
	if got := recs[0].Envelope.GetCorrelationId(); got != "corr-1" {
		t.Errorf("correlation id: got %q, want corr-1", got)
	}
	if v, err := s.Version(ctx(t), agg); err != nil || v != v2 {
		t.Errorf("Version: got %d, %v; want %d", v, err, v2)
	}
	if _, err := s.Append(ctx(t), events.Aggregate{Type: "referral", ID: "has.dot"}, 0, received("x")); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("append to an invalid aggregate: got %v, want ErrInvalid", err)
	}
	if _, err := s.Append(ctx(t), agg, events.AnyVersion); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("append of no events: got %v, want ErrInvalid", err)
	}
}

func testStale(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	v := mustAppend(t, s, agg, 0, received("x"))
	before := lastSeq(t, s)
	for _, tc := range []struct {
		name     string
		expected uint64
		evs      []events.Event
	}{
		{"new aggregate that exists", 0, []events.Event{received("again")}},
		{"old version, one event", v - 1, []events.Event{triaged("stale")}},
		{"future version, one event", v + 100, []events.Event{triaged("stale")}},
		{"old version, three events", 0, []events.Event{triaged("a"), triaged("b"), waitlisted()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(ctx(t), agg, tc.expected, tc.evs...)
			if !errors.Is(err, events.ErrConcurrency) {
				t.Fatalf("got %v, want ErrConcurrency", err)
			}
		})
	}
	if after := lastSeq(t, s); after != before {
		t.Errorf("log grew from %d to %d after refused appends", before, after)
	}
	if _, err := s.Append(ctx(t), agg, events.AnyVersion, triaged("any")); err != nil {
		t.Errorf("append with AnyVersion: %v", err)
	}
}

func testRace(t *testing.T, h Harness) {
	s := h.Store()
	const rounds = 200
	agg := NewReferral()
	v := mustAppend(t, s, agg, 0, received("race"))
	wantEvents := 1
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		seqs := make([]uint64, 2)
		n := 1 + round%2 // odd rounds race two-event commands
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evs := []events.Event{triaged(fmt.Sprintf("round %d writer %d", round, w)), waitlisted()}[:n]
				seqs[w], errs[w] = s.Append(ctx(t), agg, v, evs...)
			}()
		}
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both writers won at version %d", round, v)
				}
				winner = w
			case errors.Is(err, events.ErrConcurrency):
			default:
				t.Fatalf("round %d writer %d: unexpected error %v", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won at version %d", round, v)
		}
		v = seqs[winner]
		wantEvents += n
	}
	recs, version := mustLoad(t, s, agg)
	if len(recs) != wantEvents || version != v {
		t.Fatalf("after %d rounds the aggregate has %d events at version %d, want %d at %d", rounds, len(recs), version, wantEvents, v)
	}
	// Each round's events are the winner's, whole: never a mix of writers.
	for i := 1; i < len(recs); i++ {
		if _, ok := recs[i].Payload.(*pathwayv1.ReferralWaitlisted); ok {
			prev, _ := recs[i-1].Payload.(*pathwayv1.ReferralTriaged)
			if prev == nil || recs[i].Sequence != recs[i-1].Sequence+1 {
				t.Fatalf("event %d: a two-event command was split or interleaved", i)
			}
		}
	}
}

func testAtomic(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	v := mustAppend(t, s, agg, 0, received("before"))
	before := lastSeq(t, s)

	// The second of three events is larger than the stream accepts: the
	// server refuses it mid-batch, and the batch must leave nothing.
	huge := triaged(strings.Repeat("x", h.MaxMsgSize()+1024))
	_, err := s.Append(ctx(t), agg, v, triaged("first"), huge, waitlisted())
	if err == nil {
		t.Fatal("append with an oversized event in the middle succeeded, want an error")
	}
	if errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("got ErrConcurrency, want the size error: %v", err)
	}
	if after := lastSeq(t, s); after != before {
		t.Fatalf("log grew from %d to %d: a failed batch left events behind", before, after)
	}
	recs, version := mustLoad(t, s, agg)
	if len(recs) != 1 || version != v {
		t.Fatalf("aggregate has %d events at version %d, want 1 at %d", len(recs), version, v)
	}
	// The aggregate is still writable at the version it had.
	if _, err := s.Append(ctx(t), agg, v, triaged("first"), waitlisted()); err != nil {
		t.Fatalf("append after the failed batch: %v", err)
	}

	// A batch whose writer dies before the commit is never visible.
	js := h.JetStream()
	for i := 1; i <= 2; i++ {
		m := nats.NewMsg(agg.Subject())
		m.Data = []byte("never committed")
		m.Header.Set("Nats-Batch-Id", "abandoned-"+agg.ID[:8])
		m.Header.Set("Nats-Batch-Sequence", fmt.Sprint(i))
		if err := js.Conn().PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := js.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	recs, _ = mustLoad(t, s, agg)
	if len(recs) != 3 {
		t.Fatalf("after an uncommitted batch the aggregate has %d events, want 3", len(recs))
	}
}

func testIdempotent(t *testing.T, h Harness) {
	s := h.Store()
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d events", n), func(t *testing.T) {
			agg := NewReferral()
			cmd := withKey("cmd-"+agg.ID, []events.Event{received("a"), triaged("b"), waitlisted()}[:n]...)
			first := mustAppend(t, s, agg, 0, cmd...)
			size := lastSeq(t, s)
			// The acknowledgement of the first attempt was lost: the
			// client retries the same command.
			for retry := range 3 {
				got, err := s.Append(ctx(t), agg, 0, withKey("cmd-"+agg.ID, []events.Event{received("a"), triaged("b"), waitlisted()}[:n]...)...)
				if err != nil {
					t.Fatalf("retry %d: %v", retry, err)
				}
				if got != first {
					t.Fatalf("retry %d: sequence %d, want the original %d", retry, got, first)
				}
			}
			if after := lastSeq(t, s); after != size {
				t.Fatalf("retries grew the log from %d to %d", size, after)
			}
			// A different command at the same stale version conflicts.
			if _, err := s.Append(ctx(t), agg, 0, withKey("other-"+agg.ID, received("c"))...); !errors.Is(err, events.ErrConcurrency) {
				t.Fatalf("another command at a stale version: got %v, want ErrConcurrency", err)
			}
			// The same key with AnyVersion is recognised too.
			got, err := s.Append(ctx(t), agg, events.AnyVersion, cmd...)
			if err != nil || got != first {
				t.Fatalf("retry with AnyVersion: got %d, %v; want %d", got, err, first)
			}
			// A retry after later events still finds the original.
			next := mustAppend(t, s, agg, first, triaged("later"))
			got, err = s.Append(ctx(t), agg, 0, cmd...)
			if err != nil || got != first {
				t.Fatalf("retry after later events: got %d, %v; want %d", got, err, first)
			}
			if v, _ := s.Version(ctx(t), agg); v != next {
				t.Fatalf("version %d, want %d", v, next)
			}
		})
	}
}

func testIdempotentAfterWindow(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	cmd := withKey("late-"+agg.ID, received("a"), triaged("b"))
	first := mustAppend(t, s, agg, 0, cmd...)
	single := NewReferral()
	firstSingle := mustAppend(t, s, single, 0, withKey("late-"+single.ID, received("x"))...)
	size := lastSeq(t, s)
	// JetStream forgets message ids after its duplicate window, a server
	// clock this test cannot inject: wait it out.
	time.Sleep(3 * h.DuplicateWindow())
	got, err := s.Append(ctx(t), agg, 0, cmd...)
	if err != nil || got != first {
		t.Fatalf("batch retry after the window: got %d, %v; want %d", got, err, first)
	}
	got, err = s.Append(ctx(t), single, 0, withKey("late-"+single.ID, received("x"))...)
	if err != nil || got != firstSingle {
		t.Fatalf("single retry after the window: got %d, %v; want %d", got, err, firstSingle)
	}
	got, err = s.Append(ctx(t), single, events.AnyVersion, withKey("late-"+single.ID, received("x"))...)
	if err != nil || got != firstSingle {
		t.Fatalf("AnyVersion retry after the window: got %d, %v; want %d", got, err, firstSingle)
	}
	if after := lastSeq(t, s); after != size {
		t.Fatalf("retries after the window grew the log from %d to %d", size, after)
	}
}

func testRestart(t *testing.T, h Harness) {
	aggs := make([]events.Aggregate, 20)
	versions := make([]uint64, len(aggs))
	for i := range aggs {
		aggs[i] = NewReferral()
		versions[i] = mustAppend(t, h.Store(), aggs[i], 0, received(fmt.Sprint(i)), triaged("ok"))
	}
	before := lastSeq(t, h.Store())
	h.Restart(t)
	s := h.Store()
	if after := lastSeq(t, s); after != before {
		t.Fatalf("after restart the log ends at %d, want %d", after, before)
	}
	for i, agg := range aggs {
		recs, v := mustLoad(t, s, agg)
		if len(recs) != 2 || v != versions[i] {
			t.Fatalf("after restart %s has %d events at %d, want 2 at %d", agg, len(recs), v, versions[i])
		}
		if got := recs[0].Payload.(*pathwayv1.ReferralReceived).GetWhatMatters(); got != fmt.Sprint(i) {
			t.Fatalf("after restart event reads %q, want %q", got, fmt.Sprint(i))
		}
	}
	// Appends continue where the log left off, with concurrency intact.
	next := mustAppend(t, s, aggs[0], versions[0], waitlisted())
	if next <= before {
		t.Fatalf("append after restart got sequence %d, want above %d", next, before)
	}
	if _, err := s.Append(ctx(t), aggs[1], versions[1]-1, waitlisted()); !errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("stale append after restart: got %v, want ErrConcurrency", err)
	}
}

// plant publishes a raw message to the log, bypassing the store.
func plant(tb testing.TB, js jetstream.JetStream, subject, typ string, data []byte) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if typ != "" {
		m.Header.Set(events.HeaderEventType, typ)
	}
	ack, err := js.PublishMsg(ctx(tb), m)
	if err != nil {
		tb.Fatalf("plant: %v", err)
	}
	return ack.Sequence
}

// badMessages plants one message of each kind of bad data on agg and
// returns their sequences with the error each must give.
func badMessages(tb testing.TB, js jetstream.JetStream, agg events.Aggregate) map[uint64]error {
	tb.Helper()
	unknown := &pathwayv1.Envelope{
		EventId: uuid.NewString(), AggregateType: agg.Type, AggregateId: agg.ID,
		EventType: "pathway.v1.ReferralTeleported",
		Payload:   &anypb.Any{TypeUrl: "type.googleapis.com/pathway.v1.ReferralTeleported", Value: []byte{8, 1}},
	}
	unknownData, _ := proto.Marshal(unknown)
	p, _ := anypb.New(&pathwayv1.ReferralTriaged{Reason: "x"})
	lying := &pathwayv1.Envelope{
		EventId: uuid.NewString(), AggregateType: agg.Type, AggregateId: agg.ID,
		EventType: "pathway.v1.ReferralReceived", Payload: p,
	}
	lyingData, _ := proto.Marshal(lying)
	return map[uint64]error{
		plant(tb, js, agg.Subject(), "", []byte{0xff, 0xff, 0xff, 0x01, 0x02}):                  events.ErrCorrupt,
		plant(tb, js, agg.Subject(), unknown.GetEventType(), unknownData):                       events.ErrUnknownType,
		plant(tb, js, agg.Subject(), lying.GetEventType(), lyingData):                           events.ErrCorrupt,
		plant(tb, js, agg.Subject(), "pathway.v1.ReferralTriaged", lyingData):                   events.ErrCorrupt,
		plant(tb, js, agg.Subject(), "pathway.v1.ReferralReceived", []byte("not a protobuf{}")): events.ErrCorrupt,
	}
}

func testBadData(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	good := mustAppend(t, s, agg, 0, received("good"))
	bad := badMessages(t, h.JetStream(), agg)

	_, _, err := s.Load(ctx(t), agg)
	var de *events.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("load of an aggregate with bad events: got %v, want a *DecodeError", err)
	}
	if _, ok := bad[de.Sequence]; !ok || !strings.Contains(err.Error(), fmt.Sprintf("sequence %d", de.Sequence)) {
		t.Errorf("decode error %q does not name a bad sequence", err)
	}

	seen := map[uint64]error{}
	for rec, err := range s.Read(ctx(t), good, "") {
		seen[rec.Sequence] = err
	}
	if err, ok := seen[good]; !ok || err != nil {
		t.Errorf("read: good event %d gave %v", good, err)
	}
	for seq, want := range bad {
		got, ok := seen[seq]
		if !ok {
			t.Errorf("read skipped bad event %d silently", seq)
			continue
		}
		if !errors.Is(got, want) || !errors.As(got, &de) || de.Sequence != seq {
			t.Errorf("read of bad event %d: got %v, want %v naming the sequence", seq, got, want)
		}
	}
}

func testReadSubscribe(t *testing.T, h Harness) {
	s := h.Store()
	workers := events.Aggregate{Type: "worker", ID: uuid.NewString()}
	for i := range 30 {
		agg := NewReferral()
		if i%3 == 0 {
			mustAppend(t, s, agg, 0, received(fmt.Sprint(i)), triaged("t"))
		} else {
			mustAppend(t, s, agg, 0, received(fmt.Sprint(i)))
		}
	}
	mustAppend(t, s, workers, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "Alex", Capacity: 2}})
	last := lastSeq(t, s)

	from := last - 10
	var got []uint64
	for rec, err := range s.Read(ctx(t), from, "") {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, rec.Sequence)
	}
	if len(got) != 11 || got[0] != from || got[10] != last {
		t.Fatalf("read from %d: got %v, want %d..%d", from, got, from, last)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("read out of order or with gaps: %v", got)
		}
	}
	n := 0
	for rec, err := range s.Read(ctx(t), 1, events.TypeSubject("worker")) {
		if err != nil || rec.Aggregate != workers {
			t.Fatalf("filtered read gave %v, %v", rec.Aggregate, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("filtered read gave %d events, want 1", n)
	}

	sctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	live := NewReferral()
	done := make(chan []uint64)
	go func() {
		var seen []uint64
		for rec, err := range s.Subscribe(sctx, last-1, events.TypeSubject("referral")) {
			if err != nil {
				t.Errorf("subscribe: %v", err)
				break
			}
			seen = append(seen, rec.Sequence)
			if rec.Aggregate == live {
				break
			}
		}
		done <- seen
	}()
	liveSeq := mustAppend(t, s, live, 0, received("live"))
	select {
	case seen := <-done:
		if len(seen) != 2 || seen[0] != last-1 || seen[1] != liveSeq {
			t.Fatalf("subscribe from %d saw %v, want [%d %d] (the worker event is filtered out)", last-1, seen, last-1, liveSeq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("subscribe did not deliver the live event")
	}
}

func testConsumerPolicies(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	good1 := mustAppend(t, s, agg, 0, received("one"))
	bad := badMessages(t, h.JetStream(), agg)
	good2 := mustAppend(t, s, agg, events.AnyVersion, triaged("two"))

	run := func(name string, policy events.BadData) ([]uint64, error) {
		cctx, cancel := context.WithCancel(ctx(t))
		defer cancel()
		var handled []uint64
		errc := make(chan error, 1)
		go func() {
			errc <- s.Consume(cctx, events.Consumer{Name: name, OnBadData: policy}, func(_ context.Context, rec events.Record) error {
				handled = append(handled, rec.Sequence)
				if rec.Sequence == good2 {
					cancel()
				}
				return nil
			})
		}()
		select {
		case err := <-errc:
			return handled, err
		case <-time.After(30 * time.Second):
			t.Fatalf("consumer %s did not finish", name)
			return nil, nil
		}
	}

	for _, policy := range []events.BadData{events.Park, events.Skip} {
		name := "test-" + policy.String()
		handled, err := run(name, policy)
		if err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		if len(handled) != 2 || handled[0] != good1 || handled[1] != good2 {
			t.Fatalf("%s: handler saw %v, want [%d %d]", policy, handled, good1, good2)
		}
		parked, err := s.Parked(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		wantParked := 0
		if policy == events.Park {
			wantParked = len(bad)
		}
		if len(parked) != wantParked {
			t.Fatalf("%s: %d events parked, want %d", policy, len(parked), wantParked)
		}
		for _, p := range parked {
			if _, ok := bad[p.Sequence]; !ok || p.Reason == "" || p.Subject != agg.Subject() {
				t.Errorf("%s: parked %+v is not one of the bad events", policy, p)
			}
		}
	}

	handled, err := run("test-halt", events.Halt)
	var de *events.DecodeError
	if !errors.As(err, &de) || !errors.Is(err, events.ErrBroken) || len(handled) != 1 {
		t.Fatalf("halt: got %v after %v, want a *DecodeError, a broken invariant, after the first event", err, handled)
	}
}

func scopeLast(tb testing.TB, s *events.Store, scope string) uint64 {
	tb.Helper()
	var last uint64
	for rec, err := range s.Read(ctx(tb), 1, scope) {
		if err != nil {
			tb.Fatal(err)
		}
		last = rec.Sequence
	}
	return last
}

func testCreate(t *testing.T, h Harness) {
	s := h.Store()
	scope := events.TypeSubject("referral")
	// An empty scope is at 0.
	first := NewReferral()
	seq := func() uint64 {
		n, err := s.Create(ctx(t), first, scope, 0, received("first"))
		if err != nil {
			t.Fatalf("create in an empty scope: %v", err)
		}
		return n
	}()
	// Events outside the scope do not move it.
	mustAppend(t, s, events.Aggregate{Type: "worker", ID: uuid.NewString()}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "Alex"}})
	if got := scopeLast(t, s, scope); got != seq {
		t.Fatalf("scope at %d, want %d", got, seq)
	}
	if got, err := s.LastSequenceOn(ctx(t), scope); err != nil || got != seq {
		t.Fatalf("LastSequenceOn(%s): got %d, %v; want %d", scope, got, err, seq)
	}
	// Two creators decide from the same view: one wins.
	for round := range 20 {
		at := scopeLast(t, s, scope)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[w] = s.Create(ctx(t), NewReferral(), scope, at, received("racer"), triaged("x"))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, events.ErrConcurrency) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d creators won, want 1", round, ok)
		}
	}
	// A stale view is refused, and leaves nothing.
	before := lastSeq(t, s)
	if _, err := s.Create(ctx(t), NewReferral(), scope, seq, received("stale")); !errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("create from a stale view: got %v, want ErrConcurrency", err)
	}
	if after := lastSeq(t, s); after != before {
		t.Fatalf("refused create grew the log from %d to %d", before, after)
	}
	// A retry with the same key returns the original, even from a stale view.
	agg := NewReferral()
	at := scopeLast(t, s, scope)
	orig, err := s.Create(ctx(t), agg, scope, at, withKey("k-"+agg.ID, received("keyed"))...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Create(ctx(t), agg, scope, at, withKey("k-"+agg.ID, received("keyed"))...)
	if err != nil || again != orig {
		t.Fatalf("retried create: got %d, %v; want %d", again, err, orig)
	}
}

func testAppendAll(t *testing.T, h Harness) {
	s := h.Store()
	worker := events.Aggregate{Type: "worker", ID: uuid.NewString()}
	wv := mustAppend(t, s, worker, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "Alex", Capacity: 1}})
	a, b := NewReferral(), NewReferral()
	av := mustAppend(t, s, a, 0, received("a"))
	bv := mustAppend(t, s, b, 0, received("b"))
	assign := func(ref events.Aggregate, refV, workerV uint64, key string) (uint64, error) {
		return s.AppendAll(ctx(t),
			events.Change{Aggregate: worker, Expected: workerV, Events: []events.Event{{Payload: &pathwayv1.WorkerCapacityChanged{Reason: "case " + ref.ID}, IdempotencyKey: key}}},
			events.Change{Aggregate: ref, Expected: refV, Events: []events.Event{{Payload: &pathwayv1.ReferralAssigned{WorkerId: worker.ID}, IdempotencyKey: key}}},
		)
	}

	// A stale version on any aggregate refuses the whole command.
	before := lastSeq(t, s)
	if _, err := assign(a, av-1, wv, ""); !errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("stale referral version: got %v, want ErrConcurrency", err)
	}
	if _, err := assign(a, av, wv-1, ""); !errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("stale worker version: got %v, want ErrConcurrency", err)
	}
	if after := lastSeq(t, s); after != before {
		t.Fatalf("refused commands grew the log from %d to %d", before, after)
	}

	// Two assigners decide from the same worker version for two
	// referrals: exactly one wins, whole.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, c := range []struct {
		ref events.Aggregate
		v   uint64
	}{{a, av}, {b, bv}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = assign(c.ref, c.v, wv, "assign-"+c.ref.ID)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			if won >= 0 {
				t.Fatal("both assigners won")
			}
			won = i
		} else if !errors.Is(err, events.ErrConcurrency) {
			t.Fatal(err)
		}
	}
	if won < 0 {
		t.Fatal("no assigner won")
	}
	winner, loser := a, b
	wantV := av
	if won == 1 {
		winner, loser, wantV = b, a, bv
	}
	if recs, _ := mustLoad(t, s, winner); len(recs) != 2 {
		t.Fatalf("winner has %d events, want 2", len(recs))
	}
	if recs, _ := mustLoad(t, s, loser); len(recs) != 1 {
		t.Fatalf("loser has %d events, want 1: half a command was committed", len(recs))
	}
	// The winner's retry after a lost acknowledgement is idempotent.
	size := lastSeq(t, s)
	got, err := assign(winner, wantV, wv, "assign-"+winner.ID)
	if err != nil || got != size {
		t.Fatalf("retry: got %d, %v; want %d", got, err, size)
	}
	if _, err := s.AppendAll(ctx(t), events.Change{Aggregate: a, Expected: events.AnyVersion, Events: []events.Event{triaged("x")}},
		events.Change{Aggregate: a, Expected: events.AnyVersion, Events: []events.Event{triaged("y")}}); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("one aggregate twice: got %v, want ErrInvalid", err)
	}
}

// person is a person with values distinctive enough to find in raw bytes.
func personal() events.Event {
	return events.Event{Actor: actor, Payload: &pathwayv1.ReferralReceived{
		Source:      pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE,
		GpPractice:  "A81001",
		Needs:       []pathwayv1.Need{pathwayv1.Need_NEED_BEREAVEMENT},
		WhatMatters: "Quillon misses her allotment",
		Urgency:     pathwayv1.Priority_PRIORITY_HIGH,
		Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Quillonetta", FamilyName: "Zabrowski",
			Postcode: "LS1 4AP", Phone: "07700900461", PreferredContact: pathwayv1.ContactMethod_CONTACT_METHOD_PHONE},
	}}
}

var personalValues = []string{"9434765919", "Quillonetta", "Zabrowski", "LS1 4AP", "07700900461", "allotment"}

// clearPart is what a reader that does not open sealed fields sees of
// personal().
func clearPart() *pathwayv1.ReferralReceived {
	return &pathwayv1.ReferralReceived{
		Source:     pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE,
		GpPractice: "A81001",
		Needs:      []pathwayv1.Need{pathwayv1.Need_NEED_BEREAVEMENT},
		Urgency:    pathwayv1.Priority_PRIORITY_HIGH,
		Person:     &pathwayv1.Person{PreferredContact: pathwayv1.ContactMethod_CONTACT_METHOD_PHONE},
	}
}

func testSealed(t *testing.T, h Harness) {
	s := h.Store()
	agg := NewReferral()
	in := personal()
	seq := mustAppend(t, s, agg, 0, in)

	// The stored message holds none of the personal values.
	st, err := h.JetStream().Stream(ctx(t), s.Stream())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetMsg(ctx(t), seq)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range personalValues {
		if strings.Contains(string(raw.Data), v) {
			t.Errorf("the stored event holds %q in clear", v)
		}
	}
	// A load opens them; a plain read does not; a read that asks does.
	if recs, _ := mustLoad(t, s, agg); len(recs) != 1 || !proto.Equal(recs[0].Payload, in.Payload) || recs[0].Erased {
		t.Errorf("load: got %v, want the event as appended", recs)
	}
	for rec, err := range s.Read(ctx(t), seq, agg.Subject()) {
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(rec.Payload, clearPart()) {
			t.Errorf("read: got %v, want only the fields kept in clear %v", rec.Payload, clearPart())
		}
		break
	}
	for rec, err := range s.ReadWith(ctx(t), events.ReadOptions{From: seq, Subject: agg.Subject(), Open: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(rec.Payload, in.Payload) {
			t.Errorf("read with Open: got %v, want %v", rec.Payload, in.Payload)
		}
		break
	}
	// A sealed repeated field (a plan's goals) is sealed whole and comes
	// back whole.
	plan := events.Event{Payload: &pathwayv1.SupportPlanAgreed{WhatMatters: "Quiet walks",
		Goals: []*pathwayv1.Goal{{Id: "g1", Description: "Sing with the Zabrowski choir"}, {Id: "g2", Description: "Tend an allotment"}}}}
	seq = mustAppend(t, s, agg, seq, plan)
	if raw, err := st.GetMsg(ctx(t), seq); err != nil || strings.Contains(string(raw.Data), "Zabrowski") {
		t.Errorf("the stored plan holds a goal in clear (%v)", err)
	}
	if recs, _ := mustLoad(t, s, agg); len(recs) != 2 || !proto.Equal(recs[1].Payload, plan.Payload) {
		t.Errorf("load of a plan: got %v, want its goals as appended", recs)
	}
}

func testErased(t *testing.T, h Harness) {
	s := h.Store()
	agg, other := NewReferral(), NewReferral()
	v := mustAppend(t, s, agg, 0, personal())
	mustAppend(t, s, other, 0, personal())
	mustLoad(t, s, agg) // in the store's cache
	h.DestroyKey(t, events.KeyID(agg))

	check := func(s *events.Store, when string) {
		recs, _ := mustLoad(t, s, agg)
		if len(recs) == 0 || !recs[0].Erased || !proto.Equal(recs[0].Payload, clearPart()) {
			t.Errorf("%s: load of the erased referral: got %v, want one record marked erased with only its clear fields %v", when, recs, clearPart())
		}
		if recs, _ := mustLoad(t, s, other); len(recs) != 1 || recs[0].Erased || !proto.Equal(recs[0].Payload, personal().Payload) {
			t.Errorf("%s: another person's referral: got %v, want it whole", when, recs)
		}
		for rec, err := range s.ReadWith(ctx(t), events.ReadOptions{Subject: agg.Subject(), Open: true}) {
			if err != nil || !rec.Erased {
				t.Errorf("%s: read with Open: got erased %v, %v; want erased", when, rec.Erased, err)
			}
			break
		}
	}
	check(s, "after the key was destroyed")
	// Nothing personal can be written to it again; the rest can.
	if _, err := s.Append(ctx(t), agg, v, personal()); !errors.Is(err, events.ErrErased) {
		t.Errorf("append of personal data to an erased aggregate: got %v, want ErrErased", err)
	}
	v = mustAppend(t, s, agg, v, waitlisted())
	h.Restart(t)
	check(h.Store(), "after a restart")
}
