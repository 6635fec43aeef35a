package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

type testBody struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func (b *testBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	if b.Name == "" {
		errs = append(errs, kernel.FieldError{Field: "name", Reason: "is required"})
	}
	if b.Age < 0 {
		errs = append(errs, kernel.FieldError{Field: "age", Reason: "must be 0 or more"})
	}
	return errs
}

type optionalTestBody struct{ testBody }

func (*optionalTestBody) optional() {}

// call sends body to h as POST /v1/things/t1 with the headers, and
// returns the answer.
func call(h http.HandlerFunc, body string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/v1/things/t1", strings.NewReader(body))
	r.Pattern = "POST /v1/things/{id}"
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h(rec, r)
	return rec
}

// TestCommandEndpoint: the one command shape decodes strictly, answers
// every invalid field at once before running anything, and answers the
// reply or the error through the table.
func TestCommandEndpoint(t *testing.T) {
	a := &api{log: slog.New(slog.DiscardHandler)}
	var ran int
	run := func(r *http.Request, b *testBody, cmd events.Command) (reply, error) {
		ran++
		if b.Name == "missing" {
			return reply{}, events.ErrNotFound
		}
		return reply{status: http.StatusCreated, location: "/v1/things/" + b.Name, body: map[string]any{"name": b.Name}}, nil
	}
	h := command(a, keyAsSent, (*testBody).check, run)
	for _, tc := range []struct {
		name, body string
		status     int
		typ        string
		fields     int
		ran        bool
	}{
		{"created", `{"name": "n1"}`, http.StatusCreated, "", 0, true},
		{"unknown field", `{"name": "n1", "colour": "green"}`, http.StatusBadRequest, "invalid-json", 0, false},
		{"empty body", ``, http.StatusBadRequest, "invalid-json", 0, false},
		{"every invalid field at once", `{"age": -1}`, http.StatusBadRequest, "validation", 2, false},
		{"run's error through the table", `{"name": "missing"}`, http.StatusNotFound, "not-found", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran = 0
			rec := call(h, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if got := ran == 1; got != tc.ran {
				t.Errorf("ran: got %v, want %v", got, tc.ran)
			}
			if tc.typ == "" {
				if loc := rec.Header().Get("Location"); loc != "/v1/things/n1" {
					t.Errorf("Location: got %q, want /v1/things/n1", loc)
				}
				return
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != problemBase+tc.typ || len(p.Errors) != tc.fields {
				t.Errorf("problem: got %s with %d fields, want %s with %d", p.Type, len(p.Errors), tc.typ, tc.fields)
			}
		})
	}
}

// TestCommandOptionalBody: a body that is optional may be sent empty; any
// other body may not.
func TestCommandOptionalBody(t *testing.T) {
	a := &api{log: slog.New(slog.DiscardHandler)}
	h := command(a, keyAsSent, nil, func(r *http.Request, b *optionalTestBody, cmd events.Command) (reply, error) {
		return reply{status: http.StatusOK, body: b}, nil
	})
	if rec := call(h, ""); rec.Code != http.StatusOK {
		t.Errorf("empty optional body: got %d, want 200", rec.Code)
	}
	if rec := call(h, `{"name": 1}`); rec.Code != http.StatusBadRequest {
		t.Errorf("a sent optional body is decoded strictly: got %d, want 400", rec.Code)
	}
}

// TestIdempotencyKeyScopes: each scope passes the key on as the endpoints
// always have; a malformed key is Invalid unless the endpoint takes none.
func TestIdempotencyKeyScopes(t *testing.T) {
	a := &api{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name    string
		scope   keyScope
		key     string
		want    string
		invalid bool
	}{
		{"as sent", keyAsSent, "k-1", "k-1", false},
		{"per route", keyPerRoute, "k-1", "POST /v1/things/t1\x00k-1", false},
		{"per route, none sent", keyPerRoute, "", "", false},
		{"no key", noKey, "k-1", "", false},
		{"malformed", keyAsSent, "a key", "", true},
		{"malformed, per route", keyPerRoute, "a key", "", true},
		{"malformed, no key", noKey, "a key", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/things/t1", nil)
			r.Header.Set("Idempotency-Key", tc.key)
			cmd, err := a.commandOf(r, tc.scope)
			if got := kernel.KindOf(err) == kernel.Invalid; got != tc.invalid || (!tc.invalid && err != nil) {
				t.Fatalf("error: got %v, want invalid %v", err, tc.invalid)
			}
			if cmd.IdempotencyKey != tc.want {
				t.Errorf("key: got %q, want %q", cmd.IdempotencyKey, tc.want)
			}
			if !tc.invalid && cmd.CorrelationID == "" {
				t.Error("the command has no correlation id")
			}
		})
	}
}
