// Package intake is the front door of pathway: it turns a validated
// submission into a ReferralReceived event (with a safeguarding escalation
// when a concern is raised), at most once per idempotency key, and never
// opens a second episode for a person who already has an open one.
package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/referral"
	"google.golang.org/protobuf/proto"
)

// ValidationError lists every invalid field of a submission.
type ValidationError struct {
	Fields []referral.FieldError
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("referral has %d invalid fields", len(e.Fields))
}

// DuplicateError reports that the person already has an open referral.
type DuplicateError struct {
	OpenID string
}

func (e *DuplicateError) Error() string {
	return "the person already has an open referral " + e.OpenID
}

// idNamespace derives referral ids from idempotency keys, so a retry
// addresses the same referral.
var idNamespace = uuid.MustParse("6f1d3c2a-5b7e-4e8a-9c0d-2a4b6c8e0f13")

// Service submits, cancels and merges referrals. It is safe for concurrent
// use.
type Service struct {
	store *events.Store
	index *Index
	now   func() time.Time
	// create serialises creates in this process; Store.Create guards
	// against other processes.
	create chan struct{}
}

// New returns an intake service on store, deciding from index (which the
// caller runs).
func New(store *events.Store, index *Index, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, index: index, now: now, create: make(chan struct{}, 1)}
	return s
}

// Submission is one submit request.
type Submission struct {
	referral.Submission
	// Actor is who submits (from the API key).
	Actor *pathwayv1.Actor
	// IdempotencyKey is the Idempotency-Key header, when sent.
	IdempotencyKey string
	// Channel is "json" or "fhir".
	Channel string
	// CorrelationID ties the events to the request.
	CorrelationID string
}

// Result is the outcome of a submit.
type Result struct {
	ID       string
	Status   referral.Status
	Sequence uint64
	// Created is false when the submit was a retry of an earlier one.
	Created bool
	// PossibleDuplicateOf names an open referral that matched a
	// self-referral without an NHS number on name, date of birth and
	// postcode.
	PossibleDuplicateOf string
}

// Submit records a new referral. Errors: *ValidationError (nothing was
// written), *DuplicateError (the person has an open referral), or a
// storage error.
func (s *Service) Submit(ctx context.Context, sub Submission) (Result, error) {
	ev, errs := sub.Submission.Event(s.now())
	if len(errs) > 0 {
		return Result{}, &ValidationError{Fields: errs}
	}
	ev.Channel = sub.Channel

	org := ev.GetReferrer().GetOrganisation()
	id, key := "", ""
	switch {
	case sub.IdempotencyKey != "":
		key = org + "\x00key\x00" + sub.IdempotencyKey
	case ev.GetExternalReference() != "":
		key = org + "\x00ref\x00" + ev.GetExternalReference()
	}
	if key != "" {
		id = uuid.NewSHA1(idNamespace, []byte(key)).String()
		if res, ok, err := s.existing(ctx, id); err != nil || ok {
			return res, err
		}
	} else {
		u, err := uuid.NewV7()
		if err != nil {
			return Result{}, err
		}
		id = u.String()
	}
	agg := events.Aggregate{Type: referral.AggregateType, ID: id}

	select {
	case s.create <- struct{}{}:
		defer func() { <-s.create }()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	scope := events.TypeSubject(referral.AggregateType)
	for attempt := 0; attempt < 5; attempt++ {
		head, err := s.store.LastSequenceOn(ctx, scope)
		if err != nil {
			return Result{}, err
		}
		if err := s.index.WaitFor(ctx, head); err != nil {
			return Result{}, fmt.Errorf("wait for the referral index: %w", err)
		}
		p := ev.GetPerson()
		if p.GetNhsNumber() != "" {
			if open, ok := s.index.OpenByNHS(p.GetNhsNumber()); ok {
				return Result{}, &DuplicateError{OpenID: open}
			}
		} else if matches := s.index.OpenByMatch(p.GetGivenName(), p.GetFamilyName(), p.GetDateOfBirth(), p.GetPostcode()); len(matches) > 0 {
			ev.PossibleDuplicateOf = matches[0]
		}
		var evs []events.Event
		for _, payload := range referral.Receive(ev) {
			evs = append(evs, events.Event{Payload: payload, Actor: sub.Actor, CorrelationID: sub.CorrelationID, IdempotencyKey: key})
		}
		seq, err := s.store.Create(ctx, agg, scope, head, evs...)
		if errors.Is(err, events.ErrConcurrency) {
			if key != "" {
				if res, ok, err := s.existing(ctx, id); err != nil || ok {
					return res, err
				}
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		return Result{ID: id, Status: referral.StatusReceived, Sequence: seq, Created: true, PossibleDuplicateOf: ev.GetPossibleDuplicateOf()}, nil
	}
	return Result{}, fmt.Errorf("submit referral: %w: too many concurrent referrals, try again", events.ErrConcurrency)
}

// existing returns the referral id as a retry result when it exists.
func (s *Service) existing(ctx context.Context, id string) (Result, bool, error) {
	r, err := Load(ctx, s.store, id)
	if errors.Is(err, events.ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	return Result{ID: id, Status: r.Status(), Sequence: r.Version()}, true, nil
}

// Load reads a referral from the log. Errors: events.ErrNotFound, or a
// storage error.
func Load(ctx context.Context, store *events.Store, id string) (*referral.Referral, error) {
	recs, _, err := store.Load(ctx, events.Aggregate{Type: referral.AggregateType, ID: id})
	if err != nil {
		return nil, err
	}
	return referral.Replay(id, Changes(recs)), nil
}

// Changes are log records as an aggregate applies them: position,
// recorded time, actor and payload.
func Changes(recs []events.Record) []referral.Change {
	out := make([]referral.Change, len(recs))
	for i, r := range recs {
		out[i] = referral.Change{Sequence: r.Sequence, At: r.Envelope.GetRecordedAt().AsTime(), Actor: r.Envelope.GetActor(), Payload: r.Payload}
	}
	return out
}

// Command is the metadata of a staff command.
type Command struct {
	Actor          *pathwayv1.Actor
	IdempotencyKey string
	CorrelationID  string
	CausationID    string
}

// Decide loads the referral, asks decide for its events, and appends them
// at the version it read, retrying when another writer came in between.
// It returns the new sequence. Errors: events.ErrNotFound, the decide
// error (referral.ErrConflict, referral.ErrInvalid), or a storage error.
func Decide(ctx context.Context, store *events.Store, id string, cmd Command, decide func(*referral.Referral) ([]proto.Message, error)) (uint64, error) {
	for attempt := 0; attempt < 5; attempt++ {
		r, err := Load(ctx, store, id)
		if err != nil {
			return 0, err
		}
		payloads, err := decide(r)
		if err != nil {
			return 0, err
		}
		evs := make([]events.Event, 0, len(payloads))
		for _, p := range payloads {
			evs = append(evs, events.Event{Payload: p, Actor: cmd.Actor, CorrelationID: cmd.CorrelationID, CausationID: cmd.CausationID, IdempotencyKey: cmd.IdempotencyKey})
		}
		seq, err := store.Append(ctx, events.Aggregate{Type: referral.AggregateType, ID: id}, r.Version(), evs...)
		if errors.Is(err, events.ErrConcurrency) {
			continue
		}
		return seq, err
	}
	return 0, fmt.Errorf("referral %s: %w: too much contention", id, events.ErrConcurrency)
}

// Cancel cancels an active referral (BaRS revoked or entered-in-error).
func (s *Service) Cancel(ctx context.Context, id string, cmd Command, reason pathwayv1.CancelReason, note string) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.Cancel(reason, note)
	})
}

// Triage records a staff triage decision, or overrides an automatic one.
func (s *Service) Triage(ctx context.Context, id string, cmd Command, d *pathwayv1.ReferralTriaged) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.StaffTriage(proto.Clone(d).(*pathwayv1.ReferralTriaged))
	})
}

// Merge merges the duplicate referral dupID into survivorID: the duplicate
// closes as merged, and the survivor records what it absorbed.
func (s *Service) Merge(ctx context.Context, dupID, survivorID string, cmd Command, reason string) (uint64, error) {
	var survEvents []proto.Message
	if _, err := Decide(ctx, s.store, dupID, cmd, func(dup *referral.Referral) ([]proto.Message, error) {
		surv, err := Load(ctx, s.store, survivorID)
		if errors.Is(err, events.ErrNotFound) {
			return nil, fmt.Errorf("%w: referral %s does not exist", referral.ErrConflict, survivorID)
		}
		if err != nil {
			return nil, err
		}
		d, sv, err := dup.MergeInto(surv, reason)
		survEvents = sv
		return d, err
	}); err != nil {
		return 0, err
	}
	survCmd := cmd
	if survCmd.IdempotencyKey != "" {
		survCmd.IdempotencyKey += "\x00survivor"
	} else {
		survCmd.IdempotencyKey = "merge\x00" + dupID
	}
	return Decide(ctx, s.store, survivorID, survCmd, func(*referral.Referral) ([]proto.Message, error) {
		return survEvents, nil
	})
}

// Reopen reopens a discharged or revoked referral, unless the person has
// opened another episode since (*DuplicateError).
func (s *Service) Reopen(ctx context.Context, id string, cmd Command, reason string) (uint64, error) {
	head, err := s.store.LastSequenceOn(ctx, events.TypeSubject(referral.AggregateType))
	if err != nil {
		return 0, err
	}
	if err := s.index.WaitFor(ctx, head); err != nil {
		return 0, err
	}
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		if nhs := r.Received().GetPerson().GetNhsNumber(); nhs != "" {
			if open, ok := s.index.OpenByNHS(nhs); ok && open != id {
				return nil, &DuplicateError{OpenID: open}
			}
		}
		return r.Reopen(reason)
	})
}

// Discharge closes an active episode.
func (s *Service) Discharge(ctx context.Context, id string, cmd Command, reason pathwayv1.DischargeReason, note string) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.Discharge(reason, note)
	})
}

// RecordContact records a contact on an assigned referral.
func (s *Service) RecordContact(ctx context.Context, id string, cmd Command, c *pathwayv1.ContactRecorded) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.RecordContact(proto.Clone(c).(*pathwayv1.ContactRecorded), s.now())
	})
}

// AgreePlan records an agreed support plan on an assigned referral.
func (s *Service) AgreePlan(ctx context.Context, id string, cmd Command, whatMatters string, goals []*pathwayv1.Goal) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.AgreePlan(whatMatters, goals)
	})
}

// MeasureOutcome records a wellbeing measure on an open episode.
func (s *Service) MeasureOutcome(ctx context.Context, id string, cmd Command, m *pathwayv1.OutcomeMeasured) (uint64, error) {
	return Decide(ctx, s.store, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.MeasureOutcome(proto.Clone(m).(*pathwayv1.OutcomeMeasured))
	})
}
