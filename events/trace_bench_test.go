package events_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkAppendTraced measures what traces cost an append: off (no
// Tracer, pathway's default: the no-op tracer) and on (every append
// sampled, its span batched to an exporter that drops it, so the network
// to a collector is left out). Without fsync, so the disk does not hide
// the difference. docs/PERFORMANCE.md records the figures.
func BenchmarkAppendTraced(b *testing.B) {
	h := startHarnessSync(b, false)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name  string
		store *events.Store
	}{
		{"off", h.store},
		{"on", events.New(h.js, events.Options{Now: h.clock.Now, Keys: h.keys, Tracer: tp})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			ev := events.Event{Payload: benchReferral(), Actor: benchActor}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
