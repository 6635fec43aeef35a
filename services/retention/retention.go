package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/erasure"
)

// Eraser erases one referral (erasure.Service).
type Eraser interface {
	Referral(ctx context.Context, id string, req erasure.Request) (erasure.Result, error)
}

// DefaultEvery is how often Run looks for episodes past their period.
const DefaultEvery = time.Hour

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// Policy is the period of each outcome; default DefaultPolicy.
	Policy Policy
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Every is how often Run sweeps; default DefaultEvery.
	Every time.Duration
	// Logger gets ids and counts, never personal data; nil discards.
	Logger *slog.Logger
	// Checkpoints holds the view's checkpoints; nil: it is built from the
	// start of the log on every start.
	Checkpoints jetstream.ObjectStore
}

// Service erases closed episodes past their retention period. Create it
// with New and call Run.
type Service struct {
	store  *events.Store
	eraser Eraser
	view   *View
	engine *projections.Engine
	opts   Options
	log    *slog.Logger
}

var actor = &pathwayv1.Actor{Id: "retention", Role: pathwayv1.Role_ROLE_SYSTEM}

// New returns a retention service on store, erasing with eraser.
func New(store *events.Store, eraser Eraser, opts Options) *Service {
	if opts.Policy == nil {
		opts.Policy = DefaultPolicy()
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
	log := opts.Logger.With("service", "retention")
	view := NewView()
	return &Service{store: store, eraser: eraser, view: view, opts: opts, log: log,
		engine: projections.NewEngine(store, opts.Checkpoints, view, projections.Options{Logger: log})}
}

// Engine returns the engine that keeps the view, for readiness.
func (s *Service) Engine() *projections.Engine { return s.engine }

// Run keeps the view and sweeps every Options.Every, the first time once
// the view has caught up, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.engine.RunTicking(ctx, s.opts.Every, func(ctx context.Context) error {
		n, err := s.Sweep(ctx)
		if n > 0 {
			s.log.Info("retention sweep", "erased", n)
		}
		return err
	}, func(err error) { s.log.Warn("retention sweep failed; trying again at the next", "err", err) })
}

// Sweep erases every closed referral whose period has ended at the
// clock's now, once the view has caught up with the log. It returns how
// many it erased. A referral reopened or erased since the view saw it is
// left alone.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	last, err := s.store.LastSequence(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.engine.WaitFor(ctx, last); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range s.view.Due(s.opts.Now(), s.opts.Policy) {
		_, err := s.eraser.Referral(ctx, d.ID, erasure.Request{
			Ground:   pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION,
			Reason:   fmt.Sprintf("retention period of %s after %s ended", d.Period, d.Outcome),
			Command:  events.Command{Actor: actor, IdempotencyKey: "retention\x00" + d.ID},
			Handoffs: d.Handoffs,
		})
		var ke *kernel.Error
		if errors.As(err, &ke) && (ke.Kind == kernel.Conflict || ke.Kind == kernel.NotFound) {
			s.log.Info("retention: referral left alone", "referral", d.ID, "why", ke.Kind.String())
			continue
		}
		if err != nil {
			return n, fmt.Errorf("erase %s: %w", d.ID, err)
		}
		n++
	}
	return n, nil
}
