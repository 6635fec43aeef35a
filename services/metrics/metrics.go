// Package metrics is pathway's Prometheus metrics: HTTP requests by route,
// how far each read model and view is behind the log (in events and in
// seconds), the size and oldest wait of each waitlist, and the Go runtime
// and process. Names follow the Prometheus conventions (pathway_ prefix,
// base units, _total for counters). No label carries personal data: a
// route is its pattern, a queue its PCN code.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the metrics read at each scrape.
type Config struct {
	// Store is the event log, for how far the views are behind it.
	Store *events.Store
	// Engines are the read models and views whose lag is reported.
	Engines []*projections.Engine
	// Waitlists, when set, is the waitlists read model, measured against
	// WaitTarget.
	Waitlists  *projections.Engine
	WaitTarget time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Metrics is one process's registry. Create it with New.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns the metrics of cfg, with the Go runtime's and the process's.
func New(cfg Config) *Metrics {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pathway_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pathway_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.reg.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&viewCollector{cfg: cfg})
	return m
}

// ObserveRequest counts one answered request (edge.Requests calls it).
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	lagEvents = prometheus.NewDesc("pathway_projection_lag_events",
		"Events of its subject the read model or view has still to apply.", []string{"projection"}, nil)
	lagSeconds = prometheus.NewDesc("pathway_projection_lag_seconds",
		"Age of the oldest event the read model or view has still to apply (0 when caught up).", []string{"projection"}, nil)
	live = prometheus.NewDesc("pathway_projection_live",
		"1 once the read model or view has caught up with the log since the process started.", []string{"projection"}, nil)
	waitlistSize = prometheus.NewDesc("pathway_waitlist_size",
		"People waiting for a link worker, by queue (a PCN code, or unmatched).", []string{"queue"}, nil)
	waitlistOldest = prometheus.NewDesc("pathway_waitlist_oldest_wait_seconds",
		"How long the longest-waiting person in the queue has waited.", []string{"queue"}, nil)
	waitlistBreaches = prometheus.NewDesc("pathway_waitlist_breaches",
		"People in the queue waiting longer than the wait target.", []string{"queue"}, nil)
	lastSequence = prometheus.NewDesc("pathway_log_last_sequence",
		"The sequence of the event log's last event.", nil, nil)
)

// viewCollector measures the views at each scrape.
type viewCollector struct{ cfg Config }

func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lagEvents, lagSeconds, live, waitlistSize, waitlistOldest, waitlistBreaches, lastSequence} {
		ch <- d
	}
}

func (c *viewCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.cfg.Now()
	if c.cfg.Store != nil {
		if last, err := c.cfg.Store.LastSequence(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(lastSequence, prometheus.GaugeValue, float64(last))
		}
	}
	for _, e := range c.cfg.Engines {
		isLive := 0.0
		if e.Live() {
			isLive = 1
		}
		ch <- prometheus.MustNewConstMetric(live, prometheus.GaugeValue, isLive, e.Name())
		behind, err := e.Behind(ctx)
		if err != nil {
			continue // the log is not reachable: no figure rather than a wrong one
		}
		ch <- prometheus.MustNewConstMetric(lagEvents, prometheus.GaugeValue, float64(behind), e.Name())
		age := 0.0
		if behind > 0 && c.cfg.Store != nil {
			if at, err := c.cfg.Store.TimeOf(ctx, e.Applied()+1); err == nil {
				age = max(now.Sub(at).Seconds(), 0)
			}
		}
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, age, e.Name())
	}
	if c.cfg.Waitlists != nil {
		var sums []waitlists.Summary
		c.cfg.Waitlists.Read(func(p projections.Projection, _ uint64) {
			wl, ok := p.(*waitlists.Waitlists)
			if !ok {
				return
			}
			for _, q := range wl.Queues() {
				sums = append(sums, wl.Summarise(q, now, c.cfg.WaitTarget))
			}
		})
		for _, s := range sums {
			ch <- prometheus.MustNewConstMetric(waitlistSize, prometheus.GaugeValue, float64(s.Size), s.Queue)
			ch <- prometheus.MustNewConstMetric(waitlistOldest, prometheus.GaugeValue, time.Duration(s.OldestWait).Seconds(), s.Queue)
			ch <- prometheus.MustNewConstMetric(waitlistBreaches, prometheus.GaugeValue, float64(s.Breaches), s.Queue)
		}
	}
}
