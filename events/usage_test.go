package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// TestOnAppend: the observer is told of each append with the aggregate's
// type, never its id, and a conflict comes with ErrConcurrency.
func TestOnAppend(t *testing.T) {
	l := eventstest.Start(t, false)
	type seen struct {
		typ      string
		conflict bool
		err      bool
	}
	var mu sync.Mutex
	var got []seen
	store := events.New(l.JS, events.Options{Keys: l.Keys, OnAppend: func(typ string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if took <= 0 {
			t.Errorf("append took %v, want > 0", took)
		}
		got = append(got, seen{typ, errors.Is(err, events.ErrConcurrency), err != nil})
	}})
	ctx := context.Background()
	agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	ev := events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}}
	if _, err := store.Append(ctx, agg, 0, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, agg, 0, ev); !errors.Is(err, events.ErrConcurrency) {
		t.Fatalf("second append at version 0: %v, want ErrConcurrency", err)
	}
	want := []seen{{"referral", false, false}, {"referral", true, true}}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("observed %+v, want %+v", got, want)
	}
}

// TestConsumerLags: a durable consumer that has processed nothing is
// behind by the events of its subjects, since the first of them; once it
// has processed them it is not behind. Read models' ordered consumers
// are not listed.
func TestConsumerLags(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	before := time.Now()
	for range 3 {
		agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		if _, err := l.Store.Append(ctx, agg, 0, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	// Another aggregate type, which the consumer's subjects leave out.
	if _, err := l.Store.Append(ctx, events.Aggregate{Type: "worker", ID: "w1"}, 0, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}}); err != nil {
		t.Fatal(err)
	}
	c := events.Consumer{Name: "lagging", Subjects: []string{events.SubjectPrefix + ".referral.>"}}
	if _, err := l.Store.EnsureConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	lags, err := l.Store.ConsumerLags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != 1 || lags[0].Name != "lagging" || lags[0].Events != 3 {
		t.Fatalf("lags %+v, want lagging behind by 3", lags)
	}
	if lags[0].Oldest.Before(before.Add(-time.Second)) || lags[0].Oldest.After(time.Now()) {
		t.Errorf("oldest %v, want the first append's time (after %v)", lags[0].Oldest, before)
	}

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	var n int
	go func() {
		done <- l.Store.Consume(cctx, c, func(context.Context, events.Record) error {
			if n++; n == 3 {
				cancel()
			}
			return nil
		})
	}()
	<-done
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if lags, err = l.Store.ConsumerLags(ctx); err != nil {
			t.Fatal(err)
		}
		if len(lags) == 1 && lags[0].Events == 0 && lags[0].Oldest.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after processing: lags %+v, want lagging behind by 0", lags)
		}
	}
}

// TestUsage: the stream's messages and bytes, with no limits of its own.
func TestUsage(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	if _, err := l.Store.Append(ctx, events.Aggregate{Type: "referral", ID: "r1"}, 0, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}}); err != nil {
		t.Fatal(err)
	}
	u, err := l.Store.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Stream != events.DefaultStream || u.Messages != 1 || u.Bytes == 0 || u.MaxBytes != -1 || u.MaxMessages != -1 {
		t.Errorf("usage %+v, want 1 message, some bytes, no stream limits", u)
	}
	if u.AccountBytes < u.Bytes {
		t.Errorf("account storage %d bytes, want at least the stream's %d", u.AccountBytes, u.Bytes)
	}
	t.Logf("usage %+v", u)
}
