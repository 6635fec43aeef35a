package events

import "google.golang.org/protobuf/proto"

// TypesOf returns the event type names of payloads (one empty message of
// each type is enough), e.g. for ReadTypes or a projection's EventTypes.
func TypesOf(payloads ...proto.Message) []string {
	out := make([]string, len(payloads))
	for i, p := range payloads {
		out[i] = TypeOf(p)
	}
	return out
}
