package httpapi

import (
	"context"
	"net/http"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// keyScope is how a command endpoint scopes the Idempotency-Key it is
// sent before the command carries it.
type keyScope int

const (
	// keyAsSent passes the key on as sent: the service scopes it (intake
	// to the referrer's organisation; a referral's or a worker's command
	// to the aggregates it loads, whose events carry the key).
	keyAsSent keyScope = iota
	// keyPerRoute scopes the key to the method and path: the same key sent
	// to another endpoint (cancel after accept, update after create) is
	// another command, not a retry.
	keyPerRoute
	// noKey: the endpoint reads no key: it appends nothing to the log, or
	// what it appends is not the retry of anything (a new webhook endpoint,
	// a redelivery).
	noKey
)

// reply is a command's answer: its status, its JSON body and, when not
// empty, its Location.
type reply struct {
	status   int
	body     any
	location string
}

// optionalBody is a request body that may be sent empty: the command then
// runs with the zero body.
type optionalBody interface{ optional() }

// command is the one shape of a command endpoint. It decodes the JSON body
// into a B (decodeJSON's strict rules), answers every field check finds
// invalid at once, builds the events.Command with the Idempotency-Key
// scoped as scope says, and runs it, answering with run's reply or its
// error through the error table. check may be nil when the service
// validates the whole body; a B that is an optionalBody may be sent empty.
func command[B any](a *api, scope keyScope, check func(*B) []kernel.FieldError, run func(r *http.Request, b *B, cmd events.Command) (reply, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r, cancel := a.bounded(r)
		defer cancel()
		var b B
		if _, opt := any(&b).(optionalBody); !(opt && r.ContentLength == 0) && !decodeJSON(w, r, &b) {
			return
		}
		if check != nil {
			if errs := check(&b); len(errs) > 0 {
				writeInvalid(w, errs...)
				return
			}
		}
		a.execute(w, r, scope, func(cmd events.Command) (reply, error) { return run(r, &b, cmd) })
	}
}

// bounded gives r's command a.commandTimeout to be stored: past it the
// service's calls fail with the context's deadline, which the error table
// answers 503 with Retry-After. The log's own waits (an election, a
// reconnection) would otherwise hold a client for as long as the fault
// lasts; a retry with the same key finds a command stored after all.
func (a *api) bounded(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), a.commandTimeout)
	return r.WithContext(ctx), cancel
}

// execute is the end of a command endpoint whose body is read: it builds
// the command with the key scoped as scope says, runs it, and answers.
func (a *api) execute(w http.ResponseWriter, r *http.Request, scope keyScope, run func(cmd events.Command) (reply, error)) {
	cmd, err := a.commandOf(r, scope)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rep, err := run(cmd)
	a.respond(w, r, rep, err)
}

// commandOf is the events.Command of the request: the caller as actor, the
// Idempotency-Key scoped as scope says, and the correlation id. Its error
// is kernel.Invalid for a malformed key.
func (a *api) commandOf(r *http.Request, scope keyScope) (events.Command, error) {
	cmd := events.Command{Actor: principalFrom(r.Context()).actor, CorrelationID: correlationID(r)}
	if scope == noKey {
		return cmd, nil
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return events.Command{}, err
	}
	if key != "" && scope == keyPerRoute {
		key = r.Method + " " + r.URL.Path + "\x00" + key
	}
	cmd.IdempotencyKey = key
	return cmd, nil
}

// respond answers with rep, or with err's problem when err is not nil.
func (a *api) respond(w http.ResponseWriter, r *http.Request, rep reply, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if rep.location != "" {
		w.Header().Set("Location", rep.location)
	}
	writeJSON(w, rep.status, rep.body)
}

// createdStatus is 201 for a command that created its resource, else 200
// (a retry, or an update).
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}
