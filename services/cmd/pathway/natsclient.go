package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// externalNATS registers on fs the flags of the credentials and TLS for
// an external NATS (--nats-url), the same for serve and every command
// that connects, and returns the configuration they fill in, with the
// environment's values as defaults (the password and a token only ever
// from the environment: a flag shows in the process list).
func externalNATS(fs *flag.FlagSet, getenv func(string) string) *serveConfig {
	cfg := &serveConfig{NATSPass: getenv(envNames["nats-password"]), NATSToken: getenv(envNames["nats-token"])}
	natsClientFlags(fs, cfg, getenv)
	fs.StringVar(&cfg.NATSUser, "nats-user", getenv(envNames["nats-user"]), "NATS user name for --nats-url; the password comes from the environment (env "+envNames["nats-user"]+")")
	return cfg
}

// natsClientFlags registers the flags of an external NATS's credentials
// file, NKey seed and TLS on fs.
func natsClientFlags(fs *flag.FlagSet, cfg *serveConfig, getenv func(string) string) {
	str := func(p *string, name, text string) {
		fs.StringVar(p, name, getenv(envNames[name]), text+" (env "+envNames[name]+")")
	}
	str(&cfg.NATSCreds, "nats-creds", "NATS credentials file (JWT and NKey seed) for --nats-url")
	str(&cfg.NATSNkey, "nats-nkey", "NATS NKey seed file for --nats-url (e.g. DATA/"+embedded.CredentialsFile+" of another pathway's embedded server)")
	str(&cfg.NATSCA, "nats-ca", "certificate authorities (PEM) that --nats-url's servers' TLS certificates chain to; default the system's. Any --nats-ca or --nats-client-cert makes TLS required")
	str(&cfg.NATSClientCert, "nats-client-cert", "client certificate (PEM) pathway presents to --nats-url's servers for mutual TLS; read again on each reconnection after it changes")
	str(&cfg.NATSClientKey, "nats-client-key", "private key (PEM) of --nats-client-cert")
}

// validateNATSClient reports the problems of cfg's external NATS's TLS.
func (c serveConfig) validateNATSClient() []error {
	var errs []error
	if (c.NATSClientCert == "") != (c.NATSClientKey == "") {
		errs = append(errs, errors.New("--nats-client-cert and --nats-client-key go together: pathway's client certificate for NATS and its private key"))
	}
	if c.NATSURL == "" && (c.NATSCA != "" || c.NATSClientCert != "" || c.NATSClientKey != "") {
		errs = append(errs, errors.New("--nats-ca, --nats-client-cert and --nats-client-key are for an external NATS (--nats-url); the embedded server's own TLS is --nats-cert and --nats-key"))
	}
	return errs
}

// natsOptionsTLS are the TLS options of cfg for an external NATS: none
// without --nats-ca or --nats-client-cert, else TLS 1.2 or later, required,
// trusting --nats-ca (or the system's authorities) and presenting the
// client certificate. A file that cannot be read, or holds no
// certificate, is an error now rather than at each connection.
func natsOptionsTLS(cfg serveConfig) ([]nats.Option, error) {
	if cfg.NATSCA == "" && cfg.NATSClientCert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.NATSCA != "" {
		pem, err := os.ReadFile(cfg.NATSCA)
		if err != nil {
			return nil, fmt.Errorf("--nats-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--nats-ca %s: no PEM certificate in it", cfg.NATSCA)
		}
	}
	if cfg.NATSClientCert != "" {
		certs, err := edge.LoadCertificates(cfg.NATSClientCert, cfg.NATSClientKey, nil)
		if err != nil {
			return nil, fmt.Errorf("--nats-client-cert: %w", err)
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.GetCertificate(nil) }
	}
	return []nats.Option{nats.Secure(tc)}, nil
}

// connectNATS connects to url. Servers that do not answer yet (nothing
// listening, a time-out, a name not yet in DNS) are tried again in the
// background, as in a cluster that starts after pathway; a server that
// answers and refuses pathway (its TLS, its credentials) is an error at
// once, with a hint at the flags that set them, since trying again
// cannot mend it.
func connectNATS(url string, opts []nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(opts, nats.RetryOnFailedConnect(false))...)
	if err == nil {
		return nc, nil
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	if errors.Is(err, nats.ErrNoServers) || errors.As(err, &dnsErr) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	return nil, fmt.Errorf("connect to NATS at %s: %w%s", redactURL(url), err, natsHint(err))
}

// natsHint names the flags that likely mend err, a refused connection.
func natsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var op *net.OpError
	switch {
	case errors.As(err, &unknown):
		return " (the server's certificate is not signed by an authority pathway trusts: --nats-ca)"
	case errors.As(err, &hostname):
		return " (the server's certificate does not name the host in --nats-url)"
	case errors.As(err, &op) && op.Op == "remote error", errors.Is(err, nats.ErrTLS):
		// pathway trusted the server, which refused the handshake (its TLS
		// alert, or with TLS 1.3 a connection closed right after it): no
		// client certificate, or one it does not trust.
		return " (the server refused pathway's TLS: it requires a client certificate it trusts, --nats-client-cert and --nats-client-key)"
	case errors.Is(err, nats.ErrSecureConnRequired):
		return " (the server requires TLS: --nats-ca, or a tls:// URL)"
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired):
		return " (check --nats-creds, --nats-nkey, or --nats-user and " + envNames["nats-password"] + ")"
	}
	return ""
}
