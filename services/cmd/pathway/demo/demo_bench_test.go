package demo_test

import (
	"context"
	"testing"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/cmd/pathway/demo"
)

// BenchmarkLoad loads the default demo region into a test log without
// fsync (as the staged load of pathway demo and serve --demo does); its
// figures are in docs/PERFORMANCE.md.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		l := eventstest.Start(b, false)
		b.StartTimer()
		sum, err := demo.Load(context.Background(), l.JS, demo.Options{Keys: l.Keys, Master: eventstest.Master()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sum.Events), "events/op")
	}
}
