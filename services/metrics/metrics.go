// Package metrics is pathway's Prometheus metrics: HTTP requests by route,
// appends to the event log (latency and conflicts, by aggregate type), how
// far each read model, view and service consumer is behind the log (in
// events and in seconds), webhook deliveries by state, the size and oldest
// wait of each waitlist, the event stream's size against its limits, and
// the Go runtime and process. Names follow the Prometheus conventions
// (pathway_ prefix, base units, _total for counters). No label carries
// personal data or an id: a route is its pattern, a queue its PCN code, an
// aggregate its type. deploy/prometheus/alerts.yml and
// deploy/grafana/pathway.json are written against these names.
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
	// Appends, when set, are the event log's appends, counted by the
	// store's OnAppend.
	Appends *Appends
	// Webhooks, when set, are the webhook deliveries counted by state.
	Webhooks interface{ DeliveryCounts() map[string]int }
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
	if cfg.Appends != nil {
		m.reg.MustRegister(cfg.Appends.duration, cfg.Appends.conflicts, cfg.Appends.failures)
	}
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
	consumerLagEvents = prometheus.NewDesc("pathway_consumer_lag_events",
		"Events of its subjects the service's durable consumer has still to process.", []string{"consumer"}, nil)
	consumerLagSeconds = prometheus.NewDesc("pathway_consumer_lag_seconds",
		"Age of the oldest event the service's durable consumer has still to process (0 when caught up).", []string{"consumer"}, nil)
	webhookDeliveries = prometheus.NewDesc("pathway_webhook_deliveries",
		"Webhook deliveries kept, by the state of their current round (pending, delivered, failed); an ended one is kept for 30 days.", []string{"state"}, nil)
	streamMessages = prometheus.NewDesc("pathway_stream_messages",
		"Messages the event stream holds.", []string{"stream"}, nil)
	streamBytes = prometheus.NewDesc("pathway_stream_bytes",
		"Bytes the event stream holds.", []string{"stream"}, nil)
	streamMaxMessages = prometheus.NewDesc("pathway_stream_max_messages",
		"The event stream's limit on messages; -1 for none.", []string{"stream"}, nil)
	streamMaxBytes = prometheus.NewDesc("pathway_stream_max_bytes",
		"The event stream's limit on bytes; -1 for none.", []string{"stream"}, nil)
	accountStorage = prometheus.NewDesc("pathway_jetstream_account_storage_bytes",
		"File storage the JetStream account uses: the event stream and every bucket.", nil, nil)
	accountMaxStorage = prometheus.NewDesc("pathway_jetstream_account_max_storage_bytes",
		"The JetStream account's file storage limit; -1 for none (the server's max_file_store bounds it).", nil, nil)
)

// viewCollector measures the views at each scrape.
type viewCollector struct{ cfg Config }

func (c *viewCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lagEvents, lagSeconds, live, waitlistSize, waitlistOldest, waitlistBreaches, lastSequence,
		consumerLagEvents, consumerLagSeconds, webhookDeliveries, streamMessages, streamBytes, streamMaxMessages, streamMaxBytes,
		accountStorage, accountMaxStorage} {
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
		c.collectConsumers(ctx, ch, now)
		c.collectUsage(ctx, ch)
	}
	if c.cfg.Webhooks != nil {
		for state, n := range c.cfg.Webhooks.DeliveryCounts() {
			ch <- prometheus.MustNewConstMetric(webhookDeliveries, prometheus.GaugeValue, float64(n), state)
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

// collectConsumers reports each durable consumer's lag; nothing when the
// log is not reachable.
func (c *viewCollector) collectConsumers(ctx context.Context, ch chan<- prometheus.Metric, now time.Time) {
	lags, err := c.cfg.Store.ConsumerLags(ctx)
	if err != nil {
		return
	}
	for _, l := range lags {
		age := 0.0
		if !l.Oldest.IsZero() {
			age = max(now.Sub(l.Oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(consumerLagEvents, prometheus.GaugeValue, float64(l.Events), l.Name)
		ch <- prometheus.MustNewConstMetric(consumerLagSeconds, prometheus.GaugeValue, age, l.Name)
	}
}

// collectUsage reports the stream's size against its limits and the
// account's; nothing when the log is not reachable.
func (c *viewCollector) collectUsage(ctx context.Context, ch chan<- prometheus.Metric) {
	u, err := c.cfg.Store.Usage(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(streamMessages, prometheus.GaugeValue, float64(u.Messages), u.Stream)
	ch <- prometheus.MustNewConstMetric(streamBytes, prometheus.GaugeValue, float64(u.Bytes), u.Stream)
	ch <- prometheus.MustNewConstMetric(streamMaxMessages, prometheus.GaugeValue, float64(u.MaxMessages), u.Stream)
	ch <- prometheus.MustNewConstMetric(streamMaxBytes, prometheus.GaugeValue, float64(u.MaxBytes), u.Stream)
	ch <- prometheus.MustNewConstMetric(accountStorage, prometheus.GaugeValue, float64(u.AccountBytes))
	ch <- prometheus.MustNewConstMetric(accountMaxStorage, prometheus.GaugeValue, float64(u.AccountMaxBytes))
}
