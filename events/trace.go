package events

import (
	"context"
	"strconv"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Traces. An append is a span ("append", a producer), and the W3C trace
// context of the span travels in each event's NATS headers (traceparent,
// tracestate), so the durable consumer that handles the event makes its
// span ("handle", a consumer, named for the consumer) a child of the
// append's: a referral's trace runs from the HTTP request through the
// append into triage and assignment and their appends. Attributes are
// the aggregate type, the event type, the consumer, counts and sequences:
// never an id that could name a person, never a payload. Without a
// TracerProvider (Options.Tracer) the tracer is a no-op and nothing is
// added to the headers.

// tracerName names pathway's event log as the instrumentation scope.
const tracerName = "github.com/pathway-sp/pathway/events"

// traceContext is the W3C Trace Context propagator.
var traceContext = propagation.TraceContext{}

// headerCarrier carries a trace context in NATS headers, by the W3C
// names exactly (NATS headers are case-sensitive).
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// startAppend starts the span of an append of msgs to agg and puts its
// trace context in every message's headers.
func (s *Store) startAppend(ctx context.Context, agg Aggregate, msgs []*nats.Msg) (context.Context, trace.Span) {
	ctx, span := s.tracer.Start(ctx, "append", trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() { // not with the no-op tracer: nothing to build
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", s.stream),
			attribute.String("pathway.aggregate_type", agg.Type),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		)
	}
	if span.SpanContext().IsValid() {
		for _, m := range msgs {
			traceContext.Inject(ctx, headerCarrier(m.Header))
		}
	}
	return ctx, span
}

// endAppend ends an append's span with its last sequence or its failure.
func endAppend(span trace.Span, seq uint64, err error) {
	if !span.IsRecording() {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, "append failed")
	} else {
		span.SetAttributes(attribute.String("pathway.sequence", strconv.FormatUint(seq, 10)))
	}
	span.End()
}

// startHandle starts the span of a consumer handling the event at seq,
// a child of the span that appended it when its headers carry one.
func (s *Store) startHandle(ctx context.Context, consumer, eventType string, seq uint64, h nats.Header) (context.Context, trace.Span) {
	if h.Get("traceparent") != "" {
		ctx = traceContext.Extract(ctx, headerCarrier(h))
	}
	ctx, span := s.tracer.Start(ctx, consumer, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.String("pathway.event_type", eventType),
			attribute.String("pathway.sequence", strconv.FormatUint(seq, 10)),
		)
	}
	return ctx, span
}
