package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestMetrics: GET /metrics answers an ops key with the HTTP, append,
// read model, consumer, webhook, waitlist, stream and Go runtime metrics,
// refuses no key and a referrer's, and --metrics-listen serves the same
// without a key.
func TestMetrics(t *testing.T) {
	p := startPathway(t, "")
	ops, ref := p.key(keys.RoleOps, ""), p.key(keys.RoleReferrer, "A81001")
	p.refer(ref, "9000000009") // no link worker: it waits on a queue
	scrape := func(key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", p.base+"/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var code int
		if code, body = scrape(ops); code != http.StatusOK {
			t.Fatalf("GET /metrics with an ops key: %d", code)
		}
		// Triage and assignment have taken the referral: it waits.
		waits := strings.Contains(body, `pathway_waitlist_size{queue="unmatched"} 1`)
		taken := strings.Contains(body, `pathway_consumer_lag_events{consumer="triage"} 0`) && strings.Contains(body, `pathway_consumer_lag_events{consumer="assignment"} 0`)
		if waits && taken || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`pathway_http_requests_total{code="201",method="POST",route="POST /v1/referrals"} 1`,
		`pathway_http_request_duration_seconds_bucket{method="POST",route="POST /v1/referrals"`,
		`pathway_projection_lag_events{projection="waitlists"} 0`,
		`pathway_projection_lag_seconds{projection="caseloads"}`,
		`pathway_projection_live{projection="funnel"} 1`,
		`pathway_projection_lag_events{projection="webhook-deliveries"} 0`,
		`pathway_event_append_duration_seconds_count{aggregate="referral"}`,
		`pathway_event_append_conflicts_total{aggregate="referral"} 0`,
		`pathway_consumer_lag_events{consumer="triage"} 0`,
		`pathway_consumer_lag_seconds{consumer="assignment"} 0`,
		`pathway_webhook_deliveries{state="failed"} 0`,
		`pathway_stream_bytes{stream="PATHWAY"}`,
		`pathway_stream_max_bytes{stream="PATHWAY"} -1`,
		"pathway_jetstream_account_storage_bytes ",
		`pathway_waitlist_size{queue="unmatched"} 1`,
		`pathway_waitlist_oldest_wait_seconds{queue="unmatched"}`,
		"pathway_log_last_sequence ",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the metrics lack %q", want)
		}
	}
	if strings.Contains(body, "9000000009") {
		t.Error("the metrics hold the referral's NHS number")
	}
	if code, _ := scrape(""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a key: %d, want 401", code)
	}
	if code, _ := scrape(ref); code != http.StatusForbidden {
		t.Errorf("GET /metrics with a referrer's key: %d, want 403", code)
	}

	// --metrics-listen: the same metrics, without a key, on their own address.
	s := startServe(t, "--data", filepath.Join(t.TempDir(), "data"), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	addr := s.await(t, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`), 20*time.Second)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "pathway_projection_lag_events") {
		t.Errorf("GET /metrics on --metrics-listen: %d, want 200 with the metrics", resp.StatusCode)
	}
	s.stop(t, syscall.SIGTERM)
}
