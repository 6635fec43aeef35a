package events_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded/cluster"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// tally counts errors by kind, for a test's report.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[kind]++
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.n) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(t.n)) {
		fmt.Fprintf(&b, "%d× %s; ", t.n[k], k)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// appendRetrying appends one command the way a service on a cluster
// should: a publish during a leader election can time out or find no
// responders, and its fate is then unknown, so it is sent again with the
// same idempotency key, which the store recognises as the same command.
// ErrConcurrency after such an attempt may be the earlier attempt's own
// event not yet seen, so it is retried too. Each retried error is
// counted in retried.
func appendRetrying(ctx context.Context, s *events.Store, agg events.Aggregate, expected uint64, ev events.Event, retried *tally) (uint64, error) {
	ev.IdempotencyKey = uuid.NewString()
	ambiguous := false
	pause := 10 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		seq, err := s.Append(actx, agg, expected, ev)
		cancel()
		if err == nil {
			return seq, nil
		}
		switch {
		case ctx.Err() != nil, errors.Is(err, events.ErrInvalid):
			return 0, err
		case errors.Is(err, events.ErrConcurrency) && !ambiguous:
			return 0, err
		case errors.Is(err, events.ErrConcurrency):
			retried.add("ErrConcurrency after an unanswered attempt")
		default:
			ambiguous = true
			retried.add(errorKind(err))
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// errorKind names an error for a tally: its text without the ids in it.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout"
	case errors.Is(err, nats.ErrNoResponders):
		return "no responders"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// retryRead calls read, with a timeout, until it succeeds, fails with
// ErrNotFound or ErrInvalid, or ctx ends; each error it tries again after
// is counted in retried.
func retryRead(ctx context.Context, retried *tally, read func(context.Context) error) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := read(rctx)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, events.ErrNotFound) || errors.Is(err, events.ErrInvalid) {
			return err
		}
		retried.add(errorKind(err))
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// stepDownEvery steps the stream's leader (and the consumer's, when
// consumer is not empty, in turn with the stream's) down every interval
// until ctx ends, and returns how many step-downs of each succeeded.
func stepDownEvery(ctx context.Context, nc *nats.Conn, interval time.Duration, stream, consumer string) (streams, consumers *atomic.Int64, done <-chan struct{}) {
	streams, consumers = new(atomic.Int64), new(atomic.Int64)
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if consumer != "" && i%2 == 1 {
				if cluster.StepDown(sctx, nc, stream, consumer, "") == nil {
					consumers.Add(1)
				}
			} else if cluster.StepDown(sctx, nc, stream, "", "") == nil {
				streams.Add(1)
			}
			cancel()
		}
	}()
	return streams, consumers, ch
}

// TestClusterLoadSeesOwnWrites: on a three-server cluster with the log on
// three replicas, while the stream's leader steps down every 200ms, 300
// appends through one server (each at the version the writer last got)
// are each followed at once by a Load and a Version through another
// server; each must see the event just written (its version is the
// sequence Append returned). At the end the log holds the 300 events,
// once each, in the order they were appended.
func TestClusterLoadSeesOwnWrites(t *testing.T) {
	c := cluster.Start(t, cluster.Config{})
	_, wjs := c.Connect(t, 0)
	rnc, rjs := c.Connect(t, 1)
	writer := events.New(wjs, events.Options{})
	reader := events.New(rjs, events.Options{})
	// A bound against a hang, not a timing target: on a shared machine
	// under the race detector the 300 appends through elections can take
	// well over a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	sctx, stopStepping := context.WithCancel(ctx)
	stepped, _, stepperDone := stepDownEvery(sctx, rnc, 200*time.Millisecond, events.DefaultStream, "")
	defer func() { stopStepping(); <-stepperDone }()

	const appends, aggregates = 300, 10
	aggs := make([]events.Aggregate, aggregates)
	versions := make([]uint64, aggregates)
	for i := range aggs {
		aggs[i] = events.Aggregate{Type: "referral", ID: uuid.NewString()}
	}
	var (
		written                    []uint64
		retried, loadErrs, verErrs tally
		staleLoads, staleVersions  int
		firstStale                 string
	)
	for i := range appends {
		k := i % aggregates
		agg := aggs[k]
		seq, err := appendRetrying(ctx, writer, agg, versions[k], events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: uint32(i + 1)}}, &retried)
		if err != nil {
			t.Fatalf("append %d to %s at %d: %v (retried: %v)", i+1, agg, versions[k], err, &retried)
		}
		versions[k] = seq
		written = append(written, seq)

		// A read during an election may fail (that is not stale): it is
		// tried again, and the error counted.
		var (
			recs []events.Record
			v    uint64
		)
		err = retryRead(ctx, &loadErrs, func(rctx context.Context) (err error) {
			recs, v, err = reader.Load(rctx, agg)
			return err
		})
		if errors.Is(err, events.ErrNotFound) {
			recs, v, err = nil, 0, nil // stale: the event just written is not there
		}
		switch {
		case err != nil:
			t.Fatalf("append %d: load %s: %v", i+1, agg, err)
		case v != seq || len(recs) == 0 || recs[len(recs)-1].Sequence != seq:
			staleLoads++
			if firstStale == "" {
				firstStale = fmt.Sprintf("append %d: load of %s got version %d, want %d", i+1, agg, v, seq)
			}
		}
		err = retryRead(ctx, &verErrs, func(rctx context.Context) (err error) {
			v, err = reader.Version(rctx, agg)
			return err
		})
		switch {
		case err != nil:
			t.Fatalf("append %d: version of %s: %v", i+1, agg, err)
		case v != seq:
			staleVersions++
			if firstStale == "" {
				firstStale = fmt.Sprintf("append %d: version of %s: got %d, want %d", i+1, agg, v, seq)
			}
		}
	}
	stopStepping()
	<-stepperDone
	t.Logf("%d appends, %d stream leader step-downs; append retries: %v", appends, stepped.Load(), &retried)
	if stepped.Load() < 3 {
		t.Errorf("stream leader stepped down %d times, want at least 3 for the test to mean anything", stepped.Load())
	}
	if staleLoads > 0 || staleVersions > 0 || firstStale != "" {
		t.Errorf("stale reads through another server: %d of %d loads, %d of %d versions; first: %s", staleLoads, appends, staleVersions, appends, firstStale)
	}
	t.Logf("loads tried again after: %v; versions tried again after: %v", &loadErrs, &verErrs)

	// Nothing lost, nothing twice, in order: the whole log, and each
	// aggregate.
	var got []uint64
	for rec, err := range writer.Read(ctx, 0, "") {
		if err != nil {
			t.Fatalf("read the log: %v", err)
		}
		got = append(got, rec.Sequence)
	}
	if !slices.Equal(got, written) {
		t.Errorf("the log holds %d events %v, want the %d appended %v", len(got), got, len(written), written)
	}
	for k, agg := range aggs {
		recs, v, err := writer.Load(ctx, agg)
		if err != nil {
			t.Errorf("load %s at the end: %v", agg, err)
			continue
		}
		var seqs, want []uint64
		for _, r := range recs {
			seqs = append(seqs, r.Sequence)
		}
		for i := k; i < len(written); i += aggregates {
			want = append(want, written[i])
		}
		if !slices.Equal(seqs, want) || v != versions[k] {
			t.Errorf("%s at the end: got events %v at version %d, want %v at %d", agg, seqs, v, want, versions[k])
		}
	}
}
