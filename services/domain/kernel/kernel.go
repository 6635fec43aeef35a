// Package kernel holds the types every domain package of pathway shares:
// an event as an aggregate applies it (Change), an invalid field of a
// command (FieldError) and the one error type with a kind (Error) that
// the HTTP and FHIR adapters map to their answers. It imports no NATS,
// HTTP or storage.
package kernel

import (
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// Change is one event of an aggregate as the aggregate sees it: its
// position in the log, when it was recorded, who caused it, the payload,
// and whether its personal fields were erased.
type Change struct {
	Sequence uint64
	At       time.Time
	Actor    *pathwayv1.Actor
	Payload  proto.Message
	// Erased reports that the event's personal fields were erased (its
	// data key destroyed): Payload holds only the fields kept in clear.
	Erased bool
}

// FieldError is one invalid field of a command: its path in the JSON body
// (e.g. "person.nhs_number") and why it is invalid. It never repeats the
// value, which may be personal data. Missing is set when the field is
// required and absent (rather than present with a wrong value), so an
// adapter can say so without reading Reason.
type FieldError struct {
	Field   string `json:"field"`
	Reason  string `json:"reason"`
	Missing bool   `json:"-"`
}
