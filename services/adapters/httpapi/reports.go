package httpapi

import (
	"net/http"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// activityReport handles GET /v1/reports/activity?month=YYYY-MM (ops,
// admin): the monthly activity report of a UK calendar month
// (activity.Report.Compute), a long table of rows with their SNOMED CT
// codes, which exports as CSV like every read (csv.go). A missing or
// malformed month is 400 naming month; a month in the future or without
// activity is a report without rows. Like the other views it takes
// ?min_seq and ?as_of_seq.
func (a *api) activityReport(w http.ResponseWriter, r *http.Request) {
	month := r.URL.Query().Get("month")
	if month == "" {
		writeInvalid(w, kernel.FieldError{Field: "month", Reason: "is required: a month as YYYY-MM, e.g. 2026-11", Missing: true})
		return
	}
	if _, _, err := kernel.ParseMonth(month); err != nil {
		writeInvalid(w, kernel.FieldError{Field: "month", Reason: err.Error()})
		return
	}
	if a.reads.Activity == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the activity report is not served by this process"))
		return
	}
	a.readView(w, r, a.reads.Activity, func() projections.Projection { return activity.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		ans, _ := p.(*activity.Report).Compute(month) // the month was checked above
		return struct {
			Sequence uint64    `json:"sequence"`
			AsOf     time.Time `json:"as_of"`
			activity.Answer
		}{seq, now, ans}
	})
}

// demandReport handles GET /v1/reports/demand (ops, admin): demand
// against capacity per PCN (demand.Demand.Compute), per UK week of the
// period from ?from to ?to (UK dates, YYYY-MM-DD; default the twelve
// weeks up to today), for one ?pcn and one ?practice or all: referrals
// in, places freed, those who left the waitlist without a link worker,
// the net change, and per PCN the link workers needed to meet the wait
// target. Its CSV export is the weekly rows. Bad filters are 400 naming
// each field. Like the other views it takes ?min_seq and ?as_of_seq.
func (a *api) demandReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, errs := demand.ParseFilter(q.Get("pcn"), q.Get("practice"), q.Get("from"), q.Get("to"), time.Now()); len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	if a.reads.Demand == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the demand report is not served by this process"))
		return
	}
	a.readView(w, r, a.reads.Demand, func() projections.Projection { return demand.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		f, _ := demand.ParseFilter(q.Get("pcn"), q.Get("practice"), q.Get("from"), q.Get("to"), now) // checked above
		return struct {
			Sequence uint64    `json:"sequence"`
			AsOf     time.Time `json:"as_of"`
			demand.Report
			HowNeeded string `json:"how_needed"`
		}{seq, now, p.(*demand.Demand).Compute(f, a.reads.WaitTarget), demand.HowNeeded}
	})
}
