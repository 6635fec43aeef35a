// Package retention erases closed episodes once their retention period
// ends: a policy gives a period per outcome (discharged, declined,
// entered in error, ...), a view of the log knows when each referral
// closed and how, and a background part erases, through the erasure
// service, every closed referral whose period has ended. Nothing is
// erased while a referral is open, and a reopened referral starts again.
package retention

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome is how an episode closed, as the policy names it.
type Outcome string

// Outcomes a policy can name.
const (
	Discharged     Outcome = "discharged"
	Declined       Outcome = "declined"
	Signposted     Outcome = "signposted"
	Redirected     Outcome = "redirected"
	Revoked        Outcome = "revoked"          // cancelled by the referrer
	EnteredInError Outcome = "entered_in_error" // cancelled: the wrong person, or in error
	Merged         Outcome = "merged"           // a duplicate merged into another referral
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{Discharged, Declined, Signposted, Redirected, Revoked, EnteredInError, Merged}

// Period is a retention period in calendar years and days.
type Period struct {
	Years, Days int
}

// After is when a period that starts at t ends.
func (p Period) After(t time.Time) time.Time { return t.AddDate(p.Years, 0, p.Days) }

func (p Period) String() string {
	switch {
	case p.Years > 0 && p.Days > 0:
		return fmt.Sprintf("%dy%dd", p.Years, p.Days)
	case p.Years > 0:
		return fmt.Sprintf("%dy", p.Years)
	}
	return fmt.Sprintf("%dd", p.Days)
}

// ParsePeriod reads "8y", "90d", "2y30d" or "6w".
func ParsePeriod(s string) (Period, error) {
	var p Period
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, fmt.Errorf("empty period")
	}
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 || i == len(rest) {
			return Period{}, fmt.Errorf("period %q: want a number and a unit (y, w or d), e.g. 8y or 90d", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return Period{}, fmt.Errorf("period %q: %w", s, err)
		}
		switch rest[i] {
		case 'y':
			p.Years += n
		case 'w':
			p.Days += 7 * n
		case 'd':
			p.Days += n
		default:
			return Period{}, fmt.Errorf("period %q: unknown unit %q (want y, w or d)", s, rest[i])
		}
		rest = rest[i+1:]
	}
	if p.Years == 0 && p.Days == 0 {
		return Period{}, fmt.Errorf("period %q is zero", s)
	}
	return p, nil
}

// Policy is the retention period of each outcome, counted from when the
// episode closed.
type Policy map[Outcome]Period

// DefaultPolicy keeps every closed episode 8 years (the NHS Records
// Management Code of Practice's period for adult health and care records
// after the end of care), except a referral entered in error, which
// holds a person's data for no purpose: 90 days, time to find a mistake.
// An organisation's information governance lead sets its own with
// --retention.
func DefaultPolicy() Policy {
	p := Policy{}
	for _, o := range Outcomes {
		p[o] = Period{Years: 8}
	}
	p[EnteredInError] = Period{Days: 90}
	return p
}

// ParsePolicy reads "discharged=8y,entered_in_error=90d,...": the outcomes
// it names take their period; the others keep DefaultPolicy's.
func ParsePolicy(s string) (Policy, error) {
	p := DefaultPolicy()
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, period, ok := strings.Cut(part, "=")
		o := Outcome(strings.TrimSpace(name))
		if !ok || !slices.Contains(Outcomes, o) {
			return nil, fmt.Errorf("retention %q: want outcome=period with an outcome of %s", part, outcomeNames())
		}
		d, err := ParsePeriod(period)
		if err != nil {
			return nil, fmt.Errorf("retention %s: %w", o, err)
		}
		p[o] = d
	}
	return p, nil
}

func outcomeNames() string {
	names := make([]string, len(Outcomes))
	for i, o := range Outcomes {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

func (p Policy) String() string {
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, string(o)+"="+p[o].String())
	}
	return strings.Join(parts, ",")
}
