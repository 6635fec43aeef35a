package supervisor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/triage"
)

// count is a projection that counts the events of each aggregate type;
// one named "poisoned" cannot apply an event of the aggregate poison.
type count struct {
	name string
	N    map[string]int `json:"n"`
}

const poison = "00000000-0000-4000-8000-00000000dead"

func newCount(name string) *count { c := &count{name: name}; c.Reset(); return c }

func (c *count) Name() string    { return c.name }
func (c *count) Subject() string { return events.AllSubjects }
func (c *count) Reset()          { c.N = map[string]int{} }
func (c *count) Apply(rec events.Record) error {
	if rec.Aggregate.ID == poison && c.name == "poisoned" {
		return errors.New("no rule for this event")
	}
	c.N[rec.Aggregate.Type]++
	return nil
}
func (c *count) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(c) }
func (c *count) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(c) }

// received appends a new referral to the log and returns its sequence.
func received(tb testing.TB, store *events.Store, id string) uint64 {
	tb.Helper()
	seq, err := store.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: &pathwayv1.Person{GivenName: "Sam", NhsNumber: "9434765919"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// logs is a slog handler's output, safe for concurrent use.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Write(p) }
func (l *logs) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// pause is one pause the supervisor asked its clock for; the test ends it.
type pause struct {
	d   time.Duration
	end chan time.Time
}

// pauses is a clock whose pauses the test sees and ends.
func pauses() (chan pause, func(time.Duration) <-chan time.Time) {
	ch := make(chan pause, 16)
	return ch, func(d time.Duration) <-chan time.Time {
		p := pause{d, make(chan time.Time, 1)}
		ch <- p
		return p.end
	}
}

func within(tb testing.TB, what string, ch <-chan struct{}, d time.Duration) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		tb.Fatalf("%s: not within %v", what, d)
	}
}

// TestTransientFailureIsRetriedWithBackoff: a projection engine whose
// checkpoint bucket is gone fails to start; the supervisor runs it again
// after 100 ms, 200 ms, 400 ms, ..., while the other parts go on serving;
// once the bucket is back the engine catches up and signals it is
// running, and the supervisor is running.
func TestTransientFailureIsRetriedWithBackoff(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	for range 20 {
		received(t, l.Store, uuid.NewString())
	}
	obj, err := projections.OpenCheckpoints(ctx, l.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.JS.DeleteObjectStore(ctx, projections.CheckpointBucket); err != nil {
		t.Fatal(err)
	}
	var out logs
	paused, after := pauses()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sup := supervisor.New(sctx, supervisor.Options{Logger: slog.New(slog.NewTextHandler(&out, nil)), Backoff: 100 * time.Millisecond,
		MaxBackoff: 30 * time.Second, After: after})
	flaky := projections.NewEngine(l.Store, obj, newCount("flaky"), projections.Options{})
	steady := projections.NewEngine(l.Store, nil, newCount("steady"), projections.Options{})
	sup.Go("flaky", flaky)
	sup.Go("steady", steady)
	waited := make(chan error, 1)
	go func() { waited <- sup.Wait() }()

	for i, want := range []time.Duration{100, 200, 400, 800} {
		var p pause
		select {
		case p = <-paused:
		case err := <-waited:
			t.Fatalf("the supervisor stopped after a transient failure: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no pause %d within 10s", i+1)
		}
		if p.d != want*time.Millisecond {
			t.Errorf("pause %d: %v, want %v", i+1, p.d, want*time.Millisecond)
		}
		// Meanwhile the process serves: the other part follows the log.
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		if err := steady.WaitFor(wctx, received(t, l.Store, uuid.NewString())); err != nil {
			t.Fatalf("while flaky is failing, steady: %v", err)
		}
		wcancel()
		select {
		case <-flaky.Running():
			t.Fatal("flaky signals it is running without its checkpoints")
		default:
		}
		if err := sup.Ready(); err == nil || !strings.Contains(err.Error(), "flaky") {
			t.Errorf("Ready while flaky is failing: %v, want it named", err)
		}
		if i == 3 {
			if _, err := projections.OpenCheckpoints(ctx, l.JS, 1); err != nil {
				t.Fatal(err)
			}
		}
		p.end <- time.Now()
	}
	within(t, "flaky running once its bucket is back", flaky.Running(), 10*time.Second)
	within(t, "the supervisor running", sup.Running(), 10*time.Second)
	if err := sup.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
	last, _ := l.Store.LastSequence(ctx)
	if got := flaky.Applied(); got < last {
		t.Errorf("flaky applied up to %d, want the log's end %d", got, last)
	}
	if n := strings.Count(out.String(), `msg="part failed, running it again" part=flaky`); n != 4 {
		t.Errorf("%d restarts of flaky logged, want 4:\n%s", n, out.String())
	}
	cancel()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("Wait after the end of its context: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s of the end of its context")
	}
}

// recorded is a part whose return is recorded.
type recorded struct {
	supervisor.Part
	returned chan struct{}
}

func record(p supervisor.Part) *recorded { return &recorded{p, make(chan struct{})} }

func (r *recorded) Run(ctx context.Context) error {
	defer func() {
		select {
		case <-r.returned:
		default:
			close(r.returned)
		}
	}()
	return r.Part.Run(ctx)
}

// TestBrokenPartStopsTheOthers: once every part runs (two projection
// engines, the triage consumer, an HTTP server), an event one engine
// cannot apply breaks it; the supervisor stops the others, and Wait
// returns the broken invariant, naming the part, within its stop timeout.
func TestBrokenPartStopsTheOthers(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	for range 10 {
		received(t, l.Store, uuid.NewString())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })}
	httpPart := supervisor.Func(func(ctx context.Context) error {
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	const stopTimeout = 5 * time.Second
	sup := supervisor.New(ctx, supervisor.Options{StopTimeout: stopTimeout})
	parts := map[string]*recorded{
		"poisoned": record(projections.NewEngine(l.Store, nil, newCount("poisoned"), projections.Options{})),
		"healthy":  record(projections.NewEngine(l.Store, nil, newCount("healthy"), projections.Options{})),
		"triage":   record(supervisor.Func(triage.New(l.Store, triage.DefaultRules(), triage.Options{}).Run)),
		"http":     record(httpPart),
	}
	for name, p := range parts {
		sup.Go(name, p)
	}
	waited := make(chan error, 1)
	go func() { waited <- sup.Wait() }()
	within(t, "every part running", sup.Running(), 30*time.Second)
	if resp, err := http.Get("http://" + ln.Addr().String()); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the HTTP part before the break: %v %v", resp, err)
	}

	broke := time.Now()
	received(t, l.Store, poison)
	var err2 error
	select {
	case err2 = <-waited:
	case <-time.After(stopTimeout + 10*time.Second):
		t.Fatalf("Wait did not return within %v of the break", stopTimeout+10*time.Second)
	}
	if !errors.Is(err2, events.ErrBroken) || !strings.Contains(err2.Error(), "poisoned") || errors.Is(err2, supervisor.ErrStopTimeout) {
		t.Errorf("Wait: %v, want the broken invariant of poisoned, every part stopped in time", err2)
	}
	if d := time.Since(broke); d > stopTimeout {
		t.Errorf("Wait returned %v after the break, want within the stop timeout %v", d, stopTimeout)
	}
	for name, p := range parts {
		select {
		case <-p.returned:
		default:
			t.Errorf("part %s still runs after Wait returned", name)
		}
	}
	if _, err := http.Get("http://" + ln.Addr().String()); err == nil {
		t.Errorf("the HTTP part still answers after the break")
	}
}

// TestStopIsBounded: a part that ignores the end of its context does not
// hold the process: Wait returns the broken invariant and names the part
// still running once the stop timeout has passed.
func TestStopIsBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	sup := supervisor.New(context.Background(), supervisor.Options{StopTimeout: 200 * time.Millisecond})
	sup.Go("stubborn", supervisor.Func(func(context.Context) error { <-release; return nil }))
	started := make(chan struct{})
	sup.Go("broken", supervisor.Func(func(ctx context.Context) error {
		<-started
		return errors.Join(events.ErrBroken, errors.New("the invariant"))
	}))
	waited := make(chan error, 1)
	begin := time.Now()
	go func() { waited <- sup.Wait() }()
	close(started)
	select {
	case err := <-waited:
		if !errors.Is(err, events.ErrBroken) || !errors.Is(err, supervisor.ErrStopTimeout) || !strings.Contains(err.Error(), "stubborn") {
			t.Errorf("Wait: %v, want the broken invariant and a stop timeout naming stubborn", err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("Wait took %v with a stop timeout of 200ms", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait waited for a part that ignores its context")
	}
}

// TestDoneIsNotRunAgain: a part that returns nil before its context ends
// is done; one that fails transiently is run again; a nil of one does not
// stop the others.
func TestDoneIsNotRunAgain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	paused, after := pauses()
	sup := supervisor.New(ctx, supervisor.Options{After: after})
	var mu sync.Mutex
	runs := map[string]int{}
	run := func(name string, err error) supervisor.Part {
		return supervisor.Func(func(ctx context.Context) error {
			mu.Lock()
			runs[name]++
			mu.Unlock()
			return err
		})
	}
	sup.Go("once", run("once", nil))
	sup.Go("failing", run("failing", errors.New("transient")))
	for range 3 {
		select {
		case p := <-paused:
			p.end <- time.Now()
		case <-time.After(10 * time.Second):
			t.Fatal("no pause within 10s")
		}
	}
	// The parts run in goroutines of their own: give "once" its turn.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := runs["once"]
		mu.Unlock()
		if n > 0 {
			break
		}
	}
	mu.Lock()
	if runs["once"] != 1 || runs["failing"] < 3 {
		t.Errorf("runs %v, want once run once and failing at least three times", runs)
	}
	mu.Unlock()
	cancel()
	if err := sup.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

// TestPauseStartsAgainAfterALongRun: the pause doubles while a part keeps
// failing at once, and starts again from the first once it failed after
// running for longer than the longest pause.
func TestPauseStartsAgainAfterALongRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ran := []time.Duration{0, 0, 0, time.Hour, 0} // how long each run lasts
	paused, after := pauses()
	sup := supervisor.New(ctx, supervisor.Options{After: after, Now: clock, Backoff: time.Second, MaxBackoff: time.Minute})
	run := 0
	sup.Go("failing", supervisor.Func(func(ctx context.Context) error {
		mu.Lock()
		now = now.Add(ran[min(run, len(ran)-1)])
		run++
		mu.Unlock()
		return errors.New("transient")
	}))
	var got []time.Duration
	for range 5 {
		select {
		case p := <-paused:
			got = append(got, p.d)
			p.end <- time.Now()
		case <-time.After(10 * time.Second):
			t.Fatal("no pause within 10s")
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, time.Second, 2 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
	cancel()
	sup.Wait()
}
