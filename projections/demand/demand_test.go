package demand_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections/demand"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type feed struct {
	d   *demand.Demand
	seq uint64
}

func (f *feed) at(at time.Time, typ, id string, p proto.Message) {
	f.seq++
	if err := f.d.Apply(events.Record{Sequence: f.seq, Aggregate: events.Aggregate{Type: typ, ID: id}, Payload: p,
		Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(at)}}); err != nil {
		panic(err)
	}
}

var accept = &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}

// Monday 2 November 2026 (GMT) and the Monday after.
var wk1, wk2 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 9, 10, 0, 0, 0, time.UTC)

func region() *demand.Demand {
	f := &feed{d: demand.New()}
	f.at(wk1, "worker", "w1", &pathwayv1.WorkerRegistered{Pcn: "U1", Capacity: 10})
	f.at(wk1, "worker", "w2", &pathwayv1.WorkerRegistered{Pcn: "U1", Capacity: 10})
	f.at(wk1, "worker", "w3", &pathwayv1.WorkerRegistered{Pcn: "U2", Capacity: 10})
	f.at(wk1, "worker", "w4", &pathwayv1.WorkerRegistered{Pcn: "U2", Capacity: 10})
	f.at(wk1, "worker", "w4", &pathwayv1.WorkerDeactivated{})
	receive := func(at time.Time, id, practice string) {
		f.at(at, "referral", id, &pathwayv1.ReferralReceived{GpPractice: practice})
		f.at(at, "referral", id, accept)
	}
	// Week 1: a waits at U1; b goes straight to a U1 worker; c waits,
	// then gets a U1 worker (in once); x is declined at triage.
	receive(wk1, "a", "P1")
	f.at(wk1, "referral", "a", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	receive(wk1, "b", "P2")
	f.at(wk1, "referral", "b", &pathwayv1.ReferralAssigned{WorkerId: "w1", Queue: "U1"})
	receive(wk1, "c", "P1")
	f.at(wk1, "referral", "c", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	f.at(wk1.Add(time.Hour), "referral", "c", &pathwayv1.ReferralAssigned{WorkerId: "w2", Queue: "U1"})
	f.at(wk1, "referral", "x", &pathwayv1.ReferralReceived{GpPractice: "P1"})
	f.at(wk1, "referral", "x", &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE})
	// Week 2: b discharged (a place freed), a cancelled off the
	// waitlist, c reassigned to a U2 worker (freed at U1, in at U2), e
	// waits at U1, and one waits unmatched.
	f.at(wk2, "referral", "b", &pathwayv1.ReferralDischarged{})
	f.at(wk2, "referral", "a", &pathwayv1.ReferralCancelled{})
	f.at(wk2, "referral", "c", &pathwayv1.ReferralReassigned{FromWorkerId: "w2", ToWorkerId: "w3"})
	receive(wk2, "e", "P1")
	f.at(wk2, "referral", "e", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	receive(wk2, "u", "P9")
	f.at(wk2, "referral", "u", &pathwayv1.ReferralWaitlisted{Queue: "unmatched"})
	f.at(wk2, "referral", "b", &pathwayv1.ReferralDischarged{}) // a repeat frees nothing more
	return f.d
}

func rows(r demand.Report) []string {
	var out []string
	for _, x := range r.Rows {
		out = append(out, fmt.Sprintf("%s %s in %d freed %d left %d net %d", x.PCN, x.WeekStarting, x.In, x.Freed, x.LeftWaitlist, x.Net))
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestWeeksPerPCN(t *testing.T) {
	d := region()
	target := 28 * 24 * time.Hour
	r := d.Compute(demand.Filter{From: wk1, To: wk2.Add(3 * 24 * time.Hour)}, target)
	if r.From != "2026-11-02" || r.To != "2026-11-15" {
		t.Errorf("period %s to %s, want 2026-11-02 to 2026-11-15 (whole UK weeks)", r.From, r.To)
	}
	same(t, "rows", rows(r), []string{
		"U1 2026-11-02 in 3 freed 0 left 0 net 3",
		"U1 2026-11-09 in 1 freed 2 left 1 net -2",
		"U2 2026-11-02 in 0 freed 0 left 0 net 0",
		"U2 2026-11-09 in 1 freed 0 left 0 net 1",
		"unmatched 2026-11-02 in 0 freed 0 left 0 net 0",
		"unmatched 2026-11-09 in 1 freed 0 left 0 net 1",
	})
	var got []string
	for _, s := range r.PCNs {
		got = append(got, fmt.Sprintf("%s in %d/week %.2f waiting %d on caseloads %d workers %d needed %d-%d", s.PCN, s.In, s.InPerWeek, s.Waiting, s.OnCaseloads, s.LinkWorkers, s.NeededLow, s.NeededHigh))
	}
	same(t, "PCNs", got, []string{
		"U1 in 4/week 2.00 waiting 1 on caseloads 0 workers 2 needed 1-1",
		"U2 in 1/week 0.50 waiting 0 on caseloads 1 workers 1 needed 1-1",
		"unmatched in 1/week 0.50 waiting 1 on caseloads 0 workers 0 needed 0-0",
	})

	// By practice: only P2's referral (b) at U1.
	r = d.Compute(demand.Filter{Practice: "P2", From: wk1, To: wk2}, target)
	same(t, "rows of practice P2", rows(r)[:2], []string{"U1 2026-11-02 in 1 freed 0 left 0 net 1", "U1 2026-11-09 in 0 freed 1 left 0 net -1"})
	// By PCN: only U2; one week only.
	r = d.Compute(demand.Filter{PCN: "U2", From: wk2, To: wk2}, target)
	same(t, "rows of U2 in week 2", rows(r), []string{"U2 2026-11-09 in 1 freed 0 left 0 net 1"})
}

func TestUKWeeks(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		// Sunday 23:30 UTC in summer is Monday 00:30 BST: the new week.
		{time.Date(2026, 6, 7, 23, 30, 0, 0, time.UTC), "2026-06-08"},
		{time.Date(2026, 6, 7, 22, 30, 0, 0, time.UTC), "2026-06-01"},
		// In winter UTC is UK time.
		{time.Date(2026, 11, 8, 23, 30, 0, 0, time.UTC), "2026-11-02"},
		{time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), "2026-11-09"},
		// The week the clocks go back (Sunday 25 October 2026).
		{time.Date(2026, 10, 25, 23, 59, 0, 0, time.UTC), "2026-10-19"},
	} {
		if got := demand.WeekOf(c.at); got != c.want {
			t.Errorf("week of %s: got %s, want %s", c.at, got, c.want)
		}
	}
}

func TestNeeded(t *testing.T) {
	month := 28 * 24 * time.Hour
	for _, c := range []struct {
		perWeek float64
		waiting int
		perYear int
		want    int
	}{
		// 10 a week and 40 waiting to clear in 4 weeks: 20 a week, 1040
		// a year: 4.16 workers at 250 a year, 5.2 at 200.
		{10, 40, 250, 5}, {10, 40, 200, 6},
		// Exactly 5 at 250 a year: not rounded up to 6.
		{25.0 * 250 / 52 / 5 * 1, 0, 250, 5},
		{0, 0, 250, 0},
	} {
		if got := demand.Needed(c.perWeek, c.waiting, month, c.perYear); got != c.want {
			t.Errorf("Needed(%v a week, %d waiting, %d a year): got %d, want %d", c.perWeek, c.waiting, c.perYear, got, c.want)
		}
	}
}
