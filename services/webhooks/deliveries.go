package webhooks

// Deliveries: listing an owner's deliveries (the view, with the
// bookkeeping of the round under way) and redelivering one.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"google.golang.org/protobuf/proto"
)

// Deliveries lists owner's deliveries changed within KeepDeliveries,
// newest event first, optionally only those in status.
func (s *Service) Deliveries(owner webhook.Owner, status string) []Delivery {
	now := s.opts.Now()
	var out []Delivery
	key := owner.Key()
	for id, d := range s.view.deliveries(func(d *viewDelivery) bool { return d.Partner == key }) {
		if dl, ok := s.merge(id, d, now); ok && (status == "" || dl.Status == status) {
			out = append(out, dl)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		return cmp.Or(cmp.Compare(b.Sequence, a.Sequence), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Delivery returns one of owner's deliveries. Errors: ErrNotFound.
func (s *Service) Delivery(owner webhook.Owner, id string) (Delivery, error) {
	d, ok := s.view.delivery(id)
	if !ok || d.Partner != owner.Key() {
		return Delivery{}, ErrNotFound.Errorf("no such delivery")
	}
	dl, ok := s.merge(id, d, s.opts.Now())
	if !ok {
		return Delivery{}, ErrNotFound.Errorf("no such delivery")
	}
	return dl, nil
}

// merge is delivery id as the view has it, with the bookkeeping of its
// round when there is some: while the round is under way, and once it has
// ended before the log records the end, the bookkeeping is the fresher. It
// reports whether the delivery changed within KeepDeliveries of now.
func (s *Service) merge(id string, d viewDelivery, now time.Time) (Delivery, bool) {
	r := d.Round
	out := Delivery{ID: id, Endpoint: d.Endpoint, Partner: d.Partner, Sequence: d.Sequence, EventType: d.Event, HandoffID: d.Handoff, ReferralID: d.Referral,
		Payload: d.Payload, CreatedAt: d.CreatedAt, Status: string(r.Status), Attempts: r.Attempts, LastCode: r.Code, LastError: r.Reason,
		UpdatedAt: r.At}
	switch r.Status {
	case webhook.StatusPending:
		out.NextAttempt, out.RetryUntil = r.At, r.At.Add(RetryFor)
	case webhook.StatusDelivered:
		out.DeliveredAt = r.At
	}
	s.mu.Lock()
	sd, ok := s.sending[id]
	s.mu.Unlock()
	if ok && sd.Round == r.Round {
		out.Attempts, out.RetryUntil, out.LastCode, out.LastError = max(out.Attempts, sd.Attempts), sd.RetryUntil, sd.LastCode, sd.LastError
		if r.Status == webhook.StatusPending {
			out.Status, out.NextAttempt, out.DeliveredAt = sd.Status, sd.NextAttempt, sd.DeliveredAt
		} else if r.Reason != "" {
			out.LastError = r.Reason // the view ended it: its endpoint was deleted
		}
		if sd.Status == StatusDelivered {
			out.DeliveredAt = sd.DeliveredAt
		}
		out.UpdatedAt = maxTime(out.UpdatedAt, sd.UpdatedAt)
	}
	return out, now.Sub(out.UpdatedAt) <= KeepDeliveries
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Redeliver begins a new round of attempts of one of owner's
// deliveries, as cmd: it is sent again now, with a fresh 24-hour retry
// window. Errors: ErrNotFound, or a storage error.
func (s *Service) Redeliver(ctx context.Context, owner webhook.Owner, id string, cmd events.Command) (Delivery, error) {
	if _, err := s.Delivery(owner, id); err != nil {
		return Delivery{}, err
	}
	seq, err := events.Do(ctx, s.store, aggregate.WebhookDelivery, id, cmd, func(d *webhook.Delivery) ([]proto.Message, error) {
		return d.Redeliver(), nil
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("redeliver: %w", err)
	}
	if err := s.engine.WaitFor(ctx, seq); err != nil {
		return Delivery{}, fmt.Errorf("redeliver: %w", err)
	}
	return s.Delivery(owner, id)
}

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

// ReferralPayload is the JSON body of a delivery to a referring
// organisation: a change of one of its referrals' status. It names the
// referral and carries only ids, codes and times, never personal data; the
// referrer reads the referral itself through the API.
type ReferralPayload struct {
	DeliveryID string `json:"delivery_id"`
	// Type is the event: referral.received, referral.triaged,
	// referral.waitlisted, referral.assigned, referral.discharged,
	// referral.cancelled, referral.reopened or referral.merged.
	Type              string `json:"type"`
	ReferralID        string `json:"referral_id"`
	ExternalReference string `json:"external_reference,omitempty"`
	// Status is the FHIR ServiceRequest status after the change; Stage
	// pathway's (received, awaiting_triage, accepted, waitlisted,
	// assigned, signposted, declined, redirected, discharged, cancelled,
	// merged).
	Status string `json:"status"`
	Stage  string `json:"stage"`
	// Reason is the coded reason of a decline, a discharge or a
	// cancellation (referral.ReasonCode).
	Reason string `json:"reason,omitempty"`
	// Sequence orders deliveries (the event's log sequence); Version is
	// the referral's version after the change (its FHIR versionId): the
	// same number.
	Sequence   uint64    `json:"sequence"`
	Version    uint64    `json:"version"`
	OccurredAt time.Time `json:"occurred_at"`
	Link       string    `json:"link"`
}

// eventNames are the payload types of the handoff events.
var eventNames = map[string]string{
	"HandoffRequested": "handoff.requested", "HandoffAccepted": "handoff.accepted", "HandoffRejected": "handoff.rejected",
	"HandoffStarted": "handoff.started", "HandoffPutOnHold": "handoff.on_hold", "HandoffCompleted": "handoff.completed",
	"HandoffFailed": "handoff.failed", "HandoffCancelled": "handoff.cancelled", "HandoffExpired": "handoff.expired",
	"HandoffReminderSent": "handoff.reminder", "HandoffEnteredInError": "handoff.entered_in_error",
}
