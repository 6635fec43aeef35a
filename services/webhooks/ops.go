package webhooks

// The operations endpoint: notices pathway raises itself (an urgent or
// safeguarding referral waiting too long: package alerts) sent to the
// operator's receiver. A notice is an event of its delivery's aggregate
// (WebhookNoticeRaised); the view makes it a delivery, signed, retried and
// claimed exactly as a partner's deliveries are. The endpoint is
// configured, not registered (serve's --ops-webhook and
// PATHWAY_OPS_WEBHOOK_SECRET), so neither it nor its secret is in the log,
// and the same rule on private addresses applies to it
// (--webhook-allow-private).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"google.golang.org/protobuf/proto"
)

// OpsEndpointID is the id of the operations endpoint and of its
// deliveries' endpoint. A partner's endpoint ids are 12 hex digits, so it
// is never one of theirs.
const OpsEndpointID = "ops"

// OpsPartner is the owner key (webhook.Owner.Key) of the operations
// endpoint's deliveries, OpsOwner's. No partner's organisation id
// (letters, digits, '-' and '_') or other owner's key can be it, so no
// partner or referrer lists, reads or redelivers them.
const OpsPartner = "@ops"

// OpsOwner owns the operations endpoint and its deliveries.
var OpsOwner = webhook.Owner{Kind: "ops"}

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

// opsEndpoint is the operations endpoint, with its secret; false when
// there is none.
func (s *Service) opsEndpoint() (Endpoint, bool) {
	o := s.opts.Ops
	if o.URL == "" {
		return Endpoint{}, false
	}
	return Endpoint{ID: OpsEndpointID, Partner: OpsPartner, URL: o.URL, Secret: o.Secret}, true
}

// opsDeliveryID is the id of the delivery of the notice named key.
func opsDeliveryID(key string) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(OpsEndpointID+"/"+key)).String()
}

// opsDelivery is the view's delivery of notice e, raised at seq and at,
// to the operations endpoint.
func opsDelivery(id string, e *pathwayv1.WebhookNoticeRaised, seq uint64, at time.Time) *viewDelivery {
	data := json.RawMessage(e.GetData())
	if !json.Valid(data) {
		data = nil
	}
	body, _ := json.Marshal(OpsPayload{DeliveryID: id, Type: e.GetEventType(), OccurredAt: at, Data: data})
	return &viewDelivery{Endpoint: OpsEndpointID, Partner: OpsPartner, Sequence: seq, Event: e.GetEventType(), Payload: body,
		CreatedAt: at, Round: webhook.Pending(at)}
}

// validSecret reports whether s can sign deliveries: 16 to 256 printable
// ASCII characters.
func validSecret(s string) bool {
	return len(s) >= 16 && len(s) <= 256 && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// NotifyOps raises a notice of eventType with data (JSON, with no
// personal data) to the operations endpoint: the first event of a delivery
// (WebhookNoticeRaised), which the view makes a delivery to the endpoint
// and Run's sender sends with the signature, retries and claims of every
// delivery. key names the notice: the delivery id is derived from it, so a
// second call with the same key, from any process, records nothing and
// reports false. Without an operations endpoint it records nothing. It
// returns once the view holds the delivery (so Run must be running).
func (s *Service) NotifyOps(ctx context.Context, key, eventType string, data any) (bool, error) {
	if s.opts.Ops.URL == "" {
		return false, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("notify operations: %w", err)
	}
	id := opsDeliveryID(key)
	var recorded bool
	// No idempotency key shared by the processes: one that lost the race
	// decides again, from the notice the other raised, and records nothing.
	seq, err := events.Do(ctx, s.store, aggregate.WebhookDelivery, id, events.Command{Actor: senderActor}, func(d *webhook.Delivery) ([]proto.Message, error) {
		evs := d.Notify(eventType, string(raw))
		recorded = len(evs) > 0
		return evs, nil
	})
	if err != nil {
		return false, fmt.Errorf("notify operations: %w", err)
	}
	// Read your write: the sender sends from the view.
	if err := s.engine.WaitFor(ctx, seq); err != nil {
		return recorded, fmt.Errorf("notify operations: %w", err)
	}
	return recorded, nil
}

// OpsDeliveries lists the deliveries to the operations endpoint, newest
// first, optionally only those in status.
func (s *Service) OpsDeliveries(status string) []Delivery {
	out := s.Deliveries(OpsOwner, status)
	slices.SortStableFunc(out, func(a, b Delivery) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}
