package httpapi

import (
	"net/http"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

func (a *api) caseloadsView(w http.ResponseWriter, r *http.Request, fn func(c *caseloads.Caseloads, seq uint64, now time.Time) any) {
	a.readView(w, r, a.reads.Caseloads, func() projections.Projection { return caseloads.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		return fn(p.(*caseloads.Caseloads), seq, now)
	})
}

// listCaseloads handles GET /v1/caseloads.
func (a *api) listCaseloads(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	a.caseloadsView(w, r, func(c *caseloads.Caseloads, seq uint64, now time.Time) any {
		all := c.Summaries()
		return map[string]any{"sequence": seq, "as_of": now, "total": len(all), "limit": limit, "offset": offset,
			"workers": window(all, limit, offset)}
	})
}

// getCaseload handles GET /v1/caseloads/{worker}.
func (a *api) getCaseload(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	id := r.PathValue("worker")
	a.caseloadsView(w, r, func(c *caseloads.Caseloads, seq uint64, now time.Time) any {
		wk := c.Workers[id]
		if wk == nil {
			return kernel.Errorf(kernel.NotFound, "no such link worker")
		}
		type item struct {
			ID            string     `json:"id"`
			Stage         string     `json:"stage"`
			AssignedAt    time.Time  `json:"assigned_at"`
			LastContact   *time.Time `json:"last_contact"`
			Contacts      int        `json:"contacts"`
			DidNotAttend  int        `json:"did_not_attend"`
			NextActionDue time.Time  `json:"next_action_due"`
			Overdue       bool       `json:"overdue"`
			OpenHandoffs  []string   `json:"open_handoffs"`
			// HandoffsNeedingAction expired unanswered: cancel them and
			// hand off elsewhere.
			HandoffsNeedingAction []string `json:"handoffs_needing_action"`
		}
		cases := c.CasesOf(id)
		items := make([]item, len(cases))
		for i, cs := range cases {
			it := item{ID: cs.ID, Stage: cs.Stage(), AssignedAt: cs.AssignedAt, Contacts: cs.Contacts, DidNotAttend: cs.DidNotAttend,
				NextActionDue: cs.NextActionDue(), Overdue: now.After(cs.NextActionDue()), OpenHandoffs: cs.Handoffs, HandoffsNeedingAction: cs.NeedsAction()}
			if !cs.LastContact.IsZero() {
				lc := cs.LastContact
				it.LastContact = &lc
			}
			items[i] = it
		}
		var sum caseloads.Summary
		for _, s := range c.Summaries() {
			if s.ID == id {
				sum = s
			}
		}
		return map[string]any{"worker": sum, "sequence": seq, "as_of": now, "total": len(items), "limit": limit, "offset": offset,
			"cases": window(items, limit, offset)}
	})
}
