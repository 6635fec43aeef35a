package events_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceContextTravelsInTheHeaders: an append made within a span is a
// child span of it, its events carry the span's W3C traceparent, and a
// durable consumer handles each in a span that is the append's child, in
// the same trace, with the handler's context inside it. A plain append
// and an atomic batch alike.
func TestTraceContextTravelsInTheHeaders(t *testing.T) {
	l := eventstest.Start(t, false)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	store := events.New(l.JS, events.Options{Tracer: tp})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rctx, request := tp.Tracer("test").Start(ctx, "request")
	one := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	first, err := store.Append(rctx, one, 0, events.Event{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	two := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	last, err := store.AppendAll(rctx,
		events.Change{Aggregate: one, Expected: first, Events: []events.Event{{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 2}}}},
		events.Change{Aggregate: two, Expected: 0, Events: []events.Event{{Payload: &pathwayv1.ContactRecorded{DurationMinutes: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	request.End()
	traceID := request.SpanContext().TraceID()

	stream, err := l.JS.Stream(ctx, events.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := first; seq <= last; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if tp := m.Header.Get("traceparent"); !strings.Contains(tp, traceID.String()) {
			t.Errorf("event %d carries traceparent %q, want one of trace %s", seq, tp, traceID)
		}
	}

	var mu sync.Mutex
	handled := map[uint64]trace.SpanContext{}
	done := make(chan struct{})
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		_ = store.Consume(cctx, events.Consumer{Name: "traced"}, func(ctx context.Context, rec events.Record) error {
			mu.Lock()
			defer mu.Unlock()
			handled[rec.Sequence] = trace.SpanContextFromContext(ctx)
			if len(handled) == int(last-first+1) {
				close(done)
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the consumer did not handle the events within 30s")
	}
	stop()
	<-consumed // the last handling's span has ended

	appends := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		if s.Name() == "append" {
			appends[s.SpanContext().SpanID()] = s
			if s.Parent().SpanID() != request.SpanContext().SpanID() {
				t.Errorf("append span's parent %s, want the request's span", s.Parent().SpanID())
			}
		}
	}
	if len(appends) != 2 {
		t.Fatalf("%d append spans, want 2 (one plain, one batch)", len(appends))
	}
	mu.Lock()
	defer mu.Unlock()
	for seq, sc := range handled {
		if sc.TraceID() != traceID {
			t.Errorf("event %d handled in trace %s, want %s", seq, sc.TraceID(), traceID)
		}
		var span sdktrace.ReadOnlySpan
		for _, s := range spans.Ended() {
			if s.SpanContext().SpanID() == sc.SpanID() {
				span = s
			}
		}
		if span == nil || span.Name() != "traced" || span.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("event %d: handled in span %v, want the consumer's span named traced", seq, span)
			continue
		}
		if _, ok := appends[span.Parent().SpanID()]; !ok {
			t.Errorf("event %d: the consumer's span is not a child of an append span", seq)
		}
	}
}
