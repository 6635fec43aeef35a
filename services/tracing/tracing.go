// Package tracing sets up pathway's OpenTelemetry traces: an OTLP/HTTP
// exporter configured by --otlp-endpoint or the standard
// OTEL_EXPORTER_OTLP_* environment variables, off unless one names a
// collector, and the span of each HTTP request. The event log makes the
// spans of appends and of the consumers that handle them (events'
// trace.go), with the trace context carried in the events' headers, so
// one trace follows a referral from its request into triage and
// assignment.
//
// Spans hold no personal data: an HTTP span has the method, the route
// pattern (never the path with its ids, never the query, where a FHIR
// search carries an NHS number) and the status; the log's spans have
// aggregate and event types, consumer names and sequences.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The standard environment variables that turn tracing on or off.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
	EnvTracesExporter = "OTEL_TRACES_EXPORTER"
)

// Config says where traces go.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP base URL
	// (http://collector:4318; spans go to its /v1/traces), as
	// OTEL_EXPORTER_OTLP_ENDPOINT, over which it wins. Empty: the
	// environment decides.
	Endpoint string
	// Getenv reads the environment; nil reads none. The exporter reads
	// the other OTEL_EXPORTER_OTLP_* variables (headers, timeout,
	// certificates, compression) from the process's environment itself.
	Getenv func(string) string
	// Version is pathway's version, the service.version of every span.
	Version string
	// BatchTimeout is the longest a finished span waits to be sent with
	// others; 0 is the SDK's 5 s.
	BatchTimeout time.Duration
}

// On reports whether c turns tracing on: an endpoint, from Endpoint or
// the environment, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none.
func (c Config) On() bool {
	getenv := c.getenv()
	if strings.EqualFold(getenv(EnvSDKDisabled), "true") || strings.EqualFold(getenv(EnvTracesExporter), "none") {
		return false
	}
	return c.Endpoint != "" || getenv(EnvEndpoint) != "" || getenv(EnvTracesEndpoint) != ""
}

// Validate reports a configuration the exporter cannot use: an endpoint
// that is not an http or https URL, or the gRPC protocol.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--otlp-endpoint %q: want the collector's OTLP/HTTP URL, e.g. http://otel-collector:4318", c.Endpoint))
		}
	}
	getenv := c.getenv()
	for _, name := range []string{EnvEndpoint, EnvTracesEndpoint} {
		if v := getenv(name); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s=%q: want the collector's OTLP/HTTP URL, e.g. http://otel-collector:4318", name, v))
			}
		}
	}
	for _, name := range []string{EnvProtocol, EnvTracesProtocol} {
		if p := getenv(name); p != "" && p != "http/protobuf" {
			errs = append(errs, fmt.Errorf("%s=%s: pathway exports traces over OTLP/HTTP (http/protobuf); point it at the collector's HTTP port, 4318 by default", name, p))
		}
	}
	return errors.Join(errs...)
}

func (c Config) getenv() func(string) string {
	if c.Getenv == nil {
		return func(string) string { return "" }
	}
	return c.Getenv
}

// Tracing is the tracer provider of a process. Its zero value, and the
// one New returns when tracing is off, is a no-op. It is safe for
// concurrent use.
type Tracing struct {
	provider trace.TracerProvider
	shutdown func(context.Context) error
}

// New starts the exporter when c turns tracing on (On), else returns a
// no-op Tracing. Errors: an invalid c that turns tracing on, or an
// exporter that cannot be made.
// The collector being unreachable is not an error: spans are dropped,
// and the SDK reports it to its error handler, and never holds up
// requests.
func New(ctx context.Context, c Config) (*Tracing, error) {
	if !c.On() {
		return &Tracing{}, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// The endpoint as the specification reads it: the traces endpoint as
	// it is, else the base endpoint with /v1/traces after it. Read here,
	// not left to the exporter, so that Getenv is the one environment.
	getenv := c.getenv()
	var opts []otlptracehttp.Option
	switch {
	case c.Endpoint != "":
		opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(c.Endpoint)))
	case getenv(EnvTracesEndpoint) != "":
		opts = append(opts, otlptracehttp.WithEndpointURL(getenv(EnvTracesEndpoint)))
	default:
		opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(getenv(EnvEndpoint))))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// The environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins
	// over the defaults before it.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "pathway"), attribute.String("service.version", c.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if c.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(c.BatchTimeout))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, batch...), sdktrace.WithResource(res))
	return &Tracing{provider: tp, shutdown: tp.Shutdown}, nil
}

// tracesURL is the traces URL of an OTLP/HTTP base URL.
func tracesURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base // the exporter reports it
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String()
}

// Provider is the tracer provider: the SDK's, or a no-op one.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil || t.provider == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// On reports whether spans are exported.
func (t *Tracing) On() bool { return t != nil && t.provider != nil }

// Shutdown sends the spans not yet sent and stops the exporter, within
// ctx. A no-op Tracing has nothing to do.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// untraced are the paths that make no span: probes and scrapes, which
// come every few seconds and would bury the traces worth reading.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// HTTP wraps next with a server span per request, a child of the
// caller's W3C traceparent when it sends one. The span is named for the
// route pattern that served the request ("POST /v1/referrals"), found
// after next ran, and holds the method, the route and the status.
// With t off it returns next itself.
func (t *Tracing) HTTP(next http.Handler) http.Handler {
	if !t.On() {
		return next
	}
	tracer := t.provider.Tracer("github.com/pathway-sp/pathway/services/tracing")
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)
		if route := r.Pattern; route != "" { // set by the mux that served it
			name := route
			if !strings.HasPrefix(route, r.Method+" ") {
				name = r.Method + " " + route
			}
			span.SetName(name)
			span.SetAttributes(attribute.String("http.route", route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// recorder notes an answer's status.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(p)
}

// Flush passes a flush on, for the dashboard's live streams.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer beneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
