package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded/cluster"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestClusterReadsEveryWriteAfterIts201: pathway on a three-node cluster
// (R3) while the stream's leader is moved every 300 ms. Every referral and
// every link worker answered 201 is read back at once with 200, never 404;
// a request that meets an election may answer 503 and is retried with the
// same Idempotency-Key; and the log holds each referral exactly once.
func TestClusterReadsEveryWriteAfterIts201(t *testing.T) {
	c := cluster.Start(t, cluster.Config{})
	cfg := defaultServeConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATSURL = c.URLs()
	cfg.NATSUser, cfg.NATSPass = c.UserInfo()
	cfg.Replicas = 3
	p := startPathwayWith(t, cfg)
	ref := p.key(keys.RoleReferrer, "A81001")
	ops := p.key(keys.RoleOps, "")

	nc, _ := c.Connect(t, 2)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	moves := 0
	wg.Go(func() {
		for ctx.Err() == nil {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if cluster.StepDown(sctx, nc, events.DefaultStream, "", "") == nil {
				moves++
			}
			cancel()
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	})

	retries := 0
	// send retries a write while the cluster answers 503 (an election),
	// with the same Idempotency-Key, and returns the final status and the
	// id written. A retry of a write that was stored although its answer
	// was a 503 answers 200 with the original: that counts as its 201.
	send := func(path, key string, body any, idem string) (int, string) {
		for attempt := 0; ; attempt++ {
			var out map[string]any
			code, _ := p.do("POST", path, key, body, &out, "Idempotency-Key", idem)
			if code == http.StatusOK && attempt > 0 {
				code = http.StatusCreated
			}
			if code != http.StatusServiceUnavailable || attempt == 20 {
				id, _ := out["id"].(string)
				return code, id
			}
			retries++
			time.Sleep(100 * time.Millisecond)
		}
	}
	// read reads back at once, retrying only a 503.
	read := func(path, key string) int {
		for attempt := 0; ; attempt++ {
			code, _ := p.do("GET", path, key, nil, nil)
			if code != http.StatusServiceUnavailable || attempt == 20 {
				return code
			}
			retries++
			time.Sleep(100 * time.Millisecond)
		}
	}
	const n = 60
	ids := map[string]bool{}
	for i, nhs := range nhsNumbers(n) {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = nhs
		code, id := send("/v1/referrals", ref, body, fmt.Sprint("referral-", i))
		if code != http.StatusCreated {
			t.Fatalf("referral %d: %d, want 201", i, code)
		}
		ids[id] = true
		if code := read("/v1/referrals/"+id, ref); code != http.StatusOK {
			t.Errorf("referral %d read straight after its 201: %d, want 200", i, code)
		}
		if i%5 == 0 {
			body := map[string]any{"name": fmt.Sprint("Worker ", i), "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 50}
			code, wid := send("/v1/workers", ops, body, fmt.Sprint("worker-", i))
			if code != http.StatusCreated {
				t.Fatalf("worker %d: %d, want 201", i, code)
			}
			if code := read("/v1/workers/"+wid, ops); code != http.StatusOK {
				t.Errorf("worker %d read straight after its 201: %d, want 200", i, code)
			}
		}
	}
	stop()
	wg.Wait()
	t.Logf("%d referrals, %d leader moves, %d answers of 503 retried", len(ids), moves, retries)
	if moves < 3 {
		t.Errorf("the stream leader moved %d times during the test, want at least 3", moves)
	}

	// Read the log back once the last election has settled (a read that
	// meets one is read again).
	_, js := c.Connect(t, 1)
	store := events.New(js, events.Options{})
	var received map[string]int
	var err error
	for attempt := 0; attempt == 0 || err != nil && attempt < 20; attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		received, err = map[string]int{}, nil
		for rec, rerr := range store.Read(context.Background(), 1, events.TypeSubject("referral")) {
			if rerr != nil {
				err = rerr
				break
			}
			if _, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok {
				received[rec.Aggregate.ID]++
			}
		}
	}
	if err != nil {
		t.Fatalf("reading the log back: %v", err)
	}
	for id := range ids {
		if received[id] != 1 {
			t.Errorf("referral %s is in the log %d times, want once", id, received[id])
		}
	}
	if len(received) != len(ids) {
		t.Errorf("%d referrals in the log, %d answered 201", len(received), len(ids))
	}
}
