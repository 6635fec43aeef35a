package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
)

// problemKind is how the API answers one kind of error.
type problemKind struct {
	Status int
	Type   string // the problem type, under problemBase
	Title  string
	// RetryAfter, when not 0, is the Retry-After header in seconds.
	RetryAfter int
	// Detail answers an error that has no message of its own.
	Detail string
}

// problemKinds is the one table from an error's kind to its answer: the
// problem+json of the JSON API and the status of the FHIR endpoints (whose
// issue codes are fhir.IssueCode's). An Invalid error that lists fields is
// answered as validation, with every field in errors.
var problemKinds = map[kernel.Kind]problemKind{
	kernel.Invalid:     {http.StatusBadRequest, "invalid", "Invalid request", 0, "the request is not valid"},
	kernel.NotFound:    {http.StatusNotFound, "not-found", "Not found", 0, "no such resource"},
	kernel.Conflict:    {http.StatusConflict, "conflict", "Not allowed in the current state", 0, "the current state does not allow this"},
	kernel.Forbidden:   {http.StatusForbidden, "forbidden", "Forbidden", 0, "your key may not do this"},
	kernel.Busy:        {http.StatusServiceUnavailable, "busy", "Busy", 1, "too many concurrent changes; retry with the same Idempotency-Key"},
	kernel.Unavailable: {http.StatusServiceUnavailable, "unavailable", "Temporarily unavailable", 1, "the request did not complete in time; retry with the same Idempotency-Key"},
	kernel.Internal:    {http.StatusInternalServerError, "internal", "Internal error", 0, "the request failed; it is safe to retry with the same Idempotency-Key"},
}

// validationKind answers an Invalid error that lists its fields.
var validationKind = problemKind{http.StatusBadRequest, "validation", "Invalid fields", 0, ""}

// edgeError is err as the edge answers it: the *kernel.Error in its
// chain, or one made here for the errors of the event store and the
// context, which the domain does not know; anything else is Internal.
// Its Message is safe to send: an Internal error's is the table's.
func edgeError(err error, resource string) *kernel.Error {
	if ke, ok := errors.AsType[*kernel.Error](err); ok && ke.Kind != kernel.Internal {
		return ke
	}
	kind, msg := kernel.Internal, ""
	switch {
	case errors.Is(err, events.ErrNotFound):
		kind, msg = kernel.NotFound, "no such "+resource
	case errors.Is(err, events.ErrConcurrency):
		kind = kernel.Busy
	case errors.Is(err, events.ErrUnavailable):
		kind, msg = kernel.Unavailable, "the event log is unavailable; retry with the same Idempotency-Key"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		kind = kernel.Unavailable
	}
	if msg == "" {
		msg = problemKinds[kind].Detail
	}
	return &kernel.Error{Kind: kind, Message: msg, Err: err}
}

// problemOf is the problem that answers e, by the table, and its
// Retry-After in seconds (0 for none).
func problemOf(e *kernel.Error) (Problem, int) {
	pk := problemKinds[e.Kind]
	if e.Kind == kernel.Invalid && len(e.Fields) > 0 {
		pk = validationKind
	}
	p := Problem{Type: problemBase + pk.Type, Title: pk.Title, Status: pk.Status, Detail: e.Message}
	for _, f := range e.Fields {
		p.Errors = append(p.Errors, FieldError{Field: f.Field, Reason: f.Reason})
	}
	switch {
	case e.Kind == kernel.Internal || (p.Detail == "" && len(e.Fields) == 0):
		p.Detail = pk.Detail
	case p.Detail == "" && len(e.Fields) == 1:
		p.Detail = "1 field is invalid: " + fieldsSaid(e.Fields)
	case p.Detail == "":
		p.Detail = fmt.Sprintf("%d fields are invalid: %s", len(e.Fields), fieldsSaid(e.Fields))
	}
	return p, pk.RetryAfter
}

// fieldsSaid says what is wrong with the first few fields, in one line
// ("person.phone must be a UK phone number; reason is required, and 2
// more"); the problem's errors list them all.
func fieldsSaid(fields []kernel.FieldError) string {
	const most = 3
	var parts []string
	for _, f := range fields[:min(len(fields), most)] {
		parts = append(parts, f.Field+" "+f.Reason)
	}
	s := strings.Join(parts, "; ")
	if len(fields) > most {
		s += fmt.Sprintf(", and %d more", len(fields)-most)
	}
	return s
}

// writeError answers err with its problem (under /fhir/, its
// OperationOutcome: fhirError). Internal errors are logged and answered
// 500 without their detail.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if isFHIR(r) {
		a.fhirError(w, r, err)
		return
	}
	e := edgeError(err, resourceOf(r.Pattern))
	if e.Kind == kernel.Internal {
		a.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	p, retry := problemOf(e)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if ext := refine(err, principalFrom(r.Context()).key, &p, w.Header()); ext != nil {
		writeProblemWith(w, p, ext)
		return
	}
	WriteProblem(w, p)
}

// refine refines p, the problem of err's kind answered to key, for the
// errors that carry more than a kind: their own type and title, extension
// members (which it returns; nil for any other error) and a Link header.
func refine(err error, key keys.Key, p *Problem, h http.Header) map[string]any {
	if dup, ok := errors.AsType[*intake.DuplicateError](err); ok {
		if !mayKnowOf(key, dup) {
			// Another organisation's referral: nothing of it, only where
			// to turn.
			p.Type, p.Title, p.Detail = problemBase+"possibly-known", "The person may already be known to the service", possiblyKnown
			return nil
		}
		// The open episode is named, so the caller can find it.
		h.Set("Link", fmt.Sprintf("</v1/referrals/%s>; rel=\"related\"", dup.OpenID))
		p.Type, p.Title = problemBase+"open-episode", "The person already has an open referral"
		return map[string]any{"open_referral": "/v1/referrals/" + dup.OpenID, "open_referral_id": dup.OpenID}
	}
	if cw, ok := errors.AsType[*capacityWarning](err); ok {
		p.Type, p.Title = problemBase+"capacity-warning", "The service signals no capacity"
		return map[string]any{"capacity_status": cw.status}
	}
	return nil
}

// possiblyKnown answers a referrer whose referral is refused because
// another organisation's referral for the person is open.
const possiblyKnown = "the person may already be known to the social prescribing service, so this referral was not made; " +
	"please call the service to discuss the person before referring again"

// mayKnowOf reports whether key may be told of the open referral that
// refused a new one: a referrer only of its own organisation's, staff
// always.
func mayKnowOf(key keys.Key, dup *intake.DuplicateError) bool {
	return key.Role != keys.RoleReferrer || (dup.Organisation != "" && dup.Organisation == key.Organisation)
}

// writeInvalid answers the invalid fields of a request.
func writeInvalid(w http.ResponseWriter, fields ...kernel.FieldError) {
	p, _ := problemOf(kernel.InvalidFields(fields...))
	WriteProblem(w, p)
}

// resourceOf names what a route pattern acts on, for messages: the
// resource its {id} names, else its last word.
func resourceOf(pattern string) string {
	switch {
	case strings.Contains(pattern, "/handoffs/{id}"):
		return "handoff"
	case strings.Contains(pattern, "/webhooks"):
		return "webhook or delivery"
	case strings.Contains(pattern, "/services"), strings.HasSuffix(pattern, "/directory/import"):
		return "service"
	case strings.Contains(pattern, "/directory/partners"):
		return "partner"
	case strings.Contains(pattern, "/workers"), strings.Contains(pattern, "/caseloads/"):
		return "link worker"
	}
	return "referral"
}
