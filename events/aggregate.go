package events

import (
	"strings"
)

// SubjectPrefix is the first token of every event subject.
const SubjectPrefix = "pathway"

// Aggregate names one aggregate instance: its type ("referral", "worker",
// "partner", "service", "handoff") and its id (a UUID). Neither may carry
// personal data: both appear in subjects.
type Aggregate struct {
	Type string
	ID   string
}

// Subject is the NATS subject of the aggregate's events.
func (a Aggregate) Subject() string {
	return SubjectPrefix + "." + a.Type + "." + a.ID
}

// String returns "type/id".
func (a Aggregate) String() string { return a.Type + "/" + a.ID }

// Validate reports whether a can name a subject: a type of lower-case
// letters and underscores, and an id of letters, digits, '-' and '_'.
// It returns an error wrapping ErrInvalid.
func (a Aggregate) Validate() error {
	if !validToken(a.Type, false) {
		return invalidf("aggregate type %q: want lower-case letters and '_'", a.Type)
	}
	if !validToken(a.ID, true) || len(a.ID) > 64 {
		return invalidf("aggregate id %q: want 1-64 letters, digits, '-' or '_'", a.ID)
	}
	return nil
}

// TypeSubject is the wildcard subject of every aggregate of one type, e.g.
// pathway.referral.*, for consumers that follow one aggregate type.
func TypeSubject(aggregateType string) string {
	return SubjectPrefix + "." + aggregateType + ".*"
}

// AllSubjects is the wildcard subject of the whole log.
const AllSubjects = SubjectPrefix + ".>"

func validToken(s string, id bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case id && (r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// aggregateOf parses a subject pathway.<type>.<id>.
func aggregateOf(subject string) (Aggregate, bool) {
	rest, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if !ok {
		return Aggregate{}, false
	}
	typ, id, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(id, ".") {
		return Aggregate{}, false
	}
	return Aggregate{Type: typ, ID: id}, true
}
