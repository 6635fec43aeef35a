// Package eventstest starts a real event log for tests: an embedded
// nats-server with JetStream on a free loopback port and a temporary
// store directory, with the stream set up. The server requires its
// credentials, as pathway's does: connect with Log.Auth.
package eventstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
)

// Log is a running test log.
type Log struct {
	Store *events.Store
	JS    jetstream.JetStream
	URL   string
	// Auth authenticates another connection to URL.
	Auth nats.Option
}

// Start starts a log that is stopped when the test ends. fsync relaxes
// durability for speed when false (tests that do not restart the server).
func Start(tb testing.TB, fsync bool) *Log {
	tb.Helper()
	return StartWith(tb, fsync, events.StreamConfig{})
}

// StartWith starts a log as Start does, with the stream set up by cfg
// (a short duplicate window, say).
func StartWith(tb testing.TB, fsync bool, cfg events.StreamConfig) *Log {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: tb.TempDir(), Listen: "127.0.0.1:0", NoSync: !fsync})
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := events.Setup(context.Background(), js, cfg); err != nil {
		tb.Fatalf("set up the log: %v", err)
	}
	return &Log{Store: events.New(js, events.Options{}), JS: js, URL: srv.ClientURL(), Auth: srv.Auth()}
}
