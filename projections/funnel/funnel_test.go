package funnel_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections/funnel"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFunnel(t *testing.T) {
	f := funnel.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := uint64(0)
	apply := func(id string, hours int, p proto.Message) {
		seq++
		f.Apply(events.Record{Sequence: seq, Aggregate: events.Aggregate{Type: "referral", ID: id}, Payload: p,
			Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(t0.Add(time.Duration(hours) * time.Hour))}})
	}
	ons4 := func(point pathwayv1.MeasurementPoint, life uint32) *pathwayv1.OutcomeMeasured {
		return &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, Point: point,
			Scores: &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: life}}}
	}
	// Ten referrals triaged after 1..10 days; two contacted; one declined.
	for i := 1; i <= 10; i++ {
		id := string(rune('a' + i))
		src := pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE
		if i%2 == 0 {
			src = pathwayv1.ReferralSource_REFERRAL_SOURCE_SELF
		}
		apply(id, 0, &pathwayv1.ReferralReceived{Source: src})
		d := pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT
		if i == 10 {
			d = pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE
		}
		apply(id, 24*i, &pathwayv1.ReferralTriaged{Decision: d})
	}
	apply("b", 48, &pathwayv1.ContactRecorded{At: timestamppb.New(t0.Add(72 * time.Hour))})
	apply("b", 48, &pathwayv1.ContactRecorded{At: timestamppb.New(t0.Add(50 * time.Hour)), DidNotAttend: true})
	apply("b", 60, ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, 4))
	apply("b", 900, ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP, 7))
	apply("c", 60, ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, 5)) // no follow-up: not counted

	s := f.Compute()
	if s.Total != 10 || s.Stages["accepted"] != 9 || s.Stages["declined"] != 1 || s.BySource["gp_practice"] != 5 || s.BySource["self"] != 5 {
		t.Fatalf("counts %+v", s)
	}
	if s.TimeToTriage.N != 10 || s.TimeToTriage.P50 != 5 || s.TimeToTriage.P90 != 9 {
		t.Fatalf("time to triage %+v, want p50 5 days and p90 9 days", s.TimeToTriage)
	}
	if s.TimeToFirstContact.N != 1 || s.TimeToFirstContact.P50 != 3 {
		t.Fatalf("time to first contact %+v, want 3 days (the did-not-attend does not count)", s.TimeToFirstContact)
	}
	if c := s.Outcomes["ons4"]; c.N != 1 || c.MeanChange != 3 || c.MeanBaseline != 4 {
		t.Fatalf("ONS4 change %+v, want one pair, +3", c)
	}
}

// TestComputeWhere: the figures of a PCN's referrals, a practice's, or
// those received in a period, count only those.
func TestComputeWhere(t *testing.T) {
	f := funnel.New()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	seq := uint64(0)
	apply := func(id string, days int, p proto.Message) {
		seq++
		f.Apply(events.Record{Sequence: seq, Aggregate: events.Aggregate{Type: "referral", ID: id}, Payload: p,
			Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(t0.AddDate(0, 0, days))}})
	}
	accept := &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}
	apply("a", 0, &pathwayv1.ReferralReceived{GpPractice: "A81001"})
	apply("a", 0, accept)
	apply("a", 1, &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	apply("b", 10, &pathwayv1.ReferralReceived{GpPractice: "A81002"})
	apply("b", 10, accept)
	apply("b", 10, &pathwayv1.ReferralAssigned{WorkerId: "w", Queue: "U2"})
	apply("c", 20, &pathwayv1.ReferralReceived{GpPractice: "A81001"})
	apply("c", 20, accept)
	apply("c", 20, &pathwayv1.ReferralWaitlisted{Queue: "unmatched"})
	apply("c", 21, &pathwayv1.ReferralWaitlisted{Queue: "U2"})

	for _, c := range []struct {
		name string
		keep func(r *funnel.Referral) bool
		want string
	}{
		{"all", nil, "3 waitlisted 2 assigned 1"},
		{"PCN U2", func(r *funnel.Referral) bool { return r.PCN == "U2" }, "2 waitlisted 1 assigned 1"},
		{"practice A81001", func(r *funnel.Referral) bool { return r.Practice == "A81001" }, "2 waitlisted 2 assigned 0"},
		{"received in the first week", func(r *funnel.Referral) bool { return r.ReceivedAt.Before(t0.AddDate(0, 0, 7)) }, "1 waitlisted 1 assigned 0"},
	} {
		s := f.ComputeWhere(c.keep)
		if got := fmt.Sprintf("%d waitlisted %d assigned %d", s.Total, s.Stages["waitlisted"], s.Stages["assigned"]); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}
