package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"google.golang.org/protobuf/proto"
)

// backfilledKey marks in EndpointBucket that the endpoints it held before
// they were in the log have been registered in the log.
const backfilledKey = "endpoints-backfilled"

// oldConsumer is the durable consumer that made deliveries before the
// view did.
const oldConsumer = "webhooks"

// Backfill registers in the log, once per log, the endpoints that
// EndpointBucket held before endpoints were events (whole Endpoints with
// their partner and URL), each idempotently, so an interrupted backfill is
// simply run again; and it deletes the durable consumer that made
// deliveries then. Deliveries start from the registrations: those still
// pending in the old bucket at the upgrade are not sent. It returns at
// once when done before. Run runs it.
func (s *Service) Backfill(ctx context.Context) error {
	if _, err := s.secrets.Get(ctx, backfilledKey); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("backfill webhook endpoints: %w", err)
	}
	keys, err := s.secrets.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("backfill webhook endpoints: %w", err)
	}
	n := 0
	for id := range keys.Keys() {
		e, err := s.secrets.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("backfill webhook endpoints: %w", err)
		}
		var ep Endpoint
		if json.Unmarshal(e.Value(), &ep) != nil || ep.Partner == "" || ep.URL == "" {
			continue // written with the log
		}
		cmd := events.Command{Actor: senderActor, IdempotencyKey: "backfill\x00" + id}
		if _, err := events.Do(ctx, s.store, aggregate.Webhook, ep.Partner, cmd, func(e *webhook.Endpoints) ([]proto.Message, error) {
			if e.Has(id) {
				return nil, nil
			}
			return []proto.Message{&pathwayv1.WebhookEndpointRegistered{EndpointId: id, Url: ep.URL}}, nil
		}); err != nil {
			return fmt.Errorf("backfill webhook endpoint %s: %w", id, err)
		}
		n++
	}
	if err := s.js.DeleteConsumer(ctx, s.store.Stream(), oldConsumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("backfill webhook endpoints: delete the consumer %s: %w", oldConsumer, err)
	}
	if _, err := s.secrets.Put(ctx, backfilledKey, []byte("1")); err != nil {
		return fmt.Errorf("backfill webhook endpoints: %w", err)
	}
	if n > 0 {
		s.log.Info("registered webhook endpoints in the log", "endpoints", n)
	}
	return nil
}
