package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// TestFullStorageIsUnavailable: a server whose JetStream store is spent
// refuses writes ("insufficient resources"). An append then fails with
// ErrUnavailable (the HTTP edge answers 503 with Retry-After, and trying
// again later is safe), Refusing says why for the readiness check, and
// once the server may store more, appends succeed again and Refusing
// clears, without a new store or connection.
func TestFullStorageIsUnavailable(t *testing.T) {
	const limit = 256 << 10
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		JetStreamMaxStore: limit, JetStreamMaxMemory: 1 << 20, NoLog: true, NoSigs: true}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	store := events.New(js, events.Options{})
	appendOne := func() error {
		agg := events.Aggregate{Type: "person", ID: uuid.NewString()}
		_, err := store.Append(ctx, agg, 0, events.Event{Payload: &pathwayv1.PersonEpisodeOpened{ReferralId: uuid.NewString()}})
		return err
	}
	var refused error
	for i := 0; i < 100_000 && refused == nil; i++ {
		refused = appendOne()
	}
	if !errors.Is(refused, events.ErrUnavailable) {
		t.Fatalf("append to a full store: %v, want ErrUnavailable", refused)
	}
	if err := store.Refusing(); err == nil {
		t.Error("Refusing is nil after a write refused for lack of storage")
	}

	// The operator makes room: a larger limit, by configuration reload.
	more := opts.Clone()
	more.JetStreamMaxStore = 4 * limit
	if err := ns.ReloadOptions(more); err != nil {
		t.Fatal(err)
	}
	if err := appendOne(); err != nil {
		t.Fatalf("append once there is room: %v", err)
	}
	if err := store.Refusing(); err != nil {
		t.Errorf("Refusing after a write was stored: %v, want nil", err)
	}
}
