package events

import (
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// Event is one event to append: a payload from package pathway.v1 and the
// envelope fields the writer knows. The store fills in the rest (event id
// when empty, recorded time, aggregate, type).
type Event struct {
	// Payload is the domain event, e.g. *pathwayv1.ReferralReceived.
	Payload proto.Message
	// ID is the event id; when empty the store assigns a UUIDv7.
	ID string
	// OccurredAt is when it happened; when zero, the recorded time.
	OccurredAt time.Time
	// Actor is who caused it.
	Actor *pathwayv1.Actor
	// CorrelationID and CausationID link the event to the request and to
	// the command or event that caused it.
	CorrelationID string
	CausationID   string
	// SchemaVersion of the payload; 0 means 1.
	SchemaVersion uint32
	// IdempotencyKey identifies the command. A retry of an append whose
	// events carry the same key (and the same expected version) returns the
	// original sequence instead of appending again. Every event of one
	// Append must carry the same key, or none. Only its SHA-256 is stored.
	IdempotencyKey string
}

// Record is one event read from the log.
type Record struct {
	// Sequence is the event's stream sequence: its global position.
	Sequence uint64
	// Aggregate is the aggregate the event belongs to.
	Aggregate Aggregate
	// Type is the full protobuf name of the payload, e.g.
	// "pathway.v1.ReferralReceived".
	Type string
	// Envelope is the decoded envelope, with its payload still packed.
	Envelope *pathwayv1.Envelope
	// Payload is the decoded domain event. Its sealed fields (personal
	// data, see Keys) are set only when the reader asked for them to be
	// opened and the aggregate's data key still exists.
	Payload proto.Message
	// Erased reports that the event's sealed fields were asked for and
	// can never be read: the aggregate's data key was destroyed (erasure).
	// Payload then holds the fields kept in clear.
	Erased bool
}

// TypeOf returns the event type name of a payload, as carried in the
// envelope and the Pathway-Event-Type header.
func TypeOf(payload proto.Message) string {
	return string(payload.ProtoReflect().Descriptor().FullName())
}
