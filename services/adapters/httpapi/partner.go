package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// capacitySetter records a partner's capacity signal for its service.
type capacitySetter interface {
	SetCapacity(ctx context.Context, id, partnerID string, c pathwayv1.CapacityStatus, note string, cmd events.Command) (uint64, error)
}

var _ capacitySetter = (*directory.Service)(nil)

// partnerHandoffs handles GET /v1/partner/handoffs?status=.
func (a *api) partnerHandoffs(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" {
		if _, ok := handoff.ParseStatus(status); !ok {
			writeInvalid(w, kernel.FieldError{Field: "status", Reason: "must be a handoff status, e.g. requested, accepted, in-progress"})
			return
		}
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	org := principalFrom(r.Context()).key.Organisation
	a.readView(w, r, a.partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		all := p.(*partners.Partners).Inbox(org, status)
		for i := range all {
			all[i].ReferralID = "" // the partner works from the handoff, not the referral
		}
		return map[string]any{"sequence": seq, "total": len(all), "limit": limit, "offset": offset, "handoffs": window(all, limit, offset)}
	})
}

// partnerServices handles GET /v1/partner/services.
func (a *api) partnerServices(w http.ResponseWriter, r *http.Request) {
	org := principalFrom(r.Context()).key.Organisation
	a.readView(w, r, a.partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		return map[string]any{"sequence": seq, "services": nonNil(p.(*partners.Partners).ServicesOf(org))}
	})
}

type capacityBody struct {
	Status string `json:"status"`
	Note   string `json:"note"`
	status pathwayv1.CapacityStatus
}

func (b *capacityBody) check() []kernel.FieldError {
	var ok bool
	if b.status, ok = partner.ParseCapacity(b.Status); !ok {
		return []kernel.FieldError{{Field: "status", Reason: "must be " + partner.CapacityNames}}
	}
	return nil
}

// setCapacity handles PUT /v1/partner/services/{id}/capacity.
func (a *api) setCapacity() http.HandlerFunc {
	return command(a, keyPerRoute, (*capacityBody).check, func(r *http.Request, b *capacityBody, cmd events.Command) (reply, error) {
		id := r.PathValue("id")
		if _, err := uuid.Parse(id); err != nil {
			return reply{}, events.ErrNotFound
		}
		seq, err := a.capacity.SetCapacity(r.Context(), id, principalFrom(r.Context()).key.Organisation, b.status, b.Note, cmd)
		return reply{status: http.StatusOK, body: map[string]any{"id": id, "capacity_status": b.Status, "sequence": seq}}, err
	})
}

// partnerStats handles GET /v1/stats/partners.
func (a *api) partnerStats(w http.ResponseWriter, r *http.Request) {
	a.readView(w, r, a.partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		pm := p.(*partners.Partners)
		per, svc := pm.Stats()
		return map[string]any{"sequence": seq, "as_of": now, "attention": pm.Attention(now), "partners": per, "services": svc}
	})
}
