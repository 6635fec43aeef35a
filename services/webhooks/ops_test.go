package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// TestOpsNoticeSentOnceSignedAndRetried: a notice to the operations
// endpoint is recorded once per key, from any process; it is signed with
// the operations secret, retried with back-off while the receiver fails,
// and seen by no partner. Without an operations endpoint nothing is
// recorded.
func TestOpsNoticeSentOnceSignedAndRetried(t *testing.T) {
	l := eventstest.Start(t, false)
	clk := &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	rcv := &flaky{secret: "operations-shared-secret", fail: 1, accepted: map[string]int{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := events.New(l.JS, events.Options{Now: clk.Now, Keys: l.Keys})
	open := func(ops webhooks.Ops) *webhooks.Service {
		t.Helper()
		svc, err := webhooks.Open(ctx, l.JS, store, webhooks.Options{Master: eventstest.Master(), Now: clk.Now, Client: hs.Client(), SendEvery: time.Hour, AllowPrivate: true, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		go svc.Run(ctx)
		<-svc.Loaded()
		return svc
	}
	ops := webhooks.Ops{URL: hs.URL + "/alerts", Secret: rcv.secret}
	a, b := open(ops), open(ops)
	data := map[string]any{"referral_id": "0198d6a4-0000-7000-8000-000000000001", "waited_seconds": 14400}
	if recorded, err := a.NotifyOps(ctx, "referral-waiting/x", "referral.waiting", data); err != nil || !recorded {
		t.Fatalf("first notice: recorded %v, %v; want recorded", recorded, err)
	}
	for i, svc := range []*webhooks.Service{a, b} {
		if recorded, err := svc.NotifyOps(ctx, "referral-waiting/x", "referral.waiting", data); err != nil || recorded {
			t.Fatalf("the same notice again from process %d: recorded %v, %v; want nothing recorded", i, recorded, err)
		}
	}
	if sent, err := a.SendDue(ctx); sent != 0 || err != nil {
		t.Fatalf("first attempt: sent %d, %v; want 0 (the receiver fails it)", sent, err)
	}
	clk.Add(webhooks.Backoff(1))
	waitFor(t, "the other process to see the attempt", func() bool {
		ds := b.OpsDeliveries("")
		return len(ds) == 1 && ds[0].Attempts == 1
	})
	if sent, err := b.SendDue(ctx); sent != 1 || err != nil {
		t.Fatalf("retry from the other process: sent %d, %v; want 1", sent, err)
	}
	attempts, accepted, bad := rcv.snapshot()
	ds := a.OpsDeliveries("")
	if len(ds) != 1 || len(attempts) != 2 || accepted[ds[0].ID] != 1 || bad != 0 {
		t.Fatalf("deliveries %+v, attempts %v, accepted %v, bad signatures %d; want one delivery accepted on its second attempt", ds, attempts, accepted, bad)
	}
	var p webhooks.OpsPayload
	if err := json.Unmarshal(ds[0].Payload, &p); err != nil || p.DeliveryID != ds[0].ID || p.Type != "referral.waiting" || string(p.Data) != `{"referral_id":"0198d6a4-0000-7000-8000-000000000001","waited_seconds":14400}` {
		t.Errorf("payload %s (%v), want the notice with its delivery id", ds[0].Payload, err)
	}
	if got := a.Deliveries(webhook.Partner("org-a"), ""); len(got) != 0 {
		t.Errorf("a partner lists %d operations deliveries, want none", len(got))
	}
	if got := a.Endpoints(webhooks.OpsOwner); len(got) != 1 || got[0].Secret != "" {
		t.Errorf("operations endpoints %+v, want it, without its secret", got)
	}

	none := open(webhooks.Ops{})
	if recorded, err := none.NotifyOps(ctx, "referral-waiting/y", "referral.waiting", data); err != nil || recorded {
		t.Errorf("without an operations endpoint: recorded %v, %v; want nothing", recorded, err)
	}
}

func TestOpsValidate(t *testing.T) {
	for _, tc := range []struct {
		ops          webhooks.Ops
		allowPrivate bool
		ok           bool
	}{
		{webhooks.Ops{}, false, true},
		{webhooks.Ops{URL: "https://alerts.example.org/pathway", Secret: "operations-shared-secret"}, false, true},
		{webhooks.Ops{URL: "https://alerts.example.org/pathway", Secret: "short"}, false, false},
		{webhooks.Ops{URL: "https://alerts.example.org/pathway"}, false, false},
		{webhooks.Ops{URL: "http://127.0.0.1:9000/hook", Secret: "operations-shared-secret"}, false, false},
		{webhooks.Ops{URL: "http://127.0.0.1:9000/hook", Secret: "operations-shared-secret"}, true, true},
		{webhooks.Ops{URL: "ftp://alerts.example.org", Secret: "operations-shared-secret"}, false, false},
	} {
		err := tc.ops.Validate(tc.allowPrivate)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, webhooks.ErrInvalid) || err != nil && kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("%+v (allow private %v): %v, want ok %v", tc.ops, tc.allowPrivate, err, tc.ok)
		}
	}
}
