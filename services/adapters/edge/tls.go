package edge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Certificates is the TLS certificate pathway serves HTTPS with, read from
// a PEM certificate (chain) file and a PEM private key file and read again
// when either changes: a renewed certificate (certbot, cert-manager, a
// secret mounted by an orchestrator) is served from the next handshake on,
// without a restart. Each handshake looks at the files' modification times
// and sizes, two stat calls; a pair that does not load (the new
// certificate written, its key not yet) leaves the one loaded before in
// service and is logged once, and is tried again when the files change
// again. It is safe for concurrent use.
type Certificates struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   fileStamp // of the files cert was loaded from
	refused fileStamp // of the last pair that failed to load
}

// fileStamp tells one state of the two files from another.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// LoadCertificates reads the certificate and key once, and returns the
// Certificates that serve them. Its error names the file that cannot be
// read or the pair that does not match; log (nil: none) hears of each
// reload and each refused one.
func LoadCertificates(certFile, keyFile string, log *slog.Logger) (*Certificates, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certificates{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.stamp = cert, stamp
	log.Info("TLS certificate loaded", "cert", certFile, "subject", cert.Leaf.Subject.String(), "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return c, nil
}

// TLSConfig is the server configuration that serves these certificates,
// TLS 1.2 or later.
func (c *Certificates) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// GetCertificate returns the certificate to present, loading it again
// first when its files changed (tls.Config.GetCertificate). It never
// returns an error: LoadCertificates loaded one.
func (c *Certificates) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp, err := c.stat()
	if err != nil || stamp == c.stamp || stamp == c.refused {
		// A file missing for a moment (replaced by a rename) keeps
		// the certificate in service too.
		return c.cert, nil
	}
	cert, err := c.load()
	if err != nil {
		c.refused = stamp
		c.log.Warn("TLS certificate files changed but do not load; still serving the previous certificate", "err", err)
		return c.cert, nil
	}
	c.cert, c.stamp = cert, stamp
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "subject", cert.Leaf.Subject.String(), "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return c.cert, nil
}

func (c *Certificates) stat() (fileStamp, error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS certificate: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("TLS key: %w", err)
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

func (c *Certificates) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", c.certFile, err)
		}
	}
	return &cert, nil
}
