package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/handoffs"
)

// personView is the person as a link worker sees them: in full.
type personView struct {
	Name, NHSNumber, Born, Postcode, Phone, Email string
	Language, Contact, Accessibility              string
	Interpreter                                   bool
}

// goalView is one goal of the support plan.
type goalView struct{ Description, Target string }

// contactView is one contact, or a did-not-attend.
type contactView struct {
	When, Kind, Duration string
	DNA, WhatMatters     bool
	Note                 string
}

// outcomeBlock is one instrument's measures: a column per score, a row
// per measure, each score with its change from the baseline.
type outcomeBlock struct {
	Name    string
	Columns []string
	Rows    []outcomeRow
}

type outcomeRow struct {
	Point, When string
	Cells       []outcomeCell
}

type outcomeCell struct{ Value, Change string }

// handoffRow is one handoff and where it is.
type handoffRow struct {
	ID, Service, Status, Requested, RespondBy, Reason, Outcome, Updated string
	Open, Waiting                                                       bool
	Shared                                                              []string
	requested                                                           time.Time
}

// timelineItem is one event of the referral.
type timelineItem struct{ When, What, Who string }

// referralData is a referral page's live part.
type referralData struct {
	AsOf                         string
	ID, Status, Priority, Source string
	Urgent, Safeguarding, Erased bool
	// Open: the referral is assigned, so contacts, a plan and handoffs
	// can be recorded; Closable: it can be discharged or measured.
	Open, Closable               bool
	Person                       personView
	Referrer, Practice, Received string
	Needs                        []string
	ReferralWhatMatters          string
	WhatMatters, PlanAgreed      string
	Goals                        []goalView
	Contacts                     []contactView
	ContactCount, DNACount       int
	Outcomes                     []outcomeBlock
	Handoffs                     []handoffRow
	Timeline                     []timelineItem
	Discharged, DischargeNote    string
	DirectoryAvailable           bool
	SafeguardingText             string
}

// referralPage builds the page of ref at now, from the referral's events
// and its handoffs, read from the log in full as the API reads them.
func (h *handler) referralPage(ctx context.Context, ref *referral.Referral, now time.Time) (referralData, error) {
	rec := ref.Received()
	p := rec.GetPerson()
	erased, _, _ := ref.Erased()
	d := referralData{AsOf: h.clock(now), ID: ref.ID(), Status: strings.ReplaceAll(string(ref.Status()), "_", " "),
		Priority: wordOf(ref.Priority().String(), "PRIORITY_"), Urgent: ref.Priority() == pathwayv1.Priority_PRIORITY_URGENT,
		Source: wordOf(rec.GetSource().String(), "REFERRAL_SOURCE_"), Safeguarding: rec.GetSafeguarding().GetConcern() || ref.Escalated(),
		SafeguardingText: rec.GetSafeguarding().GetDetails(), Erased: erased,
		Open:     ref.Status() == referral.StatusAssigned,
		Closable: ref.Status() == referral.StatusAssigned || ref.Status() == referral.StatusAccepted || ref.Status() == referral.StatusWaitlisted,
		Referrer: strings.TrimSpace(rec.GetReferrer().GetName() + ", " + rec.GetReferrer().GetOrganisation()), Practice: rec.GetGpPractice(),
		Received: h.stamp(ref.ReceivedAt()), ReferralWhatMatters: rec.GetWhatMatters(), DirectoryAvailable: h.cfg.Partners != nil}
	d.Person = personView{Name: personName(ref), NHSNumber: nhsSpaced(p.GetNhsNumber()), Postcode: p.GetPostcode(), Phone: p.GetPhone(),
		Email: p.GetEmail(), Language: p.GetLanguage(), Interpreter: p.GetInterpreterNeeded(), Accessibility: p.GetAccessibilityNeeds(),
		Contact: wordOf(p.GetPreferredContact().String(), "CONTACT_METHOD_")}
	if dob := p.GetDateOfBirth(); dob != nil {
		d.Person.Born = fmt.Sprintf("%d %s %d (age %d)", dob.GetDay(), time.Month(dob.GetMonth()).String(), dob.GetYear(), referral.Age(dob, now))
	}
	for _, n := range rec.GetNeeds() {
		d.Needs = append(d.Needs, wordOf(n.String(), "NEED_"))
	}
	if dis := ref.Discharged(); dis != nil && ref.Status() == referral.StatusDischarged {
		d.Discharged, d.DischargeNote = wordOf(dis.GetReason().String(), "DISCHARGE_REASON_"), dis.GetNote()
	}
	baselines := map[pathwayv1.OutcomeInstrument][]uint32{}
	blocks := map[pathwayv1.OutcomeInstrument]*outcomeBlock{}
	for _, c := range ref.History() {
		who := "pathway"
		if a := c.Actor; a != nil {
			who = cmp.Or(wordOf(a.GetRole().String(), "ROLE_"), "pathway")
		}
		d.Timeline = append(d.Timeline, timelineItem{When: h.stamp(c.At), What: eventWords(c.Payload.ProtoReflect().Descriptor().Name()), Who: who})
		switch e := c.Payload.(type) {
		case *pathwayv1.ContactRecorded:
			cv := contactView{When: h.stamp(e.GetAt().AsTime()), Kind: wordOf(e.GetKind().String(), "CONTACT_KIND_"), DNA: e.GetDidNotAttend(),
				WhatMatters: e.GetWhatMattersConversation(), Note: e.GetNote()}
			if e.GetDurationMinutes() > 0 {
				cv.Duration = fmt.Sprintf("%d min", e.GetDurationMinutes())
			}
			if cv.DNA {
				d.DNACount++
			} else {
				d.ContactCount++
			}
			d.Contacts = append(d.Contacts, cv)
		case *pathwayv1.SupportPlanAgreed:
			d.WhatMatters, d.PlanAgreed, d.Goals = e.GetWhatMatters(), h.stamp(c.At), nil
			for _, g := range e.GetGoals() {
				gv := goalView{Description: g.GetDescription()}
				if t := g.GetTargetDate(); t != nil {
					gv.Target = fmt.Sprintf("%d %s %d", t.GetDay(), time.Month(t.GetMonth()).String(), t.GetYear())
				}
				d.Goals = append(d.Goals, gv)
			}
		case *pathwayv1.OutcomeMeasured:
			inst := e.GetInstrument()
			b := blocks[inst]
			if b == nil {
				b = &outcomeBlock{Name: instrumentNames[inst], Columns: scoreColumns(e)}
				blocks[inst] = b
			}
			scores := scoresOf(e)
			baseline := e.GetPoint() == pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE
			row := outcomeRow{Point: wordOf(e.GetPoint().String(), "MEASUREMENT_POINT_"), When: h.stamp(e.GetMeasuredAt().AsTime())}
			for i, v := range scores {
				cell := outcomeCell{Value: fmt.Sprint(v)}
				if base := baselines[inst]; !baseline && i < len(base) {
					cell.Change = change(int(v) - int(base[i]))
				}
				row.Cells = append(row.Cells, cell)
			}
			if we := e.GetWarwickEdinburgh(); we != nil && we.GetMetricScore() > 0 {
				row.Cells = append(row.Cells, outcomeCell{Value: fmt.Sprintf("%.2f", we.GetMetricScore())})
			}
			if baseline {
				baselines[inst] = scores
			}
			b.Rows = append(b.Rows, row)
		}
	}
	for _, inst := range []pathwayv1.OutcomeInstrument{pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS,
		pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS, pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW} {
		if b := blocks[inst]; b != nil {
			d.Outcomes = append(d.Outcomes, *b)
		}
	}
	slices.Reverse(d.Contacts) // the latest first
	slices.Reverse(d.Timeline)
	ids, err := handoffs.OfReferrals(ctx, h.cfg.Workspace.Store, ref.ID())
	if err != nil {
		return d, err
	}
	names := h.serviceNames()
	for _, id := range ids {
		hd, err := handoffs.LoadHandoff(ctx, h.cfg.Workspace.Store, id)
		if err != nil {
			return d, err
		}
		if !hd.Exists() {
			continue
		}
		req := hd.Requested()
		row := handoffRow{ID: hd.ID(), Service: cmp.Or(names[req.GetServiceId()], "service "+req.GetServiceId()), Status: strings.ReplaceAll(string(hd.Status()), "-", " "),
			Requested: h.stamp(hd.RequestedAt()), RespondBy: h.stamp(hd.RespondBy()), Updated: h.stamp(hd.UpdatedAt()), Reason: hd.Reason(),
			Outcome: strings.ReplaceAll(hd.Outcome(), "_", " "), Open: hd.Status().Open(), Waiting: hd.Status() == handoff.StatusRequested,
			requested: hd.RequestedAt()}
		for _, f := range req.GetSharedFields() {
			row.Shared = append(row.Shared, strings.ReplaceAll(handoff.SharedFieldName(f), "_", " "))
		}
		d.Handoffs = append(d.Handoffs, row)
	}
	slices.SortStableFunc(d.Handoffs, func(a, b handoffRow) int { return b.requested.Compare(a.requested) }) // the latest first
	return d, nil
}

// scoreColumns names the scores of m's instrument.
func scoreColumns(m *pathwayv1.OutcomeMeasured) []string {
	switch m.GetInstrument() {
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4:
		return []string{"Life satisfaction", "Worthwhile", "Happy yesterday", "Anxious yesterday (lower is better)"}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW:
		cols := []string{}
		for i := range m.GetMycaw().GetConcerns() {
			cols = append(cols, fmt.Sprintf("Concern %d (lower is better)", i+1))
		}
		return append(cols, "Wellbeing (lower is better)")
	}
	if m.GetWarwickEdinburgh().GetMetricScore() > 0 {
		return []string{"Raw total", "Metric score"}
	}
	return []string{"Raw total"}
}

// scoresOf are m's scores in scoreColumns' order (a metric score apart).
func scoresOf(m *pathwayv1.OutcomeMeasured) []uint32 {
	switch m.GetInstrument() {
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4:
		o := m.GetOns4()
		return []uint32{o.GetLifeSatisfaction(), o.GetWorthwhile(), o.GetHappyYesterday(), o.GetAnxiousYesterday()}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW:
		var out []uint32
		for _, c := range m.GetMycaw().GetConcerns() {
			out = append(out, c.GetScore())
		}
		return append(out, m.GetMycaw().GetWellbeing())
	}
	return []uint32{m.GetWarwickEdinburgh().GetRawTotal()}
}

// change is a change from baseline in words and signs.
func change(d int) string {
	switch {
	case d > 0:
		return fmt.Sprintf("+%d", d)
	case d < 0:
		return fmt.Sprintf("−%d", -d)
	}
	return "no change"
}

// eventWords is an event type in words: "ContactRecorded" is "Contact
// recorded".
func eventWords[S ~string](name S) string {
	var b strings.Builder
	for i, r := range string(name) {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nhsSpaced writes an NHS number as people read it: 943 476 5919.
func nhsSpaced(n string) string {
	if len(n) != 10 {
		return n
	}
	return n[:3] + " " + n[3:6] + " " + n[6:]
}
