package partner

import (
	"fmt"
	"strconv"
	"strings"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

var dayNames = map[string]string{"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}

var ordinals = map[string]string{"1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth",
	"-1": "last", "-2": "second to last", "-3": "third to last", "-4": "fourth to last", "-5": "fifth to last"}

// ScheduleSummary says when a schedule's sessions are, in words a link
// worker reads out: "Thursdays and Fridays, 10:00 to 18:00", "every 2
// weeks on Mondays", "the first Monday of the month, 14:00 to 16:00",
// "days 1 and 15 of the month". A schedule with no rule gives its
// description.
func ScheduleSummary(s *pathwayv1.Schedule) string {
	var days []string
	for _, d := range s.GetByday() {
		m := dayRe.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		name := dayNames[m[2]]
		switch {
		case m[1] != "": // dayRe's ordinals, -5 to 5, are all in ordinals
			days = append(days, "the "+ordinals[m[1]]+" "+name)
		case s.GetFreq() == "MONTHLY":
			days = append(days, "every "+name)
		default:
			days = append(days, name+"s")
		}
	}
	var monthDays []string
	for _, d := range s.GetBymonthday() {
		if d == -1 {
			monthDays = append(monthDays, "the last day")
		} else {
			monthDays = append(monthDays, strconv.Itoa(int(d)))
		}
	}
	var out string
	n := s.GetInterval()
	switch s.GetFreq() {
	case "WEEKLY":
		switch {
		case n > 1 && len(days) > 0:
			out = fmt.Sprintf("every %d weeks on %s", n, and(days))
		case n > 1:
			out = fmt.Sprintf("every %d weeks", n)
		case len(days) > 0:
			out = and(days)
		default:
			out = "weekly"
		}
	case "MONTHLY":
		switch {
		case len(days) > 0:
			out = and(days) + " of the month"
		case len(monthDays) > 0:
			out = "day" + plural(len(monthDays)) + " " + and(monthDays) + " of the month"
		default:
			out = "monthly"
		}
		if n > 1 {
			out += fmt.Sprintf(", every %d months", n)
		}
	default:
		if len(days) > 0 {
			out = and(days)
		}
	}
	if s.GetOpensAt() != "" && s.GetClosesAt() != "" {
		out = strings.TrimPrefix(out+", "+s.GetOpensAt()+" to "+s.GetClosesAt(), ", ")
	} else if s.GetOpensAt() != "" {
		out = strings.TrimPrefix(out+", from "+s.GetOpensAt(), ", ")
	}
	if out == "" {
		return s.GetDescription()
	}
	return strings.ToUpper(out[:1]) + out[1:]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// and joins words as a sentence does: "a", "a and b", "a, b and c".
func and(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
