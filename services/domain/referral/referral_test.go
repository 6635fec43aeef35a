package referral_test

import (
	"errors"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func received(safeguarding bool) *pathwayv1.ReferralReceived {
	return &pathwayv1.ReferralReceived{
		Urgency:      pathwayv1.Priority_PRIORITY_ROUTINE,
		Person:       &pathwayv1.Person{NhsNumber: "9434765919"},
		Safeguarding: &pathwayv1.Safeguarding{Concern: safeguarding, Details: "x"},
	}
}

func decision(d pathwayv1.TriageDecision, rule string) *pathwayv1.ReferralTriaged {
	return &pathwayv1.ReferralTriaged{Decision: d, RuleId: rule, Reason: "because", DeclineReason: "not-eligible", RedirectDestination: "crisis team"}
}

const (
	accept   = pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT
	decline  = pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE
	manual   = pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL
	redirect = pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT
)

// given builds a referral from events.
func given(payloads ...proto.Message) *referral.Referral {
	changes := make([]kernel.Change, len(payloads))
	for i, p := range payloads {
		changes[i] = kernel.Change{Sequence: uint64(i + 1), At: time.Unix(int64(i), 0), Payload: p}
	}
	return referral.Replay("r1", changes)
}

func TestReceiveEscalatesSafeguardingAtOnce(t *testing.T) {
	if got := referral.Receive(received(false)); len(got) != 1 {
		t.Fatalf("no concern: got %d events, want 1", len(got))
	}
	got := referral.Receive(received(true))
	if len(got) != 2 {
		t.Fatalf("with a concern: got %d events, want 2", len(got))
	}
	esc, ok := got[1].(*pathwayv1.SafeguardingEscalated)
	if !ok || esc.GetPriority() != pathwayv1.Priority_PRIORITY_URGENT {
		t.Fatalf("second event %v, want an urgent SafeguardingEscalated", got[1])
	}
	r := given(got...)
	if !r.Escalated() || r.Priority() != pathwayv1.Priority_PRIORITY_URGENT || r.Status() != referral.StatusReceived {
		t.Fatalf("after escalation: escalated %v priority %v status %v", r.Escalated(), r.Priority(), r.Status())
	}
}

func TestAutoTriage(t *testing.T) {
	for _, tc := range []struct {
		name         string
		given        []proto.Message
		decide       *pathwayv1.ReferralTriaged
		wantErr      error
		wantDecision pathwayv1.TriageDecision
		wantStatus   referral.Status
	}{
		{"accept a new referral", []proto.Message{received(false)}, decision(accept, "r"), nil, accept, referral.StatusAccepted},
		{"decline a new referral", []proto.Message{received(false)}, decision(decline, "r"), nil, decline, referral.StatusDeclined},
		{"safeguarding is never auto-declined", referral.Receive(received(true)), decision(decline, "r"), nil, manual, referral.StatusManualTriage},
		{"redelivery after triage is refused", []proto.Message{received(false), decision(accept, "r")}, decision(decline, "r"), referral.ErrConflict, 0, ""},
		{"a cancelled referral is not triaged", []proto.Message{received(false), &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}}, decision(accept, "r"), referral.ErrConflict, 0, ""},
		{"a missing referral is not triaged", nil, decision(accept, "r"), referral.ErrConflict, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := given(tc.given...)
			evs, err := r.AutoTriage(tc.decide)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			d := evs[0].(*pathwayv1.ReferralTriaged)
			if d.GetDecision() != tc.wantDecision {
				t.Errorf("decision: got %v, want %v", d.GetDecision(), tc.wantDecision)
			}
			r.Apply(kernel.Change{Sequence: 99, Payload: d})
			if r.Status() != tc.wantStatus {
				t.Errorf("status: got %v, want %v", r.Status(), tc.wantStatus)
			}
			if r.Escalated() && r.Priority() != pathwayv1.Priority_PRIORITY_URGENT {
				t.Errorf("escalated referral priority: got %v, want urgent", r.Priority())
			}
		})
	}
}

func TestStaffTriage(t *testing.T) {
	staff := func(d pathwayv1.TriageDecision) *pathwayv1.ReferralTriaged {
		x := decision(d, "")
		x.RuleId = ""
		return x
	}
	for _, tc := range []struct {
		name         string
		given        []proto.Message
		decide       *pathwayv1.ReferralTriaged
		wantErr      error
		wantOverride bool
	}{
		{"manual triage of a queued referral", []proto.Message{received(false), decision(manual, "none")}, staff(accept), nil, false},
		{"override of an automatic decision", []proto.Message{received(false), decision(decline, "area")}, staff(accept), nil, true},
		{"no second staff decision", []proto.Message{received(false), staff(accept)}, staff(decline), referral.ErrConflict, false},
		{"a reason is required", []proto.Message{received(false), decision(manual, "none")}, &pathwayv1.ReferralTriaged{Decision: accept}, referral.ErrInvalid, false},
		{"decline needs a decline reason", []proto.Message{received(false), decision(manual, "none")}, &pathwayv1.ReferralTriaged{Decision: decline, Reason: "x"}, referral.ErrInvalid, false},
		{"redirect needs a destination", []proto.Message{received(false), decision(manual, "none")}, &pathwayv1.ReferralTriaged{Decision: redirect, Reason: "x"}, referral.ErrInvalid, false},
		{"safeguarding cannot be declined by staff", append(referral.Receive(received(true)), decision(manual, "none")), staff(decline), referral.ErrConflict, false},
		{"a cancelled referral cannot be triaged", []proto.Message{received(false), &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}}, staff(accept), referral.ErrConflict, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := given(tc.given...).StaffTriage(tc.decide)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			d := evs[0].(*pathwayv1.ReferralTriaged)
			if d.GetOverride() != tc.wantOverride || d.GetRuleId() != "" {
				t.Errorf("override %v rule %q, want override %v and no rule", d.GetOverride(), d.GetRuleId(), tc.wantOverride)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	revoked := pathwayv1.CancelReason_CANCEL_REASON_REVOKED
	for _, tc := range []struct {
		name    string
		given   []proto.Message
		reason  pathwayv1.CancelReason
		wantErr error
		fhir    string
	}{
		{"active referral, revoked", []proto.Message{received(false)}, revoked, nil, "revoked"},
		{"active referral, entered in error", []proto.Message{received(false), decision(accept, "r")}, pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR, nil, "entered-in-error"},
		{"already cancelled", []proto.Message{received(false), &pathwayv1.ReferralCancelled{Reason: revoked}}, revoked, referral.ErrConflict, ""},
		{"declined is not active", []proto.Message{received(false), decision(decline, "r")}, revoked, referral.ErrConflict, ""},
		{"discharged is not active", []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralDischarged{}}, revoked, referral.ErrConflict, ""},
		{"no reason", []proto.Message{received(false)}, pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED, referral.ErrInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := given(tc.given...)
			if r.FHIRStatus() != "active" && tc.wantErr == nil {
				t.Fatalf("FHIR status before cancel: got %s, want active", r.FHIRStatus())
			}
			evs, err := r.Cancel(tc.reason, "audit note")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			r.Apply(kernel.Change{Sequence: 50, Payload: evs[0]})
			if r.Status() != referral.StatusCancelled || r.FHIRStatus() != tc.fhir {
				t.Errorf("after cancel: status %s, FHIR %s; want cancelled, %s", r.Status(), r.FHIRStatus(), tc.fhir)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	dup := given(received(false))
	surv := referral.Replay("r2", []kernel.Change{{Sequence: 7, Payload: received(false)}})
	d, s, err := dup.MergeInto(surv, "same person")
	if err != nil {
		t.Fatal(err)
	}
	dup.Apply(kernel.Change{Sequence: 8, Payload: d[0]})
	surv.Apply(kernel.Change{Sequence: 9, Payload: s[0]})
	if dup.Status() != referral.StatusMerged || dup.MergedInto() != "r2" || dup.Status().Active() {
		t.Errorf("duplicate after merge: status %s into %q", dup.Status(), dup.MergedInto())
	}
	if surv.Status() != referral.StatusReceived {
		t.Errorf("survivor after merge: status %s, want it unchanged", surv.Status())
	}
	if _, _, err := dup.MergeInto(surv, "again"); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("merging a merged referral: got %v, want ErrConflict", err)
	}
	if _, _, err := surv.MergeInto(surv, "self"); !errors.Is(err, referral.ErrInvalid) {
		t.Errorf("merging into itself: got %v, want ErrInvalid", err)
	}
}

func TestCaseWorkTransitions(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	assigned := []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w"}}
	contact := func(at time.Time) *pathwayv1.ContactRecorded {
		return &pathwayv1.ContactRecorded{Kind: pathwayv1.ContactKind_CONTACT_KIND_PHONE, At: timestamppb.New(at), DurationMinutes: 20}
	}
	for _, tc := range []struct {
		name    string
		given   []proto.Message
		do      func(*referral.Referral) ([]proto.Message, error)
		wantErr error
	}{
		{"contact on an assigned case", assigned, func(r *referral.Referral) ([]proto.Message, error) {
			return r.RecordContact(contact(now.Add(-time.Hour)), now)
		}, nil},
		{"contact in the future", assigned, func(r *referral.Referral) ([]proto.Message, error) {
			return r.RecordContact(contact(now.Add(time.Hour)), now)
		}, referral.ErrInvalid},
		{"did-not-attend with a duration", assigned, func(r *referral.Referral) ([]proto.Message, error) {
			c := contact(now)
			c.DidNotAttend = true
			return r.RecordContact(c, now)
		}, referral.ErrInvalid},
		{"contact before assignment", []proto.Message{received(false), decision(accept, "r")}, func(r *referral.Referral) ([]proto.Message, error) { return r.RecordContact(contact(now), now) }, referral.ErrConflict},
		{"discharge an assigned case", assigned, func(r *referral.Referral) ([]proto.Message, error) {
			return r.Discharge(pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, "")
		}, nil},
		{"discharge without a reason", assigned, func(r *referral.Referral) ([]proto.Message, error) {
			return r.Discharge(pathwayv1.DischargeReason_DISCHARGE_REASON_UNSPECIFIED, "")
		}, referral.ErrInvalid},
		{"discharge a declined referral", []proto.Message{received(false), decision(decline, "r")}, func(r *referral.Referral) ([]proto.Message, error) {
			return r.Discharge(pathwayv1.DischargeReason_DISCHARGE_REASON_OTHER, "")
		}, referral.ErrConflict},
		{"reopen a discharged case", append(assigned[:3:3], &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED}), func(r *referral.Referral) ([]proto.Message, error) { return r.Reopen("back") }, nil},
		{"reopen an active case", assigned, func(r *referral.Referral) ([]proto.Message, error) { return r.Reopen("x") }, referral.ErrConflict},
		{"reopen entered in error", []proto.Message{received(false), &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}}, func(r *referral.Referral) ([]proto.Message, error) { return r.Reopen("x") }, referral.ErrConflict},
		{"reopen revoked", []proto.Message{received(false), &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}}, func(r *referral.Referral) ([]proto.Message, error) { return r.Reopen("x") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.do(given(tc.given...))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
	evs, _ := given(assigned...).Discharge(pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED, "")
	if code := evs[0].(*pathwayv1.ReferralDischarged).GetCode().GetCode(); code != "871711000000103" {
		t.Errorf("declined discharge code %q, want SNOMED CT 871711000000103", code)
	}
}

func TestPlansAndOutcomes(t *testing.T) {
	assigned := []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w"}}
	swem := func(point pathwayv1.MeasurementPoint, items ...uint32) *pathwayv1.OutcomeMeasured {
		return &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS, Point: point,
			Scores: &pathwayv1.OutcomeMeasured_WarwickEdinburgh{WarwickEdinburgh: &pathwayv1.WarwickEdinburghScores{Items: items, RawTotal: 99}}}
	}
	base, follow := pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP
	for _, tc := range []struct {
		name    string
		given   []proto.Message
		m       *pathwayv1.OutcomeMeasured
		wantErr error
	}{
		{"SWEMWBS baseline", assigned, swem(base, 1, 2, 3, 4, 5, 1, 2), nil},
		{"SWEMWBS item out of range", assigned, swem(base, 1, 2, 3, 4, 6, 1, 2), referral.ErrInvalid},
		{"SWEMWBS with six items", assigned, swem(base, 1, 2, 3, 4, 5, 1), referral.ErrInvalid},
		{"follow-up before baseline", assigned, swem(follow, 3, 3, 3, 3, 3, 3, 3), referral.ErrConflict},
		{"follow-up after baseline", append(assigned[:3:3], swem(base, 2, 2, 2, 2, 2, 2, 2)), swem(follow, 3, 3, 3, 3, 3, 3, 3), nil},
		{"ONS4 answer over 10", assigned, &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, Point: base,
			Scores: &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: 11}}}, referral.ErrInvalid},
		{"MYCaW three concerns", assigned, &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW, Point: base,
			Scores: &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: &pathwayv1.MycawScores{Concerns: []*pathwayv1.MycawConcern{{Concern: "a"}, {Concern: "b"}, {Concern: "c"}}}}}, referral.ErrInvalid},
		{"MYCaW wellbeing 7", assigned, &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW, Point: base,
			Scores: &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: &pathwayv1.MycawScores{Concerns: []*pathwayv1.MycawConcern{{Concern: "sleep", Score: 4}}, Wellbeing: 7}}}, referral.ErrInvalid},
		{"on a discharged referral", append(assigned[:3:3], &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_OTHER}), swem(base, 1, 1, 1, 1, 1, 1, 1), referral.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := given(tc.given...).MeasureOutcome(tc.m)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if err == nil && tc.m.GetWarwickEdinburgh() != nil {
				var sum uint32
				for _, v := range tc.m.GetWarwickEdinburgh().GetItems() {
					sum += v
				}
				if got := evs[0].(*pathwayv1.OutcomeMeasured).GetWarwickEdinburgh().GetRawTotal(); got != sum {
					t.Errorf("raw total %d, want the computed %d", got, sum)
				}
			}
		})
	}
	if _, err := given(assigned...).AgreePlan("meet people", []*pathwayv1.Goal{{Description: "walking group"}}); err != nil {
		t.Errorf("plan: %v", err)
	}
	if _, err := given(assigned...).AgreePlan("meet people", nil); !errors.Is(err, referral.ErrInvalid) {
		t.Errorf("plan without goals: got %v, want ErrInvalid", err)
	}
	if _, err := given(received(false)).AgreePlan("x", []*pathwayv1.Goal{{Description: "y"}}); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("plan before assignment: got %v, want ErrConflict", err)
	}
}

// TestWorkerAndQueue: a referral names the worker it was last assigned to,
// through a discharge, and its queue only while it waits on it.
func TestWorkerAndQueue(t *testing.T) {
	waitlisted := &pathwayv1.ReferralWaitlisted{Queue: "U12345"}
	for _, tc := range []struct {
		name          string
		events        []proto.Message
		worker, queue string
	}{
		{"received", []proto.Message{received(false)}, "", ""},
		{"waitlisted", []proto.Message{received(false), decision(accept, "r"), waitlisted}, "", "U12345"},
		{"assigned from the waitlist", []proto.Message{received(false), decision(accept, "r"), waitlisted, &pathwayv1.ReferralAssigned{WorkerId: "w1"}}, "w1", ""},
		{"reassigned", []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w1"}, &pathwayv1.ReferralReassigned{FromWorkerId: "w1", ToWorkerId: "w2"}}, "w2", ""},
		{"discharged", []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w1"}, &pathwayv1.ReferralDischarged{}}, "w1", ""},
		{"reopened and waiting", []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w1"}, &pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralReopened{}, &pathwayv1.ReferralWaitlisted{Queue: "U22222"}}, "w1", "U22222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := given(tc.events...)
			if r.Worker() != tc.worker || r.Queue() != tc.queue {
				t.Fatalf("got worker %q queue %q, want %q and %q", r.Worker(), r.Queue(), tc.worker, tc.queue)
			}
		})
	}
}
