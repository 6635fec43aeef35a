package events_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/conformance"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
)

// natsHarness runs the store on an embedded nats-server with JetStream,
// with a file store in a temporary directory, fsyncing every write: the
// way `pathway serve` runs it.
type natsHarness struct {
	dir   string
	cfg   events.StreamConfig
	srv   *embedded.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	store *events.Store
	keys  *keyring.Ring
	clock *clock
	// noSync relaxes fsync (the --fsync=false trade-off), for benchmarks.
	noSync bool
}

// clock is an injected clock that moves one millisecond per reading.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(time.Millisecond))).UTC() }

func startHarness(tb testing.TB) *natsHarness {
	tb.Helper()
	return startHarnessSync(tb, true)
}

func startHarnessSync(tb testing.TB, fsync bool) *natsHarness {
	tb.Helper()
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC).UnixNano())
	h := &natsHarness{
		dir:    tb.TempDir(),
		cfg:    events.StreamConfig{Duplicates: 100 * time.Millisecond, MaxMsgSize: 64 << 10},
		clock:  c,
		noSync: !fsync,
	}
	h.start(tb)
	tb.Cleanup(h.stop)
	return h
}

func (h *natsHarness) start(tb testing.TB) {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: h.dir, Listen: "127.0.0.1:0", NoSync: h.noSync})
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.Setup(ctx, js, h.cfg); err != nil {
		tb.Fatalf("setup: %v", err)
	}
	h.srv, h.nc, h.js = srv, nc, js
	h.keys = eventstest.Keys(tb, js)
	h.store = events.New(js, events.Options{Now: h.clock.Now, Keys: h.keys})
	h.keys.OnDestroy(h.store.Forget)
}

func (h *natsHarness) stop() {
	if h.nc != nil {
		h.nc.Close()
	}
	if h.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
	}
	h.nc, h.srv = nil, nil
}

func (h *natsHarness) Store() *events.Store           { return h.store }
func (h *natsHarness) JetStream() jetstream.JetStream { return h.js }
func (h *natsHarness) DuplicateWindow() time.Duration { return h.cfg.Duplicates }
func (h *natsHarness) MaxMsgSize() int                { return int(h.cfg.MaxMsgSize) }
func (h *natsHarness) Restart(tb testing.TB)          { h.stop(); h.start(tb) }

func (h *natsHarness) DestroyKey(tb testing.TB, id string) {
	tb.Helper()
	// As an erasure does: the key of the aggregate's own name, and the
	// slots its events were sealed with.
	typ, aid, _ := strings.Cut(id, ".")
	refs, err := h.store.KeyRefs(context.Background(), events.Aggregate{Type: typ, ID: aid})
	if err != nil {
		tb.Fatalf("key refs of %s: %v", id, err)
	}
	if err := h.keys.Destroy(context.Background(), id, refs...); err != nil {
		tb.Fatalf("destroy key %s: %v", id, err)
	}
}

func TestConformanceEmbeddedFileStore(t *testing.T) {
	conformance.Run(t, func(tb testing.TB) conformance.Harness { return startHarness(tb) })
}

func TestSetupIsIdempotent(t *testing.T) {
	h := startHarness(t)
	ctx := context.Background()
	for range 3 {
		if err := events.Setup(ctx, h.js, h.cfg); err != nil {
			t.Fatalf("setup again: %v", err)
		}
	}
	changed := h.cfg
	changed.Duplicates = time.Minute
	if err := events.Setup(ctx, h.js, changed); err != nil {
		t.Fatalf("setup with a changed window: %v", err)
	}
	st, err := h.js.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != time.Minute {
		t.Errorf("duplicate window after update: got %v, want 1m", info.Config.Duplicates)
	}
	if !info.Config.AllowAtomicPublish || !info.Config.DenyDelete || !info.Config.DenyPurge || !info.Config.AllowDirect {
		t.Errorf("stream config %+v: want atomic publish, direct get, no delete, no purge", info.Config)
	}
	if err := events.Ready(ctx, h.js, ""); err != nil {
		t.Errorf("ready: %v", err)
	}
	if err := events.Ready(ctx, h.js, "NOPE"); err == nil {
		t.Errorf("ready on a missing stream: got nil, want an error")
	}
	c := events.Consumer{Name: "triage", Subjects: []string{events.TypeSubject("referral")}}
	for range 2 {
		if _, err := h.store.EnsureConsumer(ctx, c); err != nil {
			t.Fatalf("ensure consumer: %v", err)
		}
	}
}
