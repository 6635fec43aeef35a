// Package aggregate tells the command mechanism of the event log
// (events.Do, events.Execute, events.Get) how to build each of pathway's
// aggregates from its events: referral, link worker, person, VCSE partner
// and service, handoff, and a partner's webhooks and their deliveries.
// Every command of every aggregate goes through that one mechanism: load,
// decide, append at the version, retry on a conflict, answer a retried
// idempotency key with the original result.
//
// The kinds are values, never changed after start; they are safe for
// concurrent use.
package aggregate

import (
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"google.golang.org/protobuf/proto"
)

// Change turns a log record into a change as the domain applies it:
// position, recorded time, actor, payload and erasure.
func Change(rec events.Record) kernel.Change {
	return kernel.Change{Sequence: rec.Sequence, At: rec.Envelope.GetRecordedAt().AsTime(), Actor: rec.Envelope.GetActor(), Payload: rec.Payload, Erased: rec.Erased}
}

// Changes turns log records into changes.
func Changes(recs []events.Record) []kernel.Change {
	out := make([]kernel.Change, len(recs))
	for i, r := range recs {
		out[i] = Change(r)
	}
	return out
}

// applier is the one Apply shape every aggregate has.
type applier interface{ Apply(kernel.Change) }

func kind[S applier](typ string, newState func(id string) S) events.Kind[S] {
	return events.Kind[S]{Type: typ, New: newState, Apply: func(s S, rec events.Record) { s.Apply(Change(rec)) }}
}

// cloning gives k a Clone, so the store keeps its states between loads:
// for aggregates whose histories grow long (a link worker's caseload sees
// two events for every person it ever took on).
func cloning[S any](k events.Kind[S], clone func(S) S) events.Kind[S] {
	k.Clone = clone
	return k
}

// The kinds of pathway's aggregates.
var (
	Referral = kind(referral.AggregateType, func(id string) *referral.Referral { return referral.Replay(id, nil) })
	Worker   = cloning(kind(worker.AggregateType, func(id string) *worker.Worker { return worker.Replay(id, nil) }), (*worker.Worker).Clone)
	Person   = kind(person.AggregateType, person.New)
	Partner  = kind(partner.PartnerType, func(id string) *partner.Partner { return partner.ReplayPartner(id, nil) })
	Service  = kind(partner.ServiceType, func(id string) *partner.Service { return partner.ReplayService(id, nil) })
	Handoff  = kind(handoff.AggregateType, func(id string) *handoff.Handoff { return handoff.Replay(id, nil) })
	// Webhook is a partner's webhook endpoints, by the partner's id.
	Webhook = kind(webhook.AggregateType, webhook.NewEndpoints)
	// ReferrerWebhook is a referring organisation's webhook endpoints, by
	// its ODS code.
	ReferrerWebhook = kind(webhook.ReferrerAggregateType, webhook.NewEndpoints)
	WebhookDelivery = kind(webhook.DeliveryType, webhook.NewDelivery)
)

// WebhookOf is the kind of owner's webhook endpoints (Webhook or
// ReferrerWebhook), whose id is owner.ID; false for an owner that
// registers none.
func WebhookOf(owner webhook.Owner) (events.Kind[*webhook.Endpoints], bool) {
	switch owner.AggregateType() {
	case webhook.AggregateType:
		return Webhook, true
	case webhook.ReferrerAggregateType:
		return ReferrerWebhook, true
	}
	return events.Kind[*webhook.Endpoints]{}, false
}

// exister is an aggregate that knows whether it has been created.
type exister interface{ Exists() bool }

// Existing wraps a decide function so that it fails with
// events.ErrNotFound on an aggregate that does not exist, instead of
// deciding from an empty state.
func Existing[S exister](decide func(S) ([]proto.Message, error)) func(S) ([]proto.Message, error) {
	return func(s S) ([]proto.Message, error) {
		if !s.Exists() {
			return nil, events.ErrNotFound
		}
		return decide(s)
	}
}
