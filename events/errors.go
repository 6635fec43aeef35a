package events

import (
	"errors"
	"fmt"
)

var (
	// ErrConcurrency reports that an aggregate changed since the writer read
	// it: its version was not the expected one. Reload and decide again.
	ErrConcurrency = errors.New("events: concurrent modification")

	// ErrNotFound reports that an aggregate has no events.
	ErrNotFound = errors.New("events: not found")

	// ErrInvalid reports an argument that can never succeed: an invalid
	// aggregate, an empty append, events of one append with different
	// idempotency keys, a payload that is not a pathway event.
	ErrInvalid = errors.New("events: invalid")

	// ErrUnknownType reports an event whose type this build does not know
	// (it was written by a newer version, or by something else).
	ErrUnknownType = errors.New("events: unknown event type")

	// ErrCorrupt reports a message whose body is not a valid envelope.
	ErrCorrupt = errors.New("events: corrupt event")

	// ErrUnavailable reports that the log could not answer in time: no
	// stream leader, or no replica caught up with it. Try again later.
	ErrUnavailable = errors.New("events: log unavailable")

	// ErrErased reports that an aggregate's personal data was erased: its
	// data key was destroyed, so its sealed fields can never be read
	// again, nor new ones written.
	ErrErased = errors.New("events: personal data erased")

	// ErrBroken reports a broken invariant: what trying again cannot mend,
	// such as a consumer halted on an event, a projection that cannot
	// apply the log, or a configuration the server refuses. A
	// long-running part returns an error wrapping it to stop the process;
	// any other error of a part is transient, and the part is run again
	// after a pause (services/supervisor).
	ErrBroken = errors.New("events: broken invariant")
)

// DecodeError reports a message of the log that could not be decoded. It
// names the stream sequence so an operator can find the message; it wraps
// ErrUnknownType or ErrCorrupt.
type DecodeError struct {
	Sequence uint64
	Subject  string
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode event at stream sequence %d (%s): %v", e.Sequence, e.Subject, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
