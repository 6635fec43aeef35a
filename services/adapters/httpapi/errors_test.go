package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
)

// answerOf runs writeError for err on a referral route and returns the
// recorded answer and its problem.
func answerOf(tb testing.TB, err error) (*httptest.ResponseRecorder, map[string]any) {
	tb.Helper()
	a := &api{log: slog.New(slog.DiscardHandler)}
	r := httptest.NewRequest("POST", "/v1/referrals/x/cancel", nil)
	r.Pattern = "POST /v1/referrals/{id}/cancel"
	rec := httptest.NewRecorder()
	a.writeError(rec, r, err)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		tb.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		tb.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	return rec, body
}

// TestErrorKindsToHTTP is the edge's table: every kind of error, and the
// event store's and the context's errors, answer with their status,
// problem type and Retry-After, whatever wraps them.
func TestErrorKindsToHTTP(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		typ        string
		retryAfter string
		detail     string
	}{
		{"invalid", kernel.Errorf(kernel.Invalid, "a reason is required"), 400, "invalid", "", "a reason is required"},
		{"invalid fields", kernel.InvalidFields(kernel.FieldError{Field: "reason", Reason: "is required"}), 400, "validation", "", "1 field is invalid: reason is required"},
		{"not found", kernel.Errorf(kernel.NotFound, "no such action"), 404, "not-found", "", "no such action"},
		{"conflict", kernel.Errorf(kernel.Conflict, "the referral is closed"), 409, "conflict", "", "the referral is closed"},
		{"forbidden", kernel.Errorf(kernel.Forbidden, "the ops role may not cancel"), 403, "forbidden", "", "the ops role may not cancel"},
		{"busy", kernel.Errorf(kernel.Busy, "too busy"), 503, "busy", "1", "too busy"},
		{"unavailable", kernel.Errorf(kernel.Unavailable, "catching up"), 503, "unavailable", "1", "catching up"},
		{"a domain sentinel wrapped in context", fmt.Errorf("cancel referral r1: %w", referral.ErrConflict.Errorf("only an active referral can be cancelled")), 409, "conflict", "", "only an active referral can be cancelled"},
		{"store: not found", fmt.Errorf("referral r1: %w", events.ErrNotFound), 404, "not-found", "", "no such referral"},
		{"store: concurrency", fmt.Errorf("cancel: %w", events.ErrConcurrency), 503, "busy", "1", ""},
		{"store: unavailable", fmt.Errorf("append: %w", events.ErrUnavailable), 503, "unavailable", "1", ""},
		{"deadline", fmt.Errorf("load: %w", context.DeadlineExceeded), 503, "unavailable", "1", ""},
		{"internal", errors.New("nats: secret detail of a broken invariant"), 500, "internal", "", ""},
		{"an internal kernel error", kernel.Errorf(kernel.Internal, "secret detail"), 500, "internal", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, body := answerOf(t, tc.err)
			if rec.Code != tc.status {
				t.Errorf("status: got %d, want %d", rec.Code, tc.status)
			}
			if got, want := body["status"], float64(tc.status); got != want {
				t.Errorf("problem status: got %v, want %v", got, want)
			}
			if got, want := body["type"], problemBase+tc.typ; got != want {
				t.Errorf("type: got %v, want %v", got, want)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After: got %q, want %q", got, tc.retryAfter)
			}
			detail, _ := body["detail"].(string)
			if detail == "" || body["title"] == "" {
				t.Errorf("problem %v: want a title and a detail", body)
			}
			if tc.detail != "" && detail != tc.detail {
				t.Errorf("detail: got %q, want %q", detail, tc.detail)
			}
			if strings.Contains(detail, "secret") || strings.Contains(detail, "nats") {
				t.Errorf("detail %q leaks the cause of an internal error", detail)
			}
		})
	}
}

// TestEveryKindHasAnAnswer keeps the table whole.
func TestEveryKindHasAnAnswer(t *testing.T) {
	for _, k := range append(kernel.Kinds, kernel.Internal) {
		pk, ok := problemKinds[k]
		if !ok || pk.Status == 0 || pk.Type == "" || pk.Title == "" || pk.Detail == "" {
			t.Errorf("kind %v: got answer %+v, want a status, type, title and detail", k, pk)
		}
	}
}

// TestInvalidFieldsListEveryField: a validation problem lists the fields.
func TestInvalidFieldsListEveryField(t *testing.T) {
	_, body := answerOf(t, kernel.InvalidFields(kernel.FieldError{Field: "reason", Reason: "is required"}, kernel.FieldError{Field: "note", Reason: "too long"}))
	errs, _ := body["errors"].([]any)
	if len(errs) != 2 || body["detail"] != "2 fields are invalid: reason is required; note too long" {
		t.Fatalf("got %v, want both fields listed", body)
	}
	if f, _ := errs[0].(map[string]any); f["field"] != "reason" || f["reason"] != "is required" {
		t.Errorf("first field: got %v, want reason: is required", f)
	}
}

// TestOpenEpisodeNamesTheOpenReferral: the conflict of a second open
// episode carries the open referral as a link and extension members.
func TestOpenEpisodeNamesTheOpenReferral(t *testing.T) {
	rec, body := answerOf(t, fmt.Errorf("submit: %w", &intake.DuplicateError{OpenID: "r-open"}))
	if rec.Code != http.StatusConflict || body["type"] != problemBase+"open-episode" {
		t.Fatalf("got %d %v, want 409 open-episode", rec.Code, body)
	}
	if body["open_referral"] != "/v1/referrals/r-open" || body["open_referral_id"] != "r-open" {
		t.Errorf("extension members: got %v, want the open referral", body)
	}
	if got := rec.Header().Get("Link"); got != `</v1/referrals/r-open>; rel="related"` {
		t.Errorf("Link: got %q", got)
	}
}

// TestFHIRErrorsShareTheTable: the FHIR endpoints answer each kind with
// the JSON API's status and Retry-After, and fhir.IssueCode's code; the
// open-episode conflict is a duplicate.
func TestFHIRErrorsShareTheTable(t *testing.T) {
	a := &api{log: slog.New(slog.DiscardHandler)}
	outcome := func(err error) (*httptest.ResponseRecorder, string) {
		r := httptest.NewRequest("POST", "/fhir/r4/ServiceRequest", nil)
		rec := httptest.NewRecorder()
		a.fhirError(rec, r, err)
		var oo struct {
			ResourceType string
			Issue        []struct{ Code string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
			t.Fatalf("body %q: want an OperationOutcome with an issue", rec.Body)
		}
		return rec, oo.Issue[0].Code
	}
	for _, k := range append(kernel.Kinds, kernel.Internal) {
		t.Run(k.String(), func(t *testing.T) {
			rec, code := outcome(kernel.Errorf(k, "what happened"))
			want := problemKinds[k]
			if rec.Code != want.Status {
				t.Errorf("status: got %d, want %d", rec.Code, want.Status)
			}
			if code != fhir.IssueCode(k) {
				t.Errorf("issue code: got %q, want %q", code, fhir.IssueCode(k))
			}
			if got, retry := rec.Header().Get("Retry-After"), want.RetryAfter > 0; (got != "") != retry {
				t.Errorf("Retry-After: got %q, want one: %v", got, retry)
			}
		})
	}
	rec, code := outcome(&intake.DuplicateError{OpenID: "r-open"})
	if rec.Code != http.StatusConflict || code != "duplicate" || rec.Header().Get("Link") != `</fhir/r4/ServiceRequest/r-open>; rel="related"` {
		t.Errorf("open episode: got %d %q Link %q, want 409 duplicate linking the open referral", rec.Code, code, rec.Header().Get("Link"))
	}
}
