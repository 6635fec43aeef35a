// Package erasure erases a person's personal data from pathway by
// crypto-shredding: the log is never rewritten; instead the data keys that
// sealed the personal fields of their referrals and of those referrals'
// handoffs are destroyed, after an erasure event that says who erased,
// when and why (pathway.v1.ReferralErased, which carries no personal
// data). From then on every load, read model, API and FHIR read and
// rebuild sees the referral as erased, with its non-personal facts (codes,
// times, outcome scores) intact, so counts, waits and outcome totals stay.
//
// Only a closed referral can be erased: cancel or discharge it first.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/handoffs"
	"google.golang.org/protobuf/proto"
)

// Destroyer destroys data keys for good (keyring.Ring): the key named id
// and the slots of blocks named by refs.
type Destroyer interface {
	Destroy(ctx context.Context, id string, refs ...string) error
}

// People names the person aggregate of an NHS number (person.Keyer).
type People interface {
	ByNHS(nhs string) string
}

// Service erases people's personal data. It is safe for concurrent use.
type Service struct {
	store  *events.Store
	keys   Destroyer
	people People
}

// New returns an erasure service on store, destroying keys with keys.
func New(store *events.Store, keys Destroyer, people People) *Service {
	return &Service{store: store, keys: keys, people: people}
}

// Request is one erasure: its ground, a reason that identifies no one, and
// the command it runs as (the admin who asked, the idempotency key).
type Request struct {
	Ground  pathwayv1.ErasureGround
	Reason  string
	Command events.Command
	// Handoffs, when the caller keeps a view of them (retention), are the
	// referral's handoffs: the scan of the log for them is skipped.
	Handoffs []string
}

// Result is the erasure of one referral.
type Result struct {
	ReferralID string `json:"referral_id"`
	// Sequence is the erasure event's position in the log.
	Sequence uint64 `json:"sequence"`
	// Handoffs are the handoffs whose shared data was erased with it.
	Handoffs []string `json:"handoffs_erased"`
}

// Referral erases the personal data of referral id and of its handoffs.
// Running it again (a retry, or after a crash between the event and the
// keys) finishes destroying the keys and answers as the first time.
// Errors: kernel NotFound for no such referral; kernel Conflict when it is
// still open; kernel Invalid for a missing ground, or a reason that is
// missing or identifies the person; and storage errors.
func (s *Service) Referral(ctx context.Context, id string, req Request) (Result, error) {
	hids := slices.Clone(req.Handoffs)
	if hids == nil {
		var err error
		if hids, err = handoffs.OfReferrals(ctx, s.store, id); err != nil {
			return Result{}, err
		}
	}
	seq, err := events.Do(ctx, s.store, aggregate.Referral, id, req.Command, aggregate.Existing(func(r *referral.Referral) ([]proto.Message, error) {
		if erased, e, _ := r.Erased(); erased && e != nil {
			for _, h := range e.GetHandoffIds() {
				if !slices.Contains(hids, h) {
					hids = append(hids, h)
				}
			}
		}
		return r.Erase(req.Ground, req.Reason, hids)
	}))
	if errors.Is(err, events.ErrNotFound) {
		return Result{}, kernel.Errorf(kernel.NotFound, "no referral %s", id)
	}
	if err != nil {
		return Result{}, err
	}
	// The event is in the log: now the keys. A failure here leaves the
	// erasure recorded and the keys in place; running it again finishes.
	for _, agg := range append([]events.Aggregate{aggregate.Referral.Aggregate(id)}, handoffAggs(hids)...) {
		if err := destroyKeys(ctx, s.store, s.keys, agg); err != nil {
			return Result{}, fmt.Errorf("erase %s: the erasure is recorded but its keys are not all destroyed yet (run it again): %w", agg, err)
		}
	}
	return Result{ReferralID: id, Sequence: seq, Handoffs: hids}, nil
}

// destroyKeys destroys every data key of agg: the one of its own name
// and the slots its events were sealed with (events.Store.KeyRefs).
func destroyKeys(ctx context.Context, store *events.Store, keys Destroyer, agg events.Aggregate) error {
	// The tombstone first: from then on no new key is handed out for the
	// aggregate, so the refs read after it name every slot its events can
	// have been sealed with.
	if err := keys.Destroy(ctx, events.KeyID(agg)); err != nil {
		return err
	}
	refs, err := store.KeyRefs(ctx, agg)
	if err != nil {
		return err
	}
	return keys.Destroy(ctx, events.KeyID(agg), refs...)
}

// Person erases every referral of the person with NHS number nhs. It
// refuses, erasing nothing, while any of them is open. Errors: kernel
// NotFound when pathway holds no referral for that NHS number; kernel
// Conflict listing the open referrals; and those of Referral.
func (s *Service) Person(ctx context.Context, nhs string, req Request) ([]Result, error) {
	who, _, err := events.Get(ctx, s.store, aggregate.Person, s.people.ByNHS(nhs))
	if errors.Is(err, events.ErrNotFound) || err == nil && len(who.Referrals()) == 0 {
		return nil, kernel.Errorf(kernel.NotFound, "no referral is held for that NHS number")
	}
	if err != nil {
		return nil, err
	}
	var ids, open []string
	for _, rid := range who.Referrals() {
		r, _, err := events.Get(ctx, s.store, aggregate.Referral, rid)
		if errors.Is(err, events.ErrNotFound) {
			continue // a claim whose referral never came
		}
		if err != nil {
			return nil, err
		}
		if r.Status().Active() {
			open = append(open, rid)
		}
		ids = append(ids, rid)
	}
	if len(open) > 0 {
		return nil, kernel.Errorf(kernel.Conflict, "the person has open referrals (%s): cancel or discharge them first", strings.Join(open, ", "))
	}
	if len(ids) == 0 {
		return nil, kernel.Errorf(kernel.NotFound, "no referral is held for that NHS number")
	}
	out := make([]Result, 0, len(ids))
	for _, rid := range ids {
		cmd := req.Command
		if cmd.IdempotencyKey != "" {
			cmd.IdempotencyKey += "\x00" + rid
		}
		res, err := s.Referral(ctx, rid, Request{Ground: req.Ground, Reason: req.Reason, Command: cmd})
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func handoffAggs(ids []string) []events.Aggregate {
	out := make([]events.Aggregate, len(ids))
	for i, id := range ids {
		out[i] = aggregate.Handoff.Aggregate(id)
	}
	return out
}
