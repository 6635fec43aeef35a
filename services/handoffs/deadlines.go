package handoffs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/supervisor"
)

// TickEvery is how often Run asks the clock what is due.
const TickEvery = time.Minute

var clockActor = &pathwayv1.Actor{Id: "handoff-clock", Role: pathwayv1.Role_ROLE_SYSTEM}

// ConsumerName is the durable consumer that closes handoffs when their
// referral closes.
const ConsumerName = "handoffs"

// Run runs the service's parts (Start) under a supervisor of its own
// until ctx ends or one of them breaks.
func (s *Service) Run(ctx context.Context) error {
	sup := supervisor.New(ctx, supervisor.Options{Logger: s.log})
	s.Start(sup)
	return sup.Wait()
}

// Start runs the deadline clock's parts under sup: its view of the open
// handoffs (DeadlinesName), the clock that every TickEvery sends the
// reminders that are due and expires the handoffs past their deadline,
// and the durable consumer of referral events that cancels the open
// handoffs of a referral cancelled or merged away, and those the partner
// has not yet answered of a referral discharged (work a partner has taken
// on goes on). Several processes may run them: each decision is appended
// at the handoff's version and decided again from the new state when
// another clock got there first, so it is recorded once.
func (s *Service) Start(sup *supervisor.Supervisor) {
	sup.Go(DeadlinesName, s.clock)
	sup.Go("handoff-clock", sup.Every(TickEvery, func(ctx context.Context) error {
		_, err := s.Tick(ctx)
		return err
	}))
	sup.Go(ConsumerName, supervisor.Func(func(ctx context.Context) error {
		return s.store.Consume(ctx, events.Consumer{Name: ConsumerName, Subjects: []string{events.TypeSubject("referral")},
			Types:     events.TypesOf(&pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralMerged{}, &pathwayv1.ReferralDischarged{}),
			OnBadData: events.Skip, Logger: s.log}, s.referralClosed)
	}))
}

// Running is closed once the clock's view has caught up with the log
// since it started.
func (s *Service) Running() <-chan struct{} { return s.clock.Running() }

// ClockEngine returns the engine that keeps the clock's view of open
// handoffs, for readiness.
func (s *Service) ClockEngine() *projections.Engine { return s.clock }

// WaitFor waits until the clock's view reflects the log up to seq.
func (s *Service) WaitFor(ctx context.Context, seq uint64) error { return s.clock.WaitFor(ctx, seq) }

// Tick sends every reminder that is due and expires every handoff past its
// deadline at the clock's now. It returns how many events it appended.
func (s *Service) Tick(ctx context.Context) (int, error) {
	now := s.opts.Now()
	ids := s.deadlines.Due(now, s.opts.Reminders)
	n := 0
	var errs []error
	for _, id := range ids {
		var h *handoff.Handoff
		appended := false
		_, err := s.store.Execute(ctx, events.Command{Actor: clockActor}, func(tx *events.Tx) error {
			var err error
			if h, err = events.Load(tx, aggregate.Handoff, id); err != nil {
				return err
			}
			due := h.Due(now, s.opts.Reminders)
			appended = len(due) > 0
			tx.Emit(aggregate.Handoff.Aggregate(id), due...)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("handoff %s: %w", id, err))
			continue
		}
		if appended {
			n++
			s.log.Info("handoff deadline", "handoff", id)
		}
	}
	return n, errors.Join(errs...)
}

// referralClosed cancels the handoffs of a referral that closed: every
// open one when it was cancelled or merged into another, those still
// awaiting the partner's answer when it was discharged.
func (s *Service) referralClosed(ctx context.Context, rec events.Record) error {
	why := ""
	onlyUnanswered := false
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralCancelled:
		why = "the referral was cancelled"
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() == "" {
			return nil // the surviving side
		}
		why = "the referral was merged into another"
	case *pathwayv1.ReferralDischarged:
		why, onlyUnanswered = "the person was discharged from social prescribing", true
	default:
		return nil
	}
	// The clock's view must have seen every handoff made before.
	if err := s.clock.WaitFor(ctx, rec.Sequence); err != nil {
		return err
	}
	open := s.deadlines.OfReferral(rec.Aggregate.ID)
	for _, id := range slices.Sorted(maps.Keys(open)) {
		h, err := LoadHandoff(ctx, s.store, id)
		if err != nil {
			return err
		}
		if !h.Status().Open() || (onlyUnanswered && h.Status() != handoff.StatusRequested) {
			continue
		}
		cmd := events.Command{Actor: clockActor, IdempotencyKey: fmt.Sprintf("referral-closed:%d:%s", rec.Sequence, id), CausationID: rec.Envelope.GetEventId()}
		if _, _, err := s.Act(ctx, id, handoff.ActionCancel, "circumstances-changed", "", why, cmd, nil); err != nil && !errors.Is(err, handoff.ErrConflict) {
			return fmt.Errorf("cancel handoff %s: %w", id, err)
		}
		s.log.Info("handoff cancelled with its referral", "handoff", id, "referral_seq", rec.Sequence)
	}
	return nil
}
