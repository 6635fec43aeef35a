package dashboard

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/keys"
)

// dueItem is one thing due on a case: what, by when, and whether it is
// overdue.
type dueItem struct {
	What    string
	Due     string
	at      time.Time
	Overdue bool
}

// myCase is one row of a link worker's caseload.
type myCase struct {
	ID, Name, Priority, Stage string
	Urgent                    bool
	Assigned, LastContact     string
	Contacts, DNA             int
	// Items are what is due, the soonest first; Next is the first.
	Items   []dueItem
	Next    dueItem
	Overdue bool
}

// myCaseloadData is the caseload page's live part.
type myCaseloadData struct {
	AsOf string
	// Worker is the key's worker's load; NoWorker: the key names no
	// worker on the roster.
	Worker   workerRow
	NoWorker bool
	Cases    []myCase
	Overdue  int
}

// myCaseload builds the caseload of key's worker at now: its open
// referrals with what is due on each, those with something overdue
// first, then by what falls due soonest, urgent first between equals.
// Each referral is read from the log (the person's name, the measures,
// the handoffs), as the API reads it.
func (h *handler) myCaseload(ctx context.Context, key keys.Key, now time.Time) (myCaseloadData, error) {
	d := myCaseloadData{AsOf: h.clock(now), NoWorker: true}
	if key.Worker == "" {
		return d, nil
	}
	for _, w := range h.workerRows() {
		if w.ID == key.Worker {
			d.Worker, d.NoWorker = w, false
		}
	}
	if d.NoWorker {
		return d, nil
	}
	var cases []caseloads.Case
	h.read(h.cfg.Caseloads, func(p projections.Projection) { cases = p.(*caseloads.Caseloads).CasesOf(key.Worker) })
	names := h.serviceNames()
	for _, c := range cases {
		ref, err := h.reach(ctx, key, c.ID)
		if errors.Is(err, errNotFound) {
			continue // moved on since the read model saw it
		}
		if err != nil {
			return d, err
		}
		row, err := h.caseRow(ctx, c, ref, names, now)
		if err != nil {
			return d, err
		}
		if row.Overdue {
			d.Overdue++
		}
		d.Cases = append(d.Cases, row)
	}
	slices.SortStableFunc(d.Cases, func(a, b myCase) int {
		if a.Overdue != b.Overdue {
			if a.Overdue {
				return -1
			}
			return 1
		}
		if c := a.Next.at.Compare(b.Next.at); c != 0 {
			return c
		}
		if a.Urgent != b.Urgent {
			if a.Urgent {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return d, nil
}

// caseRow is the caseload row of case c, whose referral is ref.
func (h *handler) caseRow(ctx context.Context, c caseloads.Case, ref *referral.Referral, services map[string]string, now time.Time) (myCase, error) {
	row := myCase{ID: c.ID, Name: personName(ref), Priority: wordOf(ref.Priority().String(), "PRIORITY_"), Stage: stageText[c.Stage()],
		Urgent: ref.Priority() == pathwayv1.Priority_PRIORITY_URGENT, Assigned: h.stamp(c.AssignedAt), LastContact: "none yet",
		Contacts: c.Contacts, DNA: c.DidNotAttend}
	if !c.LastContact.IsZero() {
		row.LastContact = h.stamp(c.LastContact)
	}
	add := func(what string, at time.Time, overdue bool) {
		row.Items = append(row.Items, dueItem{What: what, Due: h.stamp(at), at: at, Overdue: overdue || now.After(at)})
	}
	if c.LastContact.IsZero() {
		add("First contact", c.AssignedAt.Add(caseloads.FirstContactWithin), false)
	} else {
		add("Next contact", c.LastContact.Add(caseloads.FollowUpWithin), false)
	}
	for _, m := range followUpsDue(ref) {
		add("Follow-up "+instrumentNames[m.inst]+" measure", m.baseline.Add(h.cfg.Workspace.FollowUpAfter), false)
	}
	for _, id := range c.Handoffs {
		hd, err := handoffs.LoadHandoff(ctx, h.cfg.Workspace.Store, id)
		if err != nil {
			return row, err
		}
		if hd.Status() == handoff.StatusRequested {
			add("Answer from "+cmp.Or(services[hd.Requested().GetServiceId()], "a service"), hd.RespondBy(), false)
		}
	}
	for _, id := range c.NeedsAction() {
		hd, err := handoffs.LoadHandoff(ctx, h.cfg.Workspace.Store, id)
		if err != nil {
			return row, err
		}
		add("Handoff to "+cmp.Or(services[hd.Requested().GetServiceId()], "a service")+" expired unanswered: cancel it and hand off elsewhere", c.Expired[id], true)
	}
	slices.SortStableFunc(row.Items, func(a, b dueItem) int { return a.at.Compare(b.at) })
	row.Next = row.Items[0]
	for _, it := range row.Items {
		row.Overdue = row.Overdue || it.Overdue
	}
	return row, nil
}

// followUp is an instrument with a baseline and no follow-up since.
type followUp struct {
	inst     pathwayv1.OutcomeInstrument
	baseline time.Time
}

// followUpsDue lists the instruments of ref measured at baseline and not
// followed up since, in the order of their baselines.
func followUpsDue(ref *referral.Referral) []followUp {
	var out []followUp
	for _, c := range ref.History() {
		m, ok := c.Payload.(*pathwayv1.OutcomeMeasured)
		if !ok {
			continue
		}
		out = slices.DeleteFunc(out, func(f followUp) bool { return f.inst == m.GetInstrument() })
		if m.GetPoint() == pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE {
			out = append(out, followUp{inst: m.GetInstrument(), baseline: c.At})
		}
	}
	return out
}

// serviceNames maps directory service ids to their names; empty without
// the partners read model.
func (h *handler) serviceNames() map[string]string {
	out := map[string]string{}
	if h.cfg.Partners == nil {
		return out
	}
	h.read(h.cfg.Partners, func(p projections.Projection) {
		for id, s := range p.(*partners.Partners).Services {
			out[id] = s.Name
		}
	})
	return out
}

// personName is the person's name as the referral holds it.
func personName(ref *referral.Referral) string {
	if erased, _, _ := ref.Erased(); erased {
		return "(erased)"
	}
	p := ref.Received().GetPerson()
	return cmp.Or(strings.TrimSpace(p.GetGivenName()+" "+p.GetFamilyName()), "(no name given)")
}

// wordOf is an enum value in words: "PRIORITY_URGENT" is "urgent".
func wordOf(enumName, prefix string) string {
	if strings.HasSuffix(enumName, "_UNSPECIFIED") {
		return "not set"
	}
	return strings.ReplaceAll(referral.WireName(enumName, prefix), "_", " ")
}

// instrumentNames are the outcome instruments as people write them.
var instrumentNames = map[pathwayv1.OutcomeInstrument]string{
	pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4: "ONS4", pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS: "SWEMWBS",
	pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS: "WEMWBS", pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW: "MYCaW",
}
