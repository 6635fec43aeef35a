package embedded_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/eventstest"
)

func start(tb testing.TB, cfg embedded.Config) *embedded.Server {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.NoSync = true
	srv, err := embedded.Start(cfg)
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv
}

// useJetStream fails the test unless nc can create a stream and publish
// to it: JetStream works for the server's user.
func useJetStream(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		tb.Fatalf("create a stream: %v", err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("x")); err != nil {
		tb.Fatalf("publish: %v", err)
	}
}

func TestConnectionsWithoutTheCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := start(t, embedded.Config{DataDir: dir})
	other, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _ := other.PublicKey()
	for _, tc := range []struct {
		name string
		url  string
		opts []nats.Option
	}{
		{name: "no credentials", url: srv.ClientURL()},
		{name: "another NKey", url: srv.ClientURL(), opts: []nats.Option{nats.Nkey(otherPub, other.Sign)}},
		{name: "the right public key signed by another", url: srv.ClientURL(), opts: []nats.Option{nats.Nkey(publicKey(t, dir), other.Sign)}},
		{name: "a user and password", url: srv.ClientURL(), opts: []nats.Option{nats.UserInfo("pathway", "pathway")}},
		{name: "a token", url: srv.ClientURL(), opts: []nats.Option{nats.Token("pathway")}},
		// Refused too, though it takes the server's write deadline (10 s):
		// it cannot tell the client why over the unbuffered pipe.
		{name: "in process without credentials", opts: []nats.Option{srv.InProcess()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc, err := nats.Connect(tc.url, append(tc.opts, nats.Timeout(5*time.Second))...)
			if err == nil {
				nc.Close()
				t.Fatal("connected, want refused")
			}
			if tc.url != "" && !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("got %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []nats.Option
	}{
		{name: "the server's credentials", opts: func(*testing.T) []nats.Option { return []nats.Option{srv.Auth()} }},
		{name: "in process with the server's credentials", opts: func(*testing.T) []nats.Option { return []nats.Option{srv.InProcess(), srv.Auth()} }},
		{name: "the data directory's credentials", opts: func(t *testing.T) []nats.Option {
			opts, err := embedded.ClientOptions(dir)
			if err != nil {
				t.Fatal(err)
			}
			return opts
		}},
		{name: "the credentials file as an NKey seed file", opts: func(t *testing.T) []nats.Option {
			o, err := nats.NkeyOptionFromSeed(filepath.Join(dir, embedded.CredentialsFile))
			if err != nil {
				t.Fatal(err)
			}
			return []nats.Option{o}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(srv.ClientURL(), tc.opts(t)...)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer nc.Close()
			useJetStream(t, nc)
		})
	}
}

// publicKey is the public key of the user whose seed dir holds.
func publicKey(tb testing.TB, dir string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, embedded.CredentialsFile))
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		tb.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return pub
}

func TestCredentialsAreTheOwnersAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by Start
	srv := start(t, embedded.Config{DataDir: dir})
	creds := filepath.Join(dir, embedded.CredentialsFile)
	for path, want := range map[string]os.FileMode{dir: 0o700, creds: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	before, err := os.ReadFile(creds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(before), "\nSU") {
		t.Fatalf("credentials hold no user seed:\n%s", before)
	}
	srv.Shutdown(context.Background())

	// A restart keeps the key: a client configured before it connects.
	opts, err := embedded.ClientOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv = start(t, embedded.Config{DataDir: dir})
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect after a restart with the credentials read before it: %v", err)
	}
	nc.Close()
	srv.Shutdown(context.Background())

	// Credentials others can read are refused, by the server and by
	// clients alike.
	if err := os.Chmod(creds, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("start with credentials of mode 0640: %v, want a refusal saying chmod 600", err)
	}
	if _, err := embedded.ClientOptions(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("client options from credentials of mode 0640: %v, want a refusal saying chmod 600", err)
	}
	if _, err := embedded.ClientOptions(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("client options of a directory no server started on: %v, want %v", err, os.ErrNotExist)
	}
}

func TestListenBeyondLoopbackNeedsTLS(t *testing.T) {
	certFile, keyFile, _ := eventstest.Certificate(t)
	for _, tc := range []struct {
		name    string
		cfg     embedded.Config
		refused string
	}{
		{name: "every interface", cfg: embedded.Config{Listen: "0.0.0.0:0"}, refused: "TLS is required"},
		{name: "every interface, IPv6", cfg: embedded.Config{Listen: "[::]:0"}, refused: "TLS is required"},
		{name: "no host", cfg: embedded.Config{Listen: ":0"}, refused: "TLS is required"},
		{name: "a host name", cfg: embedded.Config{Listen: "nats.example:4222"}, refused: "TLS is required"},
		{name: "a certificate without its key", cfg: embedded.Config{Listen: "0.0.0.0:0", CertFile: certFile}, refused: "both a certificate file and a key file"},
		{name: "loopback", cfg: embedded.Config{Listen: "127.0.0.1:0"}},
		{name: "loopback, IPv6", cfg: embedded.Config{Listen: "[::1]:0"}},
		{name: "localhost", cfg: embedded.Config{Listen: "localhost:0"}},
		{name: "the default", cfg: embedded.Config{}},
		{name: "every interface with TLS", cfg: embedded.Config{Listen: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			err := tc.cfg.Validate()
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("validate: got %v, want an error saying %q", err, tc.refused)
			}
			if srv, err := embedded.Start(tc.cfg); err == nil {
				srv.Shutdown(context.Background())
				t.Fatal("started, want refused")
			}
		})
	}
}

func TestTLSClientWithTheCredentialsConnects(t *testing.T) {
	certFile, keyFile, roots := eventstest.Certificate(t)
	dir := t.TempDir()
	srv := start(t, embedded.Config{DataDir: dir, Listen: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile})
	url := "tls://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Addr().(*net.TCPAddr).Port))
	trust := nats.Secure(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})

	t.Run("TLS and the credentials", func(t *testing.T) {
		nc, err := nats.Connect(url, trust, srv.Auth())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer nc.Close()
		if !nc.TLSRequired() {
			t.Error("the server does not require TLS")
		}
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Errorf("no TLS on the connection: %v", err)
		}
		useJetStream(t, nc)
	})
	t.Run("TLS without the credentials", func(t *testing.T) {
		nc, err := nats.Connect(url, trust)
		if err == nil {
			nc.Close()
			t.Fatal("connected, want refused")
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("got %v, want %v", err, nats.ErrAuthorization)
		}
	})
	t.Run("the credentials without TLS", func(t *testing.T) {
		// A client that will not speak TLS: a raw socket sending CONNECT.
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "tls://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _ := conn.Read(buf) // INFO
		if !strings.Contains(string(buf[:n]), `"tls_required":true`) {
			t.Fatalf("INFO %q does not require TLS", buf[:n])
		}
		conn.Write([]byte("CONNECT {\"verbose\":true}\r\nPING\r\n"))
		n, _ = conn.Read(buf)
		if strings.Contains(string(buf[:n]), "PONG") || strings.Contains(string(buf[:n]), "+OK") {
			t.Fatalf("a plain-text client was answered %q, want the connection refused", buf[:n])
		}
	})
	t.Run("the data directory's credentials, trusting its certificate", func(t *testing.T) {
		opts, err := embedded.ClientOptions(dir)
		if err != nil {
			t.Fatal(err)
		}
		// As pathway keys does: the URL the server reports, 0.0.0.0,
		// is no name in the certificate.
		nc, err := nats.Connect(srv.ClientURL(), opts...)
		if err != nil {
			t.Fatalf("connect to %s: %v", srv.ClientURL(), err)
		}
		defer nc.Close()
		useJetStream(t, nc)
	})
	t.Run("a certificate other than the one recorded", func(t *testing.T) {
		other := t.TempDir()
		otherCert, otherKey, _ := eventstest.Certificate(t)
		// A directory that records another server's certificate, holding
		// this server's credentials: its client must refuse this server.
		o := start(t, embedded.Config{DataDir: other, Listen: "0.0.0.0:0", CertFile: otherCert, KeyFile: otherKey})
		o.Shutdown(context.Background())
		creds, _ := os.ReadFile(filepath.Join(dir, embedded.CredentialsFile))
		if err := os.WriteFile(filepath.Join(other, embedded.CredentialsFile), creds, 0o600); err != nil {
			t.Fatal(err)
		}
		opts, err := embedded.ClientOptions(other)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(srv.ClientURL(), opts...)
		if err == nil {
			nc.Close()
			t.Fatal("connected to a server presenting another certificate, want refused")
		}
		if !strings.Contains(err.Error(), "not the one its data directory records") {
			t.Errorf("got %v, want the certificate refused", err)
		}
	})
}
