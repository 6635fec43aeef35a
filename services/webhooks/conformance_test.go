package webhooks_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/webhooks"
	"google.golang.org/protobuf/proto"
)

// TestViewConformance runs the read-model conformance suite on the webhook
// service's view, over the generated history with what a partner and the
// sender add to it: endpoints registered and deleted, notices raised to
// the operations endpoint, deliveries delivered or failed, and
// redelivered.
func TestViewConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:     func() projections.Projection { return webhooks.NewView(webhooks.ViewName) },
		View:    func(p projections.Projection) any { return webhooks.ViewState(p.(*webhooks.View)) },
		History: webhookHistory(1, 1000),
	})
}

// webhookHistory is conformance.Episodes(seed, n) with webhook events
// among it: every partner registers one or two endpoints as it joins and
// now and then deletes one and registers another; after most commands
// the sender records the end of a delivery's round; now and then a
// notice is raised to the operations endpoint, and a partner redelivers
// a delivery. Delivery ids are derived from sequences, which
// are those of a log the history alone is appended to, from 1.
func webhookHistory(seed uint64, n int) []conformance.Command {
	rng := rand.New(rand.NewPCG(seed, 0x776562))
	var (
		out       []conformance.Command
		seq       uint64
		nextEP    int
		notices   int
		endpoints = map[string][]string{} // by partner
		partnerOf = map[string]string{}   // by handoff
		open      []round                 // rounds under way
		ended     []string                // deliveries whose round ended
	)
	emit := func(c conformance.Command) []uint64 {
		out = append(out, c)
		var seqs []uint64
		for _, ch := range c.Changes {
			for range ch.Events {
				seq++
				seqs = append(seqs, seq)
			}
		}
		return seqs
	}
	one := func(c conformance.Command, agg events.Aggregate, e proto.Message) uint64 {
		return emit(conformance.Command{At: c.At, Changes: []conformance.Change{{Aggregate: agg, Events: []proto.Message{e}}}})[0]
	}
	register := func(c conformance.Command, partner string) {
		nextEP++
		id := []byte("000000000000")
		for i, x := 11, nextEP; x > 0; i, x = i-1, x/16 {
			id[i] = "0123456789abcdef"[x%16]
		}
		endpoints[partner] = append(endpoints[partner], string(id))
		one(c, events.Aggregate{Type: webhook.AggregateType, ID: partner}, &pathwayv1.WebhookEndpointRegistered{EndpointId: string(id), Url: "https://partner.example/hook/" + string(id)})
	}
	for _, c := range conformance.Episodes(seed, n) {
		seqs := emit(c)
		i := 0
		for _, ch := range c.Changes {
			for _, e := range ch.Events {
				s := seqs[i]
				i++
				switch p := e.(type) {
				case *pathwayv1.PartnerRegistered:
					for range 1 + rng.IntN(2) {
						register(c, ch.Aggregate.ID)
					}
				case *pathwayv1.HandoffRequested:
					partnerOf[ch.Aggregate.ID] = p.GetPartnerId()
				}
				if ch.Aggregate.Type == handoff.AggregateType && partnerOf[ch.Aggregate.ID] != "" {
					for _, ep := range endpoints[partnerOf[ch.Aggregate.ID]] {
						open = append(open, round{webhooks.DeliveryID(ep, s), 0})
					}
				}
			}
		}
		if rng.Float64() < 0.03 {
			notices++
			id := fmt.Sprintf("00000000-0000-5000-8000-%012x", notices)
			one(c, events.Aggregate{Type: webhook.DeliveryType, ID: id},
				&pathwayv1.WebhookNoticeRaised{EventType: "referral.waiting", Data: fmt.Sprintf(`{"notice":%d}`, notices)})
			open = append(open, round{id, 0})
		}
		if len(open) > 0 && rng.Float64() < 0.15 {
			k := rng.IntN(len(open))
			r := open[k]
			open = slices.Delete(open, k, k+1)
			var e proto.Message = &pathwayv1.WebhookDelivered{Round: r.round, Attempts: uint32(1 + rng.IntN(3)), StatusCode: 204}
			if rng.Float64() < 0.2 {
				e = &pathwayv1.WebhookDeliveryFailed{Round: r.round, Attempts: 17, StatusCode: 503, Reason: "the receiver answered 503"}
			}
			one(c, events.Aggregate{Type: webhook.DeliveryType, ID: r.id}, e)
			ended = append(ended, r.id)
		}
		if len(ended) > 0 && rng.Float64() < 0.05 {
			k := rng.IntN(len(ended))
			id := ended[k]
			ended = slices.Delete(ended, k, k+1)
			s := one(c, events.Aggregate{Type: webhook.DeliveryType, ID: id}, &pathwayv1.WebhookRedeliveryRequested{})
			open = append(open, round{id, s})
		}
		if rng.Float64() < 0.02 {
			for _, partner := range slices.Sorted(maps.Keys(endpoints)) {
				eps := endpoints[partner]
				if len(eps) == 0 {
					continue
				}
				one(c, events.Aggregate{Type: webhook.AggregateType, ID: partner}, &pathwayv1.WebhookEndpointDeleted{EndpointId: eps[0]})
				endpoints[partner] = eps[1:]
				register(c, partner)
				break
			}
		}
	}
	return out
}

type round struct {
	id    string
	round uint64
}
