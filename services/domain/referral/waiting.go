package referral

import (
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// Waiting reports whether a referral in status s waits for a person to
// pick it up: to be triaged (received, awaiting triage) or, accepted or
// waitlisted, to be given a link worker. An assigned or closed referral
// does not wait.
func (s Status) Waiting() bool {
	switch s {
	case StatusReceived, StatusManualTriage, StatusAccepted, StatusWaitlisted:
		return true
	}
	return false
}

// PriorityEvents returns an empty message of each event type that can
// change a referral's priority (PriorityAfter), for read models that
// declare the types they use.
func PriorityEvents() []proto.Message {
	return []proto.Message{&pathwayv1.ReferralReceived{}, &pathwayv1.SafeguardingEscalated{}, &pathwayv1.ReferralTriaged{}}
}

// PriorityAfter is the priority of a referral at priority cur after event
// p, as Referral.Priority keeps it: the urgency it was received with,
// urgent once a safeguarding concern is escalated, then the priority a
// triage decision sets (one that sets none leaves it). Events that do not
// change the priority leave cur.
func PriorityAfter(cur pathwayv1.Priority, p proto.Message) pathwayv1.Priority {
	switch e := p.(type) {
	case *pathwayv1.ReferralReceived:
		return e.GetUrgency()
	case *pathwayv1.SafeguardingEscalated:
		return pathwayv1.Priority_PRIORITY_URGENT
	case *pathwayv1.ReferralTriaged:
		if e.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			return e.GetPriority()
		}
	}
	return cur
}
