package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// openAPIDocument is the OpenAPI 3.1 description of the whole HTTP API.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI handles GET /v1/openapi.json.
func (a *api) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
}

// me handles GET /v1/me: what the caller's key is (its id, role,
// organisation, worker and scopes; never the secret), for an integrator
// checking a key.
func (a *api) me(w http.ResponseWriter, r *http.Request) {
	k := principalFrom(r.Context()).key
	writeJSON(w, http.StatusOK, map[string]any{"key_id": k.ID, "role": k.Role, "organisation": k.Organisation,
		"worker": k.Worker, "scopes": append([]keys.Scope{}, k.Scopes...), "label": k.Label})
}

// metrics handles GET /metrics: the process's Prometheus metrics, for an
// ops or admin key (--metrics-listen serves them without a key on an
// address of their own).
func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	if a.metricsHandler == nil {
		a.writeError(w, r, kernel.Errorf(kernel.NotFound, "metrics are not served by this process"))
		return
	}
	a.metricsHandler.ServeHTTP(w, r)
}
