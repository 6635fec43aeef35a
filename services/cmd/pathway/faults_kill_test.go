package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
)

var servicesStartedRe = regexp.MustCompile(`msg="(services) started"`)

// TestFaultKill: `pathway serve` killed with SIGKILL under concurrent
// intake and case work, and started again on its data, cycle after cycle
// (3 in the suite; PATHWAY_FAULT_CYCLES=100 for the campaign of
// docs/RELIABILITY.md). Clients retry with the same Idempotency-Key
// through every crash. Afterwards every acknowledged command is in the
// log exactly once, every retry was answered as the first answer, no
// refused command left an event, every 503 carried Retry-After, and each
// read model's checkpoint, carried through the crashes, equals a rebuild.
func TestFaultKill(t *testing.T) {
	t.Parallel()
	cycles := faultCycles(3, 1)
	data := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--data", data, "--http", addr, "--nats-listen", "127.0.0.1:0", "--trusted-proxies", "127.0.0.1", "--access-log=false"}
	p := startServe(t, args...)
	p.await(t, servicesStartedRe, 60*time.Second)
	awaitReady(t, addr)
	js := jetStreamAt(t, data, p.await(t, natsURLRe, time.Second))
	load := newFaultLoad(t, "http://"+addr, js, newNHSRange(990_000_000, 990_999_999))
	load.start(4, 2)

	start := time.Now()
	var down []time.Duration
	for cycle := range cycles {
		// Let the load run for a while: at least some acknowledged
		// commands since the last restart, then a random moment more.
		if !load.awaitAcks(10, 60*time.Second) {
			t.Fatalf("cycle %d: fewer than 10 commands acknowledged within 60s of the restart", cycle+1)
		}
		time.Sleep(time.Duration(200+cycle*37%800) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		killed := time.Now()
		p = startServe(t, args...)
		p.await(t, servicesStartedRe, 60*time.Second)
		if d, ok := load.firstAckAfter(killed); ok {
			down = append(down, d)
		} else if load.awaitAcks(1, 60*time.Second) {
			d, _ := load.firstAckAfter(killed)
			down = append(down, d)
		}
		if cycles > 10 && (cycle+1)%10 == 0 {
			t.Logf("cycle %d of %d: %d commands acknowledged", cycle+1, cycles, load.acks())
		}
	}
	load.awaitAcks(10, 60*time.Second)
	load.stop(2 * time.Minute)
	load.checkReadsCatchUp(30 * time.Second)
	elapsed := time.Since(start)

	js = jetStreamAt(t, data, p.await(t, natsURLRe, time.Second))
	tally := load.check(events.New(js, events.Options{}))
	var worst, total time.Duration
	for _, d := range down {
		worst, total = max(worst, d), total+d
	}
	t.Logf("kill -9: %d cycles in %v; %s; from the kill to the next acknowledged command: mean %v, worst %v",
		cycles, elapsed.Round(time.Second), tally, (total / time.Duration(max(len(down), 1))).Round(time.Millisecond), worst.Round(time.Millisecond))
	if tally.Acknowledged < cycles*10 {
		t.Errorf("%d commands acknowledged over %d cycles, want at least 10 a cycle", tally.Acknowledged, cycles)
	}

	// A clean stop checkpoints every read model; then compare them with
	// their rebuilds, on the data directory opened here.
	p.stop(t, syscall.SIGTERM)
	srv, err := embedded.Start(embedded.Config{DataDir: data, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	master, err := loadMaster(filepath.Join(data, "master.key"), func(string) string { return "" }, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReadModels(t, jetStreamAt(t, data, srv.ClientURL()), master)
}

// jetStreamAt connects to the embedded server at url of the data
// directory data, with the credentials kept there, until the test ends.
func jetStreamAt(tb testing.TB, data, url string) jetstream.JetStream {
	tb.Helper()
	opts, err := embedded.ClientOptions(data)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}
