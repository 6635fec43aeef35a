package webhook_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// changes are payloads recorded an hour apart from t0, at sequences
// 10, 20, ...
func changes(payloads ...proto.Message) []kernel.Change {
	out := make([]kernel.Change, len(payloads))
	for i, p := range payloads {
		out[i] = kernel.Change{Sequence: uint64(10 * (i + 1)), At: t0.Add(time.Duration(i) * time.Hour), Payload: p}
	}
	return out
}

func registered(id string) proto.Message {
	return &pathwayv1.WebhookEndpointRegistered{EndpointId: id, Url: "https://partner.example/" + id}
}

func TestEndpoints(t *testing.T) {
	five := []proto.Message{registered("e1"), registered("e2"), registered("e3"), registered("e4"), registered("e5")}
	type decide func(e *webhook.Endpoints) ([]proto.Message, error)
	register := func(id string) decide {
		return func(e *webhook.Endpoints) ([]proto.Message, error) {
			return e.Register(id, "https://partner.example/"+id)
		}
	}
	del := func(id string) decide {
		return func(e *webhook.Endpoints) ([]proto.Message, error) { return e.Delete(id) }
	}
	for _, c := range []struct {
		name  string
		given []proto.Message
		do    decide
		want  []proto.Message
		err   error
	}{
		{"register the first", nil, register("e1"), []proto.Message{registered("e1")}, nil},
		{"register one already there", []proto.Message{registered("e1")}, register("e1"), nil, nil},
		{"register a sixth", five, register("e6"), nil, webhook.ErrConflict},
		{"register after a delete makes room", append(five[:5:5], &pathwayv1.WebhookEndpointDeleted{EndpointId: "e3"}), register("e6"),
			[]proto.Message{registered("e6")}, nil},
		{"delete one", []proto.Message{registered("e1")}, del("e1"), []proto.Message{&pathwayv1.WebhookEndpointDeleted{EndpointId: "e1"}}, nil},
		{"delete one deleted", []proto.Message{registered("e1"), &pathwayv1.WebhookEndpointDeleted{EndpointId: "e1"}}, del("e1"), nil, webhook.ErrNotFound},
		{"delete one never registered", nil, del("e1"), nil, webhook.ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := webhook.NewEndpoints("org-a")
			for _, ch := range changes(c.given...) {
				e.Apply(ch)
			}
			got, err := c.do(e)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("events %v, want %v", got, c.want)
			}
		})
	}
}

func TestDeliveryRounds(t *testing.T) {
	delivered := func(round uint64) proto.Message {
		return &pathwayv1.WebhookDelivered{Round: round, Attempts: 2, StatusCode: 204}
	}
	failed := func(round uint64) proto.Message {
		return &pathwayv1.WebhookDeliveryFailed{Round: round, Attempts: 17, StatusCode: 503, Reason: "the receiver answered 503"}
	}
	for _, c := range []struct {
		name    string
		given   []proto.Message
		want    webhook.Round
		outcome []proto.Message // what recording round 0, delivered, decides
	}{
		{"new", nil, webhook.Round{Status: webhook.StatusPending}, []proto.Message{delivered(0)}},
		{"a notice raised", []proto.Message{notice()}, webhook.Round{Status: webhook.StatusPending}, []proto.Message{delivered(0)}},
		{"delivered", []proto.Message{delivered(0)},
			webhook.Round{Status: webhook.StatusDelivered, Attempts: 2, Code: 204, At: t0}, nil},
		{"failed", []proto.Message{failed(0)},
			webhook.Round{Status: webhook.StatusFailed, Attempts: 17, Code: 503, Reason: "the receiver answered 503", At: t0}, nil},
		{"recorded twice: the first counts", []proto.Message{failed(0), delivered(0)},
			webhook.Round{Status: webhook.StatusFailed, Attempts: 17, Code: 503, Reason: "the receiver answered 503", At: t0}, nil},
		{"redelivered", []proto.Message{failed(0), &pathwayv1.WebhookRedeliveryRequested{}},
			webhook.Round{Round: 20, Status: webhook.StatusPending, At: t0.Add(time.Hour)}, nil},
		{"the replaced round's end comes late", []proto.Message{&pathwayv1.WebhookRedeliveryRequested{}, delivered(0)},
			webhook.Round{Round: 10, Status: webhook.StatusPending, At: t0}, nil},
		{"the redelivery's round ends", []proto.Message{failed(0), &pathwayv1.WebhookRedeliveryRequested{}, delivered(20)},
			webhook.Round{Round: 20, Status: webhook.StatusDelivered, Attempts: 2, Code: 204, At: t0.Add(2 * time.Hour)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := webhook.NewDelivery("d1")
			for _, ch := range changes(c.given...) {
				d.Apply(ch)
			}
			if got := d.Round(); got != c.want {
				t.Errorf("round %+v, want %+v", got, c.want)
			}
			if got := d.Outcome(0, webhook.StatusDelivered, 2, 204, ""); fmt.Sprint(got) != fmt.Sprint(c.outcome) {
				t.Errorf("recording round 0 delivered decides %v, want %v", got, c.outcome)
			}
		})
	}
}

func notice() proto.Message {
	return &pathwayv1.WebhookNoticeRaised{EventType: "referral.waiting", Data: `{"referral_id":"r1"}`}
}

// TestNotify: a notice to the operations endpoint is its delivery's first
// event, raised once.
func TestNotify(t *testing.T) {
	for _, c := range []struct {
		name  string
		given []proto.Message
		want  []proto.Message
	}{
		{"new", nil, []proto.Message{notice()}},
		{"raised already", []proto.Message{notice()}, nil},
		{"raised and delivered", []proto.Message{notice(), &pathwayv1.WebhookDelivered{Attempts: 1, StatusCode: 204}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := webhook.NewDelivery("d1")
			for _, ch := range changes(c.given...) {
				d.Apply(ch)
			}
			if got := d.Notify("referral.waiting", `{"referral_id":"r1"}`); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("notify decides %v, want %v", got, c.want)
			}
		})
	}
}
