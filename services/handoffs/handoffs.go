// Package handoffs runs the closed-loop handoffs a link worker makes to
// VCSE services and the partner's answers, and the response-deadline
// clock that sends reminders and expires unanswered handoffs. Every change
// is an event in the log; the rules live in the domain's handoff package.
package handoffs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// Options configure a Service.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID generates the ids of handoffs requested without an
	// Idempotency-Key; default uuid.NewV7.
	NewID func() (uuid.UUID, error)
	// Deadline is how long a partner has to answer; default 14 days.
	Deadline time.Duration
	// Reminders are how long before the deadline reminders go out;
	// default handoff.DefaultReminders. Reminders at or before the
	// request are not sent.
	Reminders []time.Duration
	// Logger gets ids and sequences, never personal data; nil discards.
	Logger *slog.Logger
	// Checkpoints holds the deadline clock's checkpoints
	// (projections.OpenCheckpoints); nil: its view is built from the start
	// of the log on every start.
	Checkpoints jetstream.ObjectStore
}

// Service runs directory and handoff commands and the deadline clock. Its
// methods are safe for concurrent use.
type Service struct {
	store *events.Store
	opts  Options
	log   *slog.Logger

	deadlines *Deadlines
	clock     *projections.Engine // runs deadlines
}

// New returns a Service on store.
func New(store *events.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewV7
	}
	if opts.Deadline <= 0 {
		opts.Deadline = handoff.DefaultDeadline
	}
	if opts.Reminders == nil {
		opts.Reminders = handoff.DefaultReminders
	}
	opts.Reminders = slices.Clone(opts.Reminders)
	slices.SortFunc(opts.Reminders, func(a, b time.Duration) int { return int(b - a) }) // furthest from the deadline first
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "handoffs")
	d := NewDeadlines()
	return &Service{store: store, opts: opts, log: log, deadlines: d,
		clock: projections.NewEngine(store, opts.Checkpoints, d, projections.Options{Logger: log})}
}

// Deadline is how long a partner has to answer.
func (s *Service) Deadline() time.Duration { return s.opts.Deadline }

// LoadHandoff reads a handoff from the log. Errors: events.ErrNotFound.
func LoadHandoff(ctx context.Context, store *events.Store, id string) (*handoff.Handoff, error) {
	h, _, err := events.Get(ctx, store, aggregate.Handoff, id)
	return h, err
}

// HandoffInput is a link worker's handoff request.
type HandoffInput struct {
	ServiceID       string
	Shared          []pathwayv1.SharedField
	Consent         bool
	ConfirmCapacity bool
	Note            string
}

// handoffNamespace derives handoff ids from idempotency keys.
var handoffNamespace = uuid.MustParse("2d0b7c1e-4f6a-5b3c-8e9d-1a2b3c4d5e6f")

// RequestHandoff hands referral referralID off to a service: the referral
// must be on a link worker's caseload, the person must consent, and a
// service that signals no capacity or a waitlist needs ConfirmCapacity.
// A retry with the same idempotency key returns the same handoff. It
// returns the handoff id and sequence. Errors: events.ErrNotFound (no such
// referral), handoff.ErrInvalid (naming the field service_id when there
// is no such service), handoff.ErrConflict, handoff.ErrCapacity, or a
// storage error.
func (s *Service) RequestHandoff(ctx context.Context, referralID string, in HandoffInput, cmd events.Command) (string, uint64, error) {
	var id string
	if cmd.IdempotencyKey != "" {
		id = uuid.NewSHA1(handoffNamespace, []byte(referralID+"\x00"+cmd.IdempotencyKey)).String()
	} else {
		u, err := s.opts.NewID()
		if err != nil {
			return "", 0, err
		}
		id = u.String()
	}
	seq, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		h, err := events.Load(tx, aggregate.Handoff, id)
		if err != nil {
			return err
		}
		if h.Exists() {
			return &events.Retry{Sequence: h.Version()} // the same key made it
		}
		ref, err := events.Load(tx, aggregate.Referral, referralID)
		if err != nil {
			return err
		}
		if !ref.Exists() {
			return fmt.Errorf("referral %s: %w", referralID, events.ErrNotFound)
		}
		svc, err := events.Load(tx, aggregate.Service, in.ServiceID)
		if err != nil {
			return err
		}
		if !svc.Exists() {
			return handoff.ErrInvalid.WithFields(kernel.FieldError{Field: "service_id", Reason: "no such service in the directory"})
		}
		evs, err := handoff.Decide(handoff.Request{
			Referral: ref, ServiceID: svc.ID(), PartnerID: svc.PartnerID(), ServiceActive: svc.Retired() == "", Capacity: svc.Capacity(),
			ConfirmCapacity: in.ConfirmCapacity, Shared: in.Shared, Consent: in.Consent, Note: in.Note,
			RespondBy: s.opts.Now().Add(s.opts.Deadline),
		})
		tx.Emit(aggregate.Handoff.Aggregate(id), evs...)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return id, seq, nil
}

// Act applies action a to handoff id, with a reason, outcome and note as
// the action needs. allowed, when not nil, vets the handoff first (a
// partner may act only on its own handoffs: it returns
// events.ErrNotFound for another's). It returns the new sequence and
// status. Errors: events.ErrNotFound, handoff.ErrConflict,
// handoff.ErrInvalid, or a storage error.
//
// A retry with the idempotency key of a command that already took effect
// answers with that command's sequence and the handoff's status after it.
func (s *Service) Act(ctx context.Context, id string, a handoff.Action, reason, outcome, note string, cmd events.Command, allowed func(*handoff.Handoff) error) (uint64, handoff.Status, error) {
	var status handoff.Status
	seq, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		h, err := events.Load(tx, aggregate.Handoff, id)
		if h == nil {
			return err
		}
		if !h.Exists() {
			return fmt.Errorf("handoff %s: %w", id, events.ErrNotFound)
		}
		if allowed != nil {
			if err := allowed(h); err != nil {
				return err
			}
		}
		var retry *events.Retry
		if errors.As(err, &retry) {
			status = statusAt(h, retry.Sequence)
		}
		if err != nil {
			return err
		}
		evs, err := h.Act(a, reason, outcome, note)
		if err != nil {
			return err
		}
		status, _ = handoff.Next(h.Status(), a)
		tx.Emit(aggregate.Handoff.Aggregate(id), evs...)
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	return seq, status, nil
}

// statusAt is the handoff's status after its event at sequence seq.
func statusAt(h *handoff.Handoff, seq uint64) handoff.Status {
	var st handoff.Status
	for _, c := range h.History() {
		if c.Sequence > seq {
			break
		}
		st = handoff.StatusAfter(st, c.Payload)
	}
	return st
}

// OfReferrals returns the ids of the handoffs of the referrals ids, in the
// order they were requested: a read of every handoff's request, which
// costs a scan of the handoff events (for erasure and subject access,
// which are rare). Undecodable events are passed over.
func OfReferrals(ctx context.Context, store *events.Store, ids ...string) ([]string, error) {
	var out []string
	opts := events.ReadOptions{Subject: events.TypeSubject(handoff.AggregateType), Types: events.TypesOf(&pathwayv1.HandoffRequested{})}
	for rec, err := range store.ReadWith(ctx, opts) {
		if err != nil {
			if _, ok := errors.AsType[*events.DecodeError](err); ok {
				continue
			}
			return nil, fmt.Errorf("find the handoffs of %d referrals: %w", len(ids), err)
		}
		if h, ok := rec.Payload.(*pathwayv1.HandoffRequested); ok && slices.Contains(ids, h.GetReferralId()) && !slices.Contains(out, rec.Aggregate.ID) {
			out = append(out, rec.Aggregate.ID)
		}
	}
	return out, nil
}
