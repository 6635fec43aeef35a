// Package vcse runs the VCSE side of the pathway: the directory of partner
// organisations and their services (commands and the HSDS import), the
// closed-loop handoffs a link worker makes to those services and the
// partner's answers, and the response-deadline clock that sends reminders
// and expires unanswered handoffs. Every change is an event in the log;
// the rules live in the partner and handoff packages.
package vcse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/handoff"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/partner"
	"github.com/pathway-sp/pathway/services/referral"
	"google.golang.org/protobuf/proto"
)

// Options configure a Service.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Deadline is how long a partner has to answer; default 14 days.
	Deadline time.Duration
	// Reminders are how long before the deadline reminders go out;
	// default handoff.DefaultReminders. Reminders at or before the
	// request are not sent.
	Reminders []time.Duration
	// Logger gets ids and sequences, never personal data; nil discards.
	Logger *slog.Logger
}

// Service runs directory and handoff commands and the deadline clock. Its
// methods are safe for concurrent use.
type Service struct {
	store *events.Store
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	pending map[string]time.Time // requested handoffs: id -> when the clock next has something to decide
	// byReferral lists each referral's handoffs.
	byReferral map[string][]string
	pos        events.Position
}

// New returns a Service on store.
func New(store *events.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
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
	return &Service{store: store, opts: opts, log: log.With("service", "handoffs"), pending: map[string]time.Time{}, byReferral: map[string][]string{}}
}

// Deadline is how long a partner has to answer.
func (s *Service) Deadline() time.Duration { return s.opts.Deadline }

func storeEvents(payloads []proto.Message, cmd intake.Command) []events.Event {
	out := make([]events.Event, len(payloads))
	for i, p := range payloads {
		out[i] = events.Event{Payload: p, Actor: cmd.Actor, CorrelationID: cmd.CorrelationID, CausationID: cmd.CausationID, IdempotencyKey: cmd.IdempotencyKey}
	}
	return out
}

// LoadPartner reads a partner from the log; a partner that does not exist
// is returned empty (Exists false).
func LoadPartner(ctx context.Context, store *events.Store, id string) (*partner.Partner, error) {
	recs, _, err := store.Load(ctx, events.Aggregate{Type: partner.PartnerType, ID: id})
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, err
	}
	return partner.ReplayPartner(id, intake.Changes(recs)), nil
}

// LoadService reads a service from the log; empty when it does not exist.
func LoadService(ctx context.Context, store *events.Store, id string) (*partner.Service, error) {
	recs, _, err := store.Load(ctx, events.Aggregate{Type: partner.ServiceType, ID: id})
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return nil, err
	}
	return partner.ReplayService(id, intake.Changes(recs)), nil
}

// LoadHandoff reads a handoff from the log. Errors: events.ErrNotFound.
func LoadHandoff(ctx context.Context, store *events.Store, id string) (*handoff.Handoff, error) {
	recs, _, err := store.Load(ctx, events.Aggregate{Type: handoff.AggregateType, ID: id})
	if err != nil {
		return nil, err
	}
	return handoff.Replay(id, intake.Changes(recs)), nil
}

// Saved is the result of saving a directory entry.
type Saved struct {
	ID       string
	Sequence uint64
	// Created is true when the entry is new, Changed when it was updated;
	// neither when it was already as asked.
	Created, Changed bool
}

// decideLoop loads an aggregate's version through load, asks decide, and
// appends at that version, retrying on a concurrent change.
func (s *Service) decideLoop(ctx context.Context, agg events.Aggregate, cmd intake.Command, decide func() (uint64, []proto.Message, error)) (uint64, bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		version, payloads, err := decide()
		if err != nil {
			return 0, false, err
		}
		if len(payloads) == 0 {
			return version, false, nil
		}
		seq, err := s.store.Append(ctx, agg, version, storeEvents(payloads, cmd)...)
		if errors.Is(err, events.ErrConcurrency) {
			continue
		}
		return seq, err == nil, err
	}
	return 0, false, fmt.Errorf("%s: %w: too much contention", agg, events.ErrConcurrency)
}

// SavePartner registers partner id (its organisation id) or brings its
// details up to d. Errors: partner.ErrInvalid (*partner.InvalidError), or
// a storage error.
func (s *Service) SavePartner(ctx context.Context, id string, d *pathwayv1.PartnerRegistered, cmd intake.Command) (Saved, error) {
	if !partner.ValidID(id) {
		return Saved{}, &partner.InvalidError{Fields: []referral.FieldError{{Field: "id", Reason: "must be the organisation id: 1 to 64 letters, digits, - or _"}}}
	}
	d.HsdsOrganizationId = id
	existed := false
	seq, changed, err := s.decideLoop(ctx, events.Aggregate{Type: partner.PartnerType, ID: id}, cmd, func() (uint64, []proto.Message, error) {
		p, err := LoadPartner(ctx, s.store, id)
		if err != nil {
			return 0, nil, err
		}
		existed = p.Exists()
		evs, err := p.Save(d)
		return p.Version(), evs, err
	})
	return Saved{ID: id, Sequence: seq, Created: changed && !existed, Changed: changed && existed}, err
}

// SaveService registers service id or brings its details up to d; a new
// service starts with capacity c (capacity when unspecified). The partner
// must exist. Errors: partner.ErrInvalid, partner.ErrConflict (the partner
// does not exist, or the service belongs to another), or a storage error.
func (s *Service) SaveService(ctx context.Context, id string, d *pathwayv1.ServiceDetails, c pathwayv1.CapacityStatus, cmd intake.Command) (Saved, error) {
	if errs := partner.ValidateService(d); len(errs) > 0 {
		return Saved{}, &partner.InvalidError{Fields: errs}
	}
	p, err := LoadPartner(ctx, s.store, d.GetPartnerId())
	if err != nil {
		return Saved{}, err
	}
	if !p.Exists() {
		return Saved{}, &partner.InvalidError{Fields: []referral.FieldError{{Field: "partner_id", Reason: "no such partner; register the partner first"}}}
	}
	existed := false
	seq, changed, err := s.decideLoop(ctx, events.Aggregate{Type: partner.ServiceType, ID: id}, cmd, func() (uint64, []proto.Message, error) {
		svc, err := LoadService(ctx, s.store, id)
		if err != nil {
			return 0, nil, err
		}
		existed = svc.Exists()
		evs, err := svc.Save(d, c)
		return svc.Version(), evs, err
	})
	return Saved{ID: id, Sequence: seq, Created: changed && !existed, Changed: changed && existed}, err
}

// SetCapacity records service id's capacity signal. When partnerID is not
// empty the service must belong to it (else events.ErrNotFound, so a
// partner cannot learn of another's services). Errors: events.ErrNotFound,
// partner.ErrInvalid, or a storage error.
func (s *Service) SetCapacity(ctx context.Context, id, partnerID string, c pathwayv1.CapacityStatus, note string, cmd intake.Command) (uint64, error) {
	seq, _, err := s.decideLoop(ctx, events.Aggregate{Type: partner.ServiceType, ID: id}, cmd, func() (uint64, []proto.Message, error) {
		svc, err := LoadService(ctx, s.store, id)
		if err != nil {
			return 0, nil, err
		}
		if !svc.Exists() || (partnerID != "" && svc.PartnerID() != partnerID) {
			return 0, nil, events.ErrNotFound
		}
		evs, err := svc.ChangeCapacity(c, note)
		return svc.Version(), evs, err
	})
	return seq, err
}

// ImportResult is what an import did with one record.
type ImportResult struct {
	Index     int    `json:"index"`
	HSDSID    string `json:"hsds_id,omitempty"`
	ServiceID string `json:"service_id,omitempty"`
	PartnerID string `json:"partner_id,omitempty"`
	// Action is created, updated, unchanged or skipped.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// ImportReport sums up an import.
type ImportReport struct {
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Skipped   int            `json:"skipped"`
	Partners  int            `json:"partners_created"`
	Results   []ImportResult `json:"results"`
	// Sequence is the log position after the import.
	Sequence uint64 `json:"sequence"`
}

// Import saves the partners and services of HSDS records. It is
// idempotent: a record already in the directory as it is changes nothing
// (unchanged); one that changed is updated. Records that cannot be
// imported are skipped with their reason; progress, when not nil, is
// called after each record. It stops at the first storage error.
func (s *Service) Import(ctx context.Context, records []partner.Record, cmd intake.Command, progress func(done, total int)) (ImportReport, error) {
	rep := ImportReport{Results: make([]ImportResult, 0, len(records))}
	seenPartner := map[string]bool{}
	var last uint64
	for i, rec := range records {
		res := ImportResult{Index: rec.Index, HSDSID: rec.HSDSID, ServiceID: rec.ServiceID}
		if rec.Skip != "" {
			res.Action, res.Reason = "skipped", rec.Skip
			res.ServiceID = ""
		} else {
			res.PartnerID = rec.Partner.GetHsdsOrganizationId()
			if !seenPartner[res.PartnerID] {
				saved, err := s.SavePartner(ctx, res.PartnerID, rec.Partner, cmd)
				if err != nil {
					if !errors.Is(err, partner.ErrInvalid) {
						return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
					}
					res.Action, res.Reason = "skipped", "organization: "+err.Error()
				}
				seenPartner[res.PartnerID] = true
				if saved.Created {
					rep.Partners++
				}
				last = max(last, saved.Sequence)
			}
			if res.Action == "" {
				saved, err := s.SaveService(ctx, rec.ServiceID, rec.Service, pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED, cmd)
				switch {
				case errors.Is(err, partner.ErrInvalid), errors.Is(err, partner.ErrConflict):
					res.Action, res.Reason = "skipped", err.Error()
				case err != nil:
					return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
				case saved.Created:
					res.Action = "created"
				case saved.Changed:
					res.Action = "updated"
				default:
					res.Action = "unchanged"
				}
				last = max(last, saved.Sequence)
			}
		}
		switch res.Action {
		case "created":
			rep.Created++
		case "updated":
			rep.Updated++
		case "unchanged":
			rep.Unchanged++
		case "skipped":
			rep.Skipped++
		}
		rep.Results = append(rep.Results, res)
		if progress != nil {
			progress(i+1, len(records))
		}
	}
	rep.Sequence = last
	return rep, nil
}

// earlier finds among a handoff's records the one appended with the
// idempotency key ("" never matches), and the handoff's status after it.
func earlier(recs []events.Record, key string) (uint64, handoff.Status, bool) {
	if key == "" {
		return 0, "", false
	}
	hash := events.KeyHash(key)
	var st handoff.Status
	for _, r := range recs {
		st = handoff.StatusAfter(st, r.Payload)
		if r.Envelope.GetIdempotencyKeyHash() == hash {
			return r.Sequence, st, true
		}
	}
	return 0, "", false
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
// referral or service), handoff.ErrInvalid, handoff.ErrConflict,
// handoff.ErrCapacity, or a storage error.
func (s *Service) RequestHandoff(ctx context.Context, referralID string, in HandoffInput, cmd intake.Command) (string, uint64, error) {
	id := uuid.Must(uuid.NewV7()).String()
	if cmd.IdempotencyKey != "" {
		id = uuid.NewSHA1(handoffNamespace, []byte(referralID+"\x00"+cmd.IdempotencyKey)).String()
		if h, err := LoadHandoff(ctx, s.store, id); err == nil && h.Exists() {
			return id, h.Version(), nil
		}
	}
	ref, err := intake.Load(ctx, s.store, referralID)
	if err != nil {
		return "", 0, err
	}
	svc, err := LoadService(ctx, s.store, in.ServiceID)
	if err != nil {
		return "", 0, err
	}
	if !svc.Exists() {
		return "", 0, fmt.Errorf("service %s: %w", in.ServiceID, events.ErrNotFound)
	}
	evs, err := handoff.Decide(handoff.Request{
		Referral: ref, ServiceID: svc.ID(), PartnerID: svc.PartnerID(), ServiceActive: true, Capacity: svc.Capacity(),
		ConfirmCapacity: in.ConfirmCapacity, Shared: in.Shared, Consent: in.Consent, Note: in.Note,
		RespondBy: s.opts.Now().Add(s.opts.Deadline),
	})
	if err != nil {
		return "", 0, err
	}
	seq, err := s.store.Append(ctx, events.Aggregate{Type: handoff.AggregateType, ID: id}, 0, storeEvents(evs, cmd)...)
	if errors.Is(err, events.ErrConcurrency) && cmd.IdempotencyKey != "" {
		// The same key raced us to it: answer with the handoff it made.
		if h, lerr := LoadHandoff(ctx, s.store, id); lerr == nil {
			return id, h.Version(), nil
		}
	}
	return id, seq, err
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
func (s *Service) Act(ctx context.Context, id string, a handoff.Action, reason, outcome, note string, cmd intake.Command, allowed func(*handoff.Handoff) error) (uint64, handoff.Status, error) {
	agg := events.Aggregate{Type: handoff.AggregateType, ID: id}
	for attempt := 0; attempt < 5; attempt++ {
		recs, _, err := s.store.Load(ctx, agg)
		if err != nil {
			return 0, "", err
		}
		h := handoff.Replay(id, intake.Changes(recs))
		if allowed != nil {
			if err := allowed(h); err != nil {
				return 0, "", err
			}
		}
		if seq, st, ok := earlier(recs, cmd.IdempotencyKey); ok {
			return seq, st, nil
		}
		evs, err := h.Act(a, reason, outcome, note)
		if err != nil {
			return 0, "", err
		}
		seq, err := s.store.Append(ctx, agg, h.Version(), storeEvents(evs, cmd)...)
		if errors.Is(err, events.ErrConcurrency) {
			continue
		}
		if err != nil {
			return 0, "", err
		}
		status, _ := handoff.Next(h.Status(), a)
		return seq, status, nil
	}
	return 0, "", fmt.Errorf("%s: %w: too much contention", agg, events.ErrConcurrency)
}
