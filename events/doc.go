// Package events is pathway's event log: an append-only store of protobuf
// events on a NATS JetStream stream.
//
// Every event is one message on the subject pathway.<aggregate>.<id>; the
// stream sequence is its global position and the consistency token handed
// back to writers. An aggregate's version is the stream sequence of its last
// event (its last subject sequence), 0 before it has any.
//
// Append commits the events of one command all-or-nothing (JetStream atomic
// batch publish), refuses a stale writer with ErrConcurrency (the expected
// last subject sequence), and makes retries idempotent by an idempotency key
// that is recorded with the events, so a retry is recognised however long
// after the original it comes. Load reads one aggregate through the stream's
// per-subject index, Read and Subscribe read the whole log in order from any
// sequence, and Consume runs a durable consumer for a service.
//
// The embedded subpackage runs a nats-server with JetStream inside the
// process, so one binary needs no other setup.
package events
