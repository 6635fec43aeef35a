package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
)

func TestServeHTTPS(t *testing.T) {
	ca := eventstest.NewCA(t, "pathway test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, firstKey := ca.Server(t, "pathway")
	eventstest.Renew(t, first, certFile)
	eventstest.Renew(t, firstKey, keyFile)

	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	// Each request a connection of its own, so each sees the certificate
	// served at that moment.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
	p := startPathwayWith(t, cfg)
	p.client = client
	if !strings.HasPrefix(p.base, "https://") {
		t.Fatalf("pathway serves %s, want https", p.base)
	}

	ref := p.key(keys.RoleReferrer, "A81001")
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, exampleReferral(), &created); code != http.StatusCreated {
		t.Fatalf("POST /v1/referrals over HTTPS: %d, want 201", code)
	}

	t.Run("the session cookie is Secure over TLS", func(t *testing.T) {
		browser := browserClient()
		browser.Transport = client.Transport
		resp := signInAs(t, p.base, browser, "198.51.100.9", false, p.key(keys.RoleOps, ""))
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "pathway_session" {
				session = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure {
			t.Errorf("sign-in over HTTPS: %d, session cookie %+v; want 303 and Secure", resp.StatusCode, session)
		}
	})

	served := func() string {
		t.Helper()
		resp, err := client.Get(p.base + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz over HTTPS: %v", err)
		}
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("answer over %+v, want TLS 1.2 or later", resp.TLS)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "pathway" {
		t.Fatalf("served the certificate of %q, want pathway", got)
	}

	t.Run("plain HTTP is not served", func(t *testing.T) {
		resp, err := http.Get("http://" + strings.TrimPrefix(p.base, "https://") + "/healthz")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP answered 200 on the HTTPS port")
			}
		}
	})

	t.Run("a renewed certificate is served without a restart", func(t *testing.T) {
		renewed, renewedKey := ca.Server(t, "pathway renewed")
		eventstest.Renew(t, renewed, certFile)
		eventstest.Renew(t, renewedKey, keyFile)
		if got := served(); got != "pathway renewed" {
			t.Fatalf("after the files changed: served %q, want the renewed certificate", got)
		}
		if !strings.Contains(p.logs.String(), `msg="TLS certificate reloaded"`) {
			t.Errorf("no log line of the reload:\n%s", p.logs.String())
		}
	})
}

// startTLSNATS starts a nats-server with JetStream that accepts only TLS
// connections presenting a client certificate ca signed (verify: true),
// and returns its URL.
func startTLSNATS(t *testing.T, ca *eventstest.CA) string {
	t.Helper()
	certFile, keyFile := ca.Server(t, "nats")
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, CaFile: ca.File(t), Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 10,
		NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("TLS nats-server not ready within 10s")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return "tls://127.0.0.1:" + strconv.Itoa(ns.Addr().(*net.TCPAddr).Port)
}

func TestExternalNATSWithMutualTLS(t *testing.T) {
	ca := eventstest.NewCA(t, "pathway test CA")
	url := startTLSNATS(t, ca)
	clientCert, clientKey := ca.Client(t, "pathway")
	caFile := ca.File(t)

	external := func() serveConfig {
		cfg := defaultServeConfig()
		cfg.DataDir, cfg.HTTPAddr = "", "127.0.0.1:0"
		cfg.NATSURL, cfg.NATSCA = url, caFile
		cfg.MasterKey = testMasterKey(t)
		cfg.rules = triage.DefaultRules()
		return cfg
	}

	t.Run("with the client certificate a referral is served end to end", func(t *testing.T) {
		cfg := external()
		cfg.NATSClientCert, cfg.NATSClientKey = clientCert, clientKey
		p := startPathwayWith(t, cfg)
		ref, ops := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, "")
		id, worker := p.api().AssignedReferral(ref, ops, "9434765919")
		var v view
		if code, _ := p.do("GET", "/v1/referrals/"+id, ops, nil, &v); code != http.StatusOK || v.Triage == nil || v.Triage.Decision != "accept" {
			t.Fatalf("GET the referral: %d, triage %+v; want 200 with an accept", code, v.Triage)
		}
		if worker == "" {
			t.Fatal("no worker")
		}

		// The CLI commands take the same flags.
		var out, errOut bytes.Buffer
		args := []string{"keys", "create", "--role", "ops", "--label", "over mutual TLS", "--nats-url", url, "--nats-ca", caFile, "--nats-client-cert", clientCert, "--nats-client-key", clientKey}
		if code := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); code != 0 {
			t.Fatalf("pathway %s: exit %d, %s", strings.Join(args, " "), code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "Created key") || strings.TrimSpace(out.String()) == "" {
			t.Errorf("keys create: %q, %q; want a new key", errOut.String(), out.String())
		}
		var errOut2 bytes.Buffer
		args = []string{"keys", "create", "--role", "ops", "--nats-url", url, "--nats-ca", caFile}
		if code := run(context.Background(), args, func(string) string { return "" }, &out, &errOut2); code == 0 {
			t.Errorf("pathway keys list without the client certificate: exit 0, want refused")
		} else if !strings.Contains(errOut2.String(), "--nats-client-cert") {
			t.Errorf("pathway keys list without the client certificate: %q, want a hint at --nats-client-cert", errOut2.String())
		}
	})

	for _, tc := range []struct {
		name string
		cfg  func(*serveConfig)
		want []string
	}{
		{name: "without the client certificate", cfg: func(*serveConfig) {}, want: []string{"TLS", "client certificate", "--nats-client-cert"}},
		{name: "not trusting the server's authority", cfg: func(c *serveConfig) {
			c.NATSCA = ""
			c.NATSClientCert, c.NATSClientKey = clientCert, clientKey
		}, want: []string{"unknown authority", "--nats-ca"}},
		{name: "with a certificate of another authority", cfg: func(c *serveConfig) {
			c.NATSClientCert, c.NATSClientKey = eventstest.NewCA(t, "another CA").Client(t, "pathway")
		}, want: []string{"TLS", "client certificate", "--nats-client-cert"}},
	} {
		t.Run(tc.name+" serve fails", func(t *testing.T) {
			cfg := external()
			tc.cfg(&cfg)
			done := make(chan error, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("serve returned no error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve still running after 30s, want it to stop with the connection's error")
			}
		})
	}
}
