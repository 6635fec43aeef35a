package demo_test

import (
	"context"
	"testing"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/cmd/pathway/demo"
)

// BenchmarkLoad loads the default demo region (150 days) into a log
// without fsync, as pathway demo does; its figures are in
// docs/PERFORMANCE.md.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		l := eventstest.Start(b, false)
		b.StartTimer()
		sum, err := demo.Load(context.Background(), l.JS, demo.Options{Keys: l.Keys, Master: eventstest.Master(), Days: benchDays})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sum.Events), "events/op")
	}
}

var benchDays = 90
