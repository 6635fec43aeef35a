package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestJSONLogsAndAccessLog: with --log-format json every line serve
// writes is a JSON object; each request gets an access line with its
// route, status and request id, and no query string; a caller's
// X-Request-ID is echoed, a request without one gets a new id, and a
// command's event carries the id as its correlation id.
func TestJSONLogsAndAccessLog(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, "--data", data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-format", "json")
	addr := p.await(t, regexp.MustCompile(`"msg":"HTTP listening","addr":"([^"]+)"`), 15*time.Second)
	awaitReady(t, addr)

	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz?nhs=9434765919", nil)
	req.Header.Set("X-Request-ID", "req-abc-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "req-abc-1" {
		t.Errorf("X-Request-ID echoed %q, want the caller's req-abc-1", got)
	}
	resp, err = http.Get("http://" + addr + "/v1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := uuid.Parse(resp.Header.Get("X-Request-ID")); err != nil {
		t.Errorf("a request without an id got X-Request-ID %q, want a new UUID", resp.Header.Get("X-Request-ID"))
	}

	// A command's events carry its request id as their correlation id.
	js := jetStreamAt(t, data, p.await(t, regexp.MustCompile(`"nats_url":"([^"]+)"`), time.Second))
	st, err := keys.Open(t.Context(), js, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.Create(t.Context(), keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../../../docs/examples/referral.json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Sequence uint64 }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/referrals", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", "req-abc-2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		code := resp.StatusCode
		json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if code == http.StatusCreated {
			break
		}
		if code != http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("POST /v1/referrals: %d", code)
		}
	}
	seen := 0
	for rec, err := range events.New(js, events.Options{}).ReadWith(t.Context(), events.ReadOptions{From: created.Sequence, To: created.Sequence}) {
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if got := rec.Envelope.GetCorrelationId(); got != "req-abc-2" {
			t.Errorf("the referral's event has correlation id %q, want the request's id req-abc-2", got)
		}
	}
	if created.Sequence == 0 || seen != 1 {
		t.Errorf("the referral's event at %d: read %d", created.Sequence, seen)
	}
	p.stop(t, syscall.SIGTERM)

	out := p.output()
	if strings.Contains(out, "9434765919") {
		t.Errorf("the log holds the query string's NHS number:\n%s", out)
	}
	var access []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a log line that is not JSON: %q", line)
			continue
		}
		if m["msg"] == "http" {
			access = append(access, m)
		}
	}
	found := false
	for _, m := range access {
		if m["request_id"] == "req-abc-1" {
			found = true
			if m["route"] != "GET /healthz" || m["status"] != float64(200) || m["method"] != "GET" {
				t.Errorf("the access line %v, want route GET /healthz, status 200", m)
			}
		}
	}
	if !found {
		t.Errorf("no access line with request_id req-abc-1 among %v", access)
	}
}
