package webhooks

// The operations endpoint: notices pathway raises itself (an urgent or
// safeguarding referral waiting too long: package alerts) sent to the
// operator's receiver, recorded, signed, retried and claimed exactly as a
// partner's deliveries are. It is configured, not registered (serve's
// --ops-webhook and PATHWAY_OPS_WEBHOOK_SECRET), and the same rule on
// private addresses applies to it (--webhook-allow-private).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// OpsEndpointID is the id of the operations endpoint and of its
// deliveries' endpoint. A partner's endpoint ids are 12 hex digits, so it
// is never one of theirs.
const OpsEndpointID = "ops"

// OpsPartner is the partner of the operations endpoint's deliveries. No
// partner's organisation id (letters, digits, '-' and '_') can be it, so no
// partner lists, reads or redelivers them.
const OpsPartner = "@ops"

// Ops is the operations endpoint: an https URL (or, with AllowPrivate, one
// on this network) and the secret that signs each delivery (16 to 256
// printable ASCII characters). The zero value is none.
type Ops struct {
	URL    string
	Secret string
}

// Validate checks an operations endpoint as Register checks a partner's.
// Its error wraps ErrInvalid; nil means acceptable (the zero value is).
func (o Ops) Validate(allowPrivate bool) error {
	if o == (Ops{}) {
		return nil
	}
	if err := ValidateURL(o.URL, allowPrivate); err != nil {
		return err
	}
	if !validSecret(o.Secret) {
		return ErrInvalid.Errorf("the operations webhook needs a secret of 16 to 256 printable ASCII characters")
	}
	return nil
}

// OpsPayload is the JSON body of a delivery to the operations endpoint.
type OpsPayload struct {
	DeliveryID string          `json:"delivery_id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// endpoints are the endpoints a Service starts with: the operations
// endpoint, when there is one (partners' come from the bucket).
func (o Ops) endpoints() map[string]Endpoint {
	eps := map[string]Endpoint{}
	if o.URL != "" {
		eps[OpsEndpointID] = Endpoint{ID: OpsEndpointID, Partner: OpsPartner, URL: o.URL, Secret: o.Secret}
	}
	return eps
}

// validSecret reports whether s can sign deliveries: 16 to 256 printable
// ASCII characters.
func validSecret(s string) bool {
	return len(s) >= 16 && len(s) <= 256 && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// NotifyOps records a delivery of data (JSON, with no personal data) to
// the operations endpoint, which Run's sender sends with the signature,
// retries and claims of every delivery. key names the notice: the
// delivery id is derived from it, so a second call with the same key, from
// any process, records nothing and reports false. Without an operations
// endpoint it records nothing.
func (s *Service) NotifyOps(ctx context.Context, key, eventType string, data any) (bool, error) {
	if s.opts.Ops.URL == "" {
		return false, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("notify operations: %w", err)
	}
	id := uuid.NewSHA1(deliveryNamespace, []byte(OpsEndpointID+"/"+key)).String()
	now := s.opts.Now().UTC()
	body, _ := json.Marshal(OpsPayload{DeliveryID: id, Type: eventType, OccurredAt: now, Data: raw})
	d := Delivery{ID: id, Endpoint: OpsEndpointID, Partner: OpsPartner, EventType: eventType, Payload: body,
		Status: StatusPending, NextAttempt: now, RetryUntil: now.Add(RetryFor), CreatedAt: now, UpdatedAt: now}
	value, _ := json.Marshal(d)
	switch _, err := s.deliveries.Create(ctx, id, value); {
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil // recorded before, maybe sent already
	case err != nil:
		return false, fmt.Errorf("notify operations: %w", err)
	}
	s.remember(d)
	return true, nil
}

// OpsDeliveries lists the deliveries to the operations endpoint, newest
// first, optionally only those in status.
func (s *Service) OpsDeliveries(status string) []Delivery {
	out := s.Deliveries(OpsPartner, status)
	slices.SortStableFunc(out, func(a, b Delivery) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}
