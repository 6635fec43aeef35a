// Package webhook holds the rules of webhooks: the endpoints an owner
// registers (the Endpoints aggregate, one per owner, with at most
// MaxEndpoints) and the rounds of attempts of one delivery (the Delivery
// aggregate: pending until the endpoint accepts it or its round gives up;
// a redelivery begins a new round). An owner (Owner) is a VCSE partner,
// whose endpoints get its handoffs' events, or a referring organisation,
// whose endpoints get its referrals' status changes.
//
// A delivery is one event on its way to one endpoint. It is not itself an
// event: it follows from the event and the endpoints the owner had
// registered before it, so every view of the log derives the same
// deliveries. Only what became of a delivery is recorded. The one
// exception is a notice to the operations endpoint (Delivery.Notify),
// which nothing else in the log implies: it is its delivery's first event.
package webhook

import (
	"slices"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"google.golang.org/protobuf/proto"
)

// Aggregate types in the event log.
const (
	// AggregateType is a partner's webhook endpoints, pathway.webhook.<partner id>.
	AggregateType = "webhook"
	// ReferrerAggregateType is a referring organisation's webhook
	// endpoints, pathway.referrer_webhook.<ODS code>: a type of its own,
	// since an ODS code could also be a partner's organisation id.
	ReferrerAggregateType = "referrer_webhook"
	// DeliveryType is one delivery, pathway.webhook_delivery.<delivery id>.
	DeliveryType = "webhook_delivery"
)

// Owner kinds.
const (
	OwnerPartner  = "partner"
	OwnerReferrer = "referrer"
)

// Owner is who registers endpoints and receives deliveries: a VCSE
// partner (by its organisation id) or a referring organisation (by its
// ODS code). Other kinds (pathway's own operations endpoint) are the
// webhook service's.
type Owner struct {
	Kind string
	ID   string
}

// Partner is the VCSE partner with organisation id.
func Partner(id string) Owner { return Owner{Kind: OwnerPartner, ID: id} }

// Referrer is the referring organisation with ODS code ods.
func Referrer(ods string) Owner { return Owner{Kind: OwnerReferrer, ID: ods} }

// Key names the owner in views and deliveries: a partner's id as it is
// (as views named partners before there were other owners), otherwise
// "@", the kind, and ":" and the id when there is one. No partner id
// (letters, digits, '-' and '_') holds '@', so keys never collide.
func (o Owner) Key() string {
	switch {
	case o.Kind == OwnerPartner:
		return o.ID
	case o.ID == "":
		return "@" + o.Kind
	}
	return "@" + o.Kind + ":" + o.ID
}

// AggregateType is the type of the owner's Endpoints aggregate, whose id
// is the owner's ID; "" for a kind that registers none.
func (o Owner) AggregateType() string {
	switch o.Kind {
	case OwnerPartner:
		return AggregateType
	case OwnerReferrer:
		return ReferrerAggregateType
	}
	return ""
}

// OwnerOf is the owner of the Endpoints aggregate of type typ and id;
// false for an aggregate of another type.
func OwnerOf(typ, id string) (Owner, bool) {
	switch typ {
	case AggregateType:
		return Partner(id), true
	case ReferrerAggregateType:
		return Referrer(id), true
	}
	return Owner{}, false
}

// MaxEndpoints is how many endpoints one owner may have.
const MaxEndpoints = 5

var (
	// ErrConflict reports a command the current state refuses (too many
	// endpoints). It is a kernel.Conflict error; the errors that wrap it say
	// what.
	ErrConflict = kernel.Errorf(kernel.Conflict, "webhooks: conflict")
	// ErrNotFound reports an endpoint the partner does not have. It is a
	// kernel.NotFound error.
	ErrNotFound = kernel.Errorf(kernel.NotFound, "webhooks: not found")
)

// Endpoints is the state of an owner's webhook aggregate: the endpoints
// it has, oldest first. The zero value has none.
type Endpoints struct {
	partner string
	version uint64
	ids     []string
}

// NewEndpoints returns the endpoints, with no events, of the owner whose
// ID is partner (the aggregate's id).
func NewEndpoints(partner string) *Endpoints { return &Endpoints{partner: partner} }

// Apply applies one event.
func (e *Endpoints) Apply(c kernel.Change) {
	e.version = c.Sequence
	switch p := c.Payload.(type) {
	case *pathwayv1.WebhookEndpointRegistered:
		if !slices.Contains(e.ids, p.GetEndpointId()) {
			e.ids = append(e.ids, p.GetEndpointId())
		}
	case *pathwayv1.WebhookEndpointDeleted:
		e.ids = slices.DeleteFunc(e.ids, func(id string) bool { return id == p.GetEndpointId() })
	}
}

// Partner is the partner's organisation id.
func (e *Endpoints) Partner() string { return e.partner }

// Version is the sequence of the aggregate's last event.
func (e *Endpoints) Version() uint64 { return e.version }

// Has reports whether the partner has endpoint id.
func (e *Endpoints) Has(id string) bool { return slices.Contains(e.ids, id) }

// Register decides to add endpoint id at url, which the caller has
// validated. Registering an endpoint the partner has is no change.
// Errors: ErrConflict when the partner has MaxEndpoints.
func (e *Endpoints) Register(id, url string) ([]proto.Message, error) {
	if e.Has(id) {
		return nil, nil
	}
	if len(e.ids) >= MaxEndpoints {
		return nil, ErrConflict.Errorf("at most %d endpoints per organisation; delete one first", MaxEndpoints)
	}
	return []proto.Message{&pathwayv1.WebhookEndpointRegistered{EndpointId: id, Url: url}}, nil
}

// Delete decides to remove endpoint id. Errors: ErrNotFound.
func (e *Endpoints) Delete(id string) ([]proto.Message, error) {
	if !e.Has(id) {
		return nil, ErrNotFound.Errorf("no such webhook")
	}
	return []proto.Message{&pathwayv1.WebhookEndpointDeleted{EndpointId: id}}, nil
}

// Status is where a delivery's current round of attempts stands.
type Status string

// Statuses.
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
)

// Round is a delivery's current round of attempts: the first (Round 0)
// from the handoff event on, or the one a redelivery began.
type Round struct {
	// Round is 0 for the first round, else the sequence of the
	// WebhookRedeliveryRequested that began it.
	Round  uint64 `json:"round,omitempty"`
	Status Status `json:"status"`
	// Attempts, Code and Reason are those the round ended with.
	Attempts int    `json:"attempts,omitempty"`
	Code     int    `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// At is when the round began or, once ended, ended.
	At time.Time `json:"at"`
}

// Pending is the first round of a delivery made at.
func Pending(at time.Time) Round { return Round{Status: StatusPending, At: at} }

// After is the round after the delivery event in c: a redelivery begins a
// new round; an outcome ends the current round when it is that round's
// and the round is pending, else it changes nothing (an outcome of a round
// a redelivery replaced, or recorded twice).
func After(cur Round, c kernel.Change) Round {
	switch p := c.Payload.(type) {
	case *pathwayv1.WebhookRedeliveryRequested:
		return Round{Round: c.Sequence, Status: StatusPending, At: c.At}
	case *pathwayv1.WebhookDelivered:
		if p.GetRound() == cur.Round && cur.Status == StatusPending {
			return Round{Round: cur.Round, Status: StatusDelivered, Attempts: int(p.GetAttempts()), Code: int(p.GetStatusCode()), At: c.At}
		}
	case *pathwayv1.WebhookDeliveryFailed:
		if p.GetRound() == cur.Round && cur.Status == StatusPending {
			return Round{Round: cur.Round, Status: StatusFailed, Attempts: int(p.GetAttempts()), Code: int(p.GetStatusCode()), Reason: p.GetReason(), At: c.At}
		}
	}
	return cur
}

// Delivery is the state of one delivery's aggregate: its current round.
// A delivery with no events is in its first round, pending.
type Delivery struct {
	id      string
	version uint64
	round   Round
}

// NewDelivery returns a delivery with no events.
func NewDelivery(id string) *Delivery { return &Delivery{id: id, round: Round{Status: StatusPending}} }

// Apply applies one event.
func (d *Delivery) Apply(c kernel.Change) {
	d.version = c.Sequence
	d.round = After(d.round, c)
}

// Round is the delivery's current round.
func (d *Delivery) Round() Round { return d.round }

// Notify decides to raise a notice of eventType with data (JSON, with no
// personal data) as this delivery's first event: a delivery to the
// operations endpoint. A delivery that has events already (the notice was
// raised) is no change.
func (d *Delivery) Notify(eventType, data string) []proto.Message {
	if d.version != 0 {
		return nil
	}
	return []proto.Message{&pathwayv1.WebhookNoticeRaised{EventType: eventType, Data: data}}
}

// Redeliver decides to begin a new round of attempts.
func (d *Delivery) Redeliver() []proto.Message {
	return []proto.Message{&pathwayv1.WebhookRedeliveryRequested{}}
}

// Outcome decides to record how round ended: delivered, or failed with
// reason, after attempts with the last answer's code (0 for none). An
// outcome of a round that is not the current one, or not pending, is
// recorded already or replaced by a redelivery: no change.
func (d *Delivery) Outcome(round uint64, status Status, attempts, code int, reason string) []proto.Message {
	if round != d.round.Round || d.round.Status != StatusPending {
		return nil
	}
	switch status {
	case StatusDelivered:
		return []proto.Message{&pathwayv1.WebhookDelivered{Round: round, Attempts: uint32(attempts), StatusCode: int32(code)}}
	case StatusFailed:
		return []proto.Message{&pathwayv1.WebhookDeliveryFailed{Round: round, Attempts: uint32(attempts), StatusCode: int32(code), Reason: reason}}
	}
	return nil
}
