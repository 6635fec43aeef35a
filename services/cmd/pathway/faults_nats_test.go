package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
)

// startOnNATS starts pathway on the one-server "cluster" c (an external
// NATS, replicas 1) with a load running on it.
func startOnNATS(t *testing.T, c *natsCluster, people *nhsRange) (*proc, string, []string, *faultLoad) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--data", t.TempDir(), "--http", addr, "--nats-url", c.authURLs(),
		"--master-key", testMasterKey(t), "--trusted-proxies", "127.0.0.1", "--access-log=false"}
	p := startServe(t, args...)
	p.await(t, servicesStartedRe, 60*time.Second)
	awaitReady(t, addr)
	load := newFaultLoad(t, "http://"+addr, c.connect(), people)
	load.start(4, 2)
	if !load.awaitAcks(10, 60*time.Second) {
		t.Fatal("fewer than 10 commands acknowledged within 60s of the start")
	}
	return p, addr, args, load
}

// awaitNotReady polls /readyz until it answers 503, with Retry-After and
// a reason that contains why, for up to 30 seconds.
func awaitNotReady(t *testing.T, addr, why string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			var prob problem
			_ = json.NewDecoder(resp.Body).Decode(&prob)
			resp.Body.Close()
			last = strconv.Itoa(resp.StatusCode) + " " + prob.Detail
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(prob.Detail, why) {
				if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 {
					t.Errorf("/readyz answered 503 with Retry-After %q, want seconds", resp.Header.Get("Retry-After"))
				}
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("/readyz did not answer 503 saying %q within 30s; last answer %s", why, last)
}

// TestFaultNATSUnreachable: the NATS server pathway uses is killed under
// load and kept away for a while (12 s in the suite, PATHWAY_FAULT_OUTAGE=30s
// for the campaign), then started again. Meanwhile /readyz answers 503
// saying NATS is not connected, commands are answered 503 with
// Retry-After, and nothing is acknowledged; afterwards pathway takes
// writes again without a restart, and the checker holds.
func TestFaultNATSUnreachable(t *testing.T) {
	t.Parallel()
	outage := faultOutage(12 * time.Second) // longer than a command waits (httpapi.DefaultCommandTimeout)
	c := startNATSCluster(t, 1)
	p, addr, _, load := startOnNATS(t, c, newNHSRange(992_000_000, 992_999_999))

	c.kill(0)
	down := time.Now()
	awaitNotReady(t, addr, "NATS not connected")
	unavailable := load.unavailable.Load()
	time.Sleep(time.Until(down.Add(outage)))
	// A command whose acknowledgement the server sent just before it died
	// may be answered a moment after; none later.
	if d, ok := load.firstAckAfter(down.Add(time.Second)); ok && d < outage-time.Second {
		t.Errorf("a command was acknowledged %v into the outage", d+time.Second)
	}
	c.start(0)
	up := time.Now()
	if load.unavailable.Load() == unavailable {
		t.Errorf("no command was answered 503 during the %v outage", outage)
	}
	if !load.awaitAcks(10, 90*time.Second) {
		t.Fatalf("pathway did not take writes again within 90s of NATS coming back")
	}
	recovered, _ := load.firstAckAfter(up)
	awaitReady(t, addr)
	load.stop(2 * time.Minute)
	load.checkReadsCatchUp(30 * time.Second)
	js := c.connect()
	tally := load.check(events.New(js, events.Options{}))
	t.Logf("NATS away for %v: %s; the first command acknowledged %v after it came back", outage, tally, recovered.Round(10*time.Millisecond))

	p.stop(t, syscall.SIGTERM)
	master, err := loadMaster(testMasterKey(t), func(string) string { return "" }, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReadModels(t, js, master)
}

// awaitStalled waits until no command has been acknowledged for d while
// commands are answered 503, for up to within; false when that did not
// happen.
func (l *faultLoad) awaitStalled(d, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		before, n := l.unavailable.Load(), l.acks()
		time.Sleep(d)
		if l.acks() == n && l.unavailable.Load() > before {
			return true
		}
	}
	return false
}

// TestFaultFullDisk: the NATS server's store fills up under load (its
// JetStream store limited, max_file_store, to a little more than it
// holds: the server then refuses writes with "insufficient resources", as
// it does when its disk reservation is spent). Pathway answers 503 with
// Retry-After and acknowledges nothing it could not store; once the
// limit is raised (a configuration reload, as an operator who freed space
// would), it takes writes again without a restart, and the checker
// holds.
func TestFaultFullDisk(t *testing.T) {
	t.Parallel()
	c := startNATSCluster(t, 1)
	p, addr, _, load := startOnNATS(t, c, newNHSRange(993_000_000, 993_999_999))
	js := c.connect()
	ctx := t.Context()
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit := info.Store + 256<<10
	c.kill(0)
	c.configure(0, "max_file_store: "+strconv.FormatUint(limit, 10))
	c.start(0)
	if !load.awaitStalled(3*time.Second, 90*time.Second) {
		t.Fatalf("the store limited to %d bytes never filled: writes still acknowledged after 90s", limit)
	}
	full := time.Now()
	awaitNotReady(t, addr, "storage")
	time.Sleep(2 * time.Second)
	if d, ok := load.firstAckAfter(full); ok && time.Since(full) > d {
		t.Errorf("a command was acknowledged %v after the store was full", d)
	}
	c.configure(0, "max_file_store: "+strconv.FormatUint(limit*4, 10))
	c.reload(0)
	freed := time.Now()
	if !load.awaitAcks(10, 60*time.Second) {
		t.Fatalf("pathway did not take writes again within 60s of the store's limit being raised")
	}
	recovered, _ := load.firstAckAfter(freed)
	awaitReady(t, addr)
	load.stop(2 * time.Minute)
	load.checkReadsCatchUp(30 * time.Second)
	tally := load.check(events.New(js, events.Options{}))
	t.Logf("store full for %v: %s; the first command acknowledged %v after the limit was raised", freed.Sub(full).Round(time.Second), tally, recovered.Round(10*time.Millisecond))

	p.stop(t, syscall.SIGTERM)
	master, err := loadMaster(testMasterKey(t), func(string) string { return "" }, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReadModels(t, js, master)
}
