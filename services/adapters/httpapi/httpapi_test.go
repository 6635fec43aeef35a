package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
)

func TestProbes(t *testing.T) {
	var notReady error
	h := httpapi.New(httpapi.Config{Ready: func(context.Context) error { return notReady }, Version: "v-test"})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("healthz: got %d, want 200", rec.Code)
	}
	if rec := get("/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("readyz when ready: got %d, want 200", rec.Code)
	}
	notReady = errors.New("stream PATHWAY does not exist yet")
	rec := get("/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz when not ready: got %d, want 503", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type: got %q, want application/problem+json", ct)
	}
	var p httpapi.Problem
	if err := json.NewDecoder(rec.Body).Decode(&p); err != nil || p.Detail != notReady.Error() || p.Status != 503 {
		t.Errorf("problem: got %+v (%v), want the reason %q", p, err, notReady)
	}
	if rec := get("/nope"); rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown path: got %d %q, want 404 problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
}
