// Package alerts watches for urgent and safeguarding referrals that nobody
// has picked up: a referral that is urgent, or whose referrer raised a
// safeguarding concern, and that has waited longer than a threshold
// (Options.After, --alert-after) to be triaged or given a link worker is
// an alert. Alerts are listed on the operations dashboard (at the top of
// the overview) and by GET /v1/alerts, each with its age, until the
// referral is assigned or closes; and each is sent once to the operations
// webhook (Notifier: webhooks.Service.NotifyOps) and logged.
//
// The view of waiting referrals (View) is a projection on the engine,
// typed and checkpointed, built from the log's recorded times; the clock
// is injected (Options.Now) and only decides which waits have passed the
// threshold, so a test moves it instead of sleeping.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// DefaultAfter is the default threshold: an urgent or safeguarding
// referral waiting four hours to be picked up is an alert.
const DefaultAfter = 4 * time.Hour

// DefaultEvery is how often Run checks the waits.
const DefaultEvery = time.Minute

// EventType is the type of the notice sent to the operations webhook.
const EventType = "referral.waiting"

// Notifier sends a notice to operations (webhooks.Service.NotifyOps). key
// names the notice: a second notice with the same key, from this process
// or another, after a restart or not, sends nothing more. It reports
// whether this call recorded the notice.
type Notifier interface {
	NotifyOps(ctx context.Context, key, eventType string, data any) (bool, error)
}

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// After is the threshold; default DefaultAfter.
	After time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Every is how often Run checks; default DefaultEvery.
	Every time.Duration
	// Notifier sends each alert to operations once; nil sends none (the
	// dashboard and the API still list them).
	Notifier Notifier
	// Logger gets an alert's referral id, priority and wait, never
	// personal data; nil discards.
	Logger *slog.Logger
	// Checkpoints holds the view's checkpoints; nil: it is built from the
	// start of the log on every start.
	Checkpoints jetstream.ObjectStore
}

// Service keeps the view of waiting referrals and raises the alerts. Create
// it with New and call Run. Its methods are safe for concurrent use.
type Service struct {
	store  *events.Store
	view   *View
	engine *projections.Engine
	opts   Options
	log    *slog.Logger

	mu sync.Mutex
	// raised are the alerts this process has raised, by key: true once
	// the notice is recorded too (sent, or found sent by another), so that
	// each is logged and sent once, not at every check.
	raised map[string]bool
}

// New returns an alerts service on store.
func New(store *events.Store, opts Options) *Service {
	if opts.After <= 0 {
		opts.After = DefaultAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("service", "alerts")
	view := NewView()
	return &Service{store: store, view: view, opts: opts, log: log, raised: map[string]bool{},
		engine: projections.NewEngine(store, opts.Checkpoints, view, projections.Options{Logger: log})}
}

// Engine returns the engine that keeps the view (a *View), for the
// dashboard, the API and readiness.
func (s *Service) Engine() *projections.Engine { return s.engine }

// After is the threshold.
func (s *Service) After() time.Duration { return s.opts.After }

// Alerts lists the alerts at the clock's now, as Check sees them.
func (s *Service) Alerts() []Alert { return s.view.Overdue(s.opts.Now(), s.opts.After) }

// Run keeps the view and checks every Options.Every, the first time once
// the view has caught up with the log, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.engine.RunTicking(ctx, s.opts.Every, func(ctx context.Context) error {
		_, err := s.Check(ctx)
		return err
	}, func(err error) { s.log.Warn("alert check failed; trying again at the next", "err", err) })
}

// Check raises every alert not raised yet, once the view has caught up
// with the log: it logs it and sends it to the Notifier. It returns how
// many it raised. A notice that cannot be recorded is tried again at the
// next check.
func (s *Service) Check(ctx context.Context) (int, error) {
	last, err := s.store.LastSequence(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.engine.WaitFor(ctx, last); err != nil {
		return 0, err
	}
	now := s.opts.Now()
	alerts := s.view.Overdue(now, s.opts.After)
	current := make(map[string]bool, len(alerts))
	var errs []error
	n := 0
	for _, a := range alerts {
		key := a.Key()
		current[key] = true
		s.mu.Lock()
		sent, logged := s.raised[key]
		s.raised[key] = sent
		s.mu.Unlock()
		if !logged {
			n++
			s.log.Warn("urgent or safeguarding referral waiting to be picked up beyond the alert threshold",
				"referral", a.ReferralID, "priority", priorityName(a.Priority), "safeguarding", a.Safeguarding, "status", string(a.Status),
				"queue", a.Queue, "waited", a.Waited.Round(time.Minute).String(), "threshold", s.opts.After.String())
		}
		if sent || s.opts.Notifier == nil {
			continue
		}
		if _, err := s.opts.Notifier.NotifyOps(ctx, "referral-waiting/"+key, EventType, NoticeOf(a, now, s.opts.After)); err != nil {
			errs = append(errs, fmt.Errorf("notify operations of %s: %w", a.ReferralID, err))
			continue
		}
		s.mu.Lock()
		s.raised[key] = true
		s.mu.Unlock()
	}
	// Forget the alerts that cleared (the referral was picked up or
	// closed), so that memory follows what is waiting now.
	s.mu.Lock()
	for key := range s.raised {
		if !current[key] {
			delete(s.raised, key)
		}
	}
	s.mu.Unlock()
	return n, errors.Join(errs...)
}

// Notice is what the operations webhook is sent of an alert: ids, codes
// and times only, never personal data.
type Notice struct {
	ReferralID   string    `json:"referral_id"`
	Priority     string    `json:"priority"`
	Safeguarding bool      `json:"safeguarding"`
	Status       string    `json:"status"`
	Untriaged    bool      `json:"untriaged"`
	Queue        string    `json:"queue,omitempty"`
	Practice     string    `json:"gp_practice,omitempty"`
	WaitingSince time.Time `json:"waiting_since"`
	// WaitedSeconds is the wait when the alert was raised.
	WaitedSeconds    int64  `json:"waited_seconds"`
	ThresholdSeconds int64  `json:"threshold_seconds"`
	Link             string `json:"link"`
}

// NoticeOf is the notice of alert a raised at now with threshold after.
func NoticeOf(a Alert, now time.Time, after time.Duration) Notice {
	return Notice{ReferralID: a.ReferralID, Priority: priorityName(a.Priority), Safeguarding: a.Safeguarding, Status: string(a.Status),
		Untriaged: a.Untriaged(), Queue: a.Queue, Practice: a.Practice, WaitingSince: a.Since.UTC(),
		WaitedSeconds: int64(now.Sub(a.Since) / time.Second), ThresholdSeconds: int64(after / time.Second), Link: "/v1/referrals/" + a.ReferralID}
}

// priorityName is a priority's wire name: urgent, high, routine, or
// unspecified.
func priorityName(p pathwayv1.Priority) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PRIORITY_"))
}
