// Package embedded runs a NATS server with JetStream inside the process,
// so that pathway runs as one binary with no other setup. It stores the
// log under a data directory and, by default, fsyncs every write before
// acknowledging it.
//
// The server admits only clients that authenticate: on its first start it
// generates an NKey user into the data directory (CredentialsFile,
// readable by its owner only) and accepts that key alone, over a socket
// and in process alike. A listen address beyond loopback also needs TLS.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Config configures an embedded server.
type Config struct {
	// DataDir holds the JetStream file store (under DataDir/jetstream).
	DataDir string
	// Listen is the client address, host:port. Port 0 picks a free port.
	// Default 127.0.0.1:4222: clients on this machine only.
	Listen string
	// NoSync relaxes durability: JetStream then fsyncs every 2 minutes
	// instead of on every write. Faster, but an acknowledged event can be
	// lost if the machine (not just the process) crashes within that time.
	NoSync bool
	// StartTimeout bounds the wait for the server to accept clients;
	// default 15s.
	StartTimeout time.Duration
	// ServerName names the server in logs and cluster views; default
	// "pathway".
	ServerName string
	// CertFile and KeyFile are the PEM certificate (chain) and private key
	// the server presents to clients over TLS. With them every client
	// connection over a socket must use TLS; without them there is no TLS.
	// They are required when Listen is not a loopback address.
	CertFile, KeyFile string
}

// Validate reports whether c can start a server: a data directory, a
// host:port to listen on, and TLS (CertFile and KeyFile) when that host
// is not loopback, since clients would then reach the log over a network.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("embedded nats: data directory is required"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("embedded nats: TLS needs both a certificate file and a key file"))
	}
	if c.Listen != "" {
		host, _, err := splitListen(c.Listen)
		if err != nil {
			errs = append(errs, err)
		} else if !Loopback(host) && c.CertFile == "" {
			errs = append(errs, fmt.Errorf("embedded nats: listen address %q is not loopback: clients would reach the log over the network, so TLS is required (a certificate and key)", c.Listen))
		}
	}
	return errors.Join(errs...)
}

// Loopback reports whether host, of a listen address, is reachable from
// this machine only: "localhost" or a loopback IP address. An empty host
// or an unspecified address (0.0.0.0, ::) listens on every interface.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitListen(listen string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("embedded nats: listen address %q: want host:port", listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded nats: listen port %q: want 0-65535", portStr)
	}
	return host, port, nil
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	ns  *server.Server
	key nkeys.KeyPair // the one user's, to sign this process's connections
	pub string
}

// Start starts a server and waits until it accepts clients. The caller
// must call Shutdown.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:4222"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 15 * time.Second
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "pathway"
	}
	host, port, _ := splitListen(cfg.Listen)
	if port == 0 {
		port = server.RANDOM_PORT
	}
	storeDir := filepath.Join(cfg.DataDir, "jetstream")
	// The data directory, when created here, is its owner's alone.
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: data directory: %w", err)
	}
	key, err := userKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		SyncAlways: !cfg.NoSync,
		NoSigs:     true,
		NoLog:      true,
		HTTPPort:   0,
		// Large enough for an atomic batch of events plus headers.
		MaxPayload: 8 << 20,
		// The one user, in the global account, which has JetStream. The
		// server holds only the public key; a client proves it holds the
		// seed by signing the server's nonce, so no secret crosses the
		// connection.
		Nkeys: []*server.NkeyUser{{Nkey: pub}},
	}
	if err := useTLS(opts, cfg); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(cfg.StartTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready within %v (is %s in use?)", cfg.StartTimeout, cfg.Listen)
	}
	return &Server{ns: ns, key: key, pub: pub}, nil
}

// ClientURL is the URL clients connect to, with the port actually bound.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// InProcess is the option that connects a client in this process to the
// server without a socket (nats.InProcessServer): no loopback traffic and
// nothing another local process could listen in on. The client still
// authenticates: add Auth. It needs no TLS, and must not ask for it: with
// a server that has TLS, connect to a nats:// URL, not ClientURL.
func (s *Server) InProcess() nats.Option { return nats.InProcessServer(s.ns) }

// Auth is the option that authenticates a client in this process as the
// server's user, whether it connects in process or over a socket.
func (s *Server) Auth() nats.Option { return nats.Nkey(s.pub, s.key.Sign) }

// Addr is the client address actually bound.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// Shutdown stops the server, flushing the store, and waits until it has
// stopped or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("embedded nats shutdown: %w", ctx.Err())
	}
}
