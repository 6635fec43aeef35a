package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestFailedKeysAreThrottled: 50 wrong keys within a second from one
// client get 429 with Retry-After once its budget of failures is spent,
// before any key is looked at; each failure is logged with the client
// address and the key id, never the key. A right key from another client
// is not slowed; from the guessing client it waits too.
func TestFailedKeysAreThrottled(t *testing.T) {
	t.Parallel()
	s := startWith(t, false, "127.0.0.1")
	ops := s.key(keys.RoleOps, "")
	id := strings.Split(ops, "_")[1]
	var codes []int
	began := time.Now()
	for i := range 50 {
		wrong := "pw_" + id + "_" + strings.Repeat(string(rune('a'+i%26)), 43)
		var p problem
		code, hdr := s.do("GET", "/v1/waitlists", wrong, nil, &p, "X-Forwarded-For", "203.0.113.7")
		codes = append(codes, code)
		if code == http.StatusTooManyRequests {
			if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs < 1 || p.Type != "https://pathway.example/problems/too-many-failures" {
				t.Fatalf("attempt %d: 429 with Retry-After %q and %+v, want whole seconds and the problem", i+1, hdr.Get("Retry-After"), p)
			}
		}
	}
	t.Logf("50 wrong keys in %v: %v", time.Since(began).Round(time.Millisecond), codes)
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("attempt %d: got %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	logs := s.logs.String()
	if n := strings.Count(logs, `msg="API key rejected"`); n != 10 || !strings.Contains(logs, "client=203.0.113.7 key_id="+id) {
		t.Errorf("log has %d rejected keys, want 10 naming the client and the key id:\n%s", n, logs)
	}
	if strings.Contains(logs, strings.Repeat("a", 43)) || strings.Contains(logs, ops) {
		t.Errorf("the log holds a key:\n%s", logs)
	}
	if code, _ := s.do("GET", "/v1/waitlists", ops, nil, nil, "X-Forwarded-For", "203.0.113.7"); code != http.StatusTooManyRequests {
		t.Errorf("the right key from the guessing client: got %d, want 429", code)
	}
	// Under /fhir/ the same answer is an OperationOutcome.
	var oo outcome
	code, hdr := s.do("GET", "/fhir/r4/Task/01a2a6b0-0000-7000-8000-00000000dead", ops, nil, &oo, "X-Forwarded-For", "203.0.113.7")
	if code != http.StatusTooManyRequests || hdr.Get("Content-Type") != "application/fhir+json" || hdr.Get("Retry-After") == "" ||
		oo.ResourceType != "OperationOutcome" || oo.Issue[0].Code != "throttled" {
		t.Errorf("a FHIR read from the guessing client: got %d %s %+v, want 429 throttled OperationOutcome with Retry-After", code, hdr.Get("Content-Type"), oo)
	}
	// Successes spend nothing: the key's holder elsewhere makes many calls.
	for i := range 30 {
		if code, _ := s.do("GET", "/v1/waitlists", ops, nil, nil, "X-Forwarded-For", "198.51.100.9"); code != http.StatusOK {
			t.Fatalf("call %d with the right key from another client: got %d, want 200", i+1, code)
		}
	}
	// Without a trusted proxy, the header is the client's word and ignored.
	plain := start(t)
	for range 10 {
		plain.do("GET", "/v1/waitlists", "pw_"+id+"_"+strings.Repeat("b", 43), nil, nil, "X-Forwarded-For", "192.0.2.1")
	}
	if code, _ := plain.do("GET", "/v1/waitlists", "pw_nope", nil, nil, "X-Forwarded-For", "192.0.2.2"); code != http.StatusTooManyRequests {
		t.Errorf("another X-Forwarded-For from the same untrusted peer: got %d, want 429", code)
	}
}
