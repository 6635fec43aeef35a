// Package conformance is the contract of a pathway read model as a test
// suite. Run it against every projection (waitlists, caseloads, the
// funnel, ...) to show that each keeps the promises the projection engine
// relies on: a rebuild equals incremental application; resuming from a
// checkpoint equals incremental application, without replaying from the
// start; the state as of a past sequence equals the state the engine
// showed then; a snapshot restores to the same state; a typed replay
// (skipping the event types the projection does not declare) equals an
// untyped one; events it cannot decode or does not know change nothing;
// and a checkpoint holds no personal data.
//
// Every promise runs on a fresh event log: an embedded nats-server with
// JetStream on a free port and a temporary store directory. The history
// is generated (Episodes) from a seed, so a failure reproduces.
package conformance

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Config describes the read model under test.
type Config struct {
	// Name names the read model in failures; default the projection's
	// Name.
	Name string
	// New returns a fresh, empty projection. Required.
	New func() projections.Projection
	// View returns what is compared of a projection's state, e.g. the
	// results of its read functions; default the projection itself.
	// Views are compared through Dump.
	View func(p projections.Projection) any
	// History is the history to append; default Episodes(Seed, Events).
	History []Command
	// Seed seeds the default history; default 1.
	Seed uint64
	// Events is the size of the default history; default 1000 (enough to
	// cover every kind of event, see TestEpisodesAreSeededAndCoverTheDomain).
	Events int
}

// Run runs the suite on the read model cfg describes, each promise as a
// parallel subtest on a log of its own; a broken promise fails its
// subtest with the paths of the state that differ (see Dump). States are
// compared by value, so a projection whose Apply reads the clock is
// caught only when the clock changes the state (a read model that keeps
// hours or days may not show it within one run). Run does not modify
// cfg.History; it is safe to call from parallel tests.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil {
		t.Fatal("conformance: Config.New is required")
	}
	cfg.Name = cmp.Or(cfg.Name, cfg.New().Name())
	if cfg.View == nil {
		cfg.View = func(p projections.Projection) any { return p }
	}
	if cfg.History == nil {
		cfg.History = Episodes(cmp.Or(cfg.Seed, 1), cmp.Or(cfg.Events, 1000))
	}
	s := &suite{Config: cfg}
	// Each promise has a log of its own: they run in parallel.
	for _, p := range []struct {
		name string
		test func(*testing.T)
	}{
		{"RebuildEqualsIncremental", s.testRebuild},
		{"ResumeFromCheckpointEqualsIncremental", s.testResume},
		{"AsOfEqualsThePast", s.testAsOf},
		{"SnapshotRestoreRoundTrip", s.testRoundTrip},
		{"TypedReplayEqualsUntypedReplay", s.testTyped},
		{"UndecodableAndUnknownEventsChangeNothing", s.testBadData},
		{"CheckpointHoldsNoPersonalData", s.testNoPersonalData},
	} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			p.test(t)
		})
	}
}

type suite struct {
	Config
}

// state is the comparable form of p's state.
func (s *suite) state(p projections.Projection) string {
	if w, ok := p.(interface{ unwrap() projections.Projection }); ok {
		p = w.unwrap()
	}
	return Dump(s.View(p))
}

// read returns the engine's state and the sequence it reflects.
func (s *suite) read(e *engine) (string, uint64) {
	var st string
	var at uint64
	e.Read(func(p projections.Projection, applied uint64) { st, at = s.state(p), applied })
	return st, at
}

// same fails the test when got differs from want.
func (s *suite) same(tb testing.TB, what, got, want string) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s: %s: state differs%s", s.Name, what, diff(got, want))
	}
}

// replay replays the log into p up to upTo (0: the end) and returns its
// state.
func (s *suite) replay(tb testing.TB, l *log, p projections.Projection, upTo uint64) string {
	tb.Helper()
	seq, err := projections.Replay(ctx(tb), l.store, p, upTo, nil)
	if err != nil {
		tb.Fatalf("%s: replay up to %d: %v", s.Name, upTo, err)
	}
	if upTo != 0 && seq != upTo {
		tb.Fatalf("%s: replay up to %d read up to %d", s.Name, upTo, seq)
	}
	return s.state(p)
}

// bursts splits the history into n parts of random sizes (the same for
// the same history).
func bursts(h []Command, n int) [][]Command {
	rng := rand.New(rand.NewPCG(uint64(len(h)), uint64(n)))
	cuts := []int{0}
	for i := 1; i < n; i++ {
		// Around i/n of the way, give or take a third of a part.
		part := len(h) / n
		cuts = append(cuts, min(max(i*part+rng.IntN(part*2/3+1)-part/3, cuts[i-1]+1), len(h)))
	}
	cuts = append(cuts, len(h))
	out := make([][]Command, n)
	for i := range n {
		out[i] = h[cuts[i]:cuts[i+1]]
	}
	return out
}

// testRebuild: applying the history live, while it is appended in
// bursts, gives the state Replay from sequence 1 gives; so does an engine
// that starts mid-history (it catches up with a read, then follows).
func (s *suite) testRebuild(t *testing.T) {
	l := open(t)
	early := l.run(t, s.New(), l.obj)
	var late *engine
	for i, part := range bursts(s.History, 5) {
		l.append(t, part)
		if i == 1 {
			late = l.run(t, s.New(), nil)
		}
	}
	last := l.last(t)
	want := s.replay(t, l, s.New(), 0)
	if want == s.state(s.New()) {
		t.Fatalf("%s: the history left the projection empty: the suite would check nothing", s.Name)
	}
	for _, c := range []struct {
		name string
		e    *engine
	}{{"engine following from the start", early}, {"engine started mid-history", late}} {
		c.e.waitFor(t, last)
		got, _ := s.read(c.e)
		s.same(t, c.name+" vs replay from 1", got, want)
	}
}

// counted counts the events its projection is given.
type counted struct {
	projections.Projection
	first atomic.Uint64
	n     atomic.Int64
}

func (c *counted) Apply(rec events.Record) error {
	c.first.CompareAndSwap(0, rec.Sequence)
	c.n.Add(1)
	return c.Projection.Apply(rec)
}

func (c *counted) unwrap() projections.Projection { return c.Projection }

// countedTyped is a counted projection that keeps declaring its types.
type countedTyped struct {
	*counted
	projections.Typed
}

func count(p projections.Projection) (projections.Projection, *counted) {
	c := &counted{Projection: p}
	if t, ok := p.(projections.Typed); ok {
		return countedTyped{c, t}, c
	}
	return c, c
}

// untyped hides a projection's EventTypes: a replay decodes and applies
// every event on its subject.
type untyped struct{ projections.Projection }

func (u untyped) unwrap() projections.Projection { return u.Projection }

// testResume: an engine stopped mid-history (it writes a checkpoint) and
// started again later, twice, on the same checkpoint bucket, resumes
// after its checkpoint (it is never given an event at or before it) and
// ends in the state of an engine that ran without a break.
func (s *suite) testResume(t *testing.T) {
	l := open(t)
	unbroken := l.run(t, s.New(), nil)
	parts := bursts(s.History, 6)
	var stoppedAt uint64
	var last *engine
	for gen := range 3 {
		p, c := count(s.New())
		e := l.run(t, p, l.obj)
		l.append(t, parts[2*gen])
		if gen == 2 {
			l.append(t, parts[2*gen+1])
		}
		e.waitFor(t, l.last(t))
		if gen > 0 {
			if first := c.first.Load(); first <= stoppedAt {
				t.Fatalf("%s: after a restart at checkpoint %d the engine was given sequence %d first: it replayed instead of resuming", s.Name, stoppedAt, first)
			}
		}
		if gen == 2 {
			last = e
			break
		}
		e.stop()
		stoppedAt = e.Applied()
		if stoppedAt == 0 {
			t.Fatalf("%s: the engine applied nothing before it stopped", s.Name)
		}
		if _, err := l.obj.GetInfo(ctx(t), p.Name()); err != nil {
			t.Fatalf("%s: no checkpoint after the engine stopped: %v", s.Name, err)
		}
		// Written while no engine runs.
		l.append(t, parts[2*gen+1])
	}
	end := l.last(t)
	unbroken.waitFor(t, end)
	want, _ := s.read(unbroken)
	got, _ := s.read(last)
	s.same(t, "engine resumed from checkpoints vs engine without a break", got, want)
	s.same(t, "engine resumed from checkpoints vs replay from 1", got, s.replay(t, l, s.New(), 0))
}

// testAsOf: the state replayed up to sequence k equals the state the
// engine showed when it had applied the log up to k.
func (s *suite) testAsOf(t *testing.T) {
	l := open(t)
	e := l.run(t, s.New(), l.obj)
	type seen struct {
		k     uint64
		state string
	}
	var past []seen
	for _, part := range bursts(s.History, 6) {
		k := l.append(t, part)
		e.waitFor(t, k)
		st, _ := s.read(e)
		past = append(past, seen{k, st})
	}
	for _, p := range past {
		s.same(t, "replay up to "+itoa(p.k)+" vs the engine at "+itoa(p.k), s.replay(t, l, s.New(), p.k), p.state)
	}
	if len(past) > 1 && past[0].state == past[len(past)-1].state {
		t.Errorf("%s: the state did not change over the history: the as-of check is vacuous", s.Name)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// testRoundTrip: at several points of the history, Restore(Snapshot)
// gives the same state, into a new projection and into a used one after
// Reset (as the engine restores), and the restored projection goes on to
// the state a full replay gives.
func (s *suite) testRoundTrip(t *testing.T) {
	l := open(t)
	var points []uint64
	for _, part := range bursts(s.History, 4) {
		points = append(points, l.append(t, part))
	}
	end := points[len(points)-1]
	full := s.replay(t, l, s.New(), 0)
	used := s.New()
	s.replay(t, l, used, 0)
	for _, k := range points {
		p := s.New()
		want := s.replay(t, l, p, k)
		var buf bytes.Buffer
		if err := p.Snapshot(&buf); err != nil {
			t.Fatalf("%s: snapshot at %d: %v", s.Name, k, err)
		}
		fresh := s.New()
		if err := fresh.Restore(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("%s: restore at %d: %v", s.Name, k, err)
		}
		s.same(t, "restored into a new projection at "+itoa(k), s.state(fresh), want)
		used.Reset()
		if err := used.Restore(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("%s: restore after reset at %d: %v", s.Name, k, err)
		}
		s.same(t, "reset and restored at "+itoa(k), s.state(used), want)
		if k == end {
			continue
		}
		// The rest of the log, applied as the engine applies it after a
		// restore.
		opts := events.ReadOptions{From: k + 1, Subject: fresh.Subject()}
		if ty, ok := fresh.(projections.Typed); ok {
			opts.Types = ty.EventTypes()
		}
		for rec, err := range l.store.ReadWith(ctx(t), opts) {
			var de *events.DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("%s: read from %d: %v", s.Name, k+1, err)
			}
			if err == nil && rec.Payload != nil {
				if err := fresh.Apply(rec); err != nil {
					t.Fatalf("%s: apply %d after restore: %v", s.Name, rec.Sequence, err)
				}
			}
		}
		s.same(t, "restored at "+itoa(k)+", then the rest of the log, vs replay from 1", s.state(fresh), full)
	}
}

// testTyped: a projection that declares its event types (Typed) gives the
// same state when a replay skips the others as when it is given every
// event (its EventTypes hidden), and so does the engine, which decodes
// every event it follows live. Besides the history, the log holds every
// other pathway.v1 message type, on live aggregates of each kind.
func (s *suite) testTyped(t *testing.T) {
	typed, ok := s.New().(projections.Typed)
	if !ok {
		t.Skipf("%s does not declare its event types", s.Name)
	}
	declared := map[string]bool{}
	for _, typ := range typed.EventTypes() {
		declared[typ] = true
	}
	l := open(t)
	e := l.run(t, s.New(), l.obj)
	parts := bursts(s.History, 2)
	foreign := 0
	for _, part := range parts {
		l.append(t, part)
		foreign += s.appendForeign(t, l, part, declared)
	}
	if foreign == 0 {
		t.Fatalf("%s: declares every pathway.v1 type: nothing to skip", s.Name)
	}
	last := l.last(t)
	want := s.replay(t, l, s.New(), 0)
	s.same(t, "replay given every event vs typed replay", s.replay(t, l, untyped{s.New()}, 0), want)
	e.waitFor(t, last)
	got, _ := s.read(e)
	s.same(t, "engine (decoding every event live) vs typed replay", got, want)
}

// appendForeign appends every pathway.v1 message type not declared to
// the last aggregates of each kind in part, their string fields set to the
// id of a referral with a case (so that ids the projection might follow
// point somewhere). It returns the number of types.
func (s *suite) appendForeign(tb testing.TB, l *log, part []Command, declared map[string]bool) int {
	tb.Helper()
	aggs := map[string]events.Aggregate{}
	refID := ""
	for _, c := range part {
		for _, ch := range c.Changes {
			aggs[ch.Aggregate.Type] = ch.Aggregate
			for _, p := range ch.Events {
				if a, ok := p.(*pathwayv1.WorkerCaseAssigned); ok {
					refID = a.GetReferralId()
				}
			}
		}
	}
	var others []proto.Message
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() != "pathway.v1" || declared[string(mt.Descriptor().FullName())] {
			return true
		}
		m := mt.New()
		fields := mt.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); f.Kind() == protoreflect.StringKind && f.Cardinality() != protoreflect.Repeated && f.ContainingOneof() == nil {
				m.Set(f, protoreflect.ValueOfString(refID))
			}
		}
		others = append(others, m.Interface())
		return true
	})
	for _, agg := range aggs {
		l.appendAny(tb, agg, others...)
	}
	return len(others)
}

// testBadData: events the projection cannot decode, or whose type this
// build does not know, leave its state as it was, live and in a replay;
// the engine moves past them.
func (s *suite) testBadData(t *testing.T) {
	var types []string
	if ty, ok := s.New().(projections.Typed); ok {
		types = ty.EventTypes()
	}
	l := open(t)
	e := l.run(t, s.New(), l.obj)
	parts := bursts(s.History, 2)
	good := l.append(t, parts[0])
	e.waitFor(t, good)
	before, _ := s.read(e)
	bad := l.plantBad(t, types)
	e.waitFor(t, bad)
	after, _ := s.read(e)
	s.same(t, "engine after undecodable and unknown events vs before them", after, before)
	s.same(t, "replay up to the bad events vs up to the last good one", s.replay(t, l, s.New(), bad), before)

	l.append(t, parts[1])
	end := l.plantBad(t, types)
	e.waitFor(t, end)
	late := l.run(t, s.New(), nil)
	late.waitFor(t, end)
	want := s.replay(t, l, s.New(), 0)
	got, _ := s.read(e)
	s.same(t, "engine following through bad events vs replay", got, want)
	got, _ = s.read(late)
	s.same(t, "engine catching up through bad events vs replay", got, want)
}

// testNoPersonalData: a checkpoint, which lies on disk for as long as the
// projection runs, holds none of the personal data of the history, so
// erasing a person needs nothing from read models. A projection that reads
// sealed fields (projections.Personal) keeps only what it derives.
func (s *suite) testNoPersonalData(t *testing.T) {
	l := open(t)
	l.append(t, s.History)
	p := s.New()
	s.replay(t, l, p, 0)
	var buf bytes.Buffer
	if err := p.Snapshot(&buf); err != nil {
		t.Fatalf("%s: snapshot: %v", s.Name, err)
	}
	for _, v := range PersonalValues {
		if bytes.Contains(buf.Bytes(), []byte(v)) {
			t.Errorf("%s: the checkpoint holds %q, personal data of the history", s.Name, v)
		}
	}
}
