package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded/cluster"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// warnings is a slog handler that tallies the messages logged at Warn
// and above.
type warnings struct{ tally }

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.add(r.Level.String() + " " + r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// deliveries records the sequences a handler sees.
type deliveries struct {
	mu     sync.Mutex
	seen   []uint64
	target uint64        // the sequence to wait for
	done   chan struct{} // closed once target has been seen
}

func (d *deliveries) handle(_ context.Context, rec events.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen = append(d.seen, rec.Sequence)
	d.check()
	return nil
}

// waitFor returns a channel closed once the handler has seen seq.
func (d *deliveries) waitFor(seq uint64) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	done := make(chan struct{})
	d.target, d.done = seq, done
	d.check()
	return done
}

func (d *deliveries) check() {
	if d.done == nil || slices.Max(append(d.seen, 0)) < d.target {
		return
	}
	close(d.done)
	d.done = nil
}

// against compares what the handler saw with the log's sequences in
// order: every event at least once, new ones in order with none missing;
// an event may come again (its acknowledgement was lost) but only before
// the next one. It returns how many came again, how many of log were
// seen, and what broke those promises.
func (d *deliveries) against(log []uint64) (again, seen int, problems []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := 0
	for _, seq := range d.seen {
		switch {
		case next < len(log) && seq == log[next]:
			next++
		case next > 0 && seq == log[next-1]:
			again++
		default:
			want := "nothing more"
			if next < len(log) {
				want = strconv.FormatUint(log[next], 10)
			}
			problems = append(problems, fmt.Sprintf("got sequence %d after %d events, want %s", seq, next, want))
		}
	}
	return again, next, problems
}

// TestConsumeRidesOutLeaderChanges: on a three-server cluster, a consumer
// connected to one server follows the log while events are appended
// through another and the stream's and the consumer's leaders step down
// in turn every 250ms. Consume does not return; the handler sees every
// event, new ones in log order with none missing (an event may come again
// right after itself, when its acknowledgement was lost).
func TestConsumeRidesOutLeaderChanges(t *testing.T) {
	c := cluster.Start(t, cluster.Config{})
	_, wjs := c.Connect(t, 0)
	cnc, cjs := c.Connect(t, 1)
	writer := events.New(wjs, events.Options{})
	consumer := events.New(cjs, events.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	const name = "resilience"
	warned := &warnings{}
	con := events.Consumer{Name: name, Logger: slog.New(warned), AckWait: 2 * time.Second}
	d := &deliveries{}
	var written []uint64
	var retried tally
	appendOne := func(i int) {
		t.Helper()
		agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		seq, err := appendRetrying(ctx, writer, agg, 0, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: uint32(i)}}, &retried)
		if err != nil {
			t.Fatalf("append %d: %v (retried: %v)", i, err, &retried)
		}
		written = append(written, seq)
	}
	// Some of the log before the consumer starts, the rest while it runs.
	for i := range 20 {
		appendOne(i + 1)
	}
	cctx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	consumed := make(chan error, 1)
	go func() { consumed <- consumer.Consume(cctx, con, d.handle) }()
	waitFor := func(within time.Duration) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		select {
		case <-d.waitFor(written[len(written)-1]):
		case err := <-consumed:
			t.Fatalf("Consume returned %v, want it to keep going", err)
		case <-wctx.Done():
			_, seen, _ := d.against(written)
			t.Fatalf("handler saw %d of %d events within %v; consumer logged: %v; %s",
				seen, len(written), within, &warned.tally, consumerState(cjs, name))
		}
	}
	// A new consumer's first pull can go out before the server that
	// leads it is known across the cluster.
	waitFor(10 * time.Second)

	sctx, stopStepping := context.WithCancel(ctx)
	streams, consumers, stepperDone := stepDownEvery(sctx, cnc, 250*time.Millisecond, events.DefaultStream, name)
	defer func() { stopStepping(); <-stepperDone }()
	for i := 20; streams.Load() < 5 || consumers.Load() < 5; i++ {
		if ctx.Err() != nil {
			t.Fatalf("%d stream and %d consumer step-downs before the deadline, want 5 of each", streams.Load(), consumers.Load())
		}
		appendOne(i + 1)
	}
	stopStepping()
	<-stepperDone

	waitFor(20 * time.Second)

	// An idle consumer waits with a pull request on its leader, which
	// drops it when it steps down: the next event must still come.
	for i := range 2 {
		for _, consumer := range []string{name, ""} {
			if err := stepDown(ctx, cnc, consumer, ""); err != nil {
				t.Fatalf("idle round %d: %v", i+1, err)
			}
		}
		appendOne(len(written) + 1)
		waitFor(10 * time.Second)
	}

	// The server leading the consumer goes down, its pull request with
	// it, unanswered: the next event must still come once another server
	// leads the consumer. The writer's and the consumer's servers stay.
	const lost = 2
	if c.Leader(events.DefaultStream, name) != lost {
		if err := stepDown(ctx, cnc, name, c.ServerName(lost)); err != nil {
			t.Fatalf("move the consumer's leader to server %d: %v", lost, err)
		}
	}
	for c.Leader(events.DefaultStream, name) != lost {
		select {
		case <-ctx.Done():
			t.Fatalf("the consumer's leader did not move to server %d", lost)
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.Stop(lost)
	appendOne(len(written) + 1)
	waitFor(20 * time.Second)
	c.Restart(lost)
	appendOne(len(written) + 1)
	waitFor(10 * time.Second)

	select {
	case err := <-consumed:
		t.Fatalf("Consume returned %v, want it to keep going", err)
	default:
	}
	stopConsuming()
	if err := <-consumed; err != nil {
		t.Errorf("Consume after its context ended: got %v, want nil", err)
	}

	again, seen, problems := d.against(written)
	t.Logf("%d events, %d stream and %d consumer step-downs; %d delivered again; append retries: %v; consumer logged: %v",
		len(written), streams.Load(), consumers.Load(), again, &retried, &warned.tally)
	if seen != len(written) {
		t.Errorf("handler saw %d of the %d events", seen, len(written))
	}
	for _, p := range problems[:min(len(problems), 10)] {
		t.Errorf("out of order: %s", p)
	}
}

// stepDown steps the leader of the stream, or of its consumer, down in
// favour of preferred (any server when empty), trying again while an
// election is under way.
func stepDown(ctx context.Context, nc *nats.Conn, consumer, preferred string) error {
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := cluster.StepDown(sctx, nc, events.DefaultStream, consumer, preferred)
		cancel()
		if err == nil {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// consumerState describes the consumer as the server has it, for a
// failure message.
func consumerState(js jetstream.JetStream, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, events.DefaultStream, name)
	if err != nil {
		return "consumer info: " + err.Error()
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return "consumer info: " + err.Error()
	}
	leader := ""
	if info.Cluster != nil {
		leader = info.Cluster.Leader
	}
	return fmt.Sprintf("server has the consumer led by %q, delivered %d, ack floor %d, %d pending, %d awaiting ack, %d redelivered, %d pull requests waiting",
		leader, info.Delivered.Stream, info.AckFloor.Stream, info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting)
}

// TestConsumeRecreatesADeletedConsumer: when its durable consumer is
// deleted under it (by an operator, or lost in a move), Consume creates
// it again and goes on, from the start of the log, instead of returning.
func TestConsumeRecreatesADeletedConsumer(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log []uint64
	appendOne := func() {
		t.Helper()
		seq, err := l.Store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0,
			events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		log = append(log, seq)
	}
	for range 3 {
		appendOne()
	}
	const name = "recreated"
	warned := &warnings{}
	d := &deliveries{}
	cctx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	consumed := make(chan error, 1)
	go func() {
		consumed <- l.Store.Consume(cctx, events.Consumer{Name: name, Logger: slog.New(warned)}, d.handle)
	}()
	waitFor := func(seq uint64) {
		t.Helper()
		select {
		case <-d.waitFor(seq):
		case err := <-consumed:
			t.Fatalf("Consume returned %v, want it to keep going", err)
		case <-ctx.Done():
			t.Fatalf("handler did not see sequence %d; consumer logged: %v", seq, &warned.tally)
		}
	}
	waitFor(log[len(log)-1])

	if err := l.JS.DeleteConsumer(ctx, events.DefaultStream, name); err != nil {
		t.Fatalf("delete the consumer: %v", err)
	}
	appendOne()
	waitFor(log[len(log)-1])
	stopConsuming()
	if err := <-consumed; err != nil {
		t.Errorf("Consume after its context ended: got %v, want nil", err)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	want := append(slices.Clone(log[:3]), log...)
	if !slices.Equal(d.seen, want) {
		t.Errorf("handler saw %v, want %v (the log, then all of it again from the new consumer)", d.seen, want)
	}
	if warned.String() == "none" {
		t.Errorf("consumer logged nothing, want a warning about the deleted consumer")
	}
	t.Logf("consumer logged: %v", &warned.tally)
}
