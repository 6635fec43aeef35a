// Package eventstest starts a real event log for tests: an embedded
// nats-server with JetStream on a free loopback port and a temporary
// store directory, with the stream set up. The server requires its
// credentials, as pathway's does: connect with Log.Auth. Certificate makes
// a certificate for tests of TLS, and CA an authority that issues server
// and client certificates for tests of mutual TLS.
package eventstest

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/keyring"
)

// testMasterKey is the master key of test logs.
const testMasterKey = "pathway test master key, 32 byte"

// testMaster is the master key of test logs.
var testMaster = func() *keyring.Local {
	m, err := keyring.NewLocal([]byte(testMasterKey))
	if err != nil {
		panic(err)
	}
	return m
}()

// Log is a running test log.
type Log struct {
	Store *events.Store
	JS    jetstream.JetStream
	URL   string
	// Keys are the log's data keys, wrapped by a master key made for the
	// test; Store seals personal fields with them.
	Keys *keyring.Ring
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
	ring := Keys(tb, js)
	store := events.New(js, events.Options{Keys: ring})
	ring.OnDestroy(store.Forget)
	return &Log{Store: store, JS: js, URL: srv.ClientURL(), Keys: ring, Auth: srv.Auth()}
}

// Master is the master key of test logs.
func Master() *keyring.Local { return testMaster }

// WriteMasterKey writes Master's key to path as a master key file (base64,
// mode 0600), for a `pathway serve` to open a log written with it.
func WriteMasterKey(tb testing.TB, path string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString([]byte(testMasterKey))+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Keys opens the data keys of the log on js with a master key made for
// the test (the same for every call in one test binary).
func Keys(tb testing.TB, js jetstream.JetStream) *keyring.Ring {
	tb.Helper()
	ring, err := keyring.Open(context.Background(), js, testMaster, keyring.Options{})
	if err != nil {
		tb.Fatalf("open the data keys: %v", err)
	}
	return ring
}

// Certificate makes a certificate authority and a server certificate it
// signed for localhost, 127.0.0.1 and ::1, valid for a day. It writes the
// server's certificate and key as PEM files into a temporary directory
// and returns their paths, with a pool holding the authority for clients.
func Certificate(tb testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	tb.Helper()
	ca := NewCA(tb, "pathway test CA")
	certFile, keyFile = ca.Server(tb, "localhost")
	return certFile, keyFile, ca.Pool()
}
