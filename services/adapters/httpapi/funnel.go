package httpapi

import (
	"net/http"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// funnelFilter is the funnel's filters: a PCN (its last queue), a GP
// practice, and the UK dates received, from and to (included).
type funnelFilter struct {
	PCN      string `json:"pcn,omitempty"`
	Practice string `json:"practice,omitempty"`
	From     string `json:"received_from,omitempty"`
	To       string `json:"received_to,omitempty"`
	from, to time.Time
}

// keep reports whether the funnel counts r under f.
func (f funnelFilter) keep(r *funnel.Referral) bool {
	return funnel.Where{PCN: f.PCN, Practice: f.Practice, From: f.from, To: f.to}.Keep(r)
}

// parseFunnelFilter reads ?pcn, ?practice, ?from and ?to, returning each
// field in error.
func parseFunnelFilter(r *http.Request) (funnelFilter, []kernel.FieldError) {
	q := r.URL.Query()
	f := funnelFilter{PCN: q.Get("pcn"), Practice: q.Get("practice"), From: q.Get("from"), To: q.Get("to")}
	errs := referral.CheckScope(f.PCN, f.Practice)
	for _, d := range []struct {
		name string
		text string
		at   *time.Time
	}{{"from", f.From, &f.from}, {"to", f.To, &f.to}} {
		if d.text == "" {
			continue
		}
		t, err := kernel.ParseDay(d.text)
		if err != nil {
			errs = append(errs, kernel.FieldError{Field: d.name, Reason: err.Error()})
			continue
		}
		*d.at = t
	}
	if !f.to.IsZero() {
		f.to = f.to.AddDate(0, 0, 1) // the end of the day to
	}
	if len(errs) == 0 && !f.from.IsZero() && !f.to.IsZero() && !f.from.Before(f.to) {
		errs = append(errs, kernel.FieldError{Field: "from", Reason: "must be on or before the date to"})
	}
	return f, errs
}

// funnelStats handles GET /v1/stats/funnel: the funnel's figures
// (funnel.Funnel.ComputeWhere), of the referrals of one ?pcn and one
// ?practice, received from ?from to ?to (UK dates, included), each
// optional. Bad filters are 400 naming each field.
func (a *api) funnelStats(w http.ResponseWriter, r *http.Request) {
	f, errs := parseFunnelFilter(r)
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	a.readView(w, r, a.reads.Funnel, func() projections.Projection { return funnel.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		out := map[string]any{"sequence": seq, "as_of": now, "funnel": p.(*funnel.Funnel).ComputeWhere(f.keep)}
		if f.PCN+f.Practice+f.From+f.To != "" {
			out["filter"] = f
		}
		return out
	})
}
