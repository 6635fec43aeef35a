package httpapi

import (
	"context"
	"net/http"

	"slices"

	"github.com/pathway-sp/pathway/events"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// webhookRegistry keeps an owner's webhook endpoints (a partner's, a
// referring organisation's).
type webhookRegistry interface {
	Register(ctx context.Context, owner webhook.Owner, rawURL, secret string, cmd events.Command) (webhooks.Endpoint, error)
	Endpoints(owner webhook.Owner) []webhooks.Endpoint
	Delete(ctx context.Context, owner webhook.Owner, id string, cmd events.Command) error
}

// deliveryLog lists an owner's webhook deliveries and sends one again.
type deliveryLog interface {
	Deliveries(owner webhook.Owner, status string) []webhooks.Delivery
	Redeliver(ctx context.Context, owner webhook.Owner, id string, cmd events.Command) (webhooks.Delivery, error)
}

// webhookOwner is whose webhooks a request manages: the key's
// organisation, a VCSE partner's (/v1/partner/webhooks) or a referring
// organisation's (/v1/referrer/webhooks, the status changes of its
// referrals). The route table admits only those two roles.
func webhookOwner(r *http.Request) webhook.Owner {
	key := principalFrom(r.Context()).key
	if key.Role == keys.RoleReferrer {
		return webhook.Referrer(key.Organisation)
	}
	return webhook.Partner(key.Organisation)
}

var (
	_ webhookRegistry = (*webhooks.Service)(nil)
	_ deliveryLog     = (*webhooks.Service)(nil)
)

type webhookBody struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// registerWebhook handles POST /v1/partner/webhooks and
// /v1/referrer/webhooks. Each registration
// makes a new endpoint: the command takes no key.
func (a *api) registerWebhook() http.HandlerFunc {
	return command(a, noKey, nil, func(r *http.Request, b *webhookBody, cmd events.Command) (reply, error) {
		ep, err := a.webhooks.Register(r.Context(), webhookOwner(r), b.URL, b.Secret, cmd)
		ep.Secret = ""
		return reply{status: http.StatusCreated, body: ep}, err
	})
}

// listWebhooks handles GET /v1/partner/webhooks and /v1/referrer/webhooks.
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": nonNil(a.webhooks.Endpoints(webhookOwner(r)))})
}

// deleteWebhook handles DELETE /v1/partner/webhooks/{id} and
// /v1/referrer/webhooks/{id}.
func (a *api) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	cmd, err := a.commandOf(r, noKey)
	if err == nil {
		err = a.webhooks.Delete(r.Context(), webhookOwner(r), r.PathValue("id"), cmd)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDeliveries handles GET /v1/partner/webhooks/deliveries?status= and
// /v1/referrer/webhooks/deliveries.
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
	all := a.deliveries.Deliveries(webhookOwner(r), status)
	writeJSON(w, http.StatusOK, map[string]any{"total": len(all), "limit": limit, "offset": offset, "deliveries": nonNil(window(all, limit, offset))})
}

// redeliver handles POST /v1/partner/webhooks/deliveries/{id}/redeliver
// and /v1/referrer/webhooks/deliveries/{id}/redeliver.
func (a *api) redeliver(w http.ResponseWriter, r *http.Request) {
	a.execute(w, r, noKey, func(cmd events.Command) (reply, error) {
		d, err := a.deliveries.Redeliver(r.Context(), webhookOwner(r), r.PathValue("id"), cmd)
		return reply{status: http.StatusAccepted, body: d}, err
	})
}
