// Package sar answers a subject access request (UK GDPR article 15):
// everything pathway holds about one person, found by their NHS number.
// The export has every event of their referrals and of those referrals'
// handoffs, decrypted; each referral as pathway's read models show it;
// what each partner was shared; and the audit of who read their record.
// It is machine-readable JSON, with a readable HTML summary (WriteHTML).
// Making an export is itself recorded in the audit log.
package sar

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/handoffs"
	"google.golang.org/protobuf/proto"
)

// People names the person aggregate of an NHS number (person.Keyer).
type People interface{ ByNHS(nhs string) string }

// View is a read model as the export shows it: what it holds of one
// referral, and false when it holds nothing.
type View interface {
	Name() string
	Of(referralID string) (any, bool)
}

// Service makes exports. It is safe for concurrent use.
type Service struct {
	store  *events.Store
	people People
	audit  *audit.Log
	views  []View
	now    func() time.Time
}

// New returns a service on store (which must hold the data keys), finding
// people with people, reading and writing the audit log, and showing
// views.
func New(store *events.Store, people People, log *audit.Log, views []View, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, people: people, audit: log, views: views, now: now}
}

// Export is everything held about one person.
type Export struct {
	GeneratedAt time.Time      `json:"generated_at"`
	GeneratedBy string         `json:"generated_by"`
	NHSNumber   string         `json:"nhs_number"`
	Referrals   []Referral     `json:"referrals"`
	Handoffs    []Handoff      `json:"handoffs"`
	Audit       []audit.Record `json:"audit"`
}

// Referral is one referral of the person.
type Referral struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	Erased     bool           `json:"erased"`
	ReceivedAt time.Time      `json:"received_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Worker     string         `json:"link_worker_id,omitempty"`
	Views      map[string]any `json:"read_models"`
	Events     []Event        `json:"events"`
}

// Handoff is one handoff of one of the person's referrals to a partner:
// what the partner was shared, and what happened.
type Handoff struct {
	ID           string         `json:"id"`
	ReferralID   string         `json:"referral_id"`
	PartnerID    string         `json:"partner_id"`
	ServiceID    string         `json:"service_id"`
	Status       string         `json:"status"`
	Erased       bool           `json:"erased"`
	SharedFields []string       `json:"shared_fields"`
	Shared       map[string]any `json:"shared"`
	Events       []Event        `json:"events"`
}

// Event is one event, decrypted, with who caused it (role and
// organisation; key ids are pathway's own).
type Event struct {
	Sequence     uint64         `json:"sequence"`
	Type         string         `json:"type"`
	At           time.Time      `json:"at"`
	Role         string         `json:"actor_role,omitempty"`
	Organisation string         `json:"actor_organisation,omitempty"`
	Erased       bool           `json:"erased,omitempty"`
	Data         map[string]any `json:"data"`
}

// Person exports everything held about the person with NHS number nhs,
// and records the export in the audit log as by, through route. Errors:
// kernel NotFound when pathway holds nothing for that NHS number.
func (s *Service) Person(ctx context.Context, nhs string, by audit.Record) (Export, error) {
	who, _, err := events.Get(ctx, s.store, aggregate.Person, s.people.ByNHS(nhs))
	if errors.Is(err, events.ErrNotFound) {
		return Export{}, kernel.Errorf(kernel.NotFound, "nothing is held for that NHS number")
	}
	if err != nil {
		return Export{}, err
	}
	x := Export{GeneratedAt: s.now().UTC(), GeneratedBy: by.KeyID, NHSNumber: nhs, Referrals: []Referral{}, Handoffs: []Handoff{}, Audit: []audit.Record{}}
	var ids []string
	for _, rid := range who.Referrals() {
		r, err := s.referral(ctx, rid)
		if errors.Is(err, events.ErrNotFound) {
			continue // a claim whose referral never came
		}
		if err != nil {
			return Export{}, err
		}
		x.Referrals = append(x.Referrals, r)
		ids = append(ids, rid)
	}
	if len(ids) == 0 {
		return Export{}, kernel.Errorf(kernel.NotFound, "nothing is held for that NHS number")
	}
	if x.Handoffs, err = s.handoffs(ctx, ids); err != nil {
		return Export{}, err
	}
	for _, rid := range ids {
		recs, err := s.audit.Query(ctx, audit.Filter{Referral: rid})
		if err != nil {
			return Export{}, err
		}
		x.Audit = append(x.Audit, recs...)
	}
	slices.SortFunc(x.Audit, func(a, b audit.Record) int { return a.At.Compare(b.At) })
	// The export is a read of everything: on the record before it is
	// handed over.
	for _, rid := range ids {
		rec := by
		rec.Referral = rid
		if err := s.audit.Record(ctx, rec); err != nil {
			return Export{}, err
		}
	}
	return x, nil
}

func (s *Service) referral(ctx context.Context, id string) (Referral, error) {
	ref, _, err := events.Get(ctx, s.store, aggregate.Referral, id)
	if err != nil {
		return Referral{}, err
	}
	erased, _, _ := ref.Erased()
	out := Referral{ID: id, Status: string(ref.Status()), Erased: erased, ReceivedAt: ref.ReceivedAt(), UpdatedAt: ref.UpdatedAt(),
		Worker: ref.Worker(), Views: map[string]any{}}
	for _, v := range s.views {
		if got, ok := v.Of(id); ok {
			out.Views[v.Name()] = got
		}
	}
	recs, _, err := s.store.Load(ctx, aggregate.Referral.Aggregate(id))
	if err != nil {
		return Referral{}, err
	}
	out.Events = eventsOf(recs)
	return out, nil
}

// handoffs loads each handoff of the referrals ids.
func (s *Service) handoffs(ctx context.Context, ids []string) ([]Handoff, error) {
	out := []Handoff{}
	hids, err := handoffs.OfReferrals(ctx, s.store, ids...)
	if err != nil {
		return nil, err
	}
	for _, hid := range hids {
		agg := aggregate.Handoff.Aggregate(hid)
		h, _, err := events.Get(ctx, s.store, aggregate.Handoff, hid)
		if err != nil {
			return nil, err
		}
		recs, _, err := s.store.Load(ctx, agg)
		if err != nil {
			return nil, err
		}
		opened := h.Requested()
		hx := Handoff{ID: h.ID(), ReferralID: opened.GetReferralId(), PartnerID: opened.GetPartnerId(), ServiceID: opened.GetServiceId(),
			Status: string(h.Status()), Erased: h.Erased(), Shared: asMap(opened.GetShared()), Events: eventsOf(recs)}
		for _, f := range opened.GetSharedFields() {
			hx.SharedFields = append(hx.SharedFields, f.String())
		}
		out = append(out, hx)
	}
	return out, nil
}

func eventsOf(recs []events.Record) []Event {
	out := make([]Event, 0, len(recs))
	for _, r := range recs {
		e := Event{Sequence: r.Sequence, Type: r.Type, At: r.Envelope.GetRecordedAt().AsTime(), Erased: r.Erased, Data: asMap(r.Payload)}
		if a := r.Envelope.GetActor(); a != nil {
			e.Role, e.Organisation = kernel.EnumWord(a.GetRole().String(), a.GetRole().Descriptor()), a.GetOrganisation()
		}
		out = append(out, e)
	}
	return out
}

func asMap(m proto.Message) map[string]any { return kernel.Fields(m) }
