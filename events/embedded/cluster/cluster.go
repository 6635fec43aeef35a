// Package cluster starts a JetStream cluster of embedded nats-servers for
// tests: N servers on 127.0.0.1 with free ports, each with its file store
// in a temporary directory, routed to one another, and pathway's event
// log set up on them with one replica per server. Like a production
// cluster, and like pathway's embedded server, the servers admit only
// clients with credentials: a user with a random password (UserInfo).
// Tests of any package use it to see how their code rides out leader
// changes and lost nodes.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
)

// Name is the cluster's name in the servers' configuration.
const Name = "pathway-test"

// Config configures a test cluster. The zero value starts three servers
// with the event log replicated on all three.
type Config struct {
	// Servers is how many servers to start; default 3.
	Servers int
	// Stream configures the event log; its Replicas default to Servers.
	Stream events.StreamConfig
	// SkipSetup leaves the log for the test to set up.
	SkipSetup bool
	// Sync makes every server fsync each write (as pathway does by
	// default); tests that do not restart a node leave it off for speed.
	Sync bool
	// Timeout bounds the start, and each restart, until the cluster has a
	// meta leader and the log a stream leader; default 45s.
	Timeout time.Duration
}

// Cluster is a running test cluster. Its methods are safe to call only
// from the test's goroutine, except ClientURL, URLs and Connect.
type Cluster struct {
	tb       testing.TB
	cfg      Config
	nodes    []*node
	timeout  time.Duration
	user     string
	password string
}

type node struct {
	name    string
	dir     string
	port    int // client port, random at first, kept across restarts
	cluster int // route port
	ns      *server.Server
}

// Start starts the cluster, waits until JetStream has elected its meta
// leader on every server's view, sets up the event log (events.Setup with
// cfg.Stream) and waits until the log has a stream leader. It stops the
// test with tb.Fatal when any of that fails, and shuts the cluster down
// when the test ends.
func Start(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	if cfg.Servers == 0 {
		cfg.Servers = 3
	}
	if cfg.Stream.Replicas == 0 {
		cfg.Stream.Replicas = cfg.Servers
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	c := &Cluster{tb: tb, cfg: cfg, timeout: cfg.Timeout, user: "pathway", password: base64.RawURLEncoding.EncodeToString(secret)}
	if c.timeout == 0 {
		c.timeout = 45 * time.Second
	}
	dir := tb.TempDir() // before Cleanup(Shutdown): removed after it.
	tb.Cleanup(c.Shutdown)
	// A JetStream cluster needs its routes configured from the start: the
	// route ports are picked first.
	ports, err := freePorts(cfg.Servers)
	if err != nil {
		tb.Fatalf("cluster: pick route ports: %v", err)
	}
	for i := range cfg.Servers {
		name := "n" + strconv.Itoa(i+1)
		c.nodes = append(c.nodes, &node{name: name, dir: filepath.Join(dir, name), port: server.RANDOM_PORT, cluster: ports[i]})
	}
	for i, n := range c.nodes {
		if err := c.start(i); err != nil {
			tb.Fatalf("start %s: %v", n.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.waitMeta(ctx); err != nil {
		tb.Fatal(err)
	}
	if !cfg.SkipSetup {
		nc, js := c.Connect(tb, 0)
		defer nc.Close()
		if err := setup(ctx, js, cfg.Stream); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// setup sets up the log, retrying while the new meta leader settles.
func setup(ctx context.Context, js jetstream.JetStream, cfg events.StreamConfig) error {
	for {
		err := events.Setup(ctx, js, cfg)
		if err == nil {
			err = events.Ready(ctx, js, cfg.Name)
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: set up the log: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start starts node i, routed to every other node.
func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	var routes []*url.URL
	for j, o := range c.nodes {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.cluster))})
		}
	}
	opts := &server.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.port,
		JetStream:  true,
		StoreDir:   filepath.Join(n.dir, "jetstream"),
		SyncAlways: c.cfg.Sync,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
		Users:      []*server.User{{Username: c.user, Password: c.password}},
		Cluster: server.ClusterOpts{
			Name: Name,
			Host: "127.0.0.1",
			Port: n.cluster,
		},
		Routes: routes,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("not ready for connections within 10s")
	}
	n.ns = ns
	n.port = ns.Addr().(*net.TCPAddr).Port
	return nil
}

// waitMeta waits until every running server is part of a JetStream
// cluster with a current meta leader.
func (c *Cluster) waitMeta(ctx context.Context) error {
	for {
		leader, current := false, true
		for _, n := range c.nodes {
			if n.ns == nil {
				continue
			}
			leader = leader || n.ns.JetStreamIsLeader()
			current = current && n.ns.JetStreamIsClustered() && n.ns.JetStreamIsCurrent()
		}
		if leader && current {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: no JetStream meta leader: %w", ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Servers returns how many servers the cluster has, running or not.
func (c *Cluster) Servers() int { return len(c.nodes) }

// ClientURL returns the client URL of server i (0-based); the port stays
// the same across Stop and Restart.
func (c *Cluster) ClientURL(i int) string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.nodes[i].port))
}

// URLs returns the client URLs of every server, comma-separated, as
// nats.Connect takes them.
func (c *Cluster) URLs() string {
	s := ""
	for i := range c.nodes {
		if i > 0 {
			s += ","
		}
		s += c.ClientURL(i)
	}
	return s
}

// Connect connects to server i only (no other server to fail over to, so
// the test knows which server answers) and returns the connection and a
// JetStream client on it. The connection is closed when the test ends.
func (c *Cluster) Connect(tb testing.TB, i int) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(c.ClientURL(i), nats.UserInfo(c.user, c.password), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("connect to server %d: %v", i, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream on server %d: %v", i, err)
	}
	return nc, js
}

// UserInfo returns the user and password every server requires of its
// clients (Connect uses them).
func (c *Cluster) UserInfo() (user, password string) { return c.user, c.password }

// ServerName returns server i's name, as JetStream reports it in cluster info
// (e.g. a stream's leader).
func (c *Cluster) ServerName(i int) string { return c.nodes[i].name }

// Stop shuts server i down, keeping its store for Restart. The shutdown
// is graceful: the leaders on it hand over to other servers first.
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	if n.ns == nil {
		return
	}
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
	n.ns = nil
}

// Restart starts server i again, on its ports and its store, and waits
// until every running server again sees a current meta leader. It stops
// the test with tb.Fatal when the server does not come back.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	c.Stop(i)
	if err := c.start(i); err != nil {
		c.tb.Fatalf("restart %s: %v", c.nodes[i].name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := c.waitMeta(ctx); err != nil {
		c.tb.Fatalf("restart %s: %v", c.nodes[i].name, err)
	}
}

// Shutdown stops every server. It is called when the test ends; calling
// it earlier, or again, is harmless.
func (c *Cluster) Shutdown() {
	for _, n := range c.nodes {
		if n.ns != nil {
			n.ns.Shutdown()
		}
	}
	for _, n := range c.nodes {
		if n.ns != nil {
			n.ns.WaitForShutdown()
			n.ns = nil
		}
	}
}

// StepDown asks the leader of stream, or of its consumer when consumer is
// not empty, to step down so that another replica takes over: the server
// named preferred (see ServerName), or any when preferred is empty. nc
// may be connected to any server. It returns the JetStream API's error,
// e.g. when there is no leader at the moment (an election is under way)
// or preferred already leads.
func StepDown(ctx context.Context, nc *nats.Conn, stream, consumer, preferred string) error {
	subject := "$JS.API.STREAM.LEADER.STEPDOWN." + stream
	if consumer != "" {
		subject = "$JS.API.CONSUMER.LEADER.STEPDOWN." + stream + "." + consumer
	}
	var req []byte
	if preferred != "" {
		req, _ = json.Marshal(map[string]any{"placement": map[string]string{"preferred": preferred}})
	}
	msg, err := nc.RequestWithContext(ctx, subject, req)
	if err != nil {
		return fmt.Errorf("step down %s: %w", subject, err)
	}
	var resp struct {
		Success bool `json:"success"`
		Error   *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("step down %s: %w", subject, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("step down %s: %s (%d)", subject, resp.Error.Description, resp.Error.ErrCode)
	}
	if !resp.Success {
		return errors.New("step down " + subject + ": not done")
	}
	return nil
}

// Leader returns the index of the server that leads stream, or its
// consumer when consumer is not empty; -1 when none of the running
// servers does (an election is under way).
func (c *Cluster) Leader(stream, consumer string) int {
	for i, n := range c.nodes {
		if n.ns == nil {
			continue
		}
		if consumer == "" && n.ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) ||
			consumer != "" && n.ns.JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream, consumer) {
			return i
		}
	}
	return -1
}
