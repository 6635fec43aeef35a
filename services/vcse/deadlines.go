package vcse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/handoff"
)

// TickEvery is how often Run asks the clock what is due.
const TickEvery = time.Minute

var clockActor = &pathwayv1.Actor{Id: "handoff-clock", Role: pathwayv1.Role_ROLE_SYSTEM}

// ConsumerName is the durable consumer that closes handoffs when their
// referral closes.
const ConsumerName = "handoffs"

// Run follows the handoff events to know which handoffs await an answer,
// and every TickEvery sends the reminders that are due and expires the
// handoffs past their deadline, until ctx ends. It also consumes referral
// events: when a referral is cancelled or merged away its open handoffs
// are cancelled, and when it is discharged those the partner has not yet
// answered are (work a partner has taken on goes on). Several processes
// may run it: each decision is appended at the handoff's version with an
// idempotency key, so it is recorded once.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follow := make(chan error, 2)
	go func() { follow <- s.follow(ctx) }()
	go func() {
		follow <- s.store.Consume(ctx, events.Consumer{Name: ConsumerName, Subjects: []string{events.TypeSubject("referral")},
			Types:     events.TypesOf(&pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralMerged{}, &pathwayv1.ReferralDischarged{}),
			OnBadData: events.Skip, Logger: s.log}, s.referralClosed)
	}()
	t := time.NewTicker(TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-follow:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-t.C:
			if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("handoff deadlines", "err", err)
			}
		}
	}
}

// follow keeps the set of requested handoffs and when each is next due.
func (s *Service) follow(ctx context.Context) error {
	for rec, err := range s.store.Subscribe(ctx, 1, events.TypeSubject(handoff.AggregateType)) {
		if err != nil {
			var de *events.DecodeError
			if errors.As(err, &de) {
				s.log.Warn("skipping undecodable handoff event", "seq", de.Sequence)
				continue
			}
			return fmt.Errorf("follow handoffs: %w", err)
		}
		s.mu.Lock()
		switch e := rec.Payload.(type) {
		case *pathwayv1.HandoffRequested:
			h := handoff.Replay(rec.Aggregate.ID, aggregate.Changes([]events.Record{rec}))
			s.pending[rec.Aggregate.ID] = h.NextDue(s.opts.Reminders)
			s.byReferral[e.GetReferralId()] = append(s.byReferral[e.GetReferralId()], rec.Aggregate.ID)
		case *pathwayv1.HandoffReminderSent:
			// Still pending; Tick reads the next due time from the log.
		default:
			if handoff.StatusAfter(handoff.StatusRequested, rec.Payload) != handoff.StatusRequested {
				delete(s.pending, rec.Aggregate.ID)
			}
		}
		s.mu.Unlock()
		s.pos.Advance(rec.Sequence)
	}
	return nil
}

// WaitFor waits until the clock has seen the handoff events up to seq,
// the sequence of a handoff event (Store.LastSequenceOn of the handoff
// subject): other events do not move it.
func (s *Service) WaitFor(ctx context.Context, seq uint64) error { return s.pos.WaitFor(ctx, seq) }

// Tick sends every reminder that is due and expires every handoff past its
// deadline at the clock's now. It returns how many events it appended.
func (s *Service) Tick(ctx context.Context) (int, error) {
	now := s.opts.Now()
	s.mu.Lock()
	var ids []string
	for id, next := range s.pending {
		if !now.Before(next) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
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
			if h, err = LoadHandoff(ctx, s.store, id); err != nil {
				errs = append(errs, fmt.Errorf("handoff %s: %w", id, err))
				continue
			}
		}
		s.mu.Lock()
		if next := h.NextDue(s.opts.Reminders); next.IsZero() {
			delete(s.pending, id)
		} else {
			s.pending[id] = next
		}
		s.mu.Unlock()
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
	// The follower must have seen every handoff made so far.
	last, err := s.store.LastSequenceOn(ctx, events.TypeSubject(handoff.AggregateType))
	if err != nil {
		return err
	}
	if err := s.pos.WaitFor(ctx, last); err != nil {
		return err
	}
	s.mu.Lock()
	ids := append([]string(nil), s.byReferral[rec.Aggregate.ID]...)
	s.mu.Unlock()
	for _, id := range ids {
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
