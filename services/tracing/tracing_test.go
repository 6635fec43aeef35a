package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pathway-sp/pathway/services/tracing"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     tracing.Config
		on      bool
		invalid string
	}{
		{name: "nothing set: off", cfg: tracing.Config{}},
		{name: "the flag", cfg: tracing.Config{Endpoint: "http://collector:4318"}, on: true},
		{name: "the standard variable", cfg: tracing.Config{Getenv: env(map[string]string{tracing.EnvEndpoint: "http://collector:4318"})}, on: true},
		{name: "the traces variable", cfg: tracing.Config{Getenv: env(map[string]string{tracing.EnvTracesEndpoint: "https://collector/v1/traces"})}, on: true},
		{name: "the SDK disabled", cfg: tracing.Config{Endpoint: "http://collector:4318", Getenv: env(map[string]string{tracing.EnvSDKDisabled: "true"})}},
		{name: "no traces exporter", cfg: tracing.Config{Getenv: env(map[string]string{tracing.EnvEndpoint: "http://c:4318", tracing.EnvTracesExporter: "none"})}},
		{name: "not a URL", cfg: tracing.Config{Endpoint: "collector:4318"}, on: true, invalid: "--otlp-endpoint"},
		{name: "a variable not a URL", cfg: tracing.Config{Getenv: env(map[string]string{tracing.EnvEndpoint: "collector"})}, on: true, invalid: tracing.EnvEndpoint},
		{name: "gRPC", cfg: tracing.Config{Endpoint: "http://c:4317", Getenv: env(map[string]string{tracing.EnvProtocol: "grpc"})}, on: true, invalid: "OTLP/HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.On(); got != tc.on {
				t.Errorf("On: got %v, want %v", got, tc.on)
			}
			err := tc.cfg.Validate()
			if tc.invalid == "" && err != nil {
				t.Errorf("Validate: %v, want nil", err)
			}
			if tc.invalid != "" && (err == nil || !strings.Contains(err.Error(), tc.invalid)) {
				t.Errorf("Validate: %v, want an error naming %s", err, tc.invalid)
			}
		})
	}
}

// TestHTTPSpans: with the standard variable naming a collector, each
// request but the probes makes a server span named for its route, with
// the route and status and not the path's id or the query, sent over
// OTLP/HTTP at Shutdown.
func TestHTTPSpans(t *testing.T) {
	var mu sync.Mutex
	var spans []*tracepb.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "not an OTLP traces export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
	}))
	defer collector.Close()

	tr, err := tracing.New(context.Background(), tracing.Config{Getenv: env(map[string]string{tracing.EnvEndpoint: collector.URL})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/referrals/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	h := tr.HTTP(mux)
	for _, target := range []string{"/v1/referrals/r-123?nhs_number=9434765919", "/healthz"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 (none for the probe)", len(spans))
	}
	s := spans[0]
	if s.Name != "GET /v1/referrals/{id}" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q of kind %v, want a server span GET /v1/referrals/{id}", s.Name, s.Kind)
	}
	got := map[string]string{}
	for _, kv := range s.Attributes {
		got[kv.Key] = kv.Value.String()
		if v := kv.Value.String(); strings.Contains(v, "r-123") || strings.Contains(v, "9434765919") {
			t.Errorf("attribute %s = %s holds the path's id or the query", kv.Key, v)
		}
	}
	if !strings.Contains(got["http.route"], "GET /v1/referrals/{id}") || !strings.Contains(got["http.response.status_code"], "418") {
		t.Errorf("attributes %v, want the route and status 418", got)
	}
}
