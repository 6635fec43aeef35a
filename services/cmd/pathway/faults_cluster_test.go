package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
)

// natsServerBinary builds nats-server, the one pathway embeds, from the
// module cache once per test binary (no nats-server need be installed),
// for the tests that kill a server with SIGKILL: a process of its own, so
// that it dies as a crashed machine's would, without handing over.
var natsServerBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pathway-nats-server")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	build.Dir = filepath.Join("..", "..", "..", "events") // the module that requires it
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// natsNode is one nats-server process of a test cluster, on fixed ports
// and a store directory kept across kills.
type natsNode struct {
	name, dir, conf, logFile string
	cluster                  string // the cluster block of its configuration
	port                     int
	cmd                      *exec.Cmd
	done                     chan struct{}
}

// natsCluster is three nats-server processes on loopback, routed to one
// another, with JetStream and a user and password.
type natsCluster struct {
	tb             testing.TB
	bin            string
	nodes          []*natsNode
	user, password string
}

// startNATSCluster starts n nats-server processes as one JetStream
// cluster and waits until each accepts connections.
func startNATSCluster(tb testing.TB, n int) *natsCluster {
	tb.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		tb.Fatal(err)
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	c := &natsCluster{tb: tb, bin: bin, user: "pathway", password: base64.RawURLEncoding.EncodeToString(secret)}
	dir := tb.TempDir()
	var clientPorts, routePorts []int
	for range n {
		clientPorts = append(clientPorts, freePort(tb))
		routePorts = append(routePorts, freePort(tb))
	}
	for i := range n {
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		nd := filepath.Join(dir, name)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			tb.Fatal(err)
		}
		node := &natsNode{name: name, dir: nd, conf: filepath.Join(nd, "nats.conf"), logFile: filepath.Join(nd, "nats.log"), port: clientPorts[i]}
		if n > 1 {
			node.cluster = fmt.Sprintf("cluster { name: pathway-faults, listen: \"127.0.0.1:%d\", routes: [%s] }\n", routePorts[i], strings.Join(routes, ", "))
		}
		c.nodes = append(c.nodes, node)
		c.configure(i, "")
	}
	tb.Cleanup(func() {
		for i := range c.nodes {
			c.kill(i)
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	return c
}

// configure writes server i's configuration, with jetstream, a line of
// the jetstream block (max_file_store: 1MB, say), taking effect at its
// next start or on SIGHUP (reload).
func (c *natsCluster) configure(i int, jetstream string) {
	c.tb.Helper()
	n := c.nodes[i]
	conf := fmt.Sprintf(`server_name: %s
listen: "127.0.0.1:%d"
max_payload: 8MB
authorization { user: %s, password: %q }
jetstream { store_dir: %q
%s
}
%s`, n.name, n.port, c.user, c.password, filepath.Join(n.dir, "jetstream"), jetstream, n.cluster)
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		c.tb.Fatal(err)
	}
}

// reload makes server i read its configuration again (SIGHUP).
func (c *natsCluster) reload(i int) {
	c.tb.Helper()
	if err := c.nodes[i].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		c.tb.Fatal(err)
	}
}

// URLs returns every server's client URL, comma-separated.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.port))
	}
	return strings.Join(urls, ",")
}

// authURLs returns URLs with the user and password in them, for a
// pathway process (so that the test needs no environment variable, and
// may run in parallel).
func (c *natsCluster) authURLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", c.user, c.password, n.port))
	}
	return strings.Join(urls, ",")
}

// start starts server i and waits until it accepts connections.
func (c *natsCluster) start(i int) {
	c.tb.Helper()
	n := c.nodes[i]
	logf, err := os.OpenFile(n.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.tb.Fatal(err)
	}
	n.cmd = exec.Command(c.bin, "-c", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		c.tb.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() { n.cmd.Wait(); logf.Close(); close(n.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("nats-server %s does not accept connections within 20s", n.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills server i with SIGKILL and waits until it is gone.
func (c *natsCluster) kill(i int) {
	n := c.nodes[i]
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
}

// connect connects to any server, reconnecting to the others.
func (c *natsCluster) connect() jetstream.JetStream {
	c.tb.Helper()
	nc, err := nats.Connect(c.URLs(), nats.UserInfo(c.user, c.password), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.tb.Fatal(err)
	}
	return js
}

// leader returns the index of the server that leads the event stream,
// once the stream has a leader and every replica is current, asking for up
// to 90 seconds.
func (c *natsCluster) leader(js jetstream.JetStream) int {
	c.tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, events.DefaultStream)
		cancel()
		if err != nil {
			last = err.Error()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ci := s.CachedInfo().Cluster
		current := ci != nil && len(ci.Replicas) == len(c.nodes)-1
		for _, r := range ci.Replicas {
			current = current && r.Current && !r.Offline
		}
		if current {
			for i, n := range c.nodes {
				if n.name == ci.Leader {
					return i
				}
			}
		}
		last = fmt.Sprintf("%+v", ci)
		time.Sleep(100 * time.Millisecond)
	}
	c.tb.Fatalf("the event stream has no leader with every replica current within 90s: %s", last)
	return -1
}

// TestFaultCluster: pathway on a three-server cluster (separate
// nats-server processes on loopback, the log R3) under concurrent intake
// and case work, cycle after cycle (1 in the suite, a tenth of
// PATHWAY_FAULT_CYCLES for the campaign): a follower is killed with SIGKILL and comes back,
// then the stream's leader, then pathway and the leader together. The
// checker of TestFaultKill holds afterwards, and the test reports the
// write stall on a leader loss: from the kill to the first command
// acknowledged after it, and the longest time without an acknowledgement
// around it.
func TestFaultCluster(t *testing.T) {
	t.Parallel()
	cycles := faultCycles(1, 10) // a tenth of the kill campaign's: each cycle is three faults
	c := startNATSCluster(t, 3)
	data := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--data", data, "--http", addr, "--nats-url", c.authURLs(), "--replicas", "3",
		"--master-key", testMasterKey(t), "--trusted-proxies", "127.0.0.1", "--access-log=false"}
	p := startServe(t, args...)
	p.await(t, servicesStartedRe, 90*time.Second)
	awaitReady(t, addr)
	js := c.connect()
	load := newFaultLoad(t, "http://"+addr, js, newNHSRange(991_000_000, 991_999_999))
	load.start(4, 2)

	type stall struct {
		what       string
		first, gap time.Duration
	}
	var stalls []stall
	// measure waits for writes after a kill at t0 and notes the stall.
	measure := func(what string, t0 time.Time) {
		t.Helper()
		if !load.awaitAcks(10, 90*time.Second) {
			t.Fatalf("%s: fewer than 10 commands acknowledged within 90s", what)
		}
		first, ok := load.firstAckAfter(t0)
		if !ok {
			t.Fatalf("%s: no command acknowledged after the kill", what)
		}
		stalls = append(stalls, stall{what, first, load.longestGap(t0.Add(-2*time.Second), t0.Add(first))})
	}
	start := time.Now()
	for cycle := range cycles {
		if !load.awaitAcks(10, 60*time.Second) {
			t.Fatalf("cycle %d: fewer than 10 commands acknowledged within 60s", cycle+1)
		}
		// A follower.
		leader := c.leader(js)
		follower := (leader + 1 + cycle%2) % 3
		c.kill(follower)
		measure("follower", time.Now())
		c.start(follower)
		// The leader.
		leader = c.leader(js)
		c.kill(leader)
		measure("leader", time.Now())
		c.start(leader)
		// Pathway and the leader together.
		leader = c.leader(js)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.kill(leader)
		t0 := time.Now()
		<-p.done
		p = startServe(t, args...)
		measure("pathway and leader", t0)
		if s := stalls[len(stalls)-1]; s.first > 15*time.Second {
			t.Logf("pathway and leader lost: %v until a write was acknowledged; pathway's log since its start:\n%s", s.first, p.output())
		}
		c.start(leader)
		c.leader(js)
		if cycles > 5 {
			t.Logf("cycle %d of %d: %d commands acknowledged", cycle+1, cycles, load.acks())
		}
	}
	load.awaitAcks(10, 60*time.Second)
	load.stop(2 * time.Minute)
	load.checkReadsCatchUp(30 * time.Second)
	elapsed := time.Since(start)

	tally := load.check(events.New(js, events.Options{}))
	byWhat := map[string][]stall{}
	for _, s := range stalls {
		byWhat[s.what] = append(byWhat[s.what], s)
	}
	var report []string
	for _, what := range []string{"follower", "leader", "pathway and leader"} {
		var worstFirst, worstGap, sum time.Duration
		for _, s := range byWhat[what] {
			worstFirst, worstGap, sum = max(worstFirst, s.first), max(worstGap, s.gap), sum+s.first
		}
		n := time.Duration(max(len(byWhat[what]), 1))
		report = append(report, fmt.Sprintf("%s lost: first acknowledgement after mean %v, worst %v; longest gap %v",
			what, (sum/n).Round(10*time.Millisecond), worstFirst.Round(10*time.Millisecond), worstGap.Round(10*time.Millisecond)))
	}
	t.Logf("cluster: %d cycles in %v; %s\n%s", cycles, elapsed.Round(time.Second), tally, strings.Join(report, "\n"))

	p.stop(t, syscall.SIGTERM)
	master, err := loadMaster(testMasterKey(t), func(string) string { return "" }, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReadModels(t, js, master)
}
