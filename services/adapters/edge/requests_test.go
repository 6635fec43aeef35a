package edge_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// TestRequests: a caller's usable X-Request-ID is kept, set on the
// request for the handler and echoed; an unusable one or none is replaced
// by a new UUID; the access line names the route, not the query.
func TestRequests(t *testing.T) {
	var logs bytes.Buffer
	mux := http.NewServeMux()
	var seen string
	mux.HandleFunc("GET /v1/referrals/{id}", func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get(edge.RequestIDHeader)
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("tea"))
	})
	h := edge.Requests(mux, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for _, tc := range []struct{ sent, want string }{
		{"abc-123_x.y", "abc-123_x.y"},
		{"", ""},
		{"bad id\r\nX-Evil: 1", ""},
		{strings.Repeat("a", 65), ""},
	} {
		logs.Reset()
		req := httptest.NewRequest("GET", "/v1/referrals/r1?nhs=9434765919", nil)
		if tc.sent != "" {
			req.Header.Set(edge.RequestIDHeader, tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(edge.RequestIDHeader)
		if tc.want != "" && got != tc.want {
			t.Errorf("sent %q: echoed %q, want it kept", tc.sent, got)
		}
		if tc.want == "" {
			if _, err := uuid.Parse(got); err != nil {
				t.Errorf("sent %q: echoed %q, want a new UUID", tc.sent, got)
			}
		}
		if seen != got {
			t.Errorf("the handler saw request id %q, the answer carries %q", seen, got)
		}
		line := logs.String()
		if !strings.Contains(line, `route="GET /v1/referrals/{id}"`) || !strings.Contains(line, "status=418") || !strings.Contains(line, "bytes=3") || !strings.Contains(line, "request_id="+got) {
			t.Errorf("access line %q, want the route, status 418, 3 bytes and the request id", line)
		}
		if strings.Contains(line, "9434765919") || strings.Contains(line, "r1") {
			t.Errorf("access line %q holds the path's id or the query", line)
		}
	}
}

// TestRetryAfterOnEvery503And429: an answer of 503 or 429 always tells
// the client when to retry: a handler's own Retry-After is kept, one
// without (http.Error, as the dashboard answers) gets one second; other
// answers get none. It holds with and without an access log.
func TestRetryAfterOnEvery503And429(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		own    string
		want   string
	}{
		{"503 without its own", http.StatusServiceUnavailable, "", "1"},
		{"429 without its own", http.StatusTooManyRequests, "", "1"},
		{"503 with its own", http.StatusServiceUnavailable, "7", "7"},
		{"429 with its own", http.StatusTooManyRequests, "30", "30"},
		{"500", http.StatusInternalServerError, "", ""},
		{"200", http.StatusOK, "", ""},
	} {
		for _, logged := range []bool{false, true} {
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.own != "" {
					w.Header().Set("Retry-After", tc.own)
				}
				http.Error(w, "answer", tc.status)
			})
			var log *slog.Logger
			if logged {
				log = slog.New(slog.DiscardHandler)
			}
			rec := httptest.NewRecorder()
			edge.Requests(next, log, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if got := rec.Header().Get("Retry-After"); rec.Code != tc.status || got != tc.want {
				t.Errorf("%s (access log %v): %d with Retry-After %q, want %d with %q", tc.name, logged, rec.Code, got, tc.status, tc.want)
			}
		}
	}
}

// TestRequestsLogTheClient: the access line names the client: the peer,
// or behind a trusted proxy the address it forwarded for; an untrusted
// peer's X-Forwarded-For is not believed.
func TestRequestsLogTheClient(t *testing.T) {
	proxies, err := edge.ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := proxies.Requests(http.NotFoundHandler(), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for _, tc := range []struct{ name, peer, want string }{
		{"through a trusted proxy", "10.1.2.3:40000", "client=198.51.100.9"},
		{"from an untrusted peer claiming another address", "203.0.113.7:40000", "client=203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.peer
			req.Header.Set("X-Forwarded-For", "198.51.100.9")
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("access line %q, want %s", logs.String(), tc.want)
			}
		})
	}
}
