package metrics

import (
	"errors"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/prometheus/client_golang/prometheus"
)

// Appends counts the event log's appends by aggregate type: how long each
// took, and the conflicts (another command changed the aggregate first)
// and other failures. Its Observe is the store's events.Options.OnAppend;
// give it to New in Config.Appends. It is safe for concurrent use.
type Appends struct {
	duration  *prometheus.HistogramVec
	conflicts *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

// NewAppends returns appends counted from zero.
func NewAppends() *Appends {
	return &Appends{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pathway_event_append_duration_seconds",
			Help: "Time to append one command's events to the log until the log acknowledged them durably, by aggregate type.",
			// An fsynced single-node append takes about 1 ms, an R3 one a few.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"aggregate"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pathway_event_append_conflicts_total",
			Help: "Appends refused because the aggregate had changed since it was read (optimistic concurrency), by aggregate type.",
		}, []string{"aggregate"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pathway_event_append_failures_total",
			Help: "Appends that failed for another reason than a conflict (the log unreachable, a timeout), by aggregate type.",
		}, []string{"aggregate"}),
	}
}

// Observe counts one append of an aggregate of type aggregateType that
// took took and ended with err.
func (a *Appends) Observe(aggregateType string, took time.Duration, err error) {
	// Each type's counters are shown from its first append, at 0, so that
	// a rate over them starts there.
	conflicts, failures := a.conflicts.WithLabelValues(aggregateType), a.failures.WithLabelValues(aggregateType)
	switch {
	case err == nil:
		a.duration.WithLabelValues(aggregateType).Observe(took.Seconds())
	case errors.Is(err, events.ErrConcurrency):
		conflicts.Inc()
	default:
		failures.Inc()
	}
}
