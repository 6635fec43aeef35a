package edge_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// servedName connects afresh to addr trusting only ca and returns the
// common name of the certificate the server presented.
func servedName(t *testing.T, addr string, ca *eventstest.CA) string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

func TestCertificatesReloadWhenTheFilesChange(t *testing.T) {
	ca := eventstest.NewCA(t, "pathway test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, firstKey := ca.Server(t, "pathway first")
	// A longer name makes a longer file, so the change shows even within
	// the file system's timestamp granularity.
	renewed, renewedKey := ca.Server(t, "pathway renewed certificate")
	eventstest.Renew(t, first, certFile)
	eventstest.Renew(t, firstKey, keyFile)

	certs, err := edge.LoadCertificates(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", certs.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	if got := servedName(t, addr, ca); got != "pathway first" {
		t.Fatalf("served %q, want the certificate loaded at the start", got)
	}

	// Half-way through a renewal the new certificate does not match the
	// old key: the old pair stays in service.
	eventstest.Renew(t, renewed, certFile)
	if got := servedName(t, addr, ca); got != "pathway first" {
		t.Fatalf("with a certificate and a key that do not match: served %q, want the previous certificate still", got)
	}
	eventstest.Renew(t, renewedKey, keyFile)
	if got := servedName(t, addr, ca); got != "pathway renewed certificate" {
		t.Fatalf("after the renewal: served %q, want the new certificate without a restart", got)
	}

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded, want TLS 1.2 or later only")
		}
	})
}

func TestLoadCertificatesErrors(t *testing.T) {
	ca := eventstest.NewCA(t, "pathway test CA")
	cert, key := ca.Server(t, "pathway")
	_, otherKey := ca.Server(t, "other")
	for _, tc := range []struct {
		name, cert, key string
		wantNotExist    bool
	}{
		{name: "no certificate file", cert: filepath.Join(t.TempDir(), "missing.pem"), key: key, wantNotExist: true},
		{name: "no key file", cert: cert, key: filepath.Join(t.TempDir(), "missing.pem"), wantNotExist: true},
		{name: "a key of another certificate", cert: cert, key: otherKey},
		{name: "the key as the certificate", cert: key, key: key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := edge.LoadCertificates(tc.cert, tc.key, nil)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			if tc.wantNotExist != errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %v: not-exist %v, want %v", err, errors.Is(err, os.ErrNotExist), tc.wantNotExist)
			}
		})
	}
}
