package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/webhooks"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// partnerCmd is the command a partner's request runs as.
var partnerCmd = events.Command{Actor: &pathwayv1.Actor{Id: "k1", Role: pathwayv1.Role_ROLE_PARTNER}}

// node is pathway's webhook service on an embedded NATS with a data
// directory that outlives it, so a test can restart it. Its view keeps
// checkpoints.
type node struct {
	srv    *embedded.Server
	js     jetstream.JetStream
	obj    jetstream.ObjectStore
	store  *events.Store
	svc    *webhooks.Service
	cancel context.CancelFunc
	done   chan error
}

func startNode(tb testing.TB, dir string, clk *clock, client *http.Client, view string) *node {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	store := events.New(js, events.Options{Now: clk.Now, Keys: eventstest.Keys(tb, js)})
	obj, err := projections.OpenCheckpoints(ctx, js, 1)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := webhooks.Open(ctx, js, store, webhooks.Options{Master: eventstest.Master(), Now: clk.Now, Client: client, Deliver: true, View: view, SendEvery: time.Hour, AllowPrivate: true,
		Checkpoints: obj})
	if err != nil {
		tb.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	n := &node{srv: srv, js: js, obj: obj, store: store, svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- svc.Run(rctx) }()
	select {
	case <-svc.Loaded():
	case <-time.After(5 * time.Second):
		tb.Fatal("the webhook service did not load its buckets within 5 s")
	}
	tb.Cleanup(func() { n.stop(tb); nc.Close() })
	return n
}

func (n *node) stop(tb testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		tb.Errorf("Run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
}

func waitFor(tb testing.TB, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flaky is a receiver that answers 503 to the first fail attempts, checks
// every signature, and counts what it saw per delivery id.
type flaky struct {
	mu       sync.Mutex
	secret   string
	fail     int
	attempts []string // delivery ids, in arrival order
	accepted map[string]int
	badSig   int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	// The receiver's clock is the real one; the sender's is the test
	// clock, so the tolerance is wide here.
	if err := webhooks.Verify(f.secret, r.Header, body, time.Unix(mustInt(r.Header.Get(webhooks.HeaderTimestamp)), 0), time.Minute); err != nil {
		f.badSig++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(webhooks.HeaderDeliveryID)
	f.attempts = append(f.attempts, id)
	if f.fail > 0 {
		f.fail--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	f.accepted[id]++
	w.WriteHeader(http.StatusNoContent)
}

func mustInt(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func (f *flaky) snapshot() (attempts []string, accepted map[string]int, badSig int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acc := map[string]int{}
	for k, v := range f.accepted {
		acc[k] = v
	}
	return append([]string(nil), f.attempts...), acc, f.badSig
}

func (f *flaky) setFail(n int) { f.mu.Lock(); f.fail = n; f.mu.Unlock() }

func requestHandoff(tb testing.TB, store *events.Store, id, partner string, respondBy time.Time) uint64 {
	tb.Helper()
	seq, err := store.Append(context.Background(), events.Aggregate{Type: "handoff", ID: id}, 0, events.Event{Payload: &pathwayv1.HandoffRequested{
		ReferralId: "01a2a6b0-0000-7000-8000-000000000001", ServiceId: "3b0c4ab1-ed20-520d-b191-c0ed329dff40", PartnerId: partner,
		Consent: true, RespondBy: timestamppb.New(respondBy), Shared: &pathwayv1.SharedData{GivenName: "Sam"},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// TestDeliveryRetriedSignedDedupedAndDurable: a receiver that fails the
// first attempts gets the delivery retried with back-off on the injected
// clock, every attempt correctly signed and carrying the same delivery id;
// pending state survives a restart; a second consumer over the same
// events makes no second delivery.
func TestDeliveryRetriedSignedDedupedAndDurable(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "s3cret-shared-with-org-a", fail: 2, accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	n := startNode(t, dir, clk, hs.Client(), "")
	ctx := context.Background()

	if _, err := n.svc.Register(ctx, webhook.Partner("org-a"), hs.URL, rcv.secret, partnerCmd); err != nil {
		t.Fatal(err)
	}
	// Another partner's endpoint must get nothing.
	other := &flaky{secret: "s3cret-shared-with-org-b", accepted: map[string]int{}}
	hsOther := httptest.NewServer(other)
	defer hsOther.Close()
	if _, err := n.svc.Register(ctx, webhook.Partner("org-b"), hsOther.URL, other.secret, partnerCmd); err != nil {
		t.Fatal(err)
	}
	handoffID := "01a2a6b0-0000-7000-8000-0000000000aa"
	requestHandoff(t, n.store, handoffID, "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery to be recorded", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })

	// Attempt 1 fails; nothing more is due until the back-off passes.
	if sent, err := n.svc.SendDue(ctx); sent != 0 || err != nil {
		t.Fatalf("first attempt: sent %d, err %v; want 0 (the receiver fails it)", sent, err)
	}
	d := n.svc.Deliveries(webhook.Partner("org-a"), "")[0]
	if d.Status != webhooks.StatusPending || d.Attempts != 1 || d.LastCode != http.StatusServiceUnavailable || !d.NextAttempt.Equal(clk.Now().Add(webhooks.Backoff(1))) {
		t.Fatalf("after attempt 1: %+v, want pending, 1 attempt, code 503, next in %v", d, webhooks.Backoff(1))
	}
	n.svc.SendDue(ctx)
	if attempts, _, _ := rcv.snapshot(); len(attempts) != 1 {
		t.Fatalf("%d attempts before the back-off passed, want 1", len(attempts))
	}
	clk.Add(webhooks.Backoff(1))
	n.svc.SendDue(ctx) // attempt 2 fails too

	// Restart pathway: the pending delivery and its back-off survive.
	n.stop(t)
	n = startNode(t, dir, clk, hs.Client(), "")
	d = n.svc.Deliveries(webhook.Partner("org-a"), "")[0]
	if d.Status != webhooks.StatusPending || d.Attempts != 2 {
		t.Fatalf("after restart: %+v, want pending with 2 attempts", d)
	}
	clk.Add(webhooks.Backoff(2))
	if sent, err := n.svc.SendDue(ctx); sent != 1 || err != nil {
		t.Fatalf("third attempt: sent %d, err %v; want 1", sent, err)
	}
	attempts, accepted, bad := rcv.snapshot()
	if len(attempts) != 3 || attempts[0] != d.ID || attempts[1] != d.ID || attempts[2] != d.ID {
		t.Errorf("attempts %v, want the same delivery id %s three times", attempts, d.ID)
	}
	if accepted[d.ID] != 1 || bad != 0 {
		t.Errorf("accepted %v with %d bad signatures, want one acceptance and none bad", accepted, bad)
	}
	d, _ = n.svc.Delivery(webhook.Partner("org-a"), d.ID)
	if d.Status != webhooks.StatusDelivered || d.Attempts != 3 {
		t.Errorf("delivery: %+v, want delivered after 3 attempts", d)
	}
	var p webhooks.Payload
	if err := json.Unmarshal(d.Payload, &p); err != nil || p.Type != "handoff.requested" || p.HandoffID != handoffID || p.DeliveryID != d.ID {
		t.Errorf("payload %+v (%v), want handoff.requested for %s", p, err, handoffID)
	}
	for _, leak := range []string{"Sam", "01a2a6b0-0000-7000-8000-000000000001"} {
		if strings.Contains(string(d.Payload), leak) {
			t.Errorf("the payload carries %q; it should name the handoff only", leak)
		}
	}

	// Dedup: another consumer reading the same events records nothing new.
	seq := appendAccepted(t, n.store, handoffID)
	waitFor(t, "the acceptance's delivery", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 2 })
	second, err := webhooks.Open(ctx, jsOf(t, n), n.store, webhooks.Options{Master: eventstest.Master(), Now: clk.Now, Client: hs.Client(), Deliver: true, View: "webhooks-replay", SendEvery: time.Hour, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(rctx) }()
	waitFor(t, "the second consumer to catch up", func() bool {
		ds := second.Deliveries(webhook.Partner("org-a"), "")
		return len(ds) == 2 && ds[0].Sequence == seq
	})
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if got := len(n.svc.Deliveries(webhook.Partner("org-a"), "")); got != 2 {
		t.Errorf("%d deliveries after a second consumer replayed the events, want 2", got)
	}
	if got := len(n.svc.Deliveries(webhook.Partner("org-b"), "")); got != 0 {
		t.Errorf("org-b has %d deliveries of org-a's handoff, want 0", got)
	}
	if att, _, _ := other.snapshot(); len(att) != 0 {
		t.Errorf("org-b's receiver got %d requests, want 0", len(att))
	}
}

func jsOf(tb testing.TB, n *node) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(n.srv.ClientURL(), n.srv.Auth())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return js
}

func appendAccepted(tb testing.TB, store *events.Store, id string) uint64 {
	tb.Helper()
	seq, err := store.Append(context.Background(), events.Aggregate{Type: "handoff", ID: id}, events.AnyVersion, events.Event{Payload: &pathwayv1.HandoffAccepted{Note: "we will call"}})
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// TestDeliveryGivesUpAfter24HoursAndCanBeRedelivered: a receiver that is
// down for a day gets the delivery marked failed; a redelivery sends it
// again once the receiver is back.
func TestDeliveryGivesUpAfter24HoursAndCanBeRedelivered(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "another-long-secret-value", fail: 1 << 30, accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	n := startNode(t, t.TempDir(), clk, hs.Client(), "")
	ctx := context.Background()
	n.svc.Register(ctx, webhook.Partner("org-a"), hs.URL, rcv.secret, partnerCmd)
	requestHandoff(t, n.store, "01a2a6b0-0000-7000-8000-0000000000bb", "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })
	attempts := 0
	for i := 0; i < 200 && len(n.svc.Deliveries(webhook.Partner("org-a"), webhooks.StatusPending)) == 1; i++ {
		n.svc.SendDue(ctx)
		attempts++
		clk.Add(time.Hour)
	}
	d := n.svc.Deliveries(webhook.Partner("org-a"), "")[0]
	if d.Status != webhooks.StatusFailed {
		t.Fatalf("after a day of failures: %+v, want failed", d)
	}
	if d.Attempts < 10 || d.Attempts > 40 {
		t.Errorf("%d attempts over 24 hours; want exponential back-off capped at an hour (between 10 and 40)", d.Attempts)
	}
	if last := d.CreatedAt.Add(webhooks.RetryFor); clk.Now().Before(last) {
		t.Errorf("gave up at %v, before the 24 hours ran out at %v", clk.Now(), last)
	}
	if _, err := n.svc.Redeliver(ctx, webhook.Partner("org-b"), d.ID, partnerCmd); err == nil {
		t.Errorf("another partner redelivered org-a's delivery")
	}
	rcv.setFail(0)
	if _, err := n.svc.Redeliver(ctx, webhook.Partner("org-a"), d.ID, partnerCmd); err != nil {
		t.Fatal(err)
	}
	if sent, _ := n.svc.SendDue(ctx); sent != 1 {
		t.Fatalf("redelivery sent %d, want 1", sent)
	}
	if _, acc, _ := rcv.snapshot(); acc[d.ID] != 1 {
		t.Errorf("the receiver accepted %v, want the delivery once", acc)
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"delivery_id":"d1"}`)
	now := time.Unix(1_790_000_000, 0)
	h := http.Header{}
	h.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhooks.HeaderSignature, webhooks.Sign("secret-0123456789", now.Unix(), body))
	if err := webhooks.Verify("secret-0123456789", h, body, now, 5*time.Minute); err != nil {
		t.Errorf("a correct signature: %v", err)
	}
	for name, c := range map[string]struct {
		secret string
		body   []byte
		now    time.Time
	}{
		"tampered body": {"secret-0123456789", []byte(`{"delivery_id":"d2"}`), now},
		"wrong secret":  {"secret-9876543210", body, now},
		"replayed late": {"secret-0123456789", body, now.Add(6 * time.Minute)},
	} {
		if err := webhooks.Verify(c.secret, h, c.body, c.now, 5*time.Minute); err == nil {
			t.Errorf("%s: verified, want an error", name)
		}
	}
	// The documented construction, as a receiver would write it: "v1="
	// and the hex HMAC-SHA256 of the timestamp, a dot and the body.
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write([]byte("1790000000.b"))
	if got, want := webhooks.Sign("k", 1_790_000_000, []byte("b")), "v1="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestRegisterValidates(t *testing.T) {
	clk := &clock{t: time.Now()}
	n := startNode(t, t.TempDir(), clk, nil, "")
	ctx := context.Background()
	for _, c := range []struct{ url, secret string }{
		{"http://partner.example/hook", "long-enough-secret-1"}, // plain http off loopback
		{"ftp://partner.example/hook", "long-enough-secret-1"},
		{"https://user:pw@partner.example/hook", "long-enough-secret-1"},
		{"https://partner.example/hook", "short"},
		{"not a url", "long-enough-secret-1"},
	} {
		if _, err := n.svc.Register(ctx, webhook.Partner("org-a"), c.url, c.secret, partnerCmd); err == nil {
			t.Errorf("Register(%q, %q) accepted, want an error", c.url, c.secret)
		}
	}
	for _, u := range []string{"https://partner.example/hook", "http://127.0.0.1:9999/hook", "http://localhost/hook"} {
		if _, err := n.svc.Register(ctx, webhook.Partner("org-a"), u, "long-enough-secret-1", partnerCmd); err != nil {
			t.Errorf("Register(%q): %v", u, err)
		}
	}
	if eps := n.svc.Endpoints(webhook.Partner("org-a")); len(eps) != 3 || eps[0].Secret != "" {
		t.Errorf("endpoints %+v, want 3 without secrets", eps)
	}
	if err := n.svc.Delete(ctx, webhook.Partner("org-b"), n.svc.Endpoints(webhook.Partner("org-a"))[0].ID, partnerCmd); err == nil {
		t.Errorf("org-b deleted org-a's endpoint")
	}
}

func TestValidateURLRefusesInternalHosts(t *testing.T) {
	for _, u := range []string{
		"https://169.254.169.254/latest/meta-data", "https://10.0.0.5/hook", "https://192.168.1.1/", "https://172.16.0.1/",
		"https://100.64.0.1/", "https://localhost:8222/varz", "http://localhost:4222/", "https://127.0.0.1/", "https://[::1]/",
		"https://[fd00::1]/", "https://metadata.google.internal/", "https://printer.local/", "https://intranet/", "https://0.0.0.0/",
		"http://partner.example/hook",
	} {
		if err := webhooks.ValidateURL(u, false); err == nil {
			t.Errorf("ValidateURL(%q) accepted, want refused", u)
		}
	}
	for _, u := range []string{"https://partner.example/hook", "https://203.0.113.10:8443/pathway"} {
		if err := webhooks.ValidateURL(u, false); err != nil {
			t.Errorf("ValidateURL(%q): %v", u, err)
		}
	}
	if err := webhooks.ValidateURL("http://127.0.0.1:9000/hook", true); err != nil {
		t.Errorf("a loopback receiver with AllowPrivate: %v", err)
	}
	if err := webhooks.ValidateURL("http://10.0.0.5/hook", true); err == nil {
		t.Errorf("plain http off loopback accepted with AllowPrivate")
	}
}

// TestPrivateAddressRefusedAtConnection: with the default client, a
// delivery to an endpoint that resolves to loopback is refused when
// dialled, and the partner sees the kind of failure, not the address.
func TestPrivateAddressRefusedAtConnection(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "yet-another-long-secret", accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	dir := t.TempDir()
	// Registered while private addresses were allowed, delivered after
	// they are not (as after a configuration change).
	n := startNode(t, dir, clk, nil, "")
	if _, err := n.svc.Register(context.Background(), webhook.Partner("org-a"), hs.URL, rcv.secret, partnerCmd); err != nil {
		t.Fatal(err)
	}
	n.stop(t)
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	nc, _ := nats.Connect(srv.ClientURL(), srv.Auth())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	store := events.New(js, events.Options{Now: clk.Now, Keys: eventstest.Keys(t, js)})
	svc, err := webhooks.Open(context.Background(), js, store, webhooks.Options{Master: eventstest.Master(), Now: clk.Now, Deliver: true, SendEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-svc.Loaded():
	case <-time.After(5 * time.Second):
		t.Fatal("the webhook service did not load its buckets within 5 s")
	}
	requestHandoff(t, store, "01a2a6b0-0000-7000-8000-0000000000cc", "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery", func() bool { return len(svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })
	svc.SendDue(context.Background())
	d := svc.Deliveries(webhook.Partner("org-a"), "")[0]
	if att, _, _ := rcv.snapshot(); len(att) != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", len(att))
	}
	if d.Status != webhooks.StatusPending || !strings.Contains(d.LastError, "not on a public address") || strings.Contains(d.LastError, "127.0.0.1") {
		t.Errorf("delivery %+v: want pending with a last error naming the kind of failure and no address", d)
	}
}

// TestSlowEndpointHoldsUpOnlyItself: while one partner's endpoint hangs,
// another partner's delivery goes out.
func TestSlowEndpointHoldsUpOnlyItself(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	defer close(release)
	fast := &flaky{secret: "fast-partner-secret-01", accepted: map[string]int{}}
	hsFast := httptest.NewServer(fast)
	defer hsFast.Close()
	n := startNode(t, t.TempDir(), clk, &http.Client{Timeout: time.Minute}, "")
	ctx := context.Background()
	n.svc.Register(ctx, webhook.Partner("org-slow"), slow.URL, "slow-partner-secret-01", partnerCmd)
	n.svc.Register(ctx, webhook.Partner("org-fast"), hsFast.URL, fast.secret, partnerCmd)
	for i := range 3 {
		requestHandoff(t, n.store, fmt.Sprintf("01a2a6b0-0000-7000-8000-00000000010%d", i), "org-slow", clk.Now().Add(14*24*time.Hour))
	}
	requestHandoff(t, n.store, "01a2a6b0-0000-7000-8000-0000000002ff", "org-fast", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "all deliveries", func() bool {
		return len(n.svc.Deliveries(webhook.Partner("org-slow"), "")) == 3 && len(n.svc.Deliveries(webhook.Partner("org-fast"), "")) == 1
	})
	go n.svc.SendDue(ctx)
	waitFor(t, "the fast partner's delivery while the slow endpoint hangs", func() bool {
		_, acc, _ := fast.snapshot()
		return len(acc) == 1
	})
}

// TestDeliveriesAreKeptThirtyDays: a delivery is listed until 30 days after
// its last change, then forgotten.
func TestDeliveriesAreKeptThirtyDays(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "kept-for-thirty-days-1", accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	n := startNode(t, t.TempDir(), clk, hs.Client(), "")
	ctx := context.Background()
	n.svc.Register(ctx, webhook.Partner("org-a"), hs.URL, rcv.secret, partnerCmd)
	requestHandoff(t, n.store, "01a2a6b0-0000-7000-8000-0000000000dd", "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })
	n.svc.SendDue(ctx)
	clk.Add(webhooks.KeepDeliveries - time.Hour)
	n.svc.SendDue(ctx)
	if got := len(n.svc.Deliveries(webhook.Partner("org-a"), webhooks.StatusDelivered)); got != 1 {
		t.Fatalf("%d delivered deliveries listed just before 30 days, want 1", got)
	}
	clk.Add(2 * time.Hour)
	n.svc.SendDue(ctx)
	if got := len(n.svc.Deliveries(webhook.Partner("org-a"), "")); got != 0 {
		t.Errorf("%d deliveries listed after 30 days, want 0", got)
	}
}

// TestViewResumesFromItsCheckpoint: a restarted webhook service takes its
// view from the checkpoint its last run wrote, then reads the log on from
// there; it does not rebuild the view from sequence 1. The checkpoint is
// given an endpoint that no event registers: the restarted service lists
// it, which a view built from the log could not.
func TestViewResumesFromItsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "resumed-from-checkpoint", accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	ctx := context.Background()
	n := startNode(t, dir, clk, hs.Client(), "")
	if _, err := n.svc.Register(ctx, webhook.Partner("org-a"), hs.URL, rcv.secret, partnerCmd); err != nil {
		t.Fatal(err)
	}
	handoffID := "01a2a6b0-0000-7000-8000-0000000000ee"
	requestHandoff(t, n.store, handoffID, "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })
	if sent, err := n.svc.SendDue(ctx); sent != 1 || err != nil {
		t.Fatalf("sent %d (%v), want 1", sent, err)
	}
	n.stop(t) // the engine writes its checkpoint

	// While pathway is down: the checkpoint gets a marker, and the log
	// one more handoff event.
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	obj, err := projections.OpenCheckpoints(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := obj.GetBytes(ctx, webhooks.ViewName)
	if err != nil {
		t.Fatalf("no checkpoint of %s after a clean stop: %v", webhooks.ViewName, err)
	}
	version, checkpointed, state, err := projections.DecodeCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]json.RawMessage
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatal(err)
	}
	var eps map[string]any
	json.Unmarshal(st["endpoints"], &eps)
	eps["feedfeedfeed"] = map[string]any{"partner": "org-marker", "url": "https://marker.example/hook", "seq": 1, "at": clk.Now()}
	st["endpoints"], _ = json.Marshal(eps)
	body, _ := json.Marshal(st)
	if _, err := obj.PutBytes(ctx, webhooks.ViewName, projections.EncodeCheckpoint(version, checkpointed, body)); err != nil {
		t.Fatal(err)
	}
	accepted := appendAccepted(t, events.New(js, events.Options{Now: clk.Now, Keys: eventstest.Keys(t, js)}), handoffID)
	nc.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	srv.Shutdown(sctx)
	cancel()
	if accepted <= checkpointed {
		t.Fatalf("the acceptance at %d is not after the checkpoint at %d", accepted, checkpointed)
	}

	n = startNode(t, dir, clk, hs.Client(), "")
	if eps := n.svc.Endpoints(webhook.Partner("org-marker")); len(eps) != 1 || eps[0].ID != "feedfeedfeed" {
		t.Errorf("after the restart org-marker has endpoints %+v, want the one only the checkpoint holds: the view was not resumed from it", eps)
	}
	waitFor(t, "the acceptance's delivery, read on from the checkpoint", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 2 })
	ds := n.svc.Deliveries(webhook.Partner("org-a"), "")
	if ds[0].Sequence != accepted || ds[0].Status != webhooks.StatusPending || ds[1].Status != webhooks.StatusDelivered {
		t.Errorf("deliveries after the restart %+v, want the acceptance's pending and the request's delivered", ds)
	}
}

// TestBackfillRegistersEndpointsKeptInTheBucket: endpoints an earlier
// version kept whole in PATHWAY_WEBHOOKS are registered in the log once,
// and get deliveries signed with their secret; the durable consumer that
// made deliveries then is deleted.
func TestBackfillRegistersEndpointsKeptInTheBucket(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "kept-in-the-old-bucket", accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	ctx := context.Background()

	// The data directory as the earlier version left it.
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.New(js, events.Options{}).EnsureConsumer(ctx, events.Consumer{Name: "webhooks", Subjects: []string{events.TypeSubject("handoff")}}); err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: webhooks.EndpointBucket, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(webhooks.Endpoint{ID: "0123456789ab", Partner: "org-a", URL: hs.URL, Secret: rcv.secret, CreatedAt: clk.Now()})
	if _, err := kv.Put(ctx, "0123456789ab", old); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	srv.Shutdown(sctx)
	cancel()

	for range 2 { // the second start finds the backfill done
		n := startNode(t, dir, clk, hs.Client(), "")
		waitFor(t, "the endpoint in the view", func() bool { return len(n.svc.Endpoints(webhook.Partner("org-a"))) == 1 })
		if ep := n.svc.Endpoints(webhook.Partner("org-a"))[0]; ep.ID != "0123456789ab" || ep.URL != hs.URL {
			t.Fatalf("endpoint %+v, want 0123456789ab at %s", ep, hs.URL)
		}
		recs, _, err := n.store.Load(ctx, events.Aggregate{Type: "webhook", ID: "org-a"})
		if err != nil || len(recs) != 1 {
			t.Fatalf("org-a's webhook aggregate has %d events (%v), want its one registration", len(recs), err)
		}
		if _, err := n.js.Consumer(ctx, events.DefaultStream, "webhooks"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Errorf("the old consumer: %v, want it deleted", err)
		}
		n.stop(t)
	}
	n := startNode(t, dir, clk, hs.Client(), "")
	requestHandoff(t, n.store, "01a2a6b0-0000-7000-8000-0000000000ff", "org-a", clk.Now().Add(14*24*time.Hour))
	waitFor(t, "the delivery", func() bool { return len(n.svc.Deliveries(webhook.Partner("org-a"), "")) == 1 })
	if sent, err := n.svc.SendDue(ctx); sent != 1 || err != nil {
		t.Fatalf("sent %d (%v), want 1", sent, err)
	}
	if _, acc, bad := rcv.snapshot(); len(acc) != 1 || bad != 0 {
		t.Errorf("the receiver accepted %v with %d bad signatures, want one delivery, signed with the old secret", acc, bad)
	}
}

// TestEndpointSecretsAreWrappedAtRest: an endpoint's secret is stored
// wrapped by the master key, so the bucket's files do not give it away
// (TestDeliveryRetriedSignedDedupedAndDurable signs with it, read back
// after a restart).
func TestEndpointSecretsAreWrappedAtRest(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	n := startNode(t, dir, clk, http.DefaultClient, "")
	ctx := context.Background()
	const secret = "a-long-shared-secret-at-rest-0001"
	ep, err := n.svc.Register(ctx, webhook.Partner("org-a"), "http://127.0.0.1:9/hooks", secret, partnerCmd)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := jsOf(t, n).KeyValue(ctx, webhooks.EndpointBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.Value()), secret) {
		t.Errorf("the endpoint's secret is stored in clear")
	}
}

// TestInjectedIDs: an endpoint's id is the hex of the last six bytes of an
// id from the injected generator.
func TestInjectedIDs(t *testing.T) {
	l := eventstest.Start(t, false)
	id := uuid.MustParse("01900000-0000-7000-8000-0a0b0c0d0e0f")
	svc, err := webhooks.Open(context.Background(), l.JS, l.Store, webhooks.Options{Master: eventstest.Master(), AllowPrivate: true, NewID: func() (uuid.UUID, error) { return id, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ep, err := svc.Register(context.Background(), webhook.Partner("org-a"), "https://partner.example/hook", "a-long-enough-secret", partnerCmd)
	if err != nil || ep.ID != "0a0b0c0d0e0f" {
		t.Errorf("Register: %+v, %v; want the id 0a0b0c0d0e0f", ep, err)
	}
}
