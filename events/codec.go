package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// Message headers written on every event. Consumers can route and skip on
// them without decoding the body. None carries personal data.
const (
	// HeaderEventType carries the payload's full protobuf name.
	HeaderEventType = "Pathway-Event-Type"
	// HeaderEventID carries the event id.
	HeaderEventID = "Pathway-Event-Id"
	// HeaderIdempotency carries the SHA-256 (hex) of the command's
	// idempotency key, when it had one.
	HeaderIdempotency = "Pathway-Idempotency-Key-Hash"
)

const payloadPackage = "pathway.v1."

// hashKey returns the stored form of an idempotency key.
func hashKey(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// encode builds the NATS message of one event.
func encode(env *pathwayv1.Envelope, subject string) (*nats.Msg, error) {
	data, err := proto.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", env.GetEventType(), err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(HeaderEventType, env.GetEventType())
	msg.Header.Set(HeaderEventID, env.GetEventId())
	if env.GetIdempotencyKeyHash() != "" {
		msg.Header.Set(HeaderIdempotency, env.GetIdempotencyKeyHash())
	}
	return msg, nil
}

// Decode decodes the body of a message stored at seq on subject. It never
// panics; a body that is not a pathway event gives a *DecodeError that
// wraps ErrCorrupt or ErrUnknownType.
func Decode(seq uint64, subject string, headerType string, data []byte) (Record, error) {
	fail := func(err error) (Record, error) {
		return Record{}, &DecodeError{Sequence: seq, Subject: subject, Err: err}
	}
	agg, ok := aggregateOf(subject)
	if !ok {
		return fail(fmt.Errorf("%w: subject is not pathway.<aggregate>.<id>", ErrCorrupt))
	}
	env := &pathwayv1.Envelope{}
	if err := proto.Unmarshal(data, env); err != nil {
		return fail(fmt.Errorf("%w: envelope: %v", ErrCorrupt, err))
	}
	if env.GetPayload() == nil || env.GetEventType() == "" {
		return fail(fmt.Errorf("%w: envelope has no payload or event type", ErrCorrupt))
	}
	if headerType != "" && headerType != env.GetEventType() {
		return fail(fmt.Errorf("%w: header type %q, envelope type %q", ErrCorrupt, headerType, env.GetEventType()))
	}
	if env.GetAggregateType() != agg.Type || env.GetAggregateId() != agg.ID {
		return fail(fmt.Errorf("%w: envelope aggregate %s/%s on subject of %s", ErrCorrupt, env.GetAggregateType(), env.GetAggregateId(), agg))
	}
	payload, err := env.GetPayload().UnmarshalNew()
	switch {
	case errors.Is(err, protoregistry.NotFound):
		return fail(fmt.Errorf("%w %q", ErrUnknownType, env.GetPayload().GetTypeUrl()))
	case err != nil:
		return fail(fmt.Errorf("%w: payload: %v", ErrCorrupt, err))
	}
	if got := TypeOf(payload); got != env.GetEventType() {
		return fail(fmt.Errorf("%w: payload is %s, envelope says %s", ErrCorrupt, got, env.GetEventType()))
	}
	return Record{Sequence: seq, Aggregate: agg, Type: env.GetEventType(), Envelope: env, Payload: payload}, nil
}

// pack wraps a payload in an Any, refusing anything outside pathway.v1.
func pack(payload proto.Message) (*anypb.Any, error) {
	if payload == nil {
		return nil, invalidf("event without payload")
	}
	name := TypeOf(payload)
	if len(name) <= len(payloadPackage) || name[:len(payloadPackage)] != payloadPackage {
		return nil, invalidf("payload %s is not a pathway.v1 event", name)
	}
	if _, err := protoregistry.GlobalTypes.FindMessageByName(payload.ProtoReflect().Descriptor().FullName()); err != nil {
		return nil, invalidf("payload %s is not registered", name)
	}
	return anypb.New(payload)
}

func msgID(keyHash string, index int) string {
	return keyHash[:32] + "-" + strconv.Itoa(index)
}
