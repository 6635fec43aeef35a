package dashboard

// The demand against capacity page (/demand): per PCN, per UK week,
// referrals in, places freed and the net change, and the link workers
// needed to meet the wait target, from the demand read model.

import (
	"fmt"
	"maps"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/waitlists"
)

// demandPCN is one PCN's line of the demand page.
type demandPCN struct {
	demand.Summary
	Name string
	// Needed says the link workers needed ("2", "2 to 3"); Short: the
	// PCN has fewer active link workers than the fewest needed.
	Needed string
	Short  bool
	// Unmatched: the queue no PCN covers (no figure needed).
	Unmatched bool
	// Queue: the PCN has a waitlist page to link to.
	Queue bool
}

// demandWeek is one week of one PCN.
type demandWeek struct {
	demand.Row
	Name, Week string
}

// demandData is the demand page's live part.
type demandData struct {
	AsOf           string
	Period, Target string
	How            string
	Filtered       bool
	PCNs           []demandPCN
	Weeks          []demandWeek
	report         demand.Report
}

// demandPage builds the demand page for f at now. A period the report
// refuses (from after to, the default to being today; over two years) is
// an error of f's from field; the page then shows the default period.
func (h *handler) demandPage(now time.Time, f opsFilter) (demandData, opsFilter) {
	df, errs := demand.ParseFilter(f.PCN, f.Practice, f.From, f.To, now)
	if len(errs) > 0 {
		f.Errors = maps.Clone(f.Errors)
		if f.Errors == nil {
			f.Errors = map[string]string{}
		}
		for _, e := range errs {
			f.Errors[e.Field] = "The period must be at most two years"
			if e.Reason == demand.ReasonFromAfterTo {
				f.Errors[e.Field] = "The from date must be on or before the to date (today when none is given)"
			}
		}
		f.From, f.To = "", ""
		f.CSV = f.csvURL(f.Action, nil)
		df, _ = demand.ParseFilter(f.PCN, f.Practice, "", "", now)
	}
	var r demand.Report
	h.read(h.cfg.Demand, func(p projections.Projection) { r = p.(*demand.Demand).Compute(df, h.cfg.WaitTarget) })
	names := h.pcnNames()
	queues := map[string]bool{}
	h.read(h.cfg.Waitlists, func(p projections.Projection) {
		for _, q := range p.(*waitlists.Waitlists).Queues() {
			queues[q] = true
		}
	})
	d := demandData{AsOf: h.clock(now), Target: about(h.cfg.WaitTarget), How: demand.HowNeeded, Filtered: f.Active(), report: r}
	from, _ := time.ParseInLocation(demand.WeekLayout, r.From, h.cfg.Location)
	to, _ := time.ParseInLocation(demand.WeekLayout, r.To, h.cfg.Location)
	d.Period = from.Format("Monday 2 January 2006") + " to " + to.Format("Sunday 2 January 2006")
	for _, s := range r.PCNs {
		p := demandPCN{Summary: s, Name: queueLabel(s.PCN, names), Unmatched: s.PCN == demand.Unmatched, Queue: queues[s.PCN]}
		switch {
		case p.Unmatched:
			p.Needed = "—"
		case s.NeededLow == s.NeededHigh:
			p.Needed = fmt.Sprint(s.NeededLow)
		default:
			p.Needed = fmt.Sprintf("%d to %d", s.NeededLow, s.NeededHigh)
		}
		p.Short = !p.Unmatched && s.LinkWorkers < s.NeededLow
		d.PCNs = append(d.PCNs, p)
	}
	for _, row := range r.Rows {
		wk, _ := time.ParseInLocation(demand.WeekLayout, row.WeekStarting, h.cfg.Location)
		d.Weeks = append(d.Weeks, demandWeek{Row: row, Name: queueLabel(row.PCN, names), Week: wk.Format("Mon 2 Jan 2006")})
	}
	return d, f
}

// csv is the demand page as a table: a row per PCN and week, with the
// PCN's figures now on each row.
func (d demandData) csv() [][]string {
	out := [][]string{{"pcn", "pcn_name", "week_starting", "referrals_in", "places_freed", "left_waitlist", "net_change",
		"waiting_now", "on_caseloads_now", "link_workers", "link_workers_needed_low", "link_workers_needed_high", "wait_target_days", "practice", "as_of"}}
	byPCN := map[string]demandPCN{}
	for _, p := range d.PCNs {
		byPCN[p.PCN] = p
	}
	for _, w := range d.Weeks {
		p := byPCN[w.PCN]
		out = append(out, []string{w.PCN, w.Name, w.WeekStarting, fmt.Sprint(w.In), fmt.Sprint(w.Freed), fmt.Sprint(w.LeftWaitlist), fmt.Sprint(w.Net),
			fmt.Sprint(p.Waiting), fmt.Sprint(p.OnCaseloads), fmt.Sprint(p.LinkWorkers), fmt.Sprint(p.NeededLow), fmt.Sprint(p.NeededHigh),
			fmt.Sprint(d.report.WaitTarget), d.report.Practice, d.AsOf})
	}
	return out
}
