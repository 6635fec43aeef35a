package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// collect follows s from from with opts until it has seen last, and
// returns the sequences it was given and the payload types.
func collect(ctx context.Context, s *events.Store, opts events.ReadOptions, last uint64, got chan<- []events.Record) {
	var recs []events.Record
	for rec, err := range s.SubscribeWith(ctx, opts) {
		if err != nil {
			break
		}
		recs = append(recs, rec)
		if rec.Sequence >= last {
			break
		}
	}
	got <- recs
}

// TestSharedTail: the live subscriptions of one store share one reader of
// the log. Each still gets every event of its subject once and in order,
// whether it joins at the end or far behind what the reader keeps, with
// the events of the types it does not use left undecoded; and with
// Positions it also learns how far the log went past its subject.
func TestSharedTail(t *testing.T) {
	defer events.SetTailKeep(16)()
	l := eventstest.Start(t, false)
	s := l.Store
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 40 referrals of 2 events, and a worker event after every fourth.
	var refSeqs, all []uint64
	for i := range 40 {
		ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		second, err := s.Append(ctx, ref, 0, // the sequence of the last event appended
			events.Event{Payload: &pathwayv1.ReferralReceived{WhatMatters: fmt.Sprint(i)}},
			events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 30}})
		if err != nil {
			t.Fatal(err)
		}
		refSeqs = append(refSeqs, second-1, second)
		all = append(all, second-1, second)
		if i%4 == 3 {
			seq, err := s.Append(ctx, events.Aggregate{Type: "worker", ID: uuid.NewString()}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "W"}})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, seq)
		}
	}
	last := all[len(all)-1]

	// Five followers join at the log's end, then five more from its start:
	// the reader keeps 16 events, so those read most of it from the log.
	atEnd := make(chan []events.Record, 5)
	fromStart := make(chan []events.Record, 5)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			collect(ctx, s, events.ReadOptions{From: last + 1, Subject: events.TypeSubject("referral")}, last+1, atEnd)
		}()
	}
	// The ten follow one reader: one consumer on the server.
	deadline := time.Now().Add(10 * time.Second)
	for consumers(t, l.JS) != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := consumers(t, l.JS); n != 1 {
		t.Fatalf("5 live subscriptions: %d consumers on the stream, want 1", n)
	}
	want := events.TypesOf(&pathwayv1.ReferralReceived{})
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			collect(ctx, s, events.ReadOptions{From: 1, Subject: events.TypeSubject("referral"), Types: want, Positions: true}, last+1, fromStart)
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// More events while they follow: the reader keeps only the newest.
	more := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	var version uint64 // the aggregate's version is its last event's sequence
	for i := range 30 {
		seq, err := s.Append(ctx, more, version, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: uint32(i + 1)}})
		if err != nil {
			t.Fatal(err)
		}
		version = seq
		refSeqs = append(refSeqs, seq)
		if i == 0 && seq != last+1 {
			t.Fatalf("appended at %d, want %d", seq, last+1)
		}
	}
	end := refSeqs[len(refSeqs)-1]
	worker, err := s.Append(ctx, events.Aggregate{Type: "worker", ID: uuid.NewString()}, 0, events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "X"}})
	if err != nil {
		t.Fatal(err)
	}
	// The followers stop at last+1; these see the rest.
	tailEnd := make(chan []events.Record, 1)
	go collect(ctx, s, events.ReadOptions{From: last + 2, Subject: events.TypeSubject("referral"), Positions: true}, worker, tailEnd)
	wg.Wait()
	close(atEnd)
	close(fromStart)

	for recs := range atEnd {
		if len(recs) != 1 || recs[0].Sequence != last+1 || recs[0].Payload == nil {
			t.Errorf("a follower from the end got %v, want the event at %d", seqsOf(recs), last+1)
		}
	}
	for recs := range fromStart {
		var got []uint64
		for _, rec := range recs {
			if rec.Payload == nil && rec.Aggregate.Type == "" {
				continue // a position
			}
			got = append(got, rec.Sequence)
			if rec.Aggregate.Type != "referral" {
				t.Errorf("a follower of referrals got a %s event at %d", rec.Aggregate.Type, rec.Sequence)
			}
			if decoded := rec.Payload != nil; decoded != (rec.Type == want[0]) {
				t.Errorf("event %d of type %s: decoded %v", rec.Sequence, rec.Type, decoded)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(refSeqs[:81]) {
			t.Errorf("a follower from the start got\n%v\nwant\n%v", got, refSeqs[:81])
		}
	}
	select {
	case recs := <-tailEnd:
		var got []uint64
		for _, rec := range recs {
			got = append(got, rec.Sequence)
		}
		wantSeqs := append(append([]uint64(nil), refSeqs[81:]...), worker)
		if fmt.Sprint(got) != fmt.Sprint(wantSeqs) {
			t.Errorf("a follower with positions got %v, want %v (the last a position: %d)", got, wantSeqs, end)
		}
		if p := recs[len(recs)-1]; p.Payload != nil || p.Aggregate.Type != "" {
			t.Errorf("the worker event was given as %+v, want a position only", p)
		}
	case <-ctx.Done():
		t.Fatal("the follower with positions never saw the worker event pass")
	}
}

func seqsOf(recs []events.Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Sequence)
	}
	return out
}
