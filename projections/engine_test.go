package projections_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// tally is a test projection whose state depends on every event and on
// their order: counts per event type, each aggregate's events in order,
// and a running fold of (sequence, type).
type tally struct {
	Counts  map[string]int      `json:"counts"`
	PerAgg  map[string][]string `json:"per_agg"`
	Fold    uint64              `json:"fold"`
	applies atomic.Int64
}

func newTally() *tally { t := &tally{}; t.Reset(); return t }

func (t *tally) Name() string    { return "tally" }
func (t *tally) Subject() string { return events.AllSubjects }
func (t *tally) Reset() {
	t.Counts, t.PerAgg, t.Fold = map[string]int{}, map[string][]string{}, 0
}
func (t *tally) Apply(rec events.Record) error {
	t.applies.Add(1)
	t.Counts[rec.Type]++
	t.PerAgg[rec.Aggregate.String()] = append(t.PerAgg[rec.Aggregate.String()], rec.Type)
	for _, b := range []byte(fmt.Sprint(rec.Sequence, rec.Type)) {
		t.Fold = t.Fold*1099511628211 ^ uint64(b)
	}
	return nil
}
func (t *tally) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(t) }
func (t *tally) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(t) }

func (t *tally) state() string {
	b, _ := json.Marshal(t)
	return string(b)
}

type env struct {
	store *events.Store
	js    jetstream.JetStream
	obj   jetstream.ObjectStore
}

func start(tb testing.TB) *env {
	tb.Helper()
	l := eventstest.Start(tb, false)
	obj, err := projections.OpenCheckpoints(context.Background(), l.JS, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{store: l.Store, js: l.JS, obj: obj}
}

var kinds = []func() proto.Message{
	func() proto.Message { return &pathwayv1.ReferralReceived{WhatMatters: "x"} },
	func() proto.Message { return &pathwayv1.ReferralTriaged{Reason: "y"} },
	func() proto.Message { return &pathwayv1.ReferralWaitlisted{Queue: "U12345"} },
	func() proto.Message { return &pathwayv1.ReferralAssigned{WorkerId: "w"} },
	func() proto.Message { return &pathwayv1.ContactRecorded{DurationMinutes: 45} },
	func() proto.Message { return &pathwayv1.ReferralDischarged{} },
}

// history appends n random events over a few hundred aggregates, from
// several writers at once.
func history(tb testing.TB, s *events.Store, n int, seed uint64) {
	tb.Helper()
	aggs := make([]events.Aggregate, 300)
	for i := range aggs {
		typ := "referral"
		if i%10 == 0 {
			typ = "worker"
		}
		aggs[i] = events.Aggregate{Type: typ, ID: uuid.NewString()}
	}
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for done.Add(1) <= int64(n) {
				agg := aggs[rng.IntN(len(aggs))]
				if _, err := s.Append(context.Background(), agg, events.AnyVersion, events.Event{Payload: kinds[rng.IntN(len(kinds))]()}); err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func run(tb testing.TB, e *projections.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

func caughtUp(tb testing.TB, s *events.Store, e *projections.Engine) uint64 {
	tb.Helper()
	last, err := s.LastSequence(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.WaitFor(ctx, last); err != nil {
		tb.Fatal(err)
	}
	return last
}

// TestRebuildEqualsIncremental applies a random history of 12,000 events
// live, while it is written, and checks that a rebuild from sequence 1
// gives exactly the same state.
func TestRebuildEqualsIncremental(t *testing.T) {
	e := start(t)
	live := newTally()
	eng := projections.NewEngine(e.store, e.obj, live, projections.Options{CheckpointEvery: 1000})
	stop := run(t, eng)
	// The real read models run live on the same history too.
	fresh := map[string]func() projections.Projection{
		"waitlists": func() projections.Projection { return waitlists.New() },
		"caseloads": func() projections.Projection { return caseloads.New() },
		"funnel":    func() projections.Projection { return funnel.New() },
	}
	models := map[string]*projections.Engine{}
	var stops []func()
	for name, f := range fresh {
		models[name] = projections.NewEngine(e.store, e.obj, f(), projections.Options{CheckpointEvery: 1000})
		stops = append(stops, run(t, models[name]))
	}
	history(t, e.store, 12_000, 1)
	last := caughtUp(t, e.store, eng)
	stop()
	for name, m := range models {
		caughtUp(t, e.store, m)
		var live bytes.Buffer
		m.Read(func(p projections.Projection, _ uint64) { p.Snapshot(&live) })
		rebuilt := fresh[name]()
		if _, err := projections.Replay(context.Background(), e.store, rebuilt, 0, nil); err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		rebuilt.Snapshot(&again)
		if live.String() != again.String() {
			t.Errorf("%s: rebuild differs from incremental application", name)
		}
	}
	for _, s := range stops {
		s()
	}
	var incremental string
	eng.Read(func(p projections.Projection, applied uint64) {
		if applied != last {
			t.Fatalf("applied %d, want %d", applied, last)
		}
		incremental = p.(*tally).state()
	})

	rebuilt := newTally()
	var calls int
	seq, err := projections.Replay(context.Background(), e.store, rebuilt, 0, func(done, total uint64) { calls++ })
	if err != nil || seq != last {
		t.Fatalf("replay: %d, %v", seq, err)
	}
	if got := rebuilt.state(); got != incremental {
		t.Fatalf("rebuild differs from incremental application")
	}
	if calls < 10 {
		t.Errorf("progress reported %d times for %d events, want regular reports", calls, last)
	}
	sum := 0
	for _, c := range rebuilt.Counts {
		sum += c
	}
	if sum != 12_000 {
		t.Fatalf("rebuilt state counts %d events, want 12000", sum)
	}
}

// TestRestartResumesFromCheckpoint: after a restart the engine applies
// only what came after its checkpoint, and ends in the same state as a
// full replay.
func TestRestartResumesFromCheckpoint(t *testing.T) {
	e := start(t)
	first := newTally()
	eng := projections.NewEngine(e.store, e.obj, first, projections.Options{})
	stop := run(t, eng)
	history(t, e.store, 2000, 2)
	caughtUp(t, e.store, eng)
	stop() // writes the final checkpoint

	history(t, e.store, 150, 3)
	second := newTally()
	eng2 := projections.NewEngine(e.store, e.obj, second, projections.Options{})
	stop2 := run(t, eng2)
	caughtUp(t, e.store, eng2)
	stop2()
	if n := second.applies.Load(); n != 150 {
		t.Fatalf("after restart the engine applied %d events, want the 150 new ones", n)
	}
	full := newTally()
	if _, err := projections.Replay(context.Background(), e.store, full, 0, nil); err != nil {
		t.Fatal(err)
	}
	if full.state() != second.state() {
		t.Fatal("resumed state differs from a full replay")
	}
}

// TestReadYourWritesAndAsOf: WaitFor returns once a write is applied and
// times out on a sequence not yet written; Replay up to N gives the state
// as it was at N.
func TestReadYourWritesAndAsOf(t *testing.T) {
	e := start(t)
	live := newTally()
	eng := projections.NewEngine(e.store, e.obj, live, projections.Options{})
	stop := run(t, eng)
	defer stop()
	history(t, e.store, 100, 4)
	at := caughtUp(t, e.store, eng)
	var before string
	eng.Read(func(p projections.Projection, _ uint64) { before = p.(*tally).state() })

	seq, err := e.store.Append(context.Background(), events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, events.Event{Payload: kinds[0]()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.WaitFor(ctx, seq); err != nil {
		t.Fatalf("wait for own write: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := eng.WaitFor(short, seq+1000); !errors.Is(err, projections.ErrTimeout) {
		t.Fatalf("wait for a future sequence: got %v, want ErrTimeout", err)
	}

	asOf := newTally()
	if _, err := projections.Replay(context.Background(), e.store, asOf, at, nil); err != nil {
		t.Fatal(err)
	}
	if asOf.state() != before {
		t.Fatal("the view as of the earlier sequence differs from what the engine showed then")
	}
}

// TestTypedProjectionsIgnoreOtherTypes: a read model that declares its
// event types (projections.Typed) must leave its state unchanged for every
// other pathway.v1 message, or a rebuild, which skips them undecoded,
// would differ from incremental application.
func TestTypedProjectionsIgnoreOtherTypes(t *testing.T) {
	ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	worker := events.Aggregate{Type: "worker", ID: uuid.NewString()}
	recordedAt := timestamppb.New(time.Date(2025, 11, 24, 9, 0, 0, 0, time.UTC))
	episode := []struct {
		agg events.Aggregate
		p   proto.Message
	}{
		{worker, &pathwayv1.WorkerRegistered{Name: "W", Pcn: "U12345", Capacity: 5}},
		{ref, &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE}},
		{ref, &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}},
		{ref, &pathwayv1.ReferralWaitlisted{Queue: "U12345"}},
		{worker, &pathwayv1.WorkerCaseAssigned{ReferralId: ref.ID}},
		{ref, &pathwayv1.ReferralAssigned{WorkerId: worker.ID, Queue: "U12345"}},
		{ref, &pathwayv1.ContactRecorded{At: recordedAt}},
		{events.Aggregate{Type: "handoff", ID: ref.ID}, &pathwayv1.HandoffRequested{ReferralId: ref.ID}},
	}
	// Every pathway.v1 message, its singular string fields set to the
	// referral's id (so that ids it might follow point somewhere).
	var others []proto.Message
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() != "pathway.v1" {
			return true
		}
		m := mt.New()
		fields := mt.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); f.Kind() == protoreflect.StringKind && f.Cardinality() != protoreflect.Repeated && f.ContainingOneof() == nil {
				m.Set(f, protoreflect.ValueOfString(ref.ID))
			}
		}
		others = append(others, m.Interface())
		return true
	})
	for _, fresh := range []projections.Projection{waitlists.New(), caseloads.New(), funnel.New()} {
		typed, ok := fresh.(projections.Typed)
		if !ok {
			continue
		}
		declared := map[string]bool{}
		for _, typ := range typed.EventTypes() {
			declared[typ] = true
		}
		seq := uint64(0)
		apply := func(agg events.Aggregate, p proto.Message) {
			seq++
			rec := events.Record{Sequence: seq, Aggregate: agg, Type: events.TypeOf(p), Payload: p, Envelope: &pathwayv1.Envelope{RecordedAt: recordedAt}}
			if err := fresh.Apply(rec); err != nil {
				t.Fatalf("%s: apply %s: %v", fresh.Name(), rec.Type, err)
			}
		}
		for _, e := range episode {
			apply(e.agg, e.p)
		}
		var before bytes.Buffer
		fresh.Snapshot(&before)
		checked := 0
		for _, p := range others {
			if declared[events.TypeOf(p)] {
				continue
			}
			for _, agg := range []events.Aggregate{ref, worker, {Type: "handoff", ID: ref.ID}} {
				apply(agg, p)
			}
			var after bytes.Buffer
			fresh.Snapshot(&after)
			if after.String() != before.String() {
				t.Fatalf("%s: %s changes the state but is not among its EventTypes", fresh.Name(), events.TypeOf(p))
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("%s: no undeclared type checked", fresh.Name())
		}
	}
}

// TestReadyNamesTheViewBehind: until an engine has caught up with the log
// since it started, Ready says which one is behind and by how much; once
// it follows the log live, Ready is nil.
func TestReadyNamesTheViewBehind(t *testing.T) {
	e := start(t)
	history(t, e.store, 40, 3)
	eng := projections.NewEngine(e.store, e.obj, newTally(), projections.Options{})
	err := projections.Ready(context.Background(), eng)
	if !errors.Is(err, projections.ErrBehind) || !strings.Contains(err.Error(), "tally is 40 events behind") {
		t.Fatalf("before the engine runs: %v, want it to name tally, 40 events behind", err)
	}
	defer run(t, eng)()
	caughtUp(t, e.store, eng)
	deadline := time.Now().Add(10 * time.Second)
	for projections.Ready(context.Background(), eng) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("caught up but not ready: %v", projections.Ready(context.Background(), eng))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunningSignalsTheCatchUp: an engine's Running channel is open until
// it has caught up with the log as it was when it started, then closed,
// with the whole of that log applied.
func TestRunningSignalsTheCatchUp(t *testing.T) {
	e := start(t)
	history(t, e.store, 300, 7)
	last, err := e.store.LastSequence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eng := projections.NewEngine(e.store, e.obj, newTally(), projections.Options{})
	select {
	case <-eng.Running():
		t.Fatal("Running is closed before the engine ran")
	default:
	}
	defer run(t, eng)()
	select {
	case <-eng.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("Running not closed 30 s after the engine started")
	}
	if got := eng.Applied(); got < last {
		t.Errorf("Running closed at sequence %d, before the log's end %d", got, last)
	}
	if err := projections.Ready(context.Background(), eng); err != nil {
		t.Errorf("Ready once Running is closed: %v", err)
	}
}

// onlyHandoffs is a projection of a subject with no events in the test's
// log.
type onlyHandoffs struct{ tally }

func (*onlyHandoffs) Name() string    { return "only-handoffs" }
func (*onlyHandoffs) Subject() string { return events.TypeSubject("handoff") }

// TestQuietSubjectCheckpointsTheLogsEnd: a projection whose subject has no
// events still checkpoints the position it read the log through, so its
// next start reads on from there instead of from the start of the log.
func TestQuietSubjectCheckpointsTheLogsEnd(t *testing.T) {
	e := start(t)
	history(t, e.store, 200, 5) // referral and worker events only
	last, err := e.store.LastSequence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := &onlyHandoffs{}
	p.Reset()
	eng := projections.NewEngine(e.store, e.obj, p, projections.Options{})
	stop := run(t, eng)
	deadline := time.Now().Add(10 * time.Second)
	for !eng.Live() {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not catch up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop() // writes the checkpoint
	data, err := e.obj.GetBytes(context.Background(), p.Name())
	if err != nil {
		t.Fatalf("no checkpoint: %v", err)
	}
	if _, got, _, err := projections.DecodeCheckpoint(data); err != nil || got != last {
		t.Fatalf("checkpoint at sequence %d, want the log's end %d", got, last)
	}
}

// failsAt is a tally that cannot apply the event at one sequence.
type failsAt struct {
	*tally
	seq uint64
}

func (f *failsAt) Apply(rec events.Record) error {
	if rec.Sequence == f.seq {
		return errors.New("no rule for this event")
	}
	return f.tally.Apply(rec)
}

// TestApplyFailureIsBroken: an engine whose projection cannot apply an
// event stops with a broken invariant naming the projection and the
// sequence, having applied the log up to it; running it again would fail
// on the same event.
func TestApplyFailureIsBroken(t *testing.T) {
	e := start(t)
	history(t, e.store, 50, 11)
	eng := projections.NewEngine(e.store, e.obj, &failsAt{newTally(), 30}, projections.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := eng.Run(ctx)
	if !errors.Is(err, events.ErrBroken) || !strings.Contains(err.Error(), "tally at sequence 30") {
		t.Fatalf("Run: %v, want a broken invariant naming tally at sequence 30", err)
	}
	if got := eng.Applied(); got != 29 {
		t.Errorf("applied up to %d, want 29", got)
	}
}

// TestCorruptCheckpointReplays: a checkpoint too short to hold a
// position is not an error: the engine replays the log from the start.
func TestCorruptCheckpointReplays(t *testing.T) {
	e := start(t)
	history(t, e.store, 40, 13)
	if _, err := e.obj.PutBytes(context.Background(), "tally", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	want := newTally()
	if _, err := projections.Replay(context.Background(), e.store, want, 0, nil); err != nil {
		t.Fatal(err)
	}
	got := newTally()
	eng := projections.NewEngine(e.store, e.obj, got, projections.Options{})
	defer run(t, eng)()
	select {
	case <-eng.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("the engine did not catch up from a corrupt checkpoint")
	}
	eng.Read(func(p projections.Projection, _ uint64) {
		if s := p.(*tally).state(); s != want.state() {
			t.Errorf("state after a corrupt checkpoint %s, want the replay's %s", s, want.state())
		}
	})
}

// slowSnapshots is a tally whose checkpoints each take 20 ms, as a large
// view's do on a long log.
type slowSnapshots struct {
	*tally
	snapshots atomic.Int64
}

func (s *slowSnapshots) Snapshot(w io.Writer) error {
	s.snapshots.Add(1)
	time.Sleep(20 * time.Millisecond)
	return s.tally.Snapshot(w)
}

// TestCheckpointsKeepToTheirBudget: an engine whose checkpoints are slow
// writes them less often than CheckpointEvery asks, so that they take at
// most about a hundredth of its time; it still writes the first.
func TestCheckpointsKeepToTheirBudget(t *testing.T) {
	e := start(t)
	p := &slowSnapshots{tally: newTally()}
	eng := projections.NewEngine(e.store, e.obj, p, projections.Options{CheckpointEvery: 100})
	began := time.Now()
	stop := run(t, eng)
	history(t, e.store, 5_000, 3)
	caughtUp(t, e.store, eng)
	elapsed := time.Since(began)
	n := p.snapshots.Load()
	stop()
	// One at the first 100 events, then one per 100 × 20 ms at most.
	if limit := 2 + int64(elapsed/(100*20*time.Millisecond)); n < 1 || n > limit {
		t.Errorf("%d checkpoints of 20 ms in %v for 5,000 events (every 100 asked), want 1 to %d", n, elapsed.Round(time.Millisecond), limit)
	}
}

// versionedTally is a tally at a version of its state's meaning.
type versionedTally struct {
	*tally
	v int
}

func (t *versionedTally) Version() int { return t.v }

// TestCheckpointOfAnotherVersionReplays: a read model whose Version
// changed since its checkpoint was written replays the log instead of
// restoring it; one of the same version resumes; and a checkpoint written
// before versions existed counts as version 0.
func TestCheckpointOfAnotherVersionReplays(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	runOnce := func(p projections.Projection) {
		eng := projections.NewEngine(e.store, e.obj, p, projections.Options{})
		stop := run(t, eng)
		caughtUp(t, e.store, eng)
		stop() // writes the final checkpoint
	}
	history(t, e.store, 500, 4)
	runOnce(&versionedTally{tally: newTally(), v: 1})
	for _, tc := range []struct {
		name  string
		p     projections.Projection
		tally *tally
		want  int64
	}{
		{"the same version resumes", &versionedTally{tally: newTally(), v: 1}, nil, 0},
		{"another version replays", &versionedTally{tally: newTally(), v: 2}, nil, 500},
		{"and then resumes", &versionedTally{tally: newTally(), v: 2}, nil, 0},
	} {
		tc.tally = tc.p.(*versionedTally).tally
		runOnce(tc.p)
		if n := tc.tally.applies.Load(); n != tc.want {
			t.Errorf("%s: applied %d events at start, want %d", tc.name, n, tc.want)
		}
	}

	// A checkpoint in the form before versions: the sequence, then the state.
	data, err := e.obj.GetBytes(ctx, "tally")
	if err != nil {
		t.Fatal(err)
	}
	_, seq, state, err := projections.DecodeCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	old := binary.BigEndian.AppendUint64(nil, seq)
	for _, tc := range []struct {
		name string
		p    projections.Projection
		want int64
	}{
		{"an unversioned read model restores it", newTally(), 0},
		{"a read model at version 1 replays", &versionedTally{tally: newTally(), v: 1}, 500},
	} {
		if _, err := e.obj.PutBytes(ctx, "tally", append(old, state...)); err != nil {
			t.Fatal(err)
		}
		runOnce(tc.p)
		var applies int64
		switch p := tc.p.(type) {
		case *tally:
			applies = p.applies.Load()
		case *versionedTally:
			applies = p.applies.Load()
		}
		if applies != tc.want {
			t.Errorf("%s: applied %d events at start, want %d", tc.name, applies, tc.want)
		}
	}
}
