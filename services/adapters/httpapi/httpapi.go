// Package httpapi is pathway's HTTP adapter: routing, health and readiness
// probes, and RFC 9457 problem+json errors. Domain rules live elsewhere;
// this package only maps them to HTTP.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
)

// ReadyFunc reports whether the service can do its work: nil when ready,
// otherwise an error whose text an operator can act on.
type ReadyFunc func(ctx context.Context) error

// Config configures the HTTP handler.
type Config struct {
	// Ready is the readiness check behind GET /readyz.
	Ready ReadyFunc
	// ReadyTimeout bounds one readiness check; default 2s.
	ReadyTimeout time.Duration
	// Logger receives request failures; never request bodies or keys.
	Logger *slog.Logger
	// Version is reported by /healthz.
	Version string
	// Auth checks API keys. When nil, only the probes are served.
	Auth Authenticator
	// Referrals are the services behind the referral endpoints.
	Referrals Referrals
	// Reads are the read models; nil engines leave their endpoints out.
	Reads ReadModels
	// VCSE serves the directory, handoff and partner endpoints.
	VCSE VCSE
	// Starting answers every endpoint but the probes 503 while the
	// services start.
	Starting bool
	// ORUK, when set, serves the directory as Open Referral UK under
	// /oruk/ (services/adapters/oruk): to anyone, as directory data is not
	// personal data, unless ORUKRequireKey.
	ORUK http.Handler
	// ORUKRequireKey makes /oruk/ need an API key of any role.
	ORUKRequireKey bool
	// UI, when set, serves every path outside /v1/, /fhir/, /oruk/ and the
	// probes (the operations dashboard).
	UI http.Handler
	// Metrics, when set, is served at GET /metrics to ops and admin keys
	// (the Prometheus text format; services/metrics).
	Metrics http.Handler
	// Throttle limits failed key checks per client address and per key
	// id; share one with the dashboard's sign-in. Nil makes one with the
	// default limits.
	Throttle *edge.Throttle
	// Proxies are the reverse proxies whose X-Forwarded-For gives the
	// client address the throttle counts; the zero value trusts none.
	Proxies edge.Proxies
	// CommandTimeout bounds how long a command waits for the event log
	// (a leader election, NATS unreachable, a full store); past it the
	// answer is 503 with Retry-After, and a retry with the same
	// Idempotency-Key finds the command if it was stored after all.
	// Default DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// DefaultCommandTimeout is Config.CommandTimeout's default.
const DefaultCommandTimeout = 10 * time.Second

// New returns the handler for pathway's HTTP API. It is safe for
// concurrent use.
func New(cfg Config) http.Handler {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": cfg.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready == nil {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), cfg.ReadyTimeout)
		defer cancel()
		if err := cfg.Ready(ctx); err != nil {
			w.Header().Set("Retry-After", "1")
			WriteProblem(w, Problem{
				Type:   "https://pathway.example/problems/not-ready",
				Title:  "Not ready",
				Status: http.StatusServiceUnavailable,
				Detail: err.Error(),
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.Auth != nil {
		if cfg.Throttle == nil {
			cfg.Throttle = edge.NewThrottle(edge.ThrottleOptions{})
		}
		if cfg.Referrals.Now == nil {
			cfg.Referrals.Now = time.Now
		}
		if cfg.Reads.ReadTimeout == 0 {
			cfg.Reads.ReadTimeout = 5 * time.Second
		}
		if cfg.Reads.WaitTarget == 0 {
			cfg.Reads.WaitTarget = 28 * 24 * time.Hour
		}
		a := newAPI(cfg)
		a.routes(mux)
		if cfg.ORUK != nil && cfg.ORUKRequireKey {
			mux.HandleFunc("GET "+oruk.Prefix, a.authorise(cfg.ORUK.ServeHTTP, everyone...))
		}
	}
	if cfg.ORUK != nil && !cfg.ORUKRequireKey {
		mux.Handle("GET "+oruk.Prefix, cfg.ORUK)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if cfg.UI != nil && !cfg.Starting && !strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/fhir/") && !strings.HasPrefix(r.URL.Path, oruk.Prefix) {
			cfg.UI.ServeHTTP(w, r)
			return
		}
		if cfg.Starting {
			w.Header().Set("Retry-After", "1")
			writeEdge(w, r, Problem{Type: problemBase + "starting", Title: "Starting", Status: http.StatusServiceUnavailable, Detail: "pathway is starting; retry shortly"})
			return
		}
		notServed(mux, w, r)
	})
	return edge.Requests(mux, nil, nil) // every answer carries the request id
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors lists every invalid field of a request at once.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one invalid field: a JSON pointer-like path and the reason.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// WriteProblem writes p as application/problem+json with its status.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
