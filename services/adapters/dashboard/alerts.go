package dashboard

import (
	"cmp"
	"hash/fnv"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// alertRow is one alert on the overview: what the ops role may see.
type alertRow struct {
	ID, Initials string
	Safeguarding bool
	Priority     string
	// Where says what it waits for: triage, or a link worker (and on
	// which waitlist).
	Where  string
	Queue  string
	Since  string
	Waited string
}

// alertPanel is the overview's list of alerts, shown above everything.
type alertPanel struct {
	Threshold string
	// Watched counts the urgent and safeguarding referrals waiting,
	// within the threshold or over it.
	Watched int
	Rows    []alertRow
	Total   int
	// Within are the urgent and safeguarding referrals waiting, not yet
	// over the threshold, with their age: they stand out at the top too,
	// before they become alerts.
	Within []alertRow
	// Links: referrals link to their pages.
	Links bool
}

// alertAfter is the alert threshold.
func (h *handler) alertAfter() time.Duration { return cmp.Or(h.cfg.AlertAfter, alerts.DefaultAfter) }

// alertPanel builds the list of alerts at now; nil when the dashboard has
// no alerts view.
func (h *handler) alertPanel(now time.Time) *alertPanel {
	if h.cfg.Alerts == nil {
		return nil
	}
	p := &alertPanel{Threshold: span(h.alertAfter()), Links: h.actionable()}
	var list, waiting []alerts.Alert
	h.read(h.cfg.Alerts, func(pr projections.Projection) {
		v := pr.(*alerts.View)
		list, p.Watched, waiting = v.Overdue(now, h.alertAfter()), v.Watched(), v.Waiting(now)
	})
	p.Total = len(list)
	var names map[string]string
	h.read(h.cfg.Initials, func(pr projections.Projection) {
		of := pr.(*Initials).Of
		names = make(map[string]string, len(waiting))
		for _, a := range waiting {
			names[a.ReferralID] = of[a.ReferralID]
		}
	})
	p.Rows = h.alertRows(list, names)
	var within []alerts.Alert
	for _, a := range waiting {
		if a.Waited < h.alertAfter() { // the rest are alerts, above
			within = append(within, a)
		}
	}
	p.Within = h.alertRows(within, names)
	return p
}

// alertRows are the rows of alerts (at most maxRows), by initials.
func (h *handler) alertRows(list []alerts.Alert, names map[string]string) []alertRow {
	var rows []alertRow
	for _, a := range list {
		if len(rows) >= maxRows {
			break
		}
		ini := names[a.ReferralID]
		if ini == "" {
			ini = "?"
		}
		row := alertRow{ID: a.ReferralID, Initials: ini, Safeguarding: a.Safeguarding, Priority: priorityText(a.Priority),
			Queue: a.Queue, Since: h.stamp(a.Since), Waited: span(a.Waited)}
		switch {
		case a.Untriaged():
			row.Where = "awaiting triage"
		case a.Status == referral.StatusWaitlisted && a.Queue == "unmatched":
			row.Where = "waitlisted, no PCN covers the practice"
		case a.Status == referral.StatusWaitlisted:
			row.Where = "waitlisted for a link worker"
		default:
			row.Where = "accepted, no link worker yet"
		}
		rows = append(rows, row)
	}
	return rows
}

// alertMark changes when the alerts at now do: a live page re-renders
// when a referral's wait passes the threshold, though no event came.
func (h *handler) alertMark(now time.Time) uint64 {
	if h.cfg.Alerts == nil {
		return 0
	}
	f := fnv.New64a()
	h.read(h.cfg.Alerts, func(pr projections.Projection) {
		for _, a := range pr.(*alerts.View).Overdue(now, h.alertAfter()) {
			f.Write([]byte(a.Key()))
		}
	})
	return f.Sum64()
}
