package httpapi

import (
	"context"
	"net/http"

	"slices"

	"github.com/pathway-sp/pathway/events"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// webhookRegistry keeps a partner's webhook endpoints.
type webhookRegistry interface {
	Register(ctx context.Context, partner, rawURL, secret string, cmd events.Command) (webhooks.Endpoint, error)
	Endpoints(partner string) []webhooks.Endpoint
	Delete(ctx context.Context, partner, id string, cmd events.Command) error
}

// deliveryLog lists a partner's webhook deliveries and sends one again.
type deliveryLog interface {
	Deliveries(partner, status string) []webhooks.Delivery
	Redeliver(ctx context.Context, partner, id string, cmd events.Command) (webhooks.Delivery, error)
}

var (
	_ webhookRegistry = (*webhooks.Service)(nil)
	_ deliveryLog     = (*webhooks.Service)(nil)
)

type webhookBody struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// registerWebhook handles POST /v1/partner/webhooks. Each registration
// makes a new endpoint: the command takes no key.
func (a *api) registerWebhook() http.HandlerFunc {
	return command(a, noKey, nil, func(r *http.Request, b *webhookBody, cmd events.Command) (reply, error) {
		ep, err := a.webhooks.Register(r.Context(), principalFrom(r.Context()).key.Organisation, b.URL, b.Secret, cmd)
		ep.Secret = ""
		return reply{status: http.StatusCreated, body: ep}, err
	})
}

// listWebhooks handles GET /v1/partner/webhooks.
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": nonNil(a.webhooks.Endpoints(principalFrom(r.Context()).key.Organisation))})
}

// deleteWebhook handles DELETE /v1/partner/webhooks/{id}.
func (a *api) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	cmd, err := a.commandOf(r, noKey)
	if err == nil {
		err = a.webhooks.Delete(r.Context(), principalFrom(r.Context()).key.Organisation, r.PathValue("id"), cmd)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDeliveries handles GET /v1/partner/webhooks/deliveries?status=.
func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{webhooks.StatusPending, webhooks.StatusDelivered, webhooks.StatusFailed}, status) {
		writeInvalid(w, kernel.FieldError{Field: "status", Reason: "must be pending, delivered or failed"})
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	all := a.deliveries.Deliveries(principalFrom(r.Context()).key.Organisation, status)
	writeJSON(w, http.StatusOK, map[string]any{"total": len(all), "limit": limit, "offset": offset, "deliveries": nonNil(window(all, limit, offset))})
}

// redeliver handles POST /v1/partner/webhooks/deliveries/{id}/redeliver.
func (a *api) redeliver(w http.ResponseWriter, r *http.Request) {
	a.execute(w, r, noKey, func(cmd events.Command) (reply, error) {
		d, err := a.deliveries.Redeliver(r.Context(), principalFrom(r.Context()).key.Organisation, r.PathValue("id"), cmd)
		return reply{status: http.StatusAccepted, body: d}, err
	})
}
