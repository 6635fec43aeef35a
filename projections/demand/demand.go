// Package demand is the read model of demand against capacity per primary
// care network (PCN): per UK week, the referrals that came to the PCN (onto
// its waitlist or a caseload of one of its link workers), the caseload
// places freed (a referral leaving a caseload: discharged, cancelled,
// merged, or moved to another PCN), the referrals that left its waitlist
// without a link worker, and the net change of what the PCN holds; and,
// from those, the link workers the PCN needs to meet the wait target.
//
// Weeks are UK weeks, Monday to Sunday in Europe/London (kernel.UKTime),
// by each event's recorded time, so a rebuild gives the same state. Each
// week is kept per GP practice too, so the figures filter by practice.
// It keeps codes and counts only: no personal data.
package demand

import (
	"encoding/json"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Name is the projection's name and checkpoint key.
const Name = "demand"

// The national guideline caseload: a link worker takes on 200 to 250 new
// people a year (DOMAIN: "Guideline caseload").
const (
	NewPerYearLow  = 200
	NewPerYearHigh = 250
)

// WeekLayout is the layout of a week's key: the date of its Monday.
const WeekLayout = "2006-01-02"

// Unmatched is the queue of referrals no PCN covers.
const Unmatched = referral.Unmatched

// Week is one week's movement at one PCN for one practice.
type Week struct {
	// In counts referrals that came to the PCN: onto its waitlist or a
	// caseload of one of its link workers, from outside it.
	In int `json:"in"`
	// Freed counts caseload places freed: a referral that left a caseload
	// of the PCN (discharged, cancelled, merged, or moved to another PCN).
	Freed int `json:"freed"`
	// LeftWaitlist counts referrals that left the PCN's waitlist without
	// a link worker (cancelled, say, or moved to another PCN).
	LeftWaitlist int `json:"left_waitlist"`
}

// Held is where an open referral is: the PCN that holds it, and whether
// on a caseload (else on the waitlist).
type Held struct {
	PCN      string `json:"pcn"`
	Caseload bool   `json:"caseload"`
}

// Worker is what the read model keeps of a link worker.
type Worker struct {
	PCN    string `json:"pcn"`
	Active bool   `json:"active"`
}

// Demand is the read model. It implements projections.Projection; read it
// through its engine.
type Demand struct {
	// Practice is each referral's GP practice (ODS code) as received.
	Practice map[string]string `json:"practice"`
	// Held is where each open referral is held.
	Held map[string]*Held `json:"held"`
	// Status is each referral's status, by the domain's StatusAfter.
	Status map[string]referral.Status `json:"status"`
	// Workers are the link workers by id.
	Workers map[string]*Worker `json:"workers"`
	// Weeks holds the movement by PCN, then by practice, then by
	// WeekLayout week.
	Weeks map[string]map[string]map[string]*Week `json:"weeks"`
}

// New returns an empty read model.
func New() *Demand { d := &Demand{}; d.Reset(); return d }

// Name returns Name.
func (d *Demand) Name() string { return Name }

// Subject returns the whole log: referrals and workers.
func (d *Demand) Subject() string { return events.AllSubjects }

// EventTypes returns the event types Apply uses (projections.Typed).
func (d *Demand) EventTypes() []string {
	return events.TypesOf(append(referral.StatusEvents(), &pathwayv1.ReferralReassigned{},
		&pathwayv1.WorkerRegistered{}, &pathwayv1.WorkerDeactivated{})...)
}

// Reset empties the model.
func (d *Demand) Reset() {
	d.Practice, d.Held, d.Status = map[string]string{}, map[string]*Held{}, map[string]referral.Status{}
	d.Workers, d.Weeks = map[string]*Worker{}, map[string]map[string]map[string]*Week{}
}

// WeekOf returns the Monday, in UK time, of the week that contains t, as a
// WeekLayout key.
func WeekOf(t time.Time) string { return Monday(t).Format(WeekLayout) }

// Monday returns UK midnight at the start of the Monday of t's UK week.
func Monday(t time.Time) time.Time {
	uk := t.In(kernel.UKTime())
	back := (int(uk.Weekday()) + 6) % 7 // days since Monday
	return time.Date(uk.Year(), uk.Month(), uk.Day()-back, 0, 0, 0, 0, kernel.UKTime())
}

func (d *Demand) week(pcn, id string, at time.Time) *Week {
	practice := d.Practice[id]
	byPractice := d.Weeks[pcn]
	if byPractice == nil {
		byPractice = map[string]map[string]*Week{}
		d.Weeks[pcn] = byPractice
	}
	weeks := byPractice[practice]
	if weeks == nil {
		weeks = map[string]*Week{}
		byPractice[practice] = weeks
	}
	k := WeekOf(at)
	w := weeks[k]
	if w == nil {
		w = &Week{}
		weeks[k] = w
	}
	return w
}

// move puts referral id at pcn (on a caseload or the waitlist): a
// referral that comes from outside the PCN counts in.
func (d *Demand) move(id, pcn string, caseload bool, at time.Time) {
	if pcn == "" {
		return
	}
	if h := d.Held[id]; h != nil {
		if h.PCN == pcn {
			h.Caseload = caseload
			return
		}
		d.leave(id, at)
	}
	d.Held[id] = &Held{PCN: pcn, Caseload: caseload}
	d.week(pcn, id, at).In++
}

// leave takes referral id out of the PCN that holds it, if one does.
func (d *Demand) leave(id string, at time.Time) {
	h := d.Held[id]
	if h == nil {
		return
	}
	w := d.week(h.PCN, id, at)
	if h.Caseload {
		w.Freed++
	} else {
		w.LeftWaitlist++
	}
	delete(d.Held, id)
}

// Apply applies one event.
func (d *Demand) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.WorkerRegistered:
		d.Workers[id] = &Worker{PCN: e.GetPcn(), Active: true}
		return nil
	case *pathwayv1.WorkerDeactivated:
		if w := d.Workers[id]; w != nil {
			w.Active = false
		}
		return nil
	case *pathwayv1.ReferralReceived:
		d.Practice[id] = e.GetGpPractice()
	}
	if rec.Aggregate.Type != "referral" {
		return nil
	}
	if _, ok := d.Practice[id]; !ok {
		return nil // never received: nothing to count it against
	}
	status := referral.StatusAfter(d.Status[id], rec.Payload)
	d.Status[id] = status
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralWaitlisted:
		d.move(id, e.GetQueue(), false, at)
	case *pathwayv1.ReferralAssigned:
		pcn := e.GetQueue()
		if w := d.Workers[e.GetWorkerId()]; w != nil && w.PCN != "" {
			pcn = w.PCN
		}
		d.move(id, pcn, true, at)
	case *pathwayv1.ReferralReassigned:
		if w := d.Workers[e.GetToWorkerId()]; w != nil {
			d.move(id, w.PCN, true, at)
		}
	}
	// Waitlisted or assigned it holds its place; accepted again (reopened,
	// an override) it waits to be placed again; otherwise it has left.
	if status != referral.StatusWaitlisted && status != referral.StatusAssigned {
		d.leave(id, at)
	}
	return nil
}

// Snapshot writes the state as JSON.
func (d *Demand) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(d) }

// Restore reads a Snapshot.
func (d *Demand) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(d) }

// Filter chooses what a report covers: one PCN or all (""), one GP
// practice or all (""), and the UK weeks from the one containing From to
// the one containing To.
type Filter struct {
	PCN, Practice string
	From, To      time.Time
}

// Row is one week at one PCN.
type Row struct {
	PCN          string `json:"pcn"`
	WeekStarting string `json:"week_starting"`
	In           int    `json:"referrals_in"`
	Freed        int    `json:"places_freed"`
	LeftWaitlist int    `json:"left_waitlist"`
	// Net is In - Freed - LeftWaitlist: the change in what the PCN holds
	// (its caseloads and its waitlist).
	Net int `json:"net_change"`
}

// Summary is one PCN over the weeks of a report, and now.
type Summary struct {
	PCN          string `json:"pcn"`
	Weeks        int    `json:"weeks"`
	In           int    `json:"referrals_in"`
	Freed        int    `json:"places_freed"`
	LeftWaitlist int    `json:"left_waitlist"`
	Net          int    `json:"net_change"`
	// InPerWeek is the mean of referrals in per week over the weeks.
	InPerWeek float64 `json:"referrals_in_per_week"`
	// Waiting and OnCaseloads are what the PCN holds now.
	Waiting     int `json:"waiting_now"`
	OnCaseloads int `json:"on_caseloads_now"`
	// LinkWorkers counts the PCN's active link workers now.
	LinkWorkers int `json:"link_workers"`
	// NeededLow and NeededHigh are the link workers needed to meet the
	// wait target (Needed) at 250 and at 200 new people a year each; both
	// 0 for the unmatched queue, which no PCN's workers can take.
	NeededLow  int `json:"link_workers_needed_low"`
	NeededHigh int `json:"link_workers_needed_high"`
}

// Report is demand against capacity for a Filter.
type Report struct {
	From       string    `json:"from"`
	To         string    `json:"to"`
	PCN        string    `json:"pcn,omitempty"`
	Practice   string    `json:"practice,omitempty"`
	WaitTarget float64   `json:"wait_target_days"`
	PCNs       []Summary `json:"pcns"`
	Rows       []Row     `json:"rows"`
}

// HowNeeded says, in one plain sentence, how Summary.NeededLow and
// NeededHigh are computed.
const HowNeeded = "Link workers needed = (average referrals in per week + people waiting now ÷ the wait target in weeks) × 52, " +
	"divided by the 250 (fewest) to 200 (most) new people a link worker takes on in a year, rounded up."

// Needed returns the link workers a PCN needs to meet target: enough to
// take on its referrals in per week and, within the target, the people
// waiting now, at perYear new people a year each (rounded up).
func Needed(inPerWeek float64, waiting int, target time.Duration, perYear int) int {
	weeks := target.Hours() / (24 * 7)
	if weeks <= 0 || perYear <= 0 {
		return 0
	}
	perWeek := inPerWeek + float64(waiting)/weeks
	// Rounded to a thousandth first, so that 2.0000001 is 2.
	return int(math.Ceil(math.Round(perWeek*52/float64(perYear)*1000) / 1000))
}

// Compute returns the report for f, with target the wait target.
func (d *Demand) Compute(f Filter, target time.Duration) Report {
	first, last := Monday(f.From), Monday(f.To)
	if last.Before(first) {
		first, last = last, first
	}
	var weeks []string
	for w := first; !w.After(last); w = w.AddDate(0, 0, 7) {
		weeks = append(weeks, w.Format(WeekLayout))
	}
	r := Report{From: first.Format(WeekLayout), To: last.AddDate(0, 0, 6).Format(WeekLayout), PCN: f.PCN, Practice: f.Practice,
		WaitTarget: target.Hours() / 24, PCNs: []Summary{}, Rows: []Row{}}
	pcns := map[string]*Summary{}
	summary := func(pcn string) *Summary {
		s := pcns[pcn]
		if s == nil {
			s = &Summary{PCN: pcn, Weeks: len(weeks)}
			pcns[pcn] = s
		}
		return s
	}
	for _, w := range d.Workers {
		if w.Active && (f.PCN == "" || w.PCN == f.PCN) {
			summary(w.PCN).LinkWorkers++
		}
	}
	for id, h := range d.Held {
		if (f.PCN != "" && h.PCN != f.PCN) || (f.Practice != "" && d.Practice[id] != f.Practice) {
			continue
		}
		s := summary(h.PCN)
		if h.Caseload {
			s.OnCaseloads++
		} else {
			s.Waiting++
		}
	}
	for pcn := range d.Weeks {
		if f.PCN == "" || pcn == f.PCN {
			summary(pcn)
		}
	}
	for _, pcn := range slices.Sorted(maps.Keys(pcns)) {
		s := pcns[pcn]
		for _, wk := range weeks {
			row := Row{PCN: pcn, WeekStarting: wk}
			for practice, byWeek := range d.Weeks[pcn] {
				if f.Practice != "" && practice != f.Practice {
					continue
				}
				if w := byWeek[wk]; w != nil {
					row.In += w.In
					row.Freed += w.Freed
					row.LeftWaitlist += w.LeftWaitlist
				}
			}
			row.Net = row.In - row.Freed - row.LeftWaitlist
			s.In += row.In
			s.Freed += row.Freed
			s.LeftWaitlist += row.LeftWaitlist
			s.Net += row.Net
			r.Rows = append(r.Rows, row)
		}
		if s.Weeks > 0 {
			s.InPerWeek = math.Round(float64(s.In)/float64(s.Weeks)*100) / 100
		}
		if pcn != Unmatched {
			s.NeededLow = Needed(s.InPerWeek, s.Waiting, target, NewPerYearHigh)
			s.NeededHigh = Needed(s.InPerWeek, s.Waiting, target, NewPerYearLow)
		}
		r.PCNs = append(r.PCNs, *s)
	}
	return r
}

// DefaultWeeks is how many UK weeks a report covers when no dates are
// given: the twelve up to and including the current one.
const DefaultWeeks = 12

// MaxWeeks bounds the weeks of one report (two years).
const MaxWeeks = 105

// The reasons ParseFilter gives for a period it refuses.
const (
	ReasonFromAfterTo = "must be on or before the date to"
	ReasonTooLong     = "must be at most two years before the date to"
)

// ParseFilter reads a report's filter as people give it: a PCN's ODS code
// (or "unmatched"), a GP practice's, and UK dates YYYY-MM-DD from and to
// (each optional: to defaults to now, from to DefaultWeeks weeks before
// to). It returns every field in error, none repeating what was given.
func ParseFilter(pcn, practice, from, to string, now time.Time) (Filter, []kernel.FieldError) {
	f := Filter{PCN: pcn, Practice: practice, To: now}
	errs := referral.CheckScope(pcn, practice)
	if to != "" {
		t, err := kernel.ParseDay(to)
		if err != nil {
			errs = append(errs, kernel.FieldError{Field: "to", Reason: err.Error()})
		}
		f.To = t
	}
	f.From = Monday(f.To).AddDate(0, 0, -7*(DefaultWeeks-1))
	if from != "" {
		t, err := kernel.ParseDay(from)
		if err != nil {
			errs = append(errs, kernel.FieldError{Field: "from", Reason: err.Error()})
		}
		f.From = t
	}
	if len(errs) == 0 {
		switch {
		case f.From.After(f.To):
			errs = append(errs, kernel.FieldError{Field: "from", Reason: ReasonFromAfterTo})
		case Monday(f.From).AddDate(0, 0, 7*(MaxWeeks-1)).Before(Monday(f.To)):
			errs = append(errs, kernel.FieldError{Field: "from", Reason: ReasonTooLong})
		}
	}
	return f, errs
}
