package httpapi

import (
	"cmp"
	"net/http"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// alertItem is one alert as GET /v1/alerts lists it: ids, codes and
// times, no personal data.
type alertItem struct {
	ReferralID   string             `json:"referral_id"`
	Priority     string             `json:"priority"`
	Safeguarding bool               `json:"safeguarding"`
	Status       string             `json:"status"`
	Untriaged    bool               `json:"untriaged"`
	Queue        string             `json:"queue,omitempty"`
	Practice     string             `json:"gp_practice,omitempty"`
	WaitingSince time.Time          `json:"waiting_since"`
	Waited       waitlists.Duration `json:"waited"`
	Link         string             `json:"link"`
}

// listAlerts handles GET /v1/alerts (ops, admin): the urgent and
// safeguarding referrals that have waited to be triaged or given a link
// worker for at least the alert threshold (ReadModels.AlertAfter), with
// their wait; safeguarding first, then the longest waiting. Like the
// other views it takes ?min_seq and ?as_of_seq, and pages.
func (a *api) listAlerts(w http.ResponseWriter, r *http.Request) {
	if a.reads.Alerts == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "alerts are not served by this process"))
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	after := cmp.Or(a.reads.AlertAfter, alerts.DefaultAfter)
	a.readView(w, r, a.reads.Alerts, func() projections.Projection { return alerts.NewView() }, func(p projections.Projection, seq uint64, now time.Time) any {
		v := p.(*alerts.View)
		list := v.Overdue(now, after)
		items := make([]alertItem, len(list))
		for i, al := range list {
			items[i] = alertItem{ReferralID: al.ReferralID, Priority: enumWire(al.Priority.String(), "PRIORITY_"), Safeguarding: al.Safeguarding,
				Status: string(al.Status), Untriaged: al.Untriaged(), Queue: al.Queue, Practice: al.Practice, WaitingSince: al.Since,
				Waited: waitlists.Duration(al.Waited), Link: "/v1/referrals/" + al.ReferralID}
		}
		return map[string]any{"sequence": seq, "as_of": now, "threshold": waitlists.Duration(after), "watched": v.Watched(),
			"total": len(items), "limit": limit, "offset": offset, "alerts": window(items, limit, offset)}
	})
}
