package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// wait bounds every wait of the suite for an engine.
const wait = 60 * time.Second

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*wait)
	tb.Cleanup(cancel)
	return c
}

// clock is the store's clock: the recorded time of the command being
// appended.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// log is a fresh event log on an embedded nats-server with JetStream (a
// temporary store directory, a free port), its checkpoint bucket, and a
// writer that appends commands at their recorded times.
type log struct {
	ctx      context.Context
	store    *events.Store
	js       jetstream.JetStream
	obj      jetstream.ObjectStore
	clk      *clock
	versions map[events.Aggregate]uint64
}

func open(tb testing.TB) *log {
	tb.Helper()
	l := eventstest.Start(tb, false)
	obj, err := projections.OpenCheckpoints(ctx(tb), l.JS, 1)
	if err != nil {
		tb.Fatalf("open checkpoints: %v", err)
	}
	clk := &clock{t: Start}
	return &log{ctx: ctx(tb), store: events.New(l.JS, events.Options{Now: clk.now, Keys: l.Keys}), js: l.JS, obj: obj, clk: clk, versions: map[events.Aggregate]uint64{}}
}

// append appends the commands in order, each at the version its
// aggregates reached (a command on a new aggregate expects 0), and
// returns the last sequence.
func (l *log) append(tb testing.TB, cmds []Command) uint64 {
	tb.Helper()
	var last uint64
	for _, c := range cmds {
		l.clk.set(c.At)
		changes := make([]events.Change, len(c.Changes))
		n := 0
		for i, ch := range c.Changes {
			evs := make([]events.Event, len(ch.Events))
			for j, p := range ch.Events {
				evs[j] = events.Event{Payload: p, Actor: &pathwayv1.Actor{Id: "conformance", Role: pathwayv1.Role_ROLE_SYSTEM}}
			}
			changes[i] = events.Change{Aggregate: ch.Aggregate, Expected: l.versions[ch.Aggregate], Events: evs}
			n += len(evs)
		}
		var err error
		if len(changes) == 1 {
			last, err = l.store.Append(l.ctx, changes[0].Aggregate, changes[0].Expected, changes[0].Events...)
		} else {
			last, err = l.store.AppendAll(l.ctx, changes...)
		}
		if err != nil {
			tb.Fatalf("append %v: %v", c.Changes[0].Aggregate, err)
		}
		// One atomic batch: the changes' events have the sequences up
		// to last, in order.
		seq := last - uint64(n)
		for _, ch := range changes {
			seq += uint64(len(ch.Events))
			l.versions[ch.Aggregate] = seq
		}
	}
	return last
}

// appendAny appends payloads to agg with no version check, at the clock's
// time plus a minute each, and returns the last sequence.
func (l *log) appendAny(tb testing.TB, agg events.Aggregate, ps ...proto.Message) uint64 {
	tb.Helper()
	var last uint64
	for _, p := range ps {
		l.clk.add(time.Minute)
		seq, err := l.store.Append(l.ctx, agg, events.AnyVersion, events.Event{Payload: p})
		if err != nil {
			tb.Fatalf("append %s to %v: %v", events.TypeOf(p), agg, err)
		}
		l.versions[agg], last = seq, seq
	}
	return last
}

func (l *log) last(tb testing.TB) uint64 {
	tb.Helper()
	n, err := l.store.LastSequence(l.ctx)
	if err != nil {
		tb.Fatalf("last sequence: %v", err)
	}
	return n
}

// publishRaw publishes a message the store would never write, past its
// checks, and returns its sequence.
func (l *log) publishRaw(tb testing.TB, subject, headerType string, data []byte) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if headerType != "" {
		m.Header.Set(events.HeaderEventType, headerType)
	}
	ack, err := l.js.PublishMsg(l.ctx, m)
	if err != nil {
		tb.Fatalf("publish to %s: %v", subject, err)
	}
	return ack.Sequence
}

// plantBad publishes, on the subjects of existing aggregates, events no
// projection can use: one of a type this build does not know (written by
// a newer version), bodies that are not envelopes under a header naming a
// type the projection uses, an envelope whose aggregate is not its
// subject's, a body with no header, and a message on a subject that is
// not an aggregate's. It returns the last sequence.
func (l *log) plantBad(tb testing.TB, types []string) uint64 {
	tb.Helper()
	byType := map[string]events.Aggregate{}
	for agg := range l.versions {
		if old, ok := byType[agg.Type]; !ok || agg.ID < old.ID {
			byType[agg.Type] = agg
		}
	}
	if len(types) == 0 {
		types = []string{events.TypeOf(&pathwayv1.ReferralReceived{})}
	}
	var last uint64
	for _, agg := range byType {
		// A type from the future: a well-formed envelope whose payload
		// this build cannot unpack.
		const future = "pathway.v1.ReferralTeleported"
		env := &pathwayv1.Envelope{EventId: "future-" + agg.ID, AggregateType: agg.Type, AggregateId: agg.ID, EventType: future, SchemaVersion: 1,
			RecordedAt: timestamppb.New(l.clk.now()), OccurredAt: timestamppb.New(l.clk.now()),
			Payload: &anypb.Any{TypeUrl: "type.googleapis.com/" + future, Value: []byte{0x0a, 0x03, 'm', 'a', 'r'}}}
		data, err := proto.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		last = l.publishRaw(tb, agg.Subject(), future, data)
		// Garbage under a type the projection uses.
		for _, typ := range types {
			last = l.publishRaw(tb, agg.Subject(), typ, []byte("\xff\xff not an envelope"))
		}
		// A valid envelope of a used type, of another aggregate.
		payload, err := anypb.New(&pathwayv1.ReferralReceived{WhatMatters: "misfiled"})
		if err != nil {
			tb.Fatal(err)
		}
		env = &pathwayv1.Envelope{EventId: "misfiled-" + agg.ID, AggregateType: agg.Type, AggregateId: "someone-else", EventType: events.TypeOf(&pathwayv1.ReferralReceived{}),
			SchemaVersion: 1, RecordedAt: timestamppb.New(l.clk.now()), Payload: payload}
		if data, err = proto.Marshal(env); err != nil {
			tb.Fatal(err)
		}
		last = l.publishRaw(tb, agg.Subject(), env.GetEventType(), data)
		last = l.publishRaw(tb, agg.Subject(), "", []byte{0x00, 0x01, 0x02})
		// The aggregate's subject moved on: its next command expects it.
		l.versions[agg] = last
	}
	last = l.publishRaw(tb, events.SubjectPrefix+".referral", types[0], []byte("no aggregate id"))
	return last
}

// engine is a projection's engine running in the background.
type engine struct {
	*projections.Engine
	stop func()
}

// run starts an engine for p on the log; obj nil: no checkpoints. It is
// stopped when the test ends, if not before.
func (l *log) run(tb testing.TB, p projections.Projection, obj jetstream.ObjectStore) *engine {
	tb.Helper()
	eng := projections.NewEngine(l.store, obj, p, projections.Options{CheckpointEvery: 97})
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(c) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("engine %s: %v", p.Name(), err)
				}
			case <-time.After(wait):
				tb.Errorf("engine %s did not stop within %v", p.Name(), wait)
			}
		})
	}
	tb.Cleanup(stop)
	return &engine{Engine: eng, stop: stop}
}

// waitFor waits until the engine reflects the log up to seq.
func (e *engine) waitFor(tb testing.TB, seq uint64) {
	tb.Helper()
	c, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.WaitFor(c, seq); err != nil {
		if errors.Is(err, projections.ErrTimeout) {
			tb.Fatalf("engine not caught up: %v", err)
		}
		tb.Fatalf("wait for %d: %v", seq, err)
	}
}
