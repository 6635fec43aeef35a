package activity_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/conformance"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// TestConformance runs the read-model conformance suite on the report,
// comparing the state and every month's computed report.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New: func() projections.Projection { return activity.New() },
		View: func(p projections.Projection) any {
			r := p.(*activity.Report)
			answers := map[string]activity.Answer{}
			for m := range r.Months {
				a, err := r.Compute(m)
				if err != nil {
					t.Errorf("compute %s: %v", m, err)
				}
				answers[m] = a
			}
			return struct {
				State   *activity.Report
				Answers map[string]activity.Answer
			}{r, answers}
		},
	})
}

// TestHistoryFillsTheReport: the conformance history gives reports with
// every measure and a recorded sex, ethnicity and age band, so the suite
// compares something.
func TestHistoryFillsTheReport(t *testing.T) {
	lg := eventstest.Start(t, false)
	clk := &clock{}
	store := events.New(lg.JS, events.Options{Now: clk.now, Keys: lg.Keys})
	ctx := context.Background()
	for _, c := range conformance.Episodes(1, 1000) {
		clk.set(c.At)
		var changes []events.Change
		for _, ch := range c.Changes {
			var evs []events.Event
			for _, p := range ch.Events {
				evs = append(evs, events.Event{Payload: p, Actor: &pathwayv1.Actor{Id: "test", Role: pathwayv1.Role_ROLE_SYSTEM}})
			}
			changes = append(changes, events.Change{Aggregate: ch.Aggregate, Expected: events.AnyVersion, Events: evs})
		}
		if _, err := store.AppendAll(ctx, changes...); err != nil {
			t.Fatal(err)
		}
	}
	r := activity.New()
	if _, err := projections.Replay(ctx, store, r, 0, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for m := range r.Months {
		a, err := r.Compute(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range a.Rows {
			seen[row.Measure+"/"+row.Breakdown] = true
		}
	}
	for _, want := range []string{"referrals_received/sex", "referrals_received/ethnicity", "referrals_received/age_band",
		"declined_by_person/total", "declined_at_triage/source", "outcome_change/instrument"} {
		if !seen[want] {
			t.Errorf("no month of the history has rows of %s; got %v", want, seen)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// received is a referral with known coded facts.
func received(source pathwayv1.ReferralSource, sex pathwayv1.Sex, ethnicity, ageBand string, needs ...pathwayv1.Need) *pathwayv1.ReferralReceived {
	return &pathwayv1.ReferralReceived{Source: source, Needs: needs, GpPractice: "A81001",
		Person: &pathwayv1.Person{GivenName: "Quillonetta", Sex: sex, EthnicCategory: ethnicity, AgeBand: ageBand}}
}

func ons4(point pathwayv1.MeasurementPoint, life, worth, happy, anxious uint32) *pathwayv1.OutcomeMeasured {
	return &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, Point: point,
		Scores: &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: life, Worthwhile: worth, HappyYesterday: happy, AnxiousYesterday: anxious}}}
}

// step is one event of a referral recorded at a chosen time.
type step struct {
	at  time.Time
	ref string
	ev  proto.Message
}

// onLog appends the steps to a real log whose store records each at its
// time, and replays it into a fresh report.
func onLog(t *testing.T, steps []step) *activity.Report {
	t.Helper()
	lg := eventstest.Start(t, false)
	clk := &clock{}
	store := events.New(lg.JS, events.Options{Now: clk.now, Keys: lg.Keys})
	ctx := context.Background()
	versions := map[string]uint64{}
	for _, s := range steps {
		clk.set(s.at)
		seq, err := store.Append(ctx, events.Aggregate{Type: "referral", ID: s.ref}, versions[s.ref],
			events.Event{Payload: s.ev, Actor: &pathwayv1.Actor{Id: "test", Role: pathwayv1.Role_ROLE_SYSTEM}})
		if err != nil {
			t.Fatal(err)
		}
		versions[s.ref] = seq
	}
	r := activity.New()
	if _, err := projections.Replay(ctx, store, r, 0, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// value returns the value of a row, -1 when there is none.
func value(a activity.Answer, measure, breakdown, category string) int {
	for _, r := range a.Rows {
		if r.Measure == measure && r.Breakdown == breakdown && r.Category == category {
			return r.Value
		}
	}
	return -1
}

// TestMonthsRunInUKTime: an event recorded at 23:30 UTC on 31 March 2026
// (00:30 BST on 1 April) is April's; one at 23:30 UTC on 31 January (GMT)
// is January's; and a follow-up in April against a March baseline counts
// in April.
func TestMonthsRunInUKTime(t *testing.T) {
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	gp, self := pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, pathwayv1.ReferralSource_REFERRAL_SOURCE_SELF
	r := onLog(t, []step{
		{utc(time.January, 31, 23, 30), "jan", received(gp, pathwayv1.Sex_SEX_MALE, "A", "65-74", pathwayv1.Need_NEED_LONELINESS)},
		{utc(time.March, 31, 22, 59), "mar", received(gp, pathwayv1.Sex_SEX_FEMALE, "H", "25-34", pathwayv1.Need_NEED_DEBT)},
		{utc(time.March, 31, 22, 59).Add(time.Second), "mar", ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, 4, 5, 3, 8)},
		{utc(time.March, 31, 23, 30), "apr", received(self, pathwayv1.Sex_SEX_UNSPECIFIED, "", "", pathwayv1.Need_NEED_HOUSING)},
		{utc(time.April, 20, 10, 0), "mar", ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP, 7, 6, 6, 4)},
	})
	for _, tc := range []struct {
		month                string
		total, gp, self, out int
	}{
		{"2026-01", 1, 1, -1, -1},
		{"2026-02", -1, -1, -1, -1}, // nothing: no rows at all
		{"2026-03", 1, 1, -1, -1},
		{"2026-04", 1, -1, 1, 1},
	} {
		a, err := r.Compute(tc.month)
		if err != nil {
			t.Fatal(err)
		}
		got := []int{value(a, "referrals_received", "total", "all"), value(a, "referrals_received", "source", "gp_practice"),
			value(a, "referrals_received", "source", "self"), value(a, "outcome_change", "instrument", "ons4")}
		if want := []int{tc.total, tc.gp, tc.self, tc.out}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: received total, from GPs, self, ONS4 people: got %v, want %v", tc.month, got, want)
		}
	}
	a, _ := r.Compute("2026-04")
	if v := value(a, "referrals_received", "sex", "not_recorded"); v != 1 {
		t.Errorf("April: sex not recorded: got %d, want 1", v)
	}
	if a.From.UTC() != utc(time.March, 31, 23, 0) || a.To.UTC() != utc(time.April, 30, 23, 0) {
		t.Errorf("April runs %s to %s, want from 23:00 UTC on 31 March to 23:00 UTC on 30 April", a.From.UTC(), a.To.UTC())
	}
}

// TestCounts: the breakdowns, the codes, both kinds of decline and the
// outcome change, with a referral entered in error counted nowhere.
func TestCounts(t *testing.T) {
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	next := func() time.Time { at = at.Add(time.Hour); return at }
	gp, spoc := pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, pathwayv1.ReferralSource_REFERRAL_SOURCE_SPOC
	lonely, debt := pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_DEBT
	base, follow := pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP
	r := onLog(t, []step{
		{next(), "a", received(gp, pathwayv1.Sex_SEX_FEMALE, "A", "65-74", lonely, debt)},
		{next(), "b", received(gp, pathwayv1.Sex_SEX_MALE, "N", "18-24", debt)},
		{next(), "c", received(spoc, pathwayv1.Sex_SEX_FEMALE, "Z", "85+", lonely)},
		{next(), "d", received(spoc, pathwayv1.Sex_SEX_UNSPECIFIED, "", "", lonely)},
		{next(), "e", received(spoc, pathwayv1.Sex_SEX_MALE, "A", "45-54", lonely)}, // entered in error
		{next(), "b", &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, DeclineReason: "not-eligible"}},
		{next(), "c", &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED}},
		{next(), "d", &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}},
		{next(), "e", &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}},
		{next(), "a", ons4(base, 4, 5, 3, 8)},
		{next(), "a", ons4(follow, 6, 6, 5, 5)},
		{next(), "d", ons4(base, 5, 5, 5, 5)},
		{next(), "d", ons4(follow, 8, 7, 6, 3)},
	})
	a, err := r.Compute("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		measure, breakdown, category string
		want                         int
	}{
		{"referrals_received", "total", "all", 4},
		{"referrals_received", "source", "gp_practice", 2},
		{"referrals_received", "source", "spoc", 2},
		{"referrals_received", "need", "loneliness", 3},
		{"referrals_received", "need", "debt", 2},
		{"referrals_received", "sex", "female", 2},
		{"referrals_received", "sex", "male", 1},
		{"referrals_received", "sex", "not_recorded", 1},
		{"referrals_received", "ethnicity", "A", 1},
		{"referrals_received", "ethnicity", "Z", 1},
		{"referrals_received", "ethnicity", "not_recorded", 1},
		{"referrals_received", "age_band", "85+", 1},
		{"referrals_received", "age_band", "45-54", -1}, // only the referral entered in error
		{"declined_by_person", "total", "all", 1},
		{"declined_by_person", "sex", "female", 1},
		{"declined_by_person", "age_band", "85+", 1},
		{"declined_at_triage", "total", "all", 1},
		{"declined_at_triage", "ethnicity", "N", 1},
		{"declined_at_triage", "need", "debt", 1},
		{"outcome_change", "instrument", "ons4", 2},
	} {
		if got := value(a, tc.measure, tc.breakdown, tc.category); got != tc.want {
			t.Errorf("%s by %s, %s: got %d, want %d", tc.measure, tc.breakdown, tc.category, got, tc.want)
		}
	}
	for _, row := range a.Rows {
		switch {
		case row.Measure == "referrals_received" && (row.CodeSystem != "http://snomed.info/sct" || row.Code != "871731000000106"):
			t.Errorf("a received row is coded %s|%s", row.CodeSystem, row.Code)
		case row.Measure == "declined_by_person" && (row.Code != "871711000000103" || row.Display != "Social prescribing declined"):
			t.Errorf("a declined-by-person row is coded %s %q", row.Code, row.Display)
		case row.Measure == "declined_at_triage" && (row.Code != "" || row.Note == ""):
			t.Errorf("a declined-at-triage row is coded %q, or says nothing of why not (%q)", row.Code, row.Note)
		case row.Breakdown == "sex" && row.Category == "female" && (row.CategoryCode != "2" || row.CategoryDisplay != "Female"):
			t.Errorf("female is coded %q %q, want 2 Female", row.CategoryCode, row.CategoryDisplay)
		case row.Breakdown == "ethnicity" && row.Category == "A" && row.CategoryDisplay != "White - British":
			t.Errorf("ethnic category A reads %q", row.CategoryDisplay)
		}
	}
	// ONS4 per question: life satisfaction 4.5 -> 7 (+2.5), anxiety 6.5 -> 4
	// (-2.5, lower is better).
	want := map[string][3]float64{"life_satisfaction": {4.5, 7, 2.5}, "worthwhile": {5, 6.5, 1.5}, "happy_yesterday": {4, 5.5, 1.5}, "anxious_yesterday": {6.5, 4, -2.5}}
	n := 0
	for _, row := range a.Rows {
		if row.Measure != "outcome_change" {
			continue
		}
		n++
		w, ok := want[row.Score]
		if !ok || row.Category != "ons4" || row.Value != 2 || *row.MeanBaseline != w[0] || *row.MeanFollowUp != w[1] || *row.MeanChange != w[2] {
			t.Errorf("outcome row %s %s: n %d, %v -> %v (%v); want n 2, %v", row.Category, row.Score, row.Value, *row.MeanBaseline, *row.MeanFollowUp, *row.MeanChange, w)
		}
	}
	if n != 4 {
		t.Errorf("%d outcome rows, want ONS4's four questions", n)
	}
	if a, _ := r.Compute("2030-01"); len(a.Rows) != 0 || a.Month != "2030-01" {
		t.Errorf("a month in the future: %+v, want an empty report", a)
	}
	if _, err := r.Compute("2026-13"); err == nil {
		t.Error("month 2026-13: no error")
	}
}
