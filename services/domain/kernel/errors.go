package kernel

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is what kind of failure an error is: what a caller can do about
// it. The adapters map each kind to one answer (an HTTP status, a FHIR
// issue code); they never read an error's text.
type Kind uint8

const (
	// Internal is the kind of an error that carries none: a broken
	// invariant or a storage failure. Adapters log it and answer without
	// detail.
	Internal Kind = iota
	// Invalid is a command that can never succeed as sent: a missing or
	// malformed field (Error.Fields lists them) or an argument out of
	// range. Change the request.
	Invalid
	// NotFound is a command or read naming something that does not exist
	// (or that the caller may not know exists).
	NotFound
	// Conflict is a command the current state refuses: cancelling a
	// closed referral, a second open episode, a full caseload. It may
	// succeed once the state changes.
	Conflict
	// Forbidden is a command the caller's role or organisation may not
	// make.
	Forbidden
	// Busy is a command that lost to concurrent changes too often; the
	// same command may succeed when retried.
	Busy
	// Unavailable is a command that could not complete in time: the log
	// had no leader or the deadline passed. Retry later with the same
	// idempotency key.
	Unavailable
)

var kindNames = [...]string{Internal: "internal", Invalid: "invalid", NotFound: "not found", Conflict: "conflict",
	Forbidden: "forbidden", Busy: "busy", Unavailable: "unavailable"}

// Kinds lists every kind but Internal, for tables that must cover them.
var Kinds = []Kind{Invalid, NotFound, Conflict, Forbidden, Busy, Unavailable}

// String names the kind in plain English ("not found").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is pathway's one error type with a kind. Message is plain
// English that an API client may read (never personal data); Fields lists
// the invalid fields of an Invalid command; Err is the cause it wraps,
// often a package's sentinel (referral.ErrConflict), so errors.Is on the
// sentinel holds. An Error is not modified after it is made and is safe
// for concurrent use.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	Err     error
}

// Errorf returns an error of kind k with the message format makes.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// InvalidFields returns an Invalid error listing every invalid field.
func InvalidFields(fields ...FieldError) *Error {
	return &Error{Kind: Invalid, Fields: fields}
}

// Errorf returns an error of e's kind with the message format makes,
// wrapping e: errors.Is(err, e) holds. It is how a package's sentinel
// (ErrConflict) says what exactly is not allowed.
func (e *Error) Errorf(format string, args ...any) *Error {
	return &Error{Kind: e.Kind, Message: fmt.Sprintf(format, args...), Err: e}
}

// WithFields returns an error of e's kind listing the invalid fields,
// wrapping e: errors.Is(err, e) holds.
func (e *Error) WithFields(fields ...FieldError) *Error {
	return &Error{Kind: e.Kind, Fields: fields, Err: e}
}

// Error returns the cause's text, then the message or the fields
// ("field: reason; ..."), for logs.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && len(e.Fields) > 0 {
		lines := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			lines[i] = f.Field + ": " + f.Reason
		}
		msg = strings.Join(lines, "; ")
	}
	switch {
	case e.Err != nil && msg != "":
		return e.Err.Error() + ": " + msg
	case e.Err != nil:
		return e.Err.Error()
	case msg == "":
		return e.Kind.String()
	}
	return msg
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or Internal
// when there is none (a nil err is Internal too).
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return Internal
}
