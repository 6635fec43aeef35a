// Package activity is the read model of the monthly activity report
// commissioners ask for: referrals received, declined by the person and
// declined at triage in a UK calendar month, each by source, need, age
// band, sex and ethnic category, with their SNOMED CT codes, and the
// change in wellbeing of the people followed up in the month, per
// instrument. It is built from referral events by their recorded times,
// in UK time (kernel.Month), and holds only ids, codes and scores: no
// sealed field is opened, so a rebuild after an erasure gives the same
// report.
package activity

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Name is the projection's name and checkpoint key.
const Name = "activity-report"

// Referral is what the report keeps of one referral: its coded facts as
// received (no personal data), and its latest baseline per instrument.
type Referral struct {
	Source    string   `json:"source"`
	Needs     []string `json:"needs"`
	AgeBand   string   `json:"age_band,omitempty"`
	Sex       string   `json:"sex,omitempty"`
	Ethnicity string   `json:"ethnicity,omitempty"`
	// EnteredInError is set while the referral stands cancelled as
	// entered in error: opened by mistake, it is counted nowhere.
	EnteredInError bool `json:"entered_in_error,omitempty"`
	// Baseline is the latest baseline of each instrument, by score name.
	Baseline map[string]Scores `json:"baseline,omitempty"`
}

// Scores are one measure's scores by name (see scoresOf).
type Scores map[string]float64

// Pair is a baseline and the follow-up compared with it.
type Pair struct {
	Baseline Scores `json:"baseline"`
	FollowUp Scores `json:"follow_up"`
}

// Month is what happened in one UK calendar month, by referral id.
type Month struct {
	Received         map[string]bool `json:"received,omitempty"`
	DeclinedByPerson map[string]bool `json:"declined_by_person,omitempty"`
	DeclinedAtTriage map[string]bool `json:"declined_at_triage,omitempty"`
	// FollowUps is, per referral and instrument, the month's last
	// follow-up and the baseline before it.
	FollowUps map[string]map[string]Pair `json:"follow_ups,omitempty"`
}

// Report is the read model. It implements projections.Projection and
// projections.Typed. It is not safe for concurrent use: the engine
// serialises Apply and reads.
type Report struct {
	Referrals map[string]*Referral `json:"referrals"`
	Months    map[string]*Month    `json:"months"`
}

// New returns an empty read model.
func New() *Report { r := &Report{}; r.Reset(); return r }

// Name returns Name.
func (r *Report) Name() string { return Name }

// Subject returns the referral events.
func (r *Report) Subject() string { return events.TypeSubject("referral") }

// Reset empties the model.
func (r *Report) Reset() {
	r.Referrals, r.Months = map[string]*Referral{}, map[string]*Month{}
}

// EventTypes returns the event types Apply uses (projections.Typed).
func (r *Report) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralTriaged{}, &pathwayv1.OutcomeMeasured{},
		&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralReopened{})
}

func (r *Report) month(at time.Time) *Month {
	key := kernel.Month(at)
	m := r.Months[key]
	if m == nil {
		m = &Month{}
		r.Months[key] = m
	}
	return m
}

func mark(set *map[string]bool, id string) {
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[id] = true
}

// Apply applies one referral event at its recorded time.
func (r *Report) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	ref := r.Referrals[id]
	if ref == nil {
		e, ok := rec.Payload.(*pathwayv1.ReferralReceived)
		if !ok {
			return nil
		}
		p := e.GetPerson()
		ref = &Referral{
			Source:    referral.WireName(e.GetSource().String(), "REFERRAL_SOURCE_"),
			AgeBand:   p.GetAgeBand(),
			Sex:       referral.SexName(p.GetSex()),
			Ethnicity: p.GetEthnicCategory(),
		}
		for _, n := range e.GetNeeds() {
			ref.Needs = append(ref.Needs, referral.WireName(n.String(), "NEED_"))
		}
		r.Referrals[id] = ref
		mark(&r.month(at).Received, id)
		return nil
	}
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralTriaged:
		m := r.month(at)
		switch {
		case e.GetDecision() == pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE:
			mark(&m.DeclinedAtTriage, id)
		case e.GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL:
			// A later decision of the same month (staff overriding a
			// decline) stands instead.
			delete(m.DeclinedAtTriage, id)
		}
	case *pathwayv1.ReferralDischarged:
		if e.GetReason() == pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED {
			mark(&r.month(at).DeclinedByPerson, id)
		}
	case *pathwayv1.ReferralCancelled:
		ref.EnteredInError = e.GetReason() == pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR
	case *pathwayv1.ReferralReopened:
		ref.EnteredInError = false
	case *pathwayv1.OutcomeMeasured:
		inst := referral.WireName(e.GetInstrument().String(), "OUTCOME_INSTRUMENT_")
		s := scoresOf(e)
		if len(s) == 0 {
			return nil
		}
		switch e.GetPoint() {
		case pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE:
			if ref.Baseline == nil {
				ref.Baseline = map[string]Scores{}
			}
			ref.Baseline[inst] = s
		case pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP:
			b, ok := ref.Baseline[inst]
			if !ok {
				return nil
			}
			m := r.month(at)
			if m.FollowUps == nil {
				m.FollowUps = map[string]map[string]Pair{}
			}
			if m.FollowUps[id] == nil {
				m.FollowUps[id] = map[string]Pair{}
			}
			m.FollowUps[id][inst] = Pair{Baseline: b, FollowUp: s}
		}
	}
	return nil
}

// scoresOf returns the scores the report compares of one measure. ONS4 is
// reported per question, as the ONS publishes it (the four are never
// summed, and anxiety runs the other way: lower is better), where the
// funnel's funnel.Headline keeps only life satisfaction. SWEMWBS gives
// its raw total and, when recorded, its metric score (the conversion
// table's, which national figures use); WEMWBS its total; MYCaW the mean
// of its concern scores (funnel.Headline's, lower is better) and its
// wellbeing score.
func scoresOf(m *pathwayv1.OutcomeMeasured) Scores {
	switch s := m.GetScores().(type) {
	case *pathwayv1.OutcomeMeasured_Ons4:
		o := s.Ons4
		return Scores{"life_satisfaction": float64(o.GetLifeSatisfaction()), "worthwhile": float64(o.GetWorthwhile()),
			"happy_yesterday": float64(o.GetHappyYesterday()), "anxious_yesterday": float64(o.GetAnxiousYesterday())}
	case *pathwayv1.OutcomeMeasured_WarwickEdinburgh:
		w := s.WarwickEdinburgh
		out := Scores{"raw_total": float64(w.GetRawTotal())}
		if m.GetInstrument() == pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS && w.GetMetricScore() > 0 {
			out["metric_score"] = w.GetMetricScore()
		}
		return out
	case *pathwayv1.OutcomeMeasured_Mycaw:
		cs := s.Mycaw.GetConcerns()
		out := Scores{"wellbeing": float64(s.Mycaw.GetWellbeing())}
		if len(cs) > 0 {
			sum := 0.0
			for _, c := range cs {
				sum += float64(c.GetScore())
			}
			out["concerns_mean"] = sum / float64(len(cs))
		}
		return out
	}
	return nil
}

// Snapshot writes the state as JSON.
func (r *Report) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(r) }

// Restore reads a Snapshot.
func (r *Report) Restore(rd io.Reader) error {
	r.Reset()
	return json.NewDecoder(rd).Decode(r)
}

// The SNOMED CT codes of the report's measures; declined at triage has
// none.
const (
	SNOMED          = "http://snomed.info/sct"
	CodeReferral    = "871731000000106"
	DisplayReferral = "Referral to social prescribing service"
	CodeDeclined    = "871711000000103"
	DisplayDeclined = "Social prescribing declined"
)

// The measures, the breakdowns other than the referral's facts, and the
// category of a fact a referral did not record.
const (
	MeasureReceived       = "referrals_received"
	MeasureDeclinedPerson = "declined_by_person"
	MeasureDeclinedTriage = "declined_at_triage"
	MeasureOutcomeChange  = "outcome_change"
	BreakdownTotal        = "total"
	BreakdownInstrument   = "instrument"
	NotRecorded           = "not_recorded"
)

// The notes rows carry.
const (
	NoteDeclinedAtTriage = "no SNOMED CT code: pathway's own triage decision (a referral the service declined, not the person)"
	noteNeedsOverlap     = "a referral with several needs counts once under each"
	noteOutcomes         = "people with a baseline and a follow-up in the month: the month's last follow-up against the baseline before it"
	noteLowerIsBetter    = "lower is better"
)

const (
	categoryAll        = "all"
	sourceBreakdown    = "source"
	needBreakdown      = "need"
	ageBandBreakdown   = "age_band"
	sexBreakdown       = "sex"
	ethnicityBreakdown = "ethnicity"
	timeZone           = "Europe/London"
)

// Row is one line of the report, a long table: a count (Value) of one
// measure in one category of one breakdown, or for outcome_change the
// number of people (Value) and their mean scores of one instrument's
// score. Every row has every field, so the CSV export is a pivot-ready
// table.
type Row struct {
	Measure   string `json:"measure"`
	Breakdown string `json:"breakdown"`
	Category  string `json:"category"`
	// CategoryCode and CategoryDisplay are the NHS Data Dictionary code of
	// a sex or ethnic category, and its display.
	CategoryCode    string `json:"category_code"`
	CategoryDisplay string `json:"category_display"`
	// Score names the score of an outcome row (e.g. life_satisfaction).
	Score        string   `json:"score"`
	Value        int      `json:"value"`
	MeanBaseline *float64 `json:"mean_baseline"`
	MeanFollowUp *float64 `json:"mean_follow_up"`
	MeanChange   *float64 `json:"mean_change"`
	CodeSystem   string   `json:"code_system"`
	Code         string   `json:"code"`
	Display      string   `json:"display"`
	Note         string   `json:"note"`
}

// Answer is the report of one month.
type Answer struct {
	Month    string    `json:"month"`
	TimeZone string    `json:"time_zone"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rows     []Row     `json:"rows"`
}

// Compute returns the report of a UK calendar month "YYYY-MM" (see
// kernel.ParseMonth; its error is returned for a month that is not one).
// A month without activity (in the future, say) has no rows. Rows come
// in a fixed order: per measure its total, then each breakdown's
// categories in their lists' order, then the outcome rows by instrument
// and score.
func (r *Report) Compute(month string) (Answer, error) {
	from, to, err := kernel.ParseMonth(month)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Month: month, TimeZone: timeZone, From: from, To: to, Rows: []Row{}}
	m := r.Months[month]
	if m == nil {
		return a, nil
	}
	count := func(ids map[string]bool) []*Referral {
		var out []*Referral
		for id := range ids {
			if ref := r.Referrals[id]; ref != nil && !ref.EnteredInError {
				out = append(out, ref)
			}
		}
		return out
	}
	received, person, triage := count(m.Received), count(m.DeclinedByPerson), count(m.DeclinedAtTriage)
	outcomes := r.outcomes(m)
	if len(received)+len(person)+len(triage)+len(outcomes) == 0 {
		return a, nil
	}
	a.Rows = append(a.Rows, breakdowns(MeasureReceived, received, SNOMED, CodeReferral, DisplayReferral, "")...)
	a.Rows = append(a.Rows, breakdowns(MeasureDeclinedPerson, person, SNOMED, CodeDeclined, DisplayDeclined, "")...)
	a.Rows = append(a.Rows, breakdowns(MeasureDeclinedTriage, triage, "", "", "", NoteDeclinedAtTriage)...)
	a.Rows = append(a.Rows, outcomes...)
	return a, nil
}

// breakdowns are one measure's rows: the total (always), then each
// breakdown's categories with a count.
func breakdowns(measure string, refs []*Referral, system, code, display, note string) []Row {
	row := func(breakdown, category string, n int) Row {
		return Row{Measure: measure, Breakdown: breakdown, Category: category, Value: n, CodeSystem: system, Code: code, Display: display, Note: note}
	}
	rows := []Row{row(BreakdownTotal, categoryAll, len(refs))}
	by := func(breakdown string, order []string, of func(*Referral) []string, dress func(*Row)) {
		n := map[string]int{}
		for _, ref := range refs {
			vs := of(ref)
			if len(vs) == 0 {
				vs = []string{NotRecorded}
			}
			for _, v := range vs {
				n[v]++
			}
		}
		// The list's order, then anything else (a value a newer schema
		// added) sorted, then not recorded.
		var rest []string
		for v := range n {
			if !slices.Contains(order, v) && v != NotRecorded {
				rest = append(rest, v)
			}
		}
		slices.Sort(rest)
		for _, v := range append(append(slices.Clone(order), rest...), NotRecorded) {
			if n[v] == 0 {
				continue
			}
			rw := row(breakdown, v, n[v])
			if dress != nil && v != NotRecorded {
				dress(&rw)
			}
			rows = append(rows, rw)
		}
	}
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	by(sourceBreakdown, referral.SourceNames(), func(r *Referral) []string { return one(r.Source) }, nil)
	by(needBreakdown, referral.NeedNames(), func(r *Referral) []string { return r.Needs }, func(rw *Row) {
		if rw.Note == "" {
			rw.Note = noteNeedsOverlap
		}
	})
	by(ageBandBreakdown, referral.AgeBandNames(), func(r *Referral) []string { return one(r.AgeBand) }, nil)
	by(sexBreakdown, referral.SexNames(), func(r *Referral) []string { return one(r.Sex) }, func(rw *Row) {
		s, _ := referral.ParseSex(rw.Category)
		rw.CategoryCode, rw.CategoryDisplay = referral.SexCode(s), sexDisplay[rw.Category]
	})
	by(ethnicityBreakdown, referral.EthnicCategoryCodes(), func(r *Referral) []string { return one(r.Ethnicity) }, func(rw *Row) {
		rw.CategoryCode = rw.Category
		rw.CategoryDisplay, _ = referral.EthnicCategoryDisplay(rw.Category)
	})
	return rows
}

// sexDisplay is the Data Dictionary's display of each sex code.
var sexDisplay = map[string]string{"male": "Male", "female": "Female", "indeterminate": "Indeterminate", "not_known": "Not Known"}

// instrumentScores is the order of each instrument's scores, and which
// run the other way.
var instrumentScores = []struct {
	instrument, score string
	lowerIsBetter     bool
}{
	{"ons4", "life_satisfaction", false}, {"ons4", "worthwhile", false}, {"ons4", "happy_yesterday", false}, {"ons4", "anxious_yesterday", true},
	{"swemwbs", "metric_score", false}, {"swemwbs", "raw_total", false},
	{"wemwbs", "raw_total", false},
	{"mycaw", "concerns_mean", true}, {"mycaw", "wellbeing", false},
}

// outcomes are the month's outcome rows: per instrument and score, the
// people followed up in the month against their baseline.
func (r *Report) outcomes(m *Month) []Row {
	var rows []Row
	for _, is := range instrumentScores {
		var n int
		var b, f float64
		// In id order, so the sums are the same however the map runs.
		for _, id := range slices.Sorted(maps.Keys(m.FollowUps)) {
			pairs := m.FollowUps[id]
			if ref := r.Referrals[id]; ref == nil || ref.EnteredInError {
				continue
			}
			p, ok := pairs[is.instrument]
			if !ok {
				continue
			}
			bv, okb := p.Baseline[is.score]
			fv, okf := p.FollowUp[is.score]
			if !okb || !okf {
				continue
			}
			n++
			b += bv
			f += fv
		}
		if n == 0 {
			continue
		}
		mb, mf := round(b/float64(n)), round(f/float64(n))
		change := round(f/float64(n) - b/float64(n))
		note := noteOutcomes
		if is.lowerIsBetter {
			note = noteLowerIsBetter + "; " + note
		}
		rows = append(rows, Row{Measure: MeasureOutcomeChange, Breakdown: BreakdownInstrument, Category: is.instrument, Score: is.score,
			Value: n, MeanBaseline: &mb, MeanFollowUp: &mf, MeanChange: &change, Note: note})
	}
	return rows
}

// round rounds to two decimal places, so a mean reads as published and
// sums in any order give the same answer.
func round(x float64) float64 {
	const k = 100
	if x < 0 {
		return -round(-x)
	}
	return float64(int64(x*k+0.5)) / k
}
