package embedded

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
)

// certFile is the file in the data directory where a server with TLS
// records the certificate it presents, so that a client on this machine
// (ClientOptions) trusts exactly that one whatever names it carries.
const certFile = "nats-cert.pem"

// useTLS sets up TLS on opts when cfg has a certificate, and records the
// certificate in the data directory; without one it removes any record
// of an earlier start.
func useTLS(opts *server.Options, cfg Config) error {
	pin := filepath.Join(cfg.DataDir, certFile)
	if cfg.CertFile == "" {
		if err := os.Remove(pin); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("embedded nats: %w", err)
		}
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile})
	if err != nil {
		return fmt.Errorf("embedded nats: TLS: %w", err)
	}
	if len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return fmt.Errorf("embedded nats: TLS: no certificate in %s", cfg.CertFile)
	}
	opts.TLSConfig = tc
	body := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.Certificates[0].Certificate[0]})
	if err := writeOwnerOnly(cfg.DataDir, body, func(tmp string) error { return os.Rename(tmp, pin) }); err != nil {
		return fmt.Errorf("embedded nats: record the TLS certificate: %w", err)
	}
	return nil
}

// pinnedTLS is the client TLS configuration that trusts only the
// certificate recorded in dataDir, or nil when none is (no TLS).
func pinnedTLS(dataDir string) (*tls.Config, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, certFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded nats: TLS certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("embedded nats: TLS certificate %s: no PEM block", certFile)
	}
	want, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: TLS certificate %s: %w", certFile, err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The usual checks (a chain to a known root, a name matching the
		// address dialled) are replaced by a stricter one: the server must
		// present the very certificate its data directory records. The
		// address a local client dials (0.0.0.0, a private IP) is rarely a
		// name in the certificate.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !cs.PeerCertificates[0].Equal(want) {
				return errors.New("embedded nats: the server's TLS certificate is not the one its data directory records")
			}
			return nil
		},
	}, nil
}
