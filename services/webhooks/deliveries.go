package webhooks

// Deliveries: one per handoff event and endpoint, derived from the
// consumer's events; listing and redelivering them.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/handoff"
)

// Deliveries lists partner's deliveries, newest first, optionally only
// those in status.
func (s *Service) Deliveries(partner, status string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.dels {
		if d.Partner == partner && (status == "" || d.Status == status) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		if a.Sequence != b.Sequence {
			return cmp.Compare(b.Sequence, a.Sequence)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Delivery returns one of partner's deliveries. Errors: ErrNotFound.
func (s *Service) Delivery(partner, id string) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dels[id]
	if !ok || d.Partner != partner {
		return Delivery{}, ErrNotFound.Errorf("no such delivery")
	}
	return d, nil
}

// Redeliver queues one of partner's deliveries to be sent again now, with
// a fresh 24-hour retry window. Errors: ErrNotFound.
func (s *Service) Redeliver(ctx context.Context, partner, id string) (Delivery, error) {
	if _, err := s.Delivery(partner, id); err != nil {
		return Delivery{}, err
	}
	for range 5 {
		entry, err := s.deliveries.Get(ctx, id)
		if err != nil {
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
		var d Delivery
		if err := json.Unmarshal(entry.Value(), &d); err != nil {
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
		now := s.opts.Now().UTC()
		d.Status, d.NextAttempt, d.RetryUntil, d.UpdatedAt = StatusPending, now, now.Add(RetryFor), now
		data, _ := json.Marshal(d)
		_, err = s.deliveries.Update(ctx, id, data, entry.Revision())
		if err == nil {
			s.remember(d)
			return d, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) { // not a lost race: a real failure
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
	}
	return Delivery{}, fmt.Errorf("redeliver %s: %w", id, events.ErrConcurrency)
}

func (s *Service) remember(d Delivery) {
	s.mu.Lock()
	s.dels[d.ID] = d
	s.mu.Unlock()
}

// deliveryNamespace derives delivery ids.
var deliveryNamespace = uuid.MustParse("8b5e7f4a-1c2d-5e3f-9a8b-7c6d5e4f3a2b")

// Payload is the JSON body of a delivery. It names the handoff and what
// happened to it; the partner reads the handoff itself (and only its
// shared fields) through the partner API.
type Payload struct {
	DeliveryID string    `json:"delivery_id"`
	Type       string    `json:"type"`
	HandoffID  string    `json:"handoff_id"`
	ServiceID  string    `json:"service_id"`
	Status     string    `json:"status"`
	Sequence   uint64    `json:"sequence"`
	OccurredAt time.Time `json:"occurred_at"`
	RespondBy  time.Time `json:"respond_by"`
	Reminder   int       `json:"reminder,omitempty"`
	Link       string    `json:"link"`
}

// eventNames are the payload types of the handoff events.
var eventNames = map[string]string{
	"HandoffRequested": "handoff.requested", "HandoffAccepted": "handoff.accepted", "HandoffRejected": "handoff.rejected",
	"HandoffStarted": "handoff.started", "HandoffPutOnHold": "handoff.on_hold", "HandoffCompleted": "handoff.completed",
	"HandoffFailed": "handoff.failed", "HandoffCancelled": "handoff.cancelled", "HandoffExpired": "handoff.expired",
	"HandoffReminderSent": "handoff.reminder", "HandoffEnteredInError": "handoff.entered_in_error",
}

// record turns one handoff event into a delivery per endpoint of the
// handoff's partner. It is idempotent: the delivery ids are derived.
func (s *Service) record(ctx context.Context, rec events.Record) error {
	typ, ok := eventNames[strings.TrimPrefix(rec.Type, "pathway.v1.")]
	if !ok {
		return nil
	}
	recs, _, err := s.store.Load(ctx, rec.Aggregate)
	if err != nil {
		return fmt.Errorf("load %s: %w", rec.Aggregate, err)
	}
	// The handoff as it was right after this event.
	upTo := slices.IndexFunc(recs, func(r events.Record) bool { return r.Sequence > rec.Sequence })
	if upTo < 0 {
		upTo = len(recs)
	}
	h := handoff.Replay(rec.Aggregate.ID, aggregate.Changes(recs[:upTo]))
	if !h.Exists() {
		return nil
	}
	var reminder int
	if e, ok := rec.Payload.(interface{ GetReminderNumber() uint32 }); ok {
		reminder = int(e.GetReminderNumber())
	}
	now := s.opts.Now().UTC()
	for _, ep := range s.endpointsOf(h.PartnerID()) {
		id := uuid.NewSHA1(deliveryNamespace, []byte(ep.ID+"/"+strconv.FormatUint(rec.Sequence, 10))).String()
		body, _ := json.Marshal(Payload{DeliveryID: id, Type: typ, HandoffID: h.ID(), ServiceID: h.Requested().GetServiceId(), Status: string(h.Status()),
			Sequence: rec.Sequence, OccurredAt: rec.Envelope.GetRecordedAt().AsTime().UTC(), RespondBy: h.RespondBy().UTC(), Reminder: reminder,
			Link: "/v1/partner/handoffs/" + h.ID()})
		d := Delivery{ID: id, Endpoint: ep.ID, Partner: ep.Partner, Sequence: rec.Sequence, EventType: typ, HandoffID: h.ID(), Payload: body,
			Status: StatusPending, NextAttempt: now, RetryUntil: now.Add(RetryFor), CreatedAt: now, UpdatedAt: now}
		data, _ := json.Marshal(d)
		_, err := s.deliveries.Create(ctx, id, data)
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			// A redelivered event: the delivery exists, maybe already sent.
		case err != nil:
			return fmt.Errorf("record delivery: %w", err)
		default:
			s.remember(d)
		}
	}
	return nil
}
