// Package handoff holds the rules of a closed-loop handoff: a link worker
// sends a person to a VCSE partner's service, the partner accepts or
// rejects it, works with the person and reports an outcome. Statuses and
// their moves follow the HL7 Gravity SDOH referral Task. A handoff left
// unanswered past its response deadline expires. It imports no NATS or
// HTTP.
package handoff

import (
	"cmp"
	"slices"
	"strings"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AggregateType is the aggregate type of a handoff in the event log.
const AggregateType = "handoff"

var (
	// ErrConflict reports a command the handoff's status does not allow.
	// It is a kernel.Conflict error; the errors that wrap it say what.
	ErrConflict = kernel.Errorf(kernel.Conflict, "handoff: not allowed in this state")
	// ErrInvalid reports a command with invalid arguments. It is a
	// kernel.Invalid error; the errors that wrap it say which.
	ErrInvalid = kernel.Errorf(kernel.Invalid, "handoff: invalid command")
)

// Status is where a handoff is.
type Status string

// Statuses, after the HL7 Gravity referral Task, plus expired: left
// unanswered past the response deadline.
const (
	StatusRequested      Status = "requested"
	StatusAccepted       Status = "accepted"
	StatusRejected       Status = "rejected"
	StatusInProgress     Status = "in-progress"
	StatusOnHold         Status = "on-hold"
	StatusCompleted      Status = "completed"
	StatusFailed         Status = "failed"
	StatusCancelled      Status = "cancelled"
	StatusEnteredInError Status = "entered-in-error"
	StatusExpired        Status = "expired"
)

// Statuses lists every status.
var Statuses = []Status{StatusRequested, StatusAccepted, StatusRejected, StatusInProgress, StatusOnHold,
	StatusCompleted, StatusFailed, StatusCancelled, StatusEnteredInError, StatusExpired}

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, bool) {
	st := Status(s)
	return st, slices.Contains(Statuses, st)
}

// Open reports whether a handoff in status s still needs someone to act:
// the partner (requested, accepted, in-progress, on-hold).
func (s Status) Open() bool {
	switch s {
	case StatusRequested, StatusAccepted, StatusInProgress, StatusOnHold:
		return true
	}
	return false
}

// Action is a command that moves a handoff from one status to another.
type Action string

// Actions. The partner accepts, rejects, starts, holds, completes or
// fails; the link worker cancels or marks entered-in-error; the clock
// expires.
const (
	ActionAccept       Action = "accept"
	ActionReject       Action = "reject"
	ActionStart        Action = "start"
	ActionHold         Action = "hold"
	ActionComplete     Action = "complete"
	ActionFail         Action = "fail"
	ActionCancel       Action = "cancel"
	ActionEnterInError Action = "entered-in-error"
	ActionExpire       Action = "expire"
)

// PartnerActions are the actions a partner may take.
var PartnerActions = []Action{ActionAccept, ActionReject, ActionStart, ActionHold, ActionComplete, ActionFail}

// moves is the lifecycle: from each status, the actions allowed and where
// they lead. Anything else is a conflict.
var moves = map[Status]map[Action]Status{
	StatusRequested: {ActionAccept: StatusAccepted, ActionReject: StatusRejected, ActionCancel: StatusCancelled,
		ActionEnterInError: StatusEnteredInError, ActionExpire: StatusExpired},
	StatusAccepted: {ActionStart: StatusInProgress, ActionHold: StatusOnHold, ActionComplete: StatusCompleted,
		ActionFail: StatusFailed, ActionCancel: StatusCancelled, ActionEnterInError: StatusEnteredInError},
	StatusInProgress: {ActionHold: StatusOnHold, ActionComplete: StatusCompleted, ActionFail: StatusFailed,
		ActionCancel: StatusCancelled, ActionEnterInError: StatusEnteredInError},
	StatusOnHold: {ActionStart: StatusInProgress, ActionComplete: StatusCompleted, ActionFail: StatusFailed,
		ActionCancel: StatusCancelled, ActionEnterInError: StatusEnteredInError},
	StatusRejected:  {ActionEnterInError: StatusEnteredInError},
	StatusCompleted: {ActionEnterInError: StatusEnteredInError},
	StatusFailed:    {ActionEnterInError: StatusEnteredInError},
	StatusCancelled: {ActionEnterInError: StatusEnteredInError},
	StatusExpired:   {ActionCancel: StatusCancelled, ActionEnterInError: StatusEnteredInError},
}

// Next returns the status that action leads to from s, and whether the
// move is allowed.
func Next(s Status, a Action) (Status, bool) {
	to, ok := moves[s][a]
	return to, ok
}

// needsReason are the actions that need a reason (HL7 Gravity: rejected,
// cancelled, on-hold and failed carry a status reason).
var needsReason = map[Action]bool{ActionReject: true, ActionCancel: true, ActionHold: true, ActionFail: true, ActionEnterInError: true}

// NeedsReason reports whether action a needs a reason.
func NeedsReason(a Action) bool { return needsReason[a] }

// Outcomes are the outcome codes a partner reports on completion.
var Outcomes = []string{"support_completed", "connected_to_group", "ongoing_support", "signposted_elsewhere", "person_declined", "did_not_engage", "other"}

// Reasons are the reason codes for a rejection, hold, failure or
// cancellation: BaRS (RRNA: resource not available in time, FC: failed
// contact, OTH: other) and the Gravity capacity signals.
var Reasons = []string{"no-capacity", "not-eligible", "person-declined", "RRNA", "FC", "OTH", "waitlist", "additional-assessment-required", "duplicate", "circumstances-changed"}

// DefaultReminders are how long before its deadline a reminder goes to the
// partner: a week and two days before.
var DefaultReminders = []time.Duration{7 * 24 * time.Hour, 2 * 24 * time.Hour}

// DefaultDeadline is how long a partner has to answer a handoff.
const DefaultDeadline = 14 * 24 * time.Hour

// Handoff is the state of one handoff. The zero value does not exist yet.
type Handoff struct {
	id          string
	version     uint64
	requested   *pathwayv1.HandoffRequested
	requestedAt time.Time
	status      Status
	updatedAt   time.Time
	reminders   int
	reason      string
	outcome     string
	erased      bool
	history     []kernel.Change
}

// Replay builds a handoff from its events.
func Replay(id string, changes []kernel.Change) *Handoff {
	h := &Handoff{id: id}
	for _, c := range changes {
		h.Apply(c)
	}
	return h
}

// StatusAfter is the status after event p from cur; events that do not
// move the status leave cur.
func StatusAfter(cur Status, p proto.Message) Status {
	switch p.(type) {
	case *pathwayv1.HandoffRequested:
		return StatusRequested
	case *pathwayv1.HandoffAccepted:
		return StatusAccepted
	case *pathwayv1.HandoffRejected:
		return StatusRejected
	case *pathwayv1.HandoffStarted:
		return StatusInProgress
	case *pathwayv1.HandoffPutOnHold:
		return StatusOnHold
	case *pathwayv1.HandoffCompleted:
		return StatusCompleted
	case *pathwayv1.HandoffFailed:
		return StatusFailed
	case *pathwayv1.HandoffCancelled:
		return StatusCancelled
	case *pathwayv1.HandoffEnteredInError:
		return StatusEnteredInError
	case *pathwayv1.HandoffExpired:
		return StatusExpired
	}
	return cur
}

// ReasonAfter is the reason code of a handoff's status after event p, when
// the reason was cur: a rejection, hold, failure, cancellation or
// entry in error gives its reason; acceptance and starting clear it;
// other events leave cur.
func ReasonAfter(cur string, p proto.Message) string {
	switch e := p.(type) {
	case *pathwayv1.HandoffRejected:
		return e.GetReason()
	case *pathwayv1.HandoffPutOnHold:
		return e.GetReason()
	case *pathwayv1.HandoffFailed:
		return e.GetReason()
	case *pathwayv1.HandoffCancelled:
		return e.GetReason()
	case *pathwayv1.HandoffEnteredInError:
		return e.GetReason()
	case *pathwayv1.HandoffStarted, *pathwayv1.HandoffAccepted:
		return ""
	}
	return cur
}

// Apply applies one event.
func (h *Handoff) Apply(c kernel.Change) {
	h.version = c.Sequence
	h.updatedAt = c.At
	h.history = append(h.history, c)
	h.status = StatusAfter(h.status, c.Payload)
	h.reason = ReasonAfter(h.reason, c.Payload)
	h.erased = h.erased || c.Erased
	switch e := c.Payload.(type) {
	case *pathwayv1.HandoffRequested:
		h.requested, h.requestedAt = e, c.At
	case *pathwayv1.HandoffReminderSent:
		h.reminders = int(e.GetReminderNumber())
	case *pathwayv1.HandoffCompleted:
		h.outcome = e.GetOutcome()
	}
}

// ID returns the handoff's id.
func (h *Handoff) ID() string { return h.id }

// Exists reports whether the handoff was requested.
func (h *Handoff) Exists() bool { return h.requested != nil }

// Version is the stream sequence of the handoff's last event.
func (h *Handoff) Version() uint64 { return h.version }

// Status returns the current status.
func (h *Handoff) Status() Status { return h.status }

// Requested returns the request: referral, service, partner, shared data.
func (h *Handoff) Requested() *pathwayv1.HandoffRequested { return h.requested }

// RequestedAt is when the handoff was requested.
func (h *Handoff) RequestedAt() time.Time { return h.requestedAt }

// UpdatedAt is when the handoff last changed.
func (h *Handoff) UpdatedAt() time.Time { return h.updatedAt }

// RespondBy is the partner's response deadline.
func (h *Handoff) RespondBy() time.Time { return h.requested.GetRespondBy().AsTime() }

// Reminders is how many reminders went to the partner.
func (h *Handoff) Reminders() int { return h.reminders }

// Reason is the reason of the last rejection, hold, failure, cancellation
// or entry in error.
func (h *Handoff) Reason() string { return h.reason }

// Erased reports whether the personal data the handoff shared was erased
// (with its referral's): its shared fields and notes are gone.
func (h *Handoff) Erased() bool { return h.erased }

// Outcome is the outcome reported on completion.
func (h *Handoff) Outcome() string { return h.outcome }

// PartnerID is the partner the handoff went to.
func (h *Handoff) PartnerID() string { return h.requested.GetPartnerId() }

// History returns every event of the handoff, oldest first.
func (h *Handoff) History() []kernel.Change { return h.history }

// SharedFieldNames are the wire names of the fields a link worker may
// share, in SharedField order.
var SharedFieldNames = map[string]pathwayv1.SharedField{
	"given_name": pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME, "family_name": pathwayv1.SharedField_SHARED_FIELD_FAMILY_NAME,
	"date_of_birth": pathwayv1.SharedField_SHARED_FIELD_DATE_OF_BIRTH, "phone": pathwayv1.SharedField_SHARED_FIELD_PHONE,
	"email": pathwayv1.SharedField_SHARED_FIELD_EMAIL, "postcode": pathwayv1.SharedField_SHARED_FIELD_POSTCODE,
	"needs": pathwayv1.SharedField_SHARED_FIELD_NEEDS, "what_matters": pathwayv1.SharedField_SHARED_FIELD_WHAT_MATTERS,
	"language": pathwayv1.SharedField_SHARED_FIELD_LANGUAGE, "accessibility_needs": pathwayv1.SharedField_SHARED_FIELD_ACCESSIBILITY_NEEDS,
	"preferred_contact": pathwayv1.SharedField_SHARED_FIELD_PREFERRED_CONTACT, "nhs_number": pathwayv1.SharedField_SHARED_FIELD_NHS_NUMBER,
}

// SharedFieldName is the wire name of f.
func SharedFieldName(f pathwayv1.SharedField) string {
	return strings.ToLower(strings.TrimPrefix(f.String(), "SHARED_FIELD_"))
}

// Share copies the named fields of a referral, and only those, into the
// data a partner may read.
func Share(r *pathwayv1.ReferralReceived, fields []pathwayv1.SharedField) *pathwayv1.SharedData {
	p := r.GetPerson()
	d := &pathwayv1.SharedData{}
	for _, f := range fields {
		switch f {
		case pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME:
			d.GivenName = p.GetGivenName()
		case pathwayv1.SharedField_SHARED_FIELD_FAMILY_NAME:
			d.FamilyName = p.GetFamilyName()
		case pathwayv1.SharedField_SHARED_FIELD_DATE_OF_BIRTH:
			d.DateOfBirth = p.GetDateOfBirth()
		case pathwayv1.SharedField_SHARED_FIELD_PHONE:
			d.Phone = p.GetPhone()
		case pathwayv1.SharedField_SHARED_FIELD_EMAIL:
			d.Email = p.GetEmail()
		case pathwayv1.SharedField_SHARED_FIELD_POSTCODE:
			d.Postcode = p.GetPostcode()
		case pathwayv1.SharedField_SHARED_FIELD_NEEDS:
			d.Needs = slices.Clone(r.GetNeeds())
		case pathwayv1.SharedField_SHARED_FIELD_WHAT_MATTERS:
			d.WhatMatters = r.GetWhatMatters()
		case pathwayv1.SharedField_SHARED_FIELD_LANGUAGE:
			d.Language = p.GetLanguage()
		case pathwayv1.SharedField_SHARED_FIELD_ACCESSIBILITY_NEEDS:
			d.AccessibilityNeeds = p.GetAccessibilityNeeds()
		case pathwayv1.SharedField_SHARED_FIELD_PREFERRED_CONTACT:
			d.PreferredContact = p.GetPreferredContact()
		case pathwayv1.SharedField_SHARED_FIELD_NHS_NUMBER:
			d.NhsNumber = p.GetNhsNumber()
		}
	}
	return d
}

// Request is what a link worker asks for when handing a person off.
type Request struct {
	Referral *referral.Referral
	// ServiceID and PartnerID name the receiving service and its partner.
	ServiceID, PartnerID string
	// ServiceActive is false for a service that left the directory.
	ServiceActive bool
	// Capacity is the service's capacity signal.
	Capacity pathwayv1.CapacityStatus
	// ConfirmCapacity confirms a handoff to a service that signals no
	// capacity or a waitlist.
	ConfirmCapacity bool
	Shared          []pathwayv1.SharedField
	Consent         bool
	Note            string
	// RespondBy is the partner's deadline.
	RespondBy time.Time
}

// ErrCapacity reports a handoff to a service without capacity that the
// link worker has not confirmed. It wraps ErrConflict.
var ErrCapacity = ErrConflict.Errorf("the service signals no capacity or a waitlist; confirm to hand off anyway")

// Decide decides the event that opens a handoff. Errors: ErrInvalid
// without consent or with nothing shared twice; ErrConflict when the
// referral is not on a link worker's caseload or the service is gone;
// ErrCapacity when the service has no capacity and it was not confirmed.
func Decide(req Request) ([]proto.Message, error) {
	if !req.Consent {
		return nil, ErrInvalid.Errorf("consent: the person's consent to the handoff is required")
	}
	if errs := kernel.Prose("note", req.Note); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	seen := map[pathwayv1.SharedField]bool{}
	for _, f := range req.Shared {
		if f == pathwayv1.SharedField_SHARED_FIELD_UNSPECIFIED || seen[f] {
			return nil, ErrInvalid.Errorf("shared_fields: each field once")
		}
		seen[f] = true
	}
	if req.Referral == nil || !req.Referral.Exists() {
		return nil, ErrConflict.Errorf("no such referral")
	}
	if req.Referral.Status() != referral.StatusAssigned {
		return nil, ErrConflict.Errorf("only a referral on a link worker's caseload can be handed off (it is %s)", req.Referral.Status())
	}
	if !req.ServiceActive {
		return nil, ErrConflict.Errorf("the service has left the directory (its directory marks it inactive or defunct): choose another")
	}
	switch req.Capacity {
	case pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY, pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST:
		if !req.ConfirmCapacity {
			return nil, ErrCapacity
		}
	}
	shared := slices.Sorted(slices.Values(req.Shared))
	return []proto.Message{&pathwayv1.HandoffRequested{
		ReferralId: req.Referral.ID(), ServiceId: req.ServiceID, PartnerId: req.PartnerID,
		SharedFields: shared, Shared: Share(req.Referral.Received(), shared),
		Consent: true, Note: req.Note, RespondBy: timestamppb.New(req.RespondBy),
		CapacityWarningConfirmed: req.ConfirmCapacity && req.Capacity != pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY,
	}}, nil
}

// Act decides the event of action a with a reason (required where
// NeedsReason), an outcome (required to complete, one of Outcomes) and a
// note. Errors: ErrConflict for a move the status does not allow,
// ErrInvalid for a missing reason or outcome.
func (h *Handoff) Act(a Action, reason, outcome, note string) ([]proto.Message, error) {
	if !h.Exists() {
		return nil, ErrConflict.Errorf("no such handoff")
	}
	if _, ok := Next(h.status, a); !ok || a == ActionExpire {
		return nil, ErrConflict.Errorf("cannot %s a handoff that is %s", a, h.status)
	}
	if NeedsReason(a) && reason == "" {
		return nil, ErrInvalid.Errorf("reason: is required to %s", a)
	}
	if a == ActionComplete && !slices.Contains(Outcomes, outcome) {
		return nil, ErrInvalid.Errorf("outcome: must be one of %s", strings.Join(Outcomes, ", "))
	}
	if errs := append(kernel.Line("reason", reason), kernel.Prose("note", note)...); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	var e proto.Message
	switch a {
	case ActionAccept:
		e = &pathwayv1.HandoffAccepted{Note: note}
	case ActionReject:
		e = &pathwayv1.HandoffRejected{Reason: reason, Note: note}
	case ActionStart:
		e = &pathwayv1.HandoffStarted{Note: note}
	case ActionHold:
		e = &pathwayv1.HandoffPutOnHold{Reason: reason, Note: note}
	case ActionComplete:
		e = &pathwayv1.HandoffCompleted{Outcome: outcome, Note: note}
	case ActionFail:
		e = &pathwayv1.HandoffFailed{Reason: reason, Note: note}
	case ActionCancel:
		e = &pathwayv1.HandoffCancelled{Reason: reason, Note: note}
	case ActionEnterInError:
		e = &pathwayv1.HandoffEnteredInError{Reason: reason, Note: note}
	default:
		return nil, ErrInvalid.Errorf("unknown action %q", a)
	}
	return []proto.Message{e}, nil
}

// Due decides what the clock asks of a handoff at now: expiry once an
// unanswered handoff passes its deadline, else the latest reminder whose
// time has come (reminders are durations before the deadline). A
// reminder's number is its place in the schedule (1: the furthest from
// the deadline), so when the clock was down past a reminder's time only
// the latest due one goes, under its own number. Nothing when the handoff
// was answered or nothing is due.
func (h *Handoff) Due(now time.Time, reminders []time.Duration) []proto.Message {
	if !h.Exists() || h.status != StatusRequested {
		return nil
	}
	reminders = furthestFirst(reminders)
	deadline := h.RespondBy()
	if !now.Before(deadline) {
		return []proto.Message{&pathwayv1.HandoffExpired{RespondBy: h.requested.GetRespondBy()}}
	}
	due := 0
	for _, before := range reminders {
		at := deadline.Add(-before)
		if at.After(h.requestedAt) && !now.Before(at) {
			due++
		}
	}
	if due > h.reminders {
		return []proto.Message{&pathwayv1.HandoffReminderSent{RespondBy: h.requested.GetRespondBy(), ReminderNumber: uint32(due)}}
	}
	return nil
}

// NextDue is when the clock next has something to decide for the
// handoff: its next reminder or its deadline; zero when nothing is left.
func (h *Handoff) NextDue(reminders []time.Duration) time.Time {
	if !h.Exists() || h.status != StatusRequested {
		return time.Time{}
	}
	deadline := h.RespondBy()
	reminders = furthestFirst(reminders)
	var next time.Time
	n := 0
	for _, before := range reminders {
		at := deadline.Add(-before)
		if !at.After(h.requestedAt) {
			continue
		}
		n++
		if n > h.reminders && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if next.IsZero() {
		return deadline
	}
	return next
}

// furthestFirst sorts a copy of reminders so that the one furthest from
// the deadline comes first: reminders are numbered in the order they go.
func furthestFirst(reminders []time.Duration) []time.Duration {
	out := slices.Clone(reminders)
	slices.SortFunc(out, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	return out
}
