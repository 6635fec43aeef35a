// Package triage decides what happens to a new referral: eligibility,
// priority, and a decision (accept for a link worker, signpost, decline
// with a reason, redirect with a destination, or manual triage), by rules
// written as CEL expressions in a versioned YAML file; and runs the triage
// service that applies them to every new referral in the log.
//
// A rules file:
//
//	version: "2026-11-24.1"        # recorded on every decision
//	eligibility:                   # each check must hold to be eligible
//	  - name: adult
//	    when: 'age >= 18'
//	    reason: the service is for adults
//	rules:                         # the first rule whose when holds decides
//	  - id: accept
//	    when: 'eligible'
//	    decision: accept           # accept, signpost, decline, redirect, manual
//	    priority: 'urgency'        # optional CEL string: urgent, high, routine
//	    reason: eligible
//
// Expressions see: practice, postcode, postcode_district, urgency, source,
// language, channel (strings); age (int); needs (list of strings);
// safeguarding, interpreter_needed, eligible (bools); eligibility_failures
// (list of strings). A referral with a safeguarding concern is never
// declined automatically: such a decline becomes manual triage, at urgent
// priority.
package triage

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"go.yaml.in/yaml/v3"
)

//go:embed default_rules.yaml
var defaultRules []byte

type fileRules struct {
	Version     string      `yaml:"version"`
	Eligibility []fileCheck `yaml:"eligibility"`
	Rules       []fileRule  `yaml:"rules"`
}

type fileCheck struct {
	Name   string `yaml:"name"`
	When   string `yaml:"when"`
	Reason string `yaml:"reason"`
}

type fileRule struct {
	ID            string `yaml:"id"`
	When          string `yaml:"when"`
	Decision      string `yaml:"decision"`
	Priority      string `yaml:"priority"`
	Reason        string `yaml:"reason"`
	DeclineReason string `yaml:"decline_reason"`
	Destination   string `yaml:"destination"`
}

// Rules are compiled triage rules. They are safe for concurrent use.
type Rules struct {
	version string
	checks  []check
	rules   []rule
}

type check struct {
	name, reason string
	when         cel.Program
}

type rule struct {
	fileRule
	decision pathwayv1.TriageDecision
	when     cel.Program
	priority cel.Program // nil: the referral's urgency
}

var decisions = map[string]pathwayv1.TriageDecision{
	"accept":   pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
	"signpost": pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
	"decline":  pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE,
	"redirect": pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT,
	"manual":   pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL,
}

var priorities = map[string]pathwayv1.Priority{
	"urgent":  pathwayv1.Priority_PRIORITY_URGENT,
	"high":    pathwayv1.Priority_PRIORITY_HIGH,
	"routine": pathwayv1.Priority_PRIORITY_ROUTINE,
}

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("practice", cel.StringType),
		cel.Variable("postcode", cel.StringType),
		cel.Variable("postcode_district", cel.StringType),
		cel.Variable("age", cel.IntType),
		cel.Variable("needs", cel.ListType(cel.StringType)),
		cel.Variable("urgency", cel.StringType),
		cel.Variable("source", cel.StringType),
		cel.Variable("safeguarding", cel.BoolType),
		cel.Variable("interpreter_needed", cel.BoolType),
		cel.Variable("language", cel.StringType),
		cel.Variable("channel", cel.StringType),
		cel.Variable("eligible", cel.BoolType),
		cel.Variable("eligibility_failures", cel.ListType(cel.StringType)),
	)
}

func compile(env *cel.Env, expr string, want *cel.Type) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("expression is empty")
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(want) {
		return nil, fmt.Errorf("expression gives %s, want %s", ast.OutputType(), want)
	}
	return env.Program(ast)
}

// ParseRules parses and compiles a rules file. Every problem is reported,
// each naming its rule or check and field.
func ParseRules(data []byte) (*Rules, error) {
	var f fileRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("rules file: %w", err)
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	var errs []error
	if strings.TrimSpace(f.Version) == "" {
		errs = append(errs, errors.New("version: is required"))
	}
	r := &Rules{version: f.Version}
	names := map[string]bool{}
	for i, c := range f.Eligibility {
		where := fmt.Sprintf("eligibility check %q", c.Name)
		if c.Name == "" {
			where = fmt.Sprintf("eligibility check %d", i+1)
			errs = append(errs, fmt.Errorf("%s: name: is required", where))
		} else if names[c.Name] {
			errs = append(errs, fmt.Errorf("%s: name: used twice", where))
		}
		names[c.Name] = true
		prg, err := compile(env, c.When, cel.BoolType)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: when: %w", where, err))
		}
		r.checks = append(r.checks, check{name: c.Name, reason: c.Reason, when: prg})
	}
	if len(f.Rules) == 0 {
		errs = append(errs, errors.New("rules: at least one rule is required"))
	}
	ids := map[string]bool{}
	for i, fr := range f.Rules {
		where := fmt.Sprintf("rule %q", fr.ID)
		if fr.ID == "" {
			where = fmt.Sprintf("rule %d", i+1)
			errs = append(errs, fmt.Errorf("%s: id: is required", where))
		} else if ids[fr.ID] {
			errs = append(errs, fmt.Errorf("%s: id: used twice", where))
		}
		ids[fr.ID] = true
		ru := rule{fileRule: fr}
		d, ok := decisions[fr.Decision]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: decision: %q is not one of accept, signpost, decline, redirect, manual", where, fr.Decision))
		}
		ru.decision = d
		if fr.Decision == "decline" && fr.DeclineReason == "" {
			errs = append(errs, fmt.Errorf("%s: decline_reason: is required to decline", where))
		}
		if fr.Decision == "redirect" && fr.Destination == "" {
			errs = append(errs, fmt.Errorf("%s: destination: is required to redirect", where))
		}
		if ru.when, err = compile(env, fr.When, cel.BoolType); err != nil {
			errs = append(errs, fmt.Errorf("%s: when: %w", where, err))
		}
		if fr.Priority != "" {
			if ru.priority, err = compile(env, fr.Priority, cel.StringType); err != nil {
				errs = append(errs, fmt.Errorf("%s: priority: %w", where, err))
			}
		}
		r.rules = append(r.rules, ru)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// LoadRules reads and compiles a rules file.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRules(data)
}

// DefaultRules returns the built-in rules (default_rules.yaml). It panics
// only if the embedded file is invalid, which the tests guard.
func DefaultRules() *Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic("triage: built-in rules: " + err.Error())
	}
	return r
}

// Version returns the rules file's version.
func (r *Rules) Version() string { return r.version }

// Input is what the rules see of a referral.
type Input struct {
	Practice, Postcode, PostcodeDistrict string
	Age                                  int
	Needs                                []string
	Urgency, Source                      string
	Safeguarding, InterpreterNeeded      bool
	Language, Channel                    string
}

// InputFrom builds the rules' input from a recorded referral, with the
// person's age at a time.
func InputFrom(ev *pathwayv1.ReferralReceived, at time.Time) Input {
	sub := referral.FromEvent(ev)
	return Input{
		Practice:          ev.GetGpPractice(),
		Postcode:          ev.GetPerson().GetPostcode(),
		PostcodeDistrict:  referral.PostcodeDistrict(ev.GetPerson().GetPostcode()),
		Age:               referral.Age(ev.GetPerson().GetDateOfBirth(), at),
		Needs:             sub.Needs,
		Urgency:           sub.Urgency,
		Source:            sub.Source,
		Safeguarding:      ev.GetSafeguarding().GetConcern(),
		InterpreterNeeded: ev.GetPerson().GetInterpreterNeeded(),
		Language:          ev.GetPerson().GetLanguage(),
		Channel:           ev.GetChannel(),
	}
}

// Decision is the outcome of the rules for one referral.
type Decision struct {
	Decision            pathwayv1.TriageDecision
	Priority            pathwayv1.Priority
	Eligible            bool
	EligibilityFailures []string
	Reason              string
	DeclineReason       string
	RedirectDestination string
	RuleID              string
	RulesVersion        string
}

// Evaluate applies the rules to in. Errors name the rule or check whose
// expression failed at run time.
func (r *Rules) Evaluate(in Input) (Decision, error) {
	needs := in.Needs
	if needs == nil {
		needs = []string{}
	}
	vars := map[string]any{
		"practice": in.Practice, "postcode": in.Postcode, "postcode_district": in.PostcodeDistrict,
		"age": int64(in.Age), "needs": needs, "urgency": in.Urgency, "source": in.Source,
		"safeguarding": in.Safeguarding, "interpreter_needed": in.InterpreterNeeded,
		"language": in.Language, "channel": in.Channel,
	}
	d := Decision{RulesVersion: r.version, Eligible: true, EligibilityFailures: []string{}}
	for _, c := range r.checks {
		vars["eligible"], vars["eligibility_failures"] = true, []string{}
		out, _, err := c.when.Eval(vars)
		if err != nil {
			return Decision{}, fmt.Errorf("eligibility check %q: %w", c.name, err)
		}
		if ok, _ := out.Value().(bool); !ok {
			d.Eligible = false
			d.EligibilityFailures = append(d.EligibilityFailures, c.name)
		}
	}
	vars["eligible"], vars["eligibility_failures"] = d.Eligible, slices.Clone(d.EligibilityFailures)
	d.Priority = priorities[in.Urgency]
	d.Decision = pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL
	d.Reason = "no rule matched"
	for _, ru := range r.rules {
		out, _, err := ru.when.Eval(vars)
		if err != nil {
			return Decision{}, fmt.Errorf("rule %q: when: %w", ru.ID, err)
		}
		if ok, _ := out.Value().(bool); !ok {
			continue
		}
		d.Decision, d.RuleID, d.Reason = ru.decision, ru.ID, ru.Reason
		d.DeclineReason, d.RedirectDestination = ru.DeclineReason, ru.Destination
		if ru.priority != nil {
			out, _, err := ru.priority.Eval(vars)
			if err != nil {
				return Decision{}, fmt.Errorf("rule %q: priority: %w", ru.ID, err)
			}
			p, ok := priorities[fmt.Sprint(out.Value())]
			if !ok {
				return Decision{}, fmt.Errorf("rule %q: priority: %q is not urgent, high or routine", ru.ID, fmt.Sprint(out.Value()))
			}
			d.Priority = p
		}
		break
	}
	if in.Safeguarding {
		d.Priority = pathwayv1.Priority_PRIORITY_URGENT
		if d.Decision == pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE {
			d.Decision = pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL
			d.Reason = "a safeguarding concern is never declined automatically (rule would decline: " + d.Reason + ")"
			d.DeclineReason = ""
		}
	}
	if d.Priority == pathwayv1.Priority_PRIORITY_UNSPECIFIED {
		d.Priority = pathwayv1.Priority_PRIORITY_ROUTINE
	}
	return d, nil
}

// Event returns the ReferralTriaged that records d.
func (d Decision) Event() *pathwayv1.ReferralTriaged {
	return &pathwayv1.ReferralTriaged{
		Decision:            d.Decision,
		Priority:            d.Priority,
		Eligible:            d.Eligible,
		Reason:              d.Reason,
		DeclineReason:       d.DeclineReason,
		RedirectDestination: d.RedirectDestination,
		RuleId:              d.RuleID,
		RulesVersion:        d.RulesVersion,
		EligibilityFailures: d.EligibilityFailures,
	}
}
