package dashboard

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/timeseries"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// priorities are the waitlist filter's values ("" for all).
var priorities = map[string]pathwayv1.Priority{
	"":        pathwayv1.Priority_PRIORITY_UNSPECIFIED,
	"urgent":  pathwayv1.Priority_PRIORITY_URGENT,
	"high":    pathwayv1.Priority_PRIORITY_HIGH,
	"routine": pathwayv1.Priority_PRIORITY_ROUTINE,
}

// filter is the waitlist page's filters: priority, and only those over
// the wait target.
type filter struct {
	Queue    string
	Priority string
	Over     bool
	CSV      string
	// Ops are the practice and dates filters.
	Ops opsFilter
}

// chartDays is how far back the waitlist chart goes.
const chartDays = 14

// queueRow is one waitlist on the overview.
type queueRow struct {
	Queue, Name            string
	Size                   int
	Urgent, High, Routine  int
	Oldest, Median, Target string
	Breaches               int
	Estimate               string
}

// workerRow is one link worker's load.
type workerRow struct {
	ID, Name, PCN   string
	Active          bool
	Count, Capacity int
	Percent         int
	Full            bool
	Bar             meter
}

// overviewData is the overview's live part.
type overviewData struct {
	AsOf string
	// PCN is the PCN the waitlists and caseloads are filtered to ("" for
	// all); the day's counts and the alerts are the region's.
	PCN            string
	QueuesCSV      string
	WorkersCSV     string
	Alerts         *alertPanel
	Today          timeseries.Day
	AwaitingTriage int
	Handoffs       *HandoffCounts
	Queues         []queueRow
	Workers        []workerRow
	WaitChart      lineChart
	Sources        barChart
	Outcomes       outcomeChart
}

func (h *handler) read(e *projections.Engine, fn func(p projections.Projection)) {
	e.Read(func(p projections.Projection, _ uint64) { fn(p) })
}

// stamp formats a time for the pages.
func (h *handler) stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(h.cfg.Location).Format("2 Jan 2006 15:04")
}

func (h *handler) clock(t time.Time) string {
	return t.In(h.cfg.Location).Format("15:04:05 MST, 2 Jan")
}

// span formats a duration for people: "12d 4h", "3h 20m", "under a minute".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	if h := int(d % (24 * time.Hour) / time.Hour); h > 0 {
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), h)
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

func estimate(e *waitlists.Duration) string {
	if e == nil {
		return "not known yet"
	}
	return about(time.Duration(*e))
}

// about rounds an estimate the way people say it: "about 3 days", "about
// 8 weeks", "about 5 months"; an estimate is never as precise as hours.
func about(d time.Duration) string {
	const day = 24 * time.Hour
	unit := func(n int, one string) string {
		if n == 1 {
			return "about a " + one
		}
		return fmt.Sprintf("about %d %ss", n, one)
	}
	switch {
	case d < 12*time.Hour:
		return "less than a day"
	case d < 14*day:
		return unit(max(int(math.Round(float64(d)/float64(day))), 1), "day")
	case d < 9*7*day:
		return unit(int(math.Round(float64(d)/float64(7*day))), "week")
	case d < 2*365*day:
		return unit(int(math.Round(float64(d)/float64(30.44*float64(day)))), "month")
	}
	return unit(int(math.Round(float64(d)/float64(365.25*float64(day)))), "year")
}

func (h *handler) queueRows(now time.Time) []queueRow {
	var rows []queueRow
	names := h.pcnNames()
	h.read(h.cfg.Waitlists, func(p projections.Projection) {
		wl := p.(*waitlists.Waitlists)
		for _, q := range wl.Queues() {
			s := wl.Summarise(q, now, h.cfg.WaitTarget)
			rows = append(rows, queueRow{Queue: q, Name: queueLabel(q, names), Size: s.Size, Urgent: s.ByPriority["urgent"], High: s.ByPriority["high"],
				Routine: s.ByPriority["routine"], Oldest: span(time.Duration(s.OldestWait)), Median: span(time.Duration(s.MedianWait)),
				Target: span(h.cfg.WaitTarget), Breaches: s.Breaches, Estimate: estimate(s.EstimateNew)})
			if s.Size == 0 {
				rows[len(rows)-1].Oldest, rows[len(rows)-1].Median = "—", "—"
			}
		}
	})
	return rows
}

func (h *handler) workerRows() []workerRow {
	var rows []workerRow
	h.read(h.cfg.Caseloads, func(p projections.Projection) {
		for _, s := range p.(*caseloads.Caseloads).Summaries() {
			rows = append(rows, workerRow{ID: s.ID, Name: s.Name, PCN: s.PCN, Active: s.Active, Count: s.Count, Capacity: s.Capacity,
				Percent: int(math.Round(s.Utilisation * 100)), Full: s.Capacity > 0 && s.Count >= s.Capacity, Bar: newMeter(s.Utilisation)})
		}
	})
	return rows
}

func (h *handler) funnelStats() funnel.Stats {
	var st funnel.Stats
	h.read(h.cfg.Funnel, func(p projections.Projection) { st = p.(*funnel.Funnel).Compute() })
	return st
}

// waitChart draws the size of the queues (all when none are named) over
// the last chartDays days.
func (h *handler) waitChart(now time.Time, only ...string) lineChart {
	from := now.Add(-chartDays * 24 * time.Hour)
	var series []namedSeries
	h.read(h.cfg.Series, func(p projections.Projection) {
		ts := p.(*timeseries.Series)
		for _, q := range ts.Queues() {
			if len(only) == 0 || slices.Contains(only, q) {
				series = append(series, namedSeries{Name: q, Points: ts.Sample(q, from, now, 6*time.Hour)})
			}
		}
	})
	return newLineChart("Waitlist size over the last 14 days", series, from, now, h.cfg.Location)
}

// overview builds the overview at now, of one PCN's waitlist and link
// workers when pcn is set.
func (h *handler) overview(now time.Time, pcn string) overviewData {
	d := overviewData{AsOf: h.clock(now), PCN: pcn}
	for _, q := range h.queueRows(now) {
		if pcn == "" || q.Queue == pcn {
			d.Queues = append(d.Queues, q)
		}
	}
	for _, w := range h.workerRows() {
		if pcn == "" || w.PCN == pcn {
			d.Workers = append(d.Workers, w)
		}
	}
	if pcn == "" {
		d.WaitChart = h.waitChart(now)
	} else {
		d.WaitChart = h.waitChart(now, pcn)
	}
	h.read(h.cfg.Series, func(p projections.Projection) { d.Today = p.(*timeseries.Series).On(now) })
	st := h.funnelStats()
	d.AwaitingTriage = st.Stages["received"] + st.Stages["awaiting_triage"]
	d.Sources = sourceChart(st.BySource)
	d.Outcomes = newOutcomeChart(st.Outcomes)
	d.Handoffs = h.handoffCounts(now)
	d.Alerts = h.alertPanel(now)
	return d
}

// entryRow is one waitlist entry: only what the ops role may see.
type entryRow struct {
	Position int
	ID       string
	// Assign is the address of this page with the row's assign form
	// open, keeping the page's filters.
	Assign   string
	Initials string
	Priority string
	Since    string
	Waited   string
	Breach   bool
	Estimate string
}

// waitlistData is a waitlist page's live part.
type waitlistData struct {
	AsOf  string
	Queue string
	Name  string
	Over  bool
	// Filtered: a practice or dates filter is in force.
	Filtered bool
	// Links: referral ids link to their pages (the dashboard holds the
	// log).
	Links    bool
	Summary  queueRow
	Priority string
	Entries  []entryRow
	Total    int
	Shown    int
	Chart    lineChart
}

// maxRows bounds the rows of one table.
const maxRows = 500

func (h *handler) waitlistPage(queue, prio string, over bool, f opsFilter, q url.Values, now time.Time) (waitlistData, bool) {
	keep := url.Values{}
	for k, vs := range q {
		if k != "assign" && k != "done" && k != "format" {
			keep[k] = vs
		}
	}
	d := waitlistData{AsOf: h.clock(now), Queue: queue, Priority: prio, Over: over, Links: h.actionable(), Filtered: f.Practice != "" || f.From != "" || f.To != ""}
	var entries []waitlists.Entry
	var perWeek float64
	found := false
	h.read(h.cfg.Waitlists, func(p projections.Projection) {
		wl := p.(*waitlists.Waitlists)
		found = slices.Contains(wl.Queues(), queue)
		entries = wl.Ordered(queue)
		perWeek = wl.Throughput(queue, now)
	})
	if !found {
		return d, false
	}
	for _, r := range h.queueRows(now) {
		if r.Queue == queue {
			d.Summary, d.Name = r, r.Name
		}
	}
	var names map[string]string
	h.read(h.cfg.Initials, func(p projections.Projection) {
		of := p.(*Initials).Of
		names = make(map[string]string, len(entries))
		for _, e := range entries {
			names[e.ID] = of[e.ID]
		}
	})
	var practices map[string]string
	if f.Practice != "" {
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		practices = h.practiceOf(ids)
	}
	want := priorities[prio]
	for i, e := range entries {
		if want != pathwayv1.Priority_PRIORITY_UNSPECIFIED && e.Priority != want {
			continue
		}
		if (f.Practice != "" && practices[e.ID] != f.Practice) || !f.within(e.Since) {
			continue
		}
		if over && now.Sub(e.Since) <= h.cfg.WaitTarget {
			continue
		}
		d.Total++
		if len(d.Entries) >= maxRows {
			continue
		}
		waited := max(now.Sub(e.Since), 0)
		ini := names[e.ID]
		if ini == "" {
			ini = "?"
		}
		keep.Set("assign", e.ID)
		d.Entries = append(d.Entries, entryRow{Position: i + 1, ID: e.ID, Assign: "?" + keep.Encode() + "#row-assign-h", Initials: ini, Priority: priorityText(e.Priority),
			Since: h.stamp(e.Since), Waited: span(waited), Breach: waited > h.cfg.WaitTarget, Estimate: estimate(waitlists.Estimate(i+1, perWeek))})
	}
	d.Shown = len(d.Entries)
	d.Chart = h.waitChart(now, queue)
	return d, true
}

func priorityText(p pathwayv1.Priority) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PRIORITY_"))
}

// caseRow is one case on a caseload.
type caseRow struct {
	ID, Initials, Stage string
	Assigned, Last, Due string
	Contacts, DNA       int
	Overdue             bool
	Handoffs            int
}

// caseloadData is a caseload page's live part.
type caseloadData struct {
	AsOf string
	// Filtered: a practice or dates filter is in force; CSV is the
	// address of the cases shown as CSV.
	Filtered bool
	CSV      string
	Worker   workerRow
	PCNName  string
	Cases    []caseRow
	Links    bool
}

// csv is the caseload as a table.
func (d caseloadData) csv() [][]string {
	out := [][]string{{"referral_id", "initials", "stage", "assigned", "last_contact", "contacts", "did_not_attend", "next_action_due", "overdue", "open_handoffs", "worker_id", "pcn"}}
	for _, c := range d.Cases {
		out = append(out, []string{c.ID, c.Initials, c.Stage, c.Assigned, c.Last, fmt.Sprint(c.Contacts), fmt.Sprint(c.DNA), c.Due, fmt.Sprint(c.Overdue), fmt.Sprint(c.Handoffs), d.Worker.ID, d.Worker.PCN})
	}
	return out
}

var stageText = map[string]string{"awaiting_first_contact": "awaiting first contact", "in_contact": "in contact", "plan_agreed": "plan agreed"}

func (h *handler) caseloadPage(id string, f opsFilter, now time.Time) (caseloadData, bool) {
	d := caseloadData{AsOf: h.clock(now), Links: h.actionable(), Filtered: f.Active()}
	found := false
	for _, w := range h.workerRows() {
		if w.ID == id {
			d.Worker, found = w, true
		}
	}
	d.PCNName = h.queueName(d.Worker.PCN)
	if !found {
		return d, false
	}
	var cases []caseloads.Case
	h.read(h.cfg.Caseloads, func(p projections.Projection) { cases = p.(*caseloads.Caseloads).CasesOf(id) })
	var practices map[string]string
	if f.Practice != "" {
		ids := make([]string, len(cases))
		for i, c := range cases {
			ids[i] = c.ID
		}
		practices = h.practiceOf(ids)
	}
	cases = slices.DeleteFunc(cases, func(c caseloads.Case) bool {
		return (f.Practice != "" && practices[c.ID] != f.Practice) || !f.within(c.AssignedAt)
	})
	var names map[string]string
	h.read(h.cfg.Initials, func(p projections.Projection) {
		of := p.(*Initials).Of
		names = make(map[string]string, len(cases))
		for _, c := range cases {
			names[c.ID] = of[c.ID]
		}
	})
	for _, c := range cases {
		last := "none yet"
		if !c.LastContact.IsZero() {
			last = h.stamp(c.LastContact)
		}
		ini := names[c.ID]
		if ini == "" {
			ini = "?"
		}
		d.Cases = append(d.Cases, caseRow{ID: c.ID, Initials: ini, Stage: stageText[c.Stage()], Assigned: h.stamp(c.AssignedAt), Last: last,
			Due: h.stamp(c.NextActionDue()), Contacts: c.Contacts, DNA: c.DidNotAttend, Overdue: now.After(c.NextActionDue()), Handoffs: len(c.Handoffs)})
	}
	return d, true
}

// stageRow is one stage of the funnel.
type stageRow struct {
	Stage string
	Count int
	Bar   meter
}

// funnelData is the funnel page's live part.
type funnelData struct {
	AsOf string
	// Filter is the funnel's filters; Filtered says one is in force (the
	// days are then still the region's).
	Filter               opsFilter
	Filtered             bool
	stats                funnel.Stats
	Total                int
	Stages               []stageRow
	Triage, FirstContact percentiles
	Sources              barChart
	Outcomes             outcomeChart
	Today                timeseries.Day
	Days                 []dayRow
}

type percentiles struct {
	N        int
	P50, P90 string
}

type dayRow struct {
	Date string
	timeseries.Day
}

// stageOrder is the funnel's stages in pathway order.
var stageOrder = []string{"received", "awaiting_triage", "accepted", "waitlisted", "assigned", "discharged",
	"signposted", "declined", "redirected", "cancelled", "merged"}

func days(p funnel.Percentiles) percentiles {
	if p.N == 0 {
		return percentiles{P50: "no data yet"}
	}
	d := func(v float64) string { return span(time.Duration(v * float64(24*time.Hour))) }
	return percentiles{N: p.N, P50: d(p.P50), P90: d(p.P90)}
}

func (h *handler) funnelPage(now time.Time, f opsFilter) funnelData {
	var st funnel.Stats
	h.read(h.cfg.Funnel, func(p projections.Projection) {
		st = p.(*funnel.Funnel).ComputeWhere(funnel.Where{PCN: f.PCN, Practice: f.Practice, From: f.from, To: f.to}.Keep)
	})
	d := funnelData{AsOf: h.clock(now), Filter: f, Filtered: f.Active(), stats: st, Total: st.Total, Triage: days(st.TimeToTriage), FirstContact: days(st.TimeToFirstContact),
		Sources: sourceChart(st.BySource), Outcomes: newOutcomeChart(st.Outcomes)}
	for _, s := range stageOrder {
		frac := 0.0
		if st.Total > 0 {
			frac = float64(st.Stages[s]) / float64(st.Total)
		}
		d.Stages = append(d.Stages, stageRow{Stage: strings.ReplaceAll(s, "_", " "), Count: st.Stages[s], Bar: newMeter(frac)})
	}
	h.read(h.cfg.Series, func(p projections.Projection) {
		ts := p.(*timeseries.Series)
		d.Today = ts.On(now)
		dates, ds := ts.DaysBetween(now.Add(-6*24*time.Hour), now)
		for i := len(dates) - 1; i >= 0; i-- {
			d.Days = append(d.Days, dayRow{Date: dates[i].Format("Mon 2 Jan"), Day: ds[i]})
		}
	})
	return d
}

// csv is the waitlist's entries shown, as a table.
func (d waitlistData) csv() [][]string {
	out := [][]string{{"position", "referral_id", "initials", "priority", "waiting_since", "waited", "over_target", "estimated_wait", "queue"}}
	for _, e := range d.Entries {
		out = append(out, []string{fmt.Sprint(e.Position), e.ID, e.Initials, e.Priority, e.Since, e.Waited, fmt.Sprint(e.Breach), e.Estimate, d.Queue})
	}
	return out
}

// queuesCSV is the overview's waitlists as a table.
func (d overviewData) queuesCSV() [][]string {
	out := [][]string{{"queue", "name", "waiting", "urgent", "high", "routine", "oldest_wait", "median_wait", "over_target", "wait_target", "estimated_wait", "as_of"}}
	for _, q := range d.Queues {
		out = append(out, []string{q.Queue, q.Name, fmt.Sprint(q.Size), fmt.Sprint(q.Urgent), fmt.Sprint(q.High), fmt.Sprint(q.Routine),
			q.Oldest, q.Median, fmt.Sprint(q.Breaches), q.Target, q.Estimate, d.AsOf})
	}
	return out
}

// workersCSV is the overview's caseloads as a table.
func (d overviewData) workersCSV() [][]string {
	out := [][]string{{"worker_id", "name", "pcn", "active", "cases", "capacity", "utilisation_percent", "full", "as_of"}}
	for _, w := range d.Workers {
		out = append(out, []string{w.ID, w.Name, w.PCN, fmt.Sprint(w.Active), fmt.Sprint(w.Count), fmt.Sprint(w.Capacity), fmt.Sprint(w.Percent), fmt.Sprint(w.Full), d.AsOf})
	}
	return out
}

// csv is the funnel as a long table: each figure a row of measure,
// category and value, so a spreadsheet pivots it.
func (d funnelData) csv() [][]string {
	out := [][]string{{"measure", "category", "value", "pcn", "practice", "received_from", "received_to", "as_of"}}
	row := func(measure, category, value string) {
		out = append(out, []string{measure, category, value, d.Filter.PCN, d.Filter.Practice, d.Filter.From, d.Filter.To, d.AsOf})
	}
	row("referrals", "all", fmt.Sprint(d.Total))
	for _, s := range d.Stages {
		row("stage", s.Stage, fmt.Sprint(s.Count))
	}
	for _, p := range []struct {
		name string
		v    funnel.Percentiles
	}{{"days_to_triage", d.stats.TimeToTriage}, {"days_to_first_contact", d.stats.TimeToFirstContact}} {
		row(p.name, "n", fmt.Sprint(p.v.N))
		if p.v.N > 0 {
			row(p.name, "p50", fmt.Sprintf("%.2f", p.v.P50))
			row(p.name, "p90", fmt.Sprintf("%.2f", p.v.P90))
		}
	}
	for _, src := range slices.Sorted(maps.Keys(d.stats.BySource)) {
		row("source", src, fmt.Sprint(d.stats.BySource[src]))
	}
	for _, inst := range slices.Sorted(maps.Keys(d.stats.Outcomes)) {
		c := d.stats.Outcomes[inst]
		row("outcome_change", inst+" n", fmt.Sprint(c.N))
		row("outcome_change", inst+" mean_baseline", fmt.Sprintf("%.2f", c.MeanBaseline))
		row("outcome_change", inst+" mean_follow_up", fmt.Sprintf("%.2f", c.MeanFollowUp))
		row("outcome_change", inst+" mean_change", fmt.Sprintf("%.2f", c.MeanChange))
	}
	return out
}
