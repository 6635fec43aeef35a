package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func readCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// plantRaw publishes a raw message to the log, bypassing the store.
func plantRaw(tb testing.TB, js jetstream.JetStream, subject, typ string, data []byte) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if typ != "" {
		m.Header.Set(events.HeaderEventType, typ)
	}
	ack, err := js.PublishMsg(readCtx(tb), m)
	if err != nil {
		tb.Fatalf("plant: %v", err)
	}
	return ack.Sequence
}

func consumers(tb testing.TB, js jetstream.JetStream) int {
	tb.Helper()
	st, err := js.Stream(readCtx(tb), events.DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(readCtx(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Consumers
}

// TestReadTypes: events of the listed types are decoded, the others come
// undecoded with their sequence, aggregate and type, in order and without
// gaps; bad data of a listed type is still a *DecodeError.
func TestReadTypes(t *testing.T) {
	l := eventstest.Start(t, false)
	s, ctx := l.Store, readCtx(t)
	ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	worker := events.Aggregate{Type: "worker", ID: uuid.NewString()}
	first, err := s.Append(ctx, ref, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{WhatMatters: "x"}},
		events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 30}},
		events.Event{Payload: &pathwayv1.ReferralDischarged{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, worker, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "W"}}); err != nil {
		t.Fatal(err)
	}
	// A corrupt body under a skipped type, and one under a wanted type.
	skippedBad := plantRaw(t, l.JS, ref.Subject(), events.TypeOf(&pathwayv1.ContactRecorded{}), []byte("not a protobuf{}"))
	wantedBad := plantRaw(t, l.JS, ref.Subject(), events.TypeOf(&pathwayv1.ReferralReceived{}), []byte("not a protobuf{}"))
	// No type header: decoded whatever the list says.
	p, _ := anypb.New(&pathwayv1.ContactRecorded{DurationMinutes: 5})
	env, _ := proto.Marshal(&pathwayv1.Envelope{EventId: uuid.NewString(), AggregateType: ref.Type, AggregateId: ref.ID,
		EventType: events.TypeOf(&pathwayv1.ContactRecorded{}), Payload: p})
	noHeader := plantRaw(t, l.JS, ref.Subject(), "", env)
	last, err := s.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}

	want := events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralDischarged{})
	var seqs []uint64
	for rec, err := range s.ReadWith(ctx, events.ReadOptions{From: first, Types: want}) {
		seqs = append(seqs, rec.Sequence)
		switch rec.Sequence {
		case wantedBad:
			var de *events.DecodeError
			if !errors.As(err, &de) || de.Sequence != wantedBad || !errors.Is(err, events.ErrCorrupt) {
				t.Errorf("corrupt event of a wanted type: got %v, want a *DecodeError", err)
			}
			continue
		case skippedBad:
			if err != nil || rec.Payload != nil || rec.Envelope != nil || rec.Aggregate != ref {
				t.Errorf("corrupt event of a skipped type: got %+v, %v, want it undecoded", rec, err)
			}
			continue
		case noHeader:
			if err != nil || rec.Payload == nil {
				t.Errorf("event without a type header: got %+v, %v, want it decoded", rec, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", rec.Sequence, err)
		}
		wanted := rec.Type == want[0] || rec.Type == want[1]
		if wanted != (rec.Payload != nil) || wanted != (rec.Envelope != nil) {
			t.Errorf("event %d of type %s: payload %v, want decoded %v", rec.Sequence, rec.Type, rec.Payload, wanted)
		}
		if rec.Type == "" || rec.Aggregate.ID == "" {
			t.Errorf("event %d has no type or aggregate: %+v", rec.Sequence, rec)
		}
	}
	if len(seqs) != int(last-first+1) {
		t.Fatalf("read %v, want %d..%d", seqs, first, last)
	}
	for i, seq := range seqs {
		if seq != first+uint64(i) {
			t.Fatalf("read out of order or with gaps: %v", seqs)
		}
	}

	// Read decodes everything, as before: the planted bodies are errors.
	bad := 0
	for _, err := range s.Read(ctx, first, "") {
		if err != nil {
			bad++
		}
	}
	if bad != 2 {
		t.Errorf("read gave %d decode errors, want 2", bad)
	}
}

// TestReadEnds: a read ends at the end of the log at the time of the call,
// returns at once when nothing matches, and leaves no consumer behind.
func TestReadEnds(t *testing.T) {
	l := eventstest.Start(t, false)
	s, ctx := l.Store, readCtx(t)
	ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	var version uint64
	for range 10 {
		v, err := s.Append(ctx, ref, version, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}})
		if err != nil {
			t.Fatal(err)
		}
		version = v
	}
	before := consumers(t, l.JS)

	count := func(from uint64, subject string) int {
		n := 0
		for _, err := range s.Read(ctx, from, subject) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(version+1, ""); n != 0 {
		t.Errorf("read past the end gave %d events", n)
	}
	if n := count(1, events.TypeSubject("worker")); n != 0 {
		t.Errorf("read of a subject with no events gave %d", n)
	}
	if n := count(version, events.TypeSubject("referral")); n != 1 {
		t.Errorf("read of the last event gave %d", n)
	}
	if n := count(1, ref.Subject()); n != 10 {
		t.Errorf("read of one aggregate's subject gave %d, want 10", n)
	}
	upTo := 0
	for rec, err := range s.ReadWith(ctx, events.ReadOptions{From: 2, To: 5, Subject: events.TypeSubject("referral")}) {
		if err != nil || rec.Sequence != uint64(2+upTo) {
			t.Fatalf("read 2..5 gave %d, %v", rec.Sequence, err)
		}
		upTo++
	}
	if upTo != 4 {
		t.Errorf("read 2..5 gave %d events, want 4", upTo)
	}
	// Events appended during the read are not part of it.
	n := 0
	for _, err := range s.Read(ctx, 1, "") {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			if _, err := s.Append(ctx, ref, events.AnyVersion, events.Event{Payload: &pathwayv1.ContactRecorded{}}); err != nil {
				t.Fatal(err)
			}
		}
		n++
	}
	if n != 10 {
		t.Errorf("read gave %d events, want the 10 there were at the call", n)
	}
	// The same sequence iterated twice reads the same events.
	seq := s.Read(ctx, 1, "")
	for pass := range 2 {
		n := 0
		for range seq {
			n++
		}
		if n != 11 {
			t.Errorf("pass %d over one read gave %d events, want 11", pass, n)
		}
	}
	// Stopping early is fine too.
	for range s.Read(ctx, 1, "") {
		break
	}
	if after := consumers(t, l.JS); after != before {
		t.Errorf("reads left %d consumers on the stream, had %d", after, before)
	}
}
