package dashboard

// The ops pages' filters: by PCN, by GP practice and by a range of UK
// dates, as GET query parameters (pcn, practice, from, to), so that a
// filtered page is a link and its CSV keeps the filters. Each page says
// which apply and to what.

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// opsFilter is a page's filters, as entered, checked and parsed.
type opsFilter struct {
	// Action is the path the filter form sends to.
	Action string
	// PCN, Practice, From and To are the valid values given ("" for
	// none); a value in error is in Errors and filters nothing.
	PCN, Practice, From, To string
	// Entered are the values as typed, shown back beside their errors.
	Entered url.Values
	// Which fields the page offers.
	ShowPCN, ShowPractice, ShowDates bool
	// DatesOf names what the dates filter, as the label begins: "Received",
	// "Waiting since".
	DatesOf string
	// PCNs are the choices of the PCN field.
	PCNs []option
	// Errors are the fields' errors by name.
	Errors map[string]string
	// CSV is the address of the page's table as CSV, with the filters.
	CSV string
	// from and to bound the dates: [from, to), UK midnights; zero when
	// not given.
	from, to time.Time
}

// Active reports whether any filter is in force.
func (f opsFilter) Active() bool {
	return f.PCN != "" || f.Practice != "" || f.From != "" || f.To != ""
}

// V is the value of field name as entered.
func (f opsFilter) V(name string) string { return f.Entered.Get(name) }

// E is the error of field name.
func (f opsFilter) E(name string) string { return f.Errors[name] }

// Failed reports whether a field is in error.
func (f opsFilter) Failed() bool { return len(f.Errors) > 0 }

// within reports whether t falls in the dates of f.
func (f opsFilter) within(t time.Time) bool {
	return (f.from.IsZero() || !t.Before(f.from)) && (f.to.IsZero() || t.Before(f.to))
}

// filterSpec says which filters a page offers.
type filterSpec struct {
	action               string
	pcn, practice, dates bool
	datesOf              string
	csv                  bool
	csvExtra             url.Values
}

// parseFilter reads the filters spec offers from q, checking each as the
// API would: a PCN that is a queue or a PCN's ODS code, a practice's ODS
// code (lower case is taken as upper), UK dates YYYY-MM-DD with from on or
// before to.
func (h *handler) parseFilter(spec filterSpec, q url.Values) opsFilter {
	f := opsFilter{Action: spec.action, ShowPCN: spec.pcn, ShowPractice: spec.practice, ShowDates: spec.dates, DatesOf: spec.datesOf,
		Entered: url.Values{}, Errors: map[string]string{}}
	get := func(name string) string {
		v := strings.TrimSpace(q.Get(name))
		if len(v) > 40 {
			v = v[:40]
		}
		if v != "" {
			f.Entered.Set(name, v)
		}
		return v
	}
	if spec.pcn {
		f.PCNs = h.pcnChoices()
		if v := get("pcn"); v != "" {
			if v == assignment.Unmatched || referral.ValidPCNCode(v) {
				f.PCN = v
			} else {
				f.Errors["pcn"] = "Choose a PCN from the list"
			}
		}
	}
	if spec.practice {
		if v := strings.ToUpper(get("practice")); v != "" {
			if referral.ValidPracticeCode(v) {
				f.Practice = v
				f.Entered.Set("practice", v)
			} else {
				f.Errors["practice"] = "Enter a GP practice's ODS code: a letter and five digits, like A81001"
			}
		}
	}
	if spec.dates {
		day := func(name string) (time.Time, string) {
			v := get(name)
			if v == "" {
				return time.Time{}, ""
			}
			t, err := kernel.ParseDay(v)
			if err != nil {
				f.Errors[name] = "Enter a date as a calendar date, like 2026-11-29"
				return time.Time{}, ""
			}
			return t, v
		}
		from, fromText := day("from")
		to, toText := day("to")
		if !from.IsZero() && !to.IsZero() && from.After(to) {
			f.Errors["from"] = "The from date must be on or before the to date"
		} else {
			f.From, f.To, f.from = fromText, toText, from
			if !to.IsZero() {
				f.to = to.AddDate(0, 0, 1) // to the end of the day
			}
		}
	}
	if spec.csv {
		f.CSV = f.csvURL(spec.action, spec.csvExtra)
	}
	return f
}

// csvURL is the address of the CSV of the page at action with the
// filters of f and the parameters extra (a waitlist's priority).
func (f opsFilter) csvURL(action string, extra url.Values) string {
	c := url.Values{}
	for k, vs := range extra {
		c[k] = vs
	}
	for name, v := range map[string]string{"pcn": f.PCN, "practice": f.Practice, "from": f.From, "to": f.To} {
		if v != "" {
			c.Set(name, v)
		}
	}
	c.Set("format", "csv")
	return action + "?" + c.Encode()
}

// pcnChoices are the PCNs to filter by: every PCN with a link worker or
// a waitlist, by name, then the unmatched queue when it has had entries.
func (h *handler) pcnChoices() []option {
	seen := map[string]bool{}
	h.read(h.cfg.Caseloads, func(p projections.Projection) {
		for _, w := range p.(*caseloads.Caseloads).Workers {
			seen[w.PCN] = true
		}
	})
	h.read(h.cfg.Waitlists, func(p projections.Projection) {
		for _, q := range p.(*waitlists.Waitlists).Queues() {
			seen[q] = true
		}
	})
	names := h.pcnNames()
	var out []option
	unmatched := seen[assignment.Unmatched]
	delete(seen, assignment.Unmatched)
	for q := range seen {
		out = append(out, option{Value: q, Label: queueLabel(q, names)})
	}
	sortedOptions(out)
	if unmatched {
		out = append(out, option{Value: assignment.Unmatched, Label: "Unmatched (no PCN covers the practice)"})
	}
	return out
}

// practiceOf returns the GP practice of each referral in ids, from the
// funnel read model (which every dashboard has).
func (h *handler) practiceOf(ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	h.read(h.cfg.Funnel, func(p projections.Projection) {
		refs := p.(*funnel.Funnel).Referrals
		for _, id := range ids {
			if r := refs[id]; r != nil {
				out[id] = r.Practice
			}
		}
	})
	return out
}

// sortedOptions sorts choices by label.
func sortedOptions(o []option) []option {
	slices.SortFunc(o, func(a, b option) int { return strings.Compare(a.Label, b.Label) })
	return o
}
