package referral_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Characters the rule refuses, one of each kind (kernel.Line).
var hidden = map[string]string{
	"NUL":             "\x00",
	"a line break":    "\n",
	"C1 control":      "\u009b",
	"RLO":             "\u202e",
	"isolate":         "\u2067",
	"zero-width":      "\u200b",
	"byte order mark": "\ufeff",
	"invalid UTF-8":   "\xc3",
}

func TestValidateRefusesHiddenCharacters(t *testing.T) {
	for _, f := range []struct {
		field string
		set   func(*referral.Submission, string)
		prose bool // free text: tab and line breaks are allowed
	}{
		{"referrer.name", func(s *referral.Submission, v string) { s.Referrer.Name = v }, false},
		{"referrer.role", func(s *referral.Submission, v string) { s.Referrer.Role = v }, false},
		{"person.given_name", func(s *referral.Submission, v string) { s.Person.GivenName = v }, false},
		{"person.family_name", func(s *referral.Submission, v string) { s.Person.FamilyName = v }, false},
		{"person.email", func(s *referral.Submission, v string) { s.Person.Email = "sam" + v + "@example.org" }, false},
		{"consent.recorded_by", func(s *referral.Submission, v string) { s.Consent.RecordedBy = v }, false},
		{"what_matters", func(s *referral.Submission, v string) { s.WhatMatters = v }, true},
		{"safeguarding.details", func(s *referral.Submission, v string) {
			s.Safeguarding = referral.Safeguarding{Concern: true, Details: v}
		}, true},
		{"person.accessibility_needs", func(s *referral.Submission, v string) { s.Person.AccessibilityNeeds = v }, true},
	} {
		t.Run(f.field, func(t *testing.T) {
			for name, c := range hidden {
				if f.prose && c == "\n" {
					continue
				}
				s := valid()
				f.set(&s, "Sam"+c+"Example")
				errs := s.Validate(now)
				if len(errs) != 1 || errs[0].Field != f.field || errs[0].Reason == "" {
					t.Errorf("%s: got %v, want one error on %s", name, errs, f.field)
				}
				if ev, errs := s.Event(now); ev != nil || len(errs) == 0 {
					t.Errorf("%s: Event made a ReferralReceived, want the invalid field", name)
				}
			}
			s := valid()
			f.set(&s, "Zoë\tO'Neill\r\nline two")
			errs := s.Validate(now)
			if f.prose && errs != nil {
				t.Errorf("free text with tab and CR LF: got %v, want valid", errs)
			}
			if !f.prose && (len(errs) != 1 || !strings.Contains(errs[0].Reason, "control")) {
				t.Errorf("a one-line field with tab and CR LF: got %v, want one error about control characters", errs)
			}
		})
	}
}

func TestCommandsRefuseHiddenCharacters(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	assigned := []proto.Message{received(false), decision(accept, "r"), &pathwayv1.ReferralAssigned{WorkerId: "w"}}
	discharged := append(assigned[:3:3], &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED})
	bad := "fine\u202etxt.exe"
	for _, tc := range []struct {
		name  string
		given []proto.Message
		field string
		do    func(r *referral.Referral, text string) error
		line  bool // a one-line field: no line breaks
	}{
		{"staff triage reason", []proto.Message{received(false)}, "reason", func(r *referral.Referral, v string) error {
			d := decision(accept, "")
			d.Reason = v
			_, err := r.StaffTriage(d)
			return err
		}, false},
		{"decline reason", []proto.Message{received(false)}, "decline_reason", func(r *referral.Referral, v string) error {
			d := decision(decline, "")
			d.DeclineReason = v
			_, err := r.StaffTriage(d)
			return err
		}, false},
		{"redirect destination", []proto.Message{received(false)}, "destination", func(r *referral.Referral, v string) error {
			d := decision(redirect, "")
			d.RedirectDestination = v
			_, err := r.StaffTriage(d)
			return err
		}, true},
		{"cancel note", []proto.Message{received(false)}, "note", func(r *referral.Referral, v string) error {
			_, err := r.Cancel(pathwayv1.CancelReason_CANCEL_REASON_REVOKED, v)
			return err
		}, false},
		{"merge reason", []proto.Message{received(false)}, "reason", func(r *referral.Referral, v string) error {
			survivor := referral.Replay("r2", []kernel.Change{{Sequence: 9, Payload: received(false)}})
			_, _, err := r.MergeInto(survivor, v)
			return err
		}, false},
		{"contact note", assigned, "note", func(r *referral.Referral, v string) error {
			_, err := r.RecordContact(&pathwayv1.ContactRecorded{Kind: pathwayv1.ContactKind_CONTACT_KIND_PHONE, At: timestamppb.New(now), Note: v}, now)
			return err
		}, false},
		{"discharge note", assigned, "note", func(r *referral.Referral, v string) error {
			_, err := r.Discharge(pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, v)
			return err
		}, false},
		{"reopen reason", discharged, "reason", func(r *referral.Referral, v string) error {
			_, err := r.Reopen(v)
			return err
		}, false},
		{"plan: what matters", assigned, "what_matters", func(r *referral.Referral, v string) error {
			_, err := r.AgreePlan(v, []*pathwayv1.Goal{{Description: "walk"}})
			return err
		}, false},
		{"plan: a goal", assigned, "goals[1].description", func(r *referral.Referral, v string) error {
			_, err := r.AgreePlan("company", []*pathwayv1.Goal{{Description: "walk"}, {Description: v}})
			return err
		}, false},
		{"MYCaW concern", assigned, "mycaw.concerns[0].concern", func(r *referral.Referral, v string) error {
			_, err := r.MeasureOutcome(&pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW,
				Point:  pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE,
				Scores: &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: &pathwayv1.MycawScores{Concerns: []*pathwayv1.MycawConcern{{Concern: v, Score: 3}}}}})
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := "plain words,\nand a second line"
			if tc.line {
				plain = "the crisis team"
			}
			if err := tc.do(given(tc.given...), plain); err != nil {
				t.Fatalf("plain text: got %v, want it accepted", err)
			}
			err := tc.do(given(tc.given...), bad)
			ke, ok := errors.AsType[*kernel.Error](err)
			if !errors.Is(err, referral.ErrInvalid) || !ok || len(ke.Fields) != 1 || ke.Fields[0].Field != tc.field {
				t.Fatalf("with U+202E: got %v, want referral.ErrInvalid on %s", err, tc.field)
			}
		})
	}
}
