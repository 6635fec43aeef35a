package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OpenTelemetry collector's OTLP/HTTP traces endpoint
// in the test: it decodes each export as a collector does and keeps the
// spans and the attributes of their resources.
type otlpReceiver struct {
	url       string
	mu        sync.Mutex
	spans     []*tracepb.Span
	resources [][]*commonpb.KeyValue
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	recv := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces of application/x-protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		recv.mu.Lock()
		for _, rs := range req.ResourceSpans {
			recv.resources = append(recv.resources, rs.GetResource().GetAttributes())
			for _, ss := range rs.ScopeSpans {
				recv.spans = append(recv.spans, ss.Spans...)
			}
		}
		recv.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	recv.url = srv.URL
	return recv
}

func (recv *otlpReceiver) all() ([]*tracepb.Span, [][]*commonpb.KeyValue) {
	recv.mu.Lock()
	defer recv.mu.Unlock()
	return append([]*tracepb.Span(nil), recv.spans...), append([][]*commonpb.KeyValue(nil), recv.resources...)
}

// referralTrace is the trace of one referral: the request's span and
// the spans of its trace by id.
type referralTrace struct {
	request *tracepb.Span
	byID    map[string]*tracepb.Span
}

// find returns a span of the trace named name whose parent is parent.
func (tr referralTrace) find(name string, parent *tracepb.Span) *tracepb.Span {
	for _, s := range tr.byID {
		if s.Name == name && string(s.ParentSpanId) == string(parent.SpanId) {
			return s
		}
	}
	return nil
}

// TestTracesFollowAReferral: with an OTLP endpoint, a referral's POST
// makes one trace: the request's span, the append under it, triage's
// handling of the event under that append, triage's append, and
// assignment's handling under it; the trace context travels in the
// events' headers. No span, event or resource attribute holds the
// person's data.
func TestTracesFollowAReferral(t *testing.T) {
	recv := startOTLPReceiver(t)
	p := serveWith(t, func(c *serveConfig) {
		c.OTLPEndpoint = recv.url
		c.tracingBatch = 20 * time.Millisecond
	})
	ref, ops := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, "")
	id, _ := p.api().AssignedReferral(ref, ops, "9434765919")

	var tr referralTrace
	var assigned *tracepb.Span
	deadline := time.Now().Add(20 * time.Second)
	for assigned == nil {
		if time.Now().After(deadline) {
			spans, _ := recv.all()
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("no trace from the referral's request to its assignment within 20s; spans: %v", names)
		}
		time.Sleep(20 * time.Millisecond)
		spans, _ := recv.all()
		tr = referralTrace{byID: map[string]*tracepb.Span{}}
		for _, s := range spans {
			if s.Name == "POST /v1/referrals" && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				tr.request = s
			}
		}
		if tr.request == nil {
			continue
		}
		for _, s := range spans {
			if string(s.TraceId) == string(tr.request.TraceId) {
				tr.byID[string(s.SpanId)] = s
			}
		}
		// The request appends (the person's claim, then the referral);
		// the referral's append is the one triage handled.
		for _, appended := range tr.byID {
			if appended.Name != "append" || string(appended.ParentSpanId) != string(tr.request.SpanId) {
				continue
			}
			triaged := tr.find(triage.ConsumerName, appended)
			if triaged == nil {
				continue
			}
			for _, decided := range tr.byID {
				if decided.Name == "append" && string(decided.ParentSpanId) == string(triaged.SpanId) {
					if a := tr.find(assignment.ConsumerName, decided); a != nil {
						assigned = a
					}
				}
			}
		}
	}
	if got := attr(tr.request, "http.route"); got != "POST /v1/referrals" {
		t.Errorf("request span's http.route %q, want POST /v1/referrals", got)
	}
	if got := attr(tr.request, "http.response.status_code"); got != "201" {
		t.Errorf("request span's status %q, want 201", got)
	}
	if got := attr(assigned, "pathway.event_type"); got == "" {
		t.Errorf("assignment's span names no event type")
	}

	// Nothing of the person in any span, anywhere.
	person := []string{"9434765919", "Sam", "Example", "1956-03-14", "TS1 3BA", "07700900123", "Wants to get out", id}
	spans, resources := recv.all()
	check := func(where string, kvs []*commonpb.KeyValue) {
		for _, kv := range kvs {
			v := kv.GetValue().String()
			for _, pd := range person[:len(person)-1] {
				if strings.Contains(v, pd) {
					t.Errorf("%s: attribute %s = %s holds %q", where, kv.Key, v, pd)
				}
			}
		}
	}
	for _, s := range spans {
		check("span "+s.Name, s.Attributes)
		for _, e := range s.Events {
			check("span "+s.Name+" event "+e.Name, e.Attributes)
		}
		for _, pd := range person {
			if strings.Contains(s.Name, pd) {
				t.Errorf("span name %q holds %q", s.Name, pd)
			}
		}
	}
	for _, res := range resources {
		check("resource", res)
	}

	// The context is in the referral's event: traceparent of its trace.
	if tp := p.lastTraceparent(id); !strings.Contains(tp, hex.EncodeToString(tr.request.TraceId)) {
		t.Errorf("the referral's last event carries traceparent %q, want one of trace %x", tp, tr.request.TraceId)
	}
}

// lastTraceparent is the traceparent header of the referral's last event.
func (p *pathway) lastTraceparent(referral string) string {
	p.t.Helper()
	stream, err := p.connect().Stream(context.Background(), events.DefaultStream)
	if err != nil {
		p.t.Fatal(err)
	}
	last, err := stream.GetLastMsgForSubject(context.Background(), "pathway.referral."+referral)
	if err != nil {
		p.t.Fatal(err)
	}
	return last.Header.Get("traceparent")
}

// TestTracesAreOffByDefault: without an endpoint there is no exporter
// and no trace context: the events carry no traceparent, even when the
// caller sent one.
func TestTracesAreOffByDefault(t *testing.T) {
	p := serveWith(t, func(*serveConfig) {})
	if strings.Contains(p.logs.String(), "traces on") {
		t.Errorf("tracing on without an endpoint:\n%s", p.logs.String())
	}
	ref, ops := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, "")
	p.api().Worker(ops, "Alex Link", 5)
	body := exampleReferral()
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, body, &created, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"); code != http.StatusCreated {
		t.Fatalf("POST /v1/referrals: %d", code)
	}
	if tp := p.lastTraceparent(created.ID); tp != "" {
		t.Errorf("with tracing off the referral's event carries traceparent %q, want none", tp)
	}
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			switch v := kv.Value.Value.(type) {
			case *commonpb.AnyValue_StringValue:
				return v.StringValue
			case *commonpb.AnyValue_IntValue:
				return strconv.FormatInt(v.IntValue, 10)
			}
			return kv.Value.String()
		}
	}
	return ""
}
