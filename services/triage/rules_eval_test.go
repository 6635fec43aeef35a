package triage_test

import (
	"strings"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/triage"
)

func adult() triage.Input {
	return triage.Input{Practice: "A81001", Postcode: "TS1 3BA", PostcodeDistrict: "TS1", Age: 50,
		Needs: []string{"loneliness"}, Urgency: "routine", Source: "gp_practice", Channel: "json"}
}

func TestDefaultRules(t *testing.T) {
	r := triage.DefaultRules()
	if r.Version() == "" {
		t.Fatal("default rules have no version")
	}
	for _, tc := range []struct {
		name     string
		edit     func(*triage.Input)
		decision pathwayv1.TriageDecision
		priority pathwayv1.Priority
		rule     string
		failures string
	}{
		{"eligible adult", func(*triage.Input) {}, pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, pathwayv1.Priority_PRIORITY_ROUTINE, "accept", ""},
		{"aged 75 is seen sooner", func(in *triage.Input) { in.Age = 75 }, pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, pathwayv1.Priority_PRIORITY_HIGH, "accept", ""},
		{"urgent stays urgent", func(in *triage.Input) { in.Urgency = "urgent" }, pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, pathwayv1.Priority_PRIORITY_URGENT, "accept", ""},
		{"out of area", func(in *triage.Input) { in.Practice = "Y99999" }, pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, pathwayv1.Priority_PRIORITY_ROUTINE, "not-eligible", "area"},
		{"child out of area", func(in *triage.Input) { in.Practice = "Y99999"; in.Age = 12 }, pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, pathwayv1.Priority_PRIORITY_ROUTINE, "not-eligible", "area,adult"},
		{"mental health crisis", func(in *triage.Input) { in.Needs = []string{"mental_health"}; in.Urgency = "urgent" }, pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT, pathwayv1.Priority_PRIORITY_URGENT, "crisis", ""},
		{"advice only", func(in *triage.Input) { in.Needs = []string{"debt", "benefits"} }, pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST, pathwayv1.Priority_PRIORITY_ROUTINE, "advice-only", ""},
		{"safeguarding is never auto-declined", func(in *triage.Input) { in.Practice = "Y99999"; in.Safeguarding = true }, pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL, pathwayv1.Priority_PRIORITY_URGENT, "not-eligible", "area"},
		{"safeguarding raises priority", func(in *triage.Input) { in.Safeguarding = true }, pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, pathwayv1.Priority_PRIORITY_URGENT, "accept", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := adult()
			tc.edit(&in)
			d, err := r.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Decision != tc.decision || d.Priority != tc.priority || d.RuleID != tc.rule || strings.Join(d.EligibilityFailures, ",") != tc.failures {
				t.Fatalf("got %v %v rule %q failures %v, want %v %v rule %q failures %q", d.Decision, d.Priority, d.RuleID, d.EligibilityFailures, tc.decision, tc.priority, tc.rule, tc.failures)
			}
			ev := d.Event()
			if ev.GetRulesVersion() != r.Version() || ev.GetRuleId() != d.RuleID || ev.GetDecision() != d.Decision {
				t.Fatalf("event %v does not record the decision", ev)
			}
		})
	}
}

func TestNoRuleMatchedIsManual(t *testing.T) {
	r, err := triage.ParseRules([]byte("version: \"x\"\nrules:\n  - id: only-urgent\n    when: 'urgency == \"urgent\"'\n    decision: accept\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Evaluate(adult())
	if err != nil || d.Decision != pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL || d.RuleID != "" {
		t.Fatalf("got %+v, %v; want manual with no rule", d, err)
	}
}

func TestRulesFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"bad syntax", "version: v\nrules:\n  - id: broken\n    when: 'age >'\n    decision: accept\n", []string{`rule "broken": when:`}},
		{"undeclared variable", "version: v\nrules:\n  - id: typo\n    when: 'neds.size() > 0'\n    decision: accept\n", []string{`rule "typo": when:`, "neds"}},
		{"when is not a bool", "version: v\nrules:\n  - id: num\n    when: 'age + 1'\n    decision: accept\n", []string{`rule "num": when:`, "want bool"}},
		{"priority is not a string", "version: v\nrules:\n  - id: p\n    when: 'true'\n    decision: accept\n    priority: 'age'\n", []string{`rule "p": priority:`}},
		{"redirect without destination", "version: v\nrules:\n  - id: r\n    when: 'true'\n    decision: redirect\n", []string{`rule "r": destination:`}},
		{"decline without reason", "version: v\nrules:\n  - id: d\n    when: 'true'\n    decision: decline\n", []string{`rule "d": decline_reason:`}},
		{"unknown decision", "version: v\nrules:\n  - id: u\n    when: 'true'\n    decision: maybe\n", []string{`rule "u": decision:`}},
		{"duplicate id", "version: v\nrules:\n  - id: a\n    when: 'true'\n    decision: accept\n  - id: a\n    when: 'true'\n    decision: accept\n", []string{`rule "a": id: used twice`}},
		{"unknown field", "version: v\nrules:\n  - id: a\n    whne: 'true'\n    decision: accept\n", []string{"whne"}},
		{"missing version and rules", "rules: []\n", []string{"version: is required", "at least one rule"}},
		{"bad eligibility check", "version: v\neligibility:\n  - name: area\n    when: 'practice == 1'\nrules:\n  - id: a\n    when: 'true'\n    decision: accept\n", []string{`eligibility check "area": when:`}},
		{"every problem at once", "version: v\nrules:\n  - id: one\n    when: 'x'\n    decision: accept\n  - id: two\n    when: 'true'\n    decision: redirect\n", []string{`rule "one"`, `rule "two"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := triage.ParseRules([]byte(tc.file))
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestInputFromAgeAroundBirthday(t *testing.T) {
	ev := &pathwayv1.ReferralReceived{
		GpPractice: "A81001",
		Person:     &pathwayv1.Person{DateOfBirth: &pathwayv1.Date{Year: 1956, Month: 3, Day: 14}, Postcode: "TS1 3BA"},
		Needs:      []pathwayv1.Need{pathwayv1.Need_NEED_MENTAL_HEALTH},
		Urgency:    pathwayv1.Priority_PRIORITY_HIGH,
		Source:     pathwayv1.ReferralSource_REFERRAL_SOURCE_SPOC,
	}
	for at, want := range map[string]int{"2026-03-13": 69, "2026-03-14": 70, "2026-11-24": 70} {
		day, _ := time.Parse(time.DateOnly, at)
		in := triage.InputFrom(ev, day)
		if in.Age != want {
			t.Errorf("age on %s: got %d, want %d", at, in.Age, want)
		}
		if in.PostcodeDistrict != "TS1" || in.Urgency != "high" || in.Source != "spoc" || len(in.Needs) != 1 || in.Needs[0] != "mental_health" {
			t.Errorf("input %+v", in)
		}
	}
}
