package referral

import (
	"fmt"
	"strings"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"google.golang.org/protobuf/proto"
)

// AggregateType is the aggregate type of a referral in the event log.
const AggregateType = "referral"

var (
	// ErrConflict reports a command that the referral's current state does
	// not allow, e.g. cancelling a referral that is no longer active.
	// It is a kernel.Conflict error; the errors that wrap it say what.
	ErrConflict = kernel.Errorf(kernel.Conflict, "referral: not allowed in this state")
	// ErrInvalid reports a command with invalid arguments. It is a
	// kernel.Invalid error; the errors that wrap it say which.
	ErrInvalid = kernel.Errorf(kernel.Invalid, "referral: invalid command")
	// ErrStale reports a command made against a version of the referral
	// that is no longer its latest (a version-aware update: FHIR's
	// If-Match). It is a kernel.Conflict error; the FHIR front door
	// answers it 412 Precondition Failed.
	ErrStale = kernel.Errorf(kernel.Conflict, "referral: not the latest version")
)

// Status is where a referral is in the pathway.
type Status string

// Statuses. A referral is active (open) until it is signposted, declined,
// redirected, discharged, cancelled or merged.
const (
	StatusReceived     Status = "received"        // awaiting automatic triage
	StatusManualTriage Status = "awaiting_triage" // a person must triage it
	StatusAccepted     Status = "accepted"        // accepted for a link worker
	StatusWaitlisted   Status = "waitlisted"
	StatusAssigned     Status = "assigned"
	StatusSignposted   Status = "signposted"
	StatusDeclined     Status = "declined"
	StatusRedirected   Status = "redirected"
	StatusDischarged   Status = "discharged"
	StatusCancelled    Status = "cancelled"
	StatusMerged       Status = "merged"
)

// Statuses lists every status, open ones first.
var Statuses = []Status{StatusReceived, StatusManualTriage, StatusAccepted, StatusWaitlisted, StatusAssigned,
	StatusSignposted, StatusDeclined, StatusRedirected, StatusDischarged, StatusCancelled, StatusMerged}

// Active reports whether a referral in status s is still open: only one
// active referral per person is allowed, and only an active referral can be
// cancelled.
func (s Status) Active() bool {
	switch s {
	case StatusReceived, StatusManualTriage, StatusAccepted, StatusWaitlisted, StatusAssigned:
		return true
	}
	return false
}

// Referral is the state of one referral, built by applying its events in
// order. The zero value is a referral that does not exist yet.
type Referral struct {
	id                   string
	version              uint64
	status               Status
	received             *pathwayv1.ReferralReceived
	receivedAt           time.Time
	updatedAt            time.Time
	triage               *pathwayv1.ReferralTriaged
	triagedAutomatically bool
	escalated            bool
	priority             pathwayv1.Priority
	cancelReason         pathwayv1.CancelReason
	discharge            *pathwayv1.ReferralDischarged
	mergedInto           string
	mergedFrom           []string
	worker               string
	queue                string
	baselines            map[pathwayv1.OutcomeInstrument]bool
	erased               *pathwayv1.ReferralErased
	erasedAt             time.Time
	history              []kernel.Change
}

// Replay builds a referral from its events.
func Replay(id string, changes []kernel.Change) *Referral {
	r := &Referral{id: id}
	for _, c := range changes {
		r.Apply(c)
	}
	return r
}

// Apply applies one event. Events of types a referral does not know are
// recorded in the history and otherwise ignored, so newer events never
// break older code.
func (r *Referral) Apply(c kernel.Change) {
	r.version = c.Sequence
	r.updatedAt = c.At
	r.history = append(r.history, c)
	r.status = StatusAfter(r.status, c.Payload)
	if c.Erased && r.erased == nil {
		// The key is gone but the erasure event is not read yet (a load
		// between the two): erased all the same.
		r.erased, r.erasedAt = &pathwayv1.ReferralErased{}, c.At
	}
	switch e := c.Payload.(type) {
	case *pathwayv1.ReferralErased:
		r.erased, r.erasedAt = e, c.At
	case *pathwayv1.ReferralReceived:
		r.received = e
		r.receivedAt = c.At
		r.priority = e.GetUrgency()
	case *pathwayv1.SafeguardingEscalated:
		r.escalated = true
		r.priority = pathwayv1.Priority_PRIORITY_URGENT
	case *pathwayv1.ReferralTriaged:
		r.triage = e
		r.triagedAutomatically = e.GetRuleId() != "" && !e.GetOverride()
		if e.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			r.priority = e.GetPriority()
		}
	case *pathwayv1.ReferralWaitlisted:
		r.queue = e.GetQueue()
	case *pathwayv1.ReferralAssigned:
		r.worker = e.GetWorkerId()
	case *pathwayv1.OutcomeMeasured:
		if e.GetPoint() == pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE {
			if r.baselines == nil {
				r.baselines = map[pathwayv1.OutcomeInstrument]bool{}
			}
			r.baselines[e.GetInstrument()] = true
		}
	case *pathwayv1.ReferralReassigned:
		r.worker = e.GetToWorkerId()
	case *pathwayv1.ReferralCancelled:
		r.cancelReason = e.GetReason()
	case *pathwayv1.ReferralDischarged:
		r.discharge = e
	case *pathwayv1.ReferralReopened:
		r.cancelReason = pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED
		r.discharge = nil
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() != "" {
			r.mergedInto = e.GetIntoReferralId()
		}
		if e.GetFromReferralId() != "" {
			r.mergedFrom = append(r.mergedFrom, e.GetFromReferralId())
		}
	}
}

// StatusEvents returns an empty message of each event type that can move
// a referral's status (StatusAfter), for read models that declare the
// types they use.
func StatusEvents() []proto.Message {
	return []proto.Message{&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralTriaged{}, &pathwayv1.ReferralWaitlisted{},
		&pathwayv1.ReferralAssigned{}, &pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{},
		&pathwayv1.ReferralReopened{}, &pathwayv1.ReferralMerged{}}
}

// StatusAfter is the status of a referral in status cur after event p.
// Events that do not move the status leave cur.
func StatusAfter(cur Status, p proto.Message) Status {
	switch e := p.(type) {
	case *pathwayv1.ReferralReceived:
		return StatusReceived
	case *pathwayv1.ReferralTriaged:
		switch e.GetDecision() {
		case pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT:
			return StatusAccepted
		case pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST:
			return StatusSignposted
		case pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE:
			return StatusDeclined
		case pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT:
			return StatusRedirected
		case pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL:
			return StatusManualTriage
		}
	case *pathwayv1.ReferralWaitlisted:
		return StatusWaitlisted
	case *pathwayv1.ReferralAssigned:
		return StatusAssigned
	case *pathwayv1.ReferralDischarged:
		return StatusDischarged
	case *pathwayv1.ReferralCancelled:
		return StatusCancelled
	case *pathwayv1.ReferralReopened:
		return StatusAccepted
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() != "" {
			return StatusMerged
		}
	}
	return cur
}

// ID returns the referral's id.
func (r *Referral) ID() string { return r.id }

// Exists reports whether the referral has been received.
func (r *Referral) Exists() bool { return r.received != nil }

// Version is the stream sequence of the referral's last event.
func (r *Referral) Version() uint64 { return r.version }

// Status returns where the referral is in the pathway.
func (r *Referral) Status() Status { return r.status }

// Received returns the referral as received.
func (r *Referral) Received() *pathwayv1.ReferralReceived { return r.received }

// ReceivedAt is when the referral was recorded.
func (r *Referral) ReceivedAt() time.Time { return r.receivedAt }

// UpdatedAt is when the referral's last event was recorded.
func (r *Referral) UpdatedAt() time.Time { return r.updatedAt }

// Triage returns the latest triage decision, nil before triage.
func (r *Referral) Triage() *pathwayv1.ReferralTriaged { return r.triage }

// Escalated reports whether a safeguarding concern was escalated.
func (r *Referral) Escalated() bool { return r.escalated }

// Priority is the referral's current priority.
func (r *Referral) Priority() pathwayv1.Priority { return r.priority }

// CancelReason is why the referral was cancelled, when it was.
func (r *Referral) CancelReason() pathwayv1.CancelReason { return r.cancelReason }

// Discharged is the event that discharged the referral, while it stays
// discharged (a reopen clears it): its reason and the code for the GP
// record. Nil otherwise.
func (r *Referral) Discharged() *pathwayv1.ReferralDischarged { return r.discharge }

// Worker is the link worker the referral is assigned to, if any.
func (r *Referral) Worker() string { return r.worker }

// Queue is the waitlist the referral waits on (a PCN's ODS code, or
// unmatched) while it is waitlisted; "" otherwise.
func (r *Referral) Queue() string {
	if r.status != StatusWaitlisted {
		return ""
	}
	return r.queue
}

// MergedInto is the referral this one was merged into, when it was.
func (r *Referral) MergedInto() string { return r.mergedInto }

// Erased reports whether the referral's personal data was erased, and
// the erasure (its ground and reason; empty when only the destroyed key
// shows it) with when it was recorded.
func (r *Referral) Erased() (bool, *pathwayv1.ReferralErased, time.Time) {
	return r.erased != nil, r.erased, r.erasedAt
}

// Erase decides the event that records the erasure of the referral's
// personal data; the caller destroys the data keys of the referral and of
// handoffs (their ids go in the event) once it is in the log. Only a
// closed referral can be erased: cancel or discharge it first. The reason
// is required and must not identify the person: it may not contain their
// NHS number, names, postcode, phone or email. Erasing an erased
// referral decides nothing, so that a retry can finish destroying keys.
func (r *Referral) Erase(ground pathwayv1.ErasureGround, reason string, handoffs []string) ([]proto.Message, error) {
	if !r.Exists() {
		return nil, ErrConflict.Errorf("there is no such referral")
	}
	if r.erased != nil {
		return nil, nil
	}
	if _, ok := pathwayv1.ErasureGround_name[int32(ground)]; !ok || ground == pathwayv1.ErasureGround_ERASURE_GROUND_UNSPECIFIED {
		return nil, ErrInvalid.Errorf("ground: must be entered_in_error, subject_request, retention or other")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return nil, ErrInvalid.Errorf("reason: is required, at most 500 characters")
	}
	if r.status.Active() {
		return nil, ErrConflict.Errorf("only a closed referral can be erased; this one is %s: cancel or discharge it first", r.statusName())
	}
	p := r.received.GetPerson()
	lower := strings.ToLower(reason)
	digits := strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, reason)
	for _, v := range []string{p.GetGivenName(), p.GetFamilyName(), p.GetPostcode(), p.GetEmail()} {
		if v = strings.ToLower(strings.TrimSpace(v)); len(v) >= 2 && strings.Contains(lower, v) {
			return nil, ErrInvalid.Errorf("reason: must not identify the person (it names them)")
		}
	}
	for _, v := range []string{p.GetNhsNumber(), strings.ReplaceAll(p.GetPhone(), " ", "")} {
		if len(v) >= 6 && strings.Contains(digits, strings.TrimPrefix(v, "+")) {
			return nil, ErrInvalid.Errorf("reason: must not identify the person (it holds their NHS or phone number)")
		}
	}
	return []proto.Message{&pathwayv1.ReferralErased{Ground: ground, Reason: reason, HandoffIds: handoffs}}, nil
}

// History returns every event of the referral, oldest first.
func (r *Referral) History() []kernel.Change { return r.history }

// Receive decides the events that open a referral: ReferralReceived, and
// at once a SafeguardingEscalated when the referrer raised a concern.
func Receive(ev *pathwayv1.ReferralReceived) []proto.Message {
	out := []proto.Message{ev}
	if ev.GetSafeguarding().GetConcern() {
		out = append(out, &pathwayv1.SafeguardingEscalated{
			Details:     ev.GetSafeguarding().GetDetails(),
			EscalatedTo: "safeguarding lead",
			Priority:    pathwayv1.Priority_PRIORITY_URGENT,
		})
	}
	return out
}

// AutoTriage decides the event that records an automatic triage decision.
// Only a referral awaiting automatic triage can take one; otherwise it
// returns ErrConflict (a redelivered event is harmless).
func (r *Referral) AutoTriage(d *pathwayv1.ReferralTriaged) ([]proto.Message, error) {
	if !r.Exists() || r.status != StatusReceived {
		return nil, ErrConflict.Errorf("automatic triage of a referral that is %s", r.statusName())
	}
	if r.escalated {
		d.Priority = pathwayv1.Priority_PRIORITY_URGENT
		if d.GetDecision() == pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE {
			d.Decision = pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL
			d.Reason = "a safeguarding concern is never declined automatically; " + d.GetReason()
		}
	}
	return []proto.Message{d}, nil
}

// StaffTriage decides the event that records a staff triage decision. A
// referral awaiting triage (automatic or manual) takes one with a reason; a
// referral already triaged automatically, and not yet assigned, can have
// its decision overridden, which needs a reason and is recorded as an
// override.
func (r *Referral) StaffTriage(d *pathwayv1.ReferralTriaged) ([]proto.Message, error) {
	if !r.Exists() {
		return nil, ErrConflict.Errorf("referral does not exist")
	}
	if d.GetReason() == "" {
		return nil, ErrInvalid.Errorf("a triage decision needs a reason")
	}
	if errs := texts(kernel.Prose("reason", d.GetReason()), kernel.Prose("decline_reason", d.GetDeclineReason()),
		kernel.Line("destination", d.GetRedirectDestination())); errs != nil {
		return nil, errs
	}
	switch d.GetDecision() {
	case pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
		pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL:
	case pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE:
		if d.GetDeclineReason() == "" {
			return nil, ErrInvalid.Errorf("a decline needs a decline reason")
		}
		if r.escalated {
			return nil, ErrConflict.Errorf("a referral with a safeguarding concern cannot be declined; redirect it")
		}
	case pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT:
		if d.GetRedirectDestination() == "" {
			return nil, ErrInvalid.Errorf("a redirect needs a destination")
		}
	default:
		return nil, ErrInvalid.Errorf("unknown decision")
	}
	d.RuleId, d.RulesVersion, d.Override = "", "", false
	switch r.status {
	case StatusReceived, StatusManualTriage:
	case StatusAccepted, StatusSignposted, StatusDeclined, StatusRedirected:
		if !r.triagedAutomatically {
			return nil, ErrConflict.Errorf("the referral was already triaged by staff")
		}
		d.Override = true
	default:
		return nil, ErrConflict.Errorf("triage of a referral that is %s", r.statusName())
	}
	if r.escalated {
		d.Priority = pathwayv1.Priority_PRIORITY_URGENT
	} else if d.GetPriority() == pathwayv1.Priority_PRIORITY_UNSPECIFIED {
		d.Priority = r.priority
	}
	return []proto.Message{d}, nil
}

// Cancel decides the event that cancels the referral (BaRS: revoked when
// circumstances changed, entered-in-error when opened by mistake). Only an
// active referral can be cancelled.
func (r *Referral) Cancel(reason pathwayv1.CancelReason, note string) ([]proto.Message, error) {
	if reason != pathwayv1.CancelReason_CANCEL_REASON_REVOKED && reason != pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR {
		return nil, ErrInvalid.Errorf("reason must be revoked or entered-in-error")
	}
	if errs := texts(kernel.Prose("note", note)); errs != nil {
		return nil, errs
	}
	if !r.Exists() || !r.status.Active() {
		return nil, ErrConflict.Errorf("only an active referral can be cancelled; this one is %s", r.statusName())
	}
	return []proto.Message{&pathwayv1.ReferralCancelled{Reason: reason, Note: note}}, nil
}

// MergeInto decides the events of merging r (a duplicate) into survivor:
// one for r, which closes, and one for the survivor. Both must be active
// and different, and nothing in them may say they are two people (NHS
// numbers, or dates of birth, that differ).
func (r *Referral) MergeInto(survivor *Referral, reason string) (dup, surv []proto.Message, err error) {
	if !r.Exists() || !survivor.Exists() {
		return nil, nil, ErrConflict.Errorf("both referrals must exist")
	}
	if r.id == survivor.id {
		return nil, nil, ErrInvalid.Errorf("a referral cannot be merged into itself")
	}
	if errs := texts(kernel.Prose("reason", reason)); errs != nil {
		return nil, nil, errs
	}
	if !r.status.Active() || !survivor.status.Active() {
		return nil, nil, ErrConflict.Errorf("only active referrals can be merged (%s into %s)", r.statusName(), survivor.statusName())
	}
	if why := twoPeople(r, survivor); why != "" {
		return nil, nil, ErrConflict.Errorf("these referrals are for two people (%s): a merge would close one person's referral; cancel the wrong one instead", why)
	}
	return []proto.Message{&pathwayv1.ReferralMerged{IntoReferralId: survivor.id, Reason: reason}},
		[]proto.Message{&pathwayv1.ReferralMerged{FromReferralId: r.id, Reason: reason}}, nil
}

func (r *Referral) statusName() string {
	if !r.Exists() {
		return "not received"
	}
	return string(r.status)
}

// FHIRStatus maps the referral's state to a FHIR R4 ServiceRequest status
// (http://hl7.org/fhir/request-status):
//
//   - active while open (received, awaiting triage, accepted, waitlisted,
//     assigned): the request is in force;
//   - completed once the service did what was asked: signposted (active
//     signposting is the service's answer) or discharged;
//   - revoked when it ended before that, "terminated prior to the known
//     full completion": declined or redirected by triage, cancelled as
//     revoked by the referrer, merged into another referral;
//   - entered-in-error when cancelled as entered in error.
//
// A declined referral is never completed: nothing was done for the
// person. Who ended it and why is the Task's (the FHIR adapter's
// Task.status rejected and statusReason).
func (r *Referral) FHIRStatus() string {
	switch r.status {
	case StatusSignposted, StatusDischarged:
		return "completed"
	case StatusDeclined, StatusRedirected, StatusMerged:
		return "revoked"
	case StatusCancelled:
		if r.cancelReason == pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR {
			return "entered-in-error"
		}
		return "revoked"
	}
	return "active"
}

// At checks that the referral is still at version (its last event's
// sequence), for a command made against that version: ErrStale
// otherwise. Decided within the command, no change can come in between.
func (r *Referral) At(version uint64) error {
	if r.version != version {
		return ErrStale.Errorf("the referral is at version %d, not %d: read it again", r.version, version)
	}
	return nil
}

// Contact kinds by wire name.
var contactKinds = map[string]pathwayv1.ContactKind{
	"phone": pathwayv1.ContactKind_CONTACT_KIND_PHONE, "face_to_face": pathwayv1.ContactKind_CONTACT_KIND_FACE_TO_FACE,
	"home_visit": pathwayv1.ContactKind_CONTACT_KIND_HOME_VISIT, "video": pathwayv1.ContactKind_CONTACT_KIND_VIDEO,
}

// ContactKind returns the contact kind named by its wire name.
func ContactKind(name string) (pathwayv1.ContactKind, bool) {
	k, ok := contactKinds[name]
	return k, ok
}

// RecordContact decides the event of a contact between the link worker
// and the person (or a did-not-attend). Only an assigned referral has
// contacts; the contact must not be in the future.
func (r *Referral) RecordContact(c *pathwayv1.ContactRecorded, now time.Time) ([]proto.Message, error) {
	if !r.Exists() || r.status != StatusAssigned {
		return nil, ErrConflict.Errorf("contacts are recorded on an assigned referral; this one is %s", r.statusName())
	}
	at := c.GetAt().AsTime()
	switch {
	case c.GetKind() == pathwayv1.ContactKind_CONTACT_KIND_UNSPECIFIED:
		return nil, ErrInvalid.Errorf("kind must be phone, face_to_face, home_visit or video")
	case c.GetAt() == nil || at.After(now.Add(5*time.Minute)):
		return nil, ErrInvalid.Errorf("when must be a time not in the future")
	case at.Before(r.receivedAt.Add(-24 * time.Hour)):
		return nil, ErrInvalid.Errorf("when is before the referral was received")
	case c.GetDurationMinutes() > 480:
		return nil, ErrInvalid.Errorf("duration must be at most 480 minutes")
	case c.GetDidNotAttend() && c.GetDurationMinutes() > 0:
		return nil, ErrInvalid.Errorf("a did-not-attend has no duration")
	}
	if errs := texts(kernel.Prose("note", c.GetNote())); errs != nil {
		return nil, errs
	}
	return []proto.Message{c}, nil
}

// Discharge reasons by wire name.
var dischargeReasons = map[string]pathwayv1.DischargeReason{
	"goals_met": pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, "disengaged": pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED,
	"declined": pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED, "moved_away": pathwayv1.DischargeReason_DISCHARGE_REASON_MOVED_AWAY,
	"redirected": pathwayv1.DischargeReason_DISCHARGE_REASON_REDIRECTED, "died": pathwayv1.DischargeReason_DISCHARGE_REASON_DIED,
	"other": pathwayv1.DischargeReason_DISCHARGE_REASON_OTHER,
}

// DischargeReason returns the discharge reason named by its wire name.
func DischargeReason(name string) (pathwayv1.DischargeReason, bool) {
	d, ok := dischargeReasons[name]
	return d, ok
}

// Discharge decides the event that closes an active episode. A person
// who declined social prescribing is coded SNOMED CT 871711000000103 for
// the GP record.
func (r *Referral) Discharge(reason pathwayv1.DischargeReason, note string) ([]proto.Message, error) {
	if reason == pathwayv1.DischargeReason_DISCHARGE_REASON_UNSPECIFIED {
		return nil, ErrInvalid.Errorf("a discharge reason is required")
	}
	if errs := texts(kernel.Prose("note", note)); errs != nil {
		return nil, errs
	}
	switch r.status {
	case StatusAccepted, StatusWaitlisted, StatusAssigned:
	default:
		return nil, ErrConflict.Errorf("only an accepted, waitlisted or assigned referral can be discharged; this one is %s", r.statusName())
	}
	e := &pathwayv1.ReferralDischarged{Reason: reason, Note: note}
	if reason == pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED {
		e.Code = &pathwayv1.Coded{System: "http://snomed.info/sct", Code: "871711000000103", Display: "Social prescribing declined"}
	}
	return []proto.Message{e}, nil
}

// Reopen decides the event that reopens a discharged or revoked
// referral: it is accepted again and goes back to assignment. A referral
// entered in error or merged stays closed.
func (r *Referral) Reopen(reason string) ([]proto.Message, error) {
	if reason == "" {
		return nil, ErrInvalid.Errorf("a reason is required")
	}
	if errs := texts(kernel.Prose("reason", reason)); errs != nil {
		return nil, errs
	}
	ok := r.status == StatusDischarged ||
		r.status == StatusCancelled && r.cancelReason == pathwayv1.CancelReason_CANCEL_REASON_REVOKED
	if r.erased != nil {
		return nil, ErrConflict.Errorf("the referral's personal data was erased; it cannot be reopened")
	}
	if !ok {
		return nil, ErrConflict.Errorf("only a discharged or revoked referral can be reopened; this one is %s", r.statusName())
	}
	return []proto.Message{&pathwayv1.ReferralReopened{Reason: reason}}, nil
}

// AgreePlan decides the event of an agreed personalised support plan: what
// matters to the person, and up to 20 goals. Only an assigned referral has
// a plan; a later plan replaces the earlier.
func (r *Referral) AgreePlan(whatMatters string, goals []*pathwayv1.Goal) ([]proto.Message, error) {
	if !r.Exists() || r.status != StatusAssigned {
		return nil, ErrConflict.Errorf("a support plan is agreed on an assigned referral; this one is %s", r.statusName())
	}
	if whatMatters == "" || len(whatMatters) > 2000 {
		return nil, ErrInvalid.Errorf("what_matters: is required, at most 2000 characters")
	}
	if len(goals) == 0 || len(goals) > 20 {
		return nil, ErrInvalid.Errorf("goals: 1 to 20 goals are required")
	}
	checks := [][]kernel.FieldError{kernel.Prose("what_matters", whatMatters)}
	for i, g := range goals {
		if g.GetDescription() == "" || len(g.GetDescription()) > 500 {
			return nil, ErrInvalid.Errorf("goals[%d].description: is required, at most 500 characters", i)
		}
		checks = append(checks, kernel.Prose(fmt.Sprintf("goals[%d].description", i), g.GetDescription()))
	}
	if errs := texts(checks...); errs != nil {
		return nil, errs
	}
	return []proto.Message{&pathwayv1.SupportPlanAgreed{WhatMatters: whatMatters, Goals: goals}}, nil
}

// MeasureOutcome decides the event of a wellbeing measure, with each
// instrument's ranges: ONS4 four answers 0-10; SWEMWBS seven items 1-5
// (raw total 7-35); WEMWBS fourteen items 1-5 (total 14-70); MYCaW one or
// two concerns and wellbeing, each 0-6. A follow-up needs a baseline of the
// same instrument first. Totals are computed here, never taken from the
// caller.
func (r *Referral) MeasureOutcome(m *pathwayv1.OutcomeMeasured) ([]proto.Message, error) {
	switch r.status {
	case StatusAccepted, StatusWaitlisted, StatusAssigned:
	default:
		return nil, ErrConflict.Errorf("outcomes are measured on an open episode; this one is %s", r.statusName())
	}
	items := func(n int) error {
		we := m.GetWarwickEdinburgh()
		if we == nil || len(we.GetItems()) != n {
			return ErrInvalid.Errorf("items: %d item scores are required", n)
		}
		total := uint32(0)
		for i, v := range we.GetItems() {
			if v < 1 || v > 5 {
				return ErrInvalid.Errorf("items[%d]: must be 1 to 5", i)
			}
			total += v
		}
		we.RawTotal = total
		return nil
	}
	switch m.GetInstrument() {
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4:
		o := m.GetOns4()
		if o == nil {
			return nil, ErrInvalid.Errorf("ons4: the four answers are required")
		}
		for name, v := range map[string]uint32{"life_satisfaction": o.GetLifeSatisfaction(), "worthwhile": o.GetWorthwhile(), "happy_yesterday": o.GetHappyYesterday(), "anxious_yesterday": o.GetAnxiousYesterday()} {
			if v > 10 {
				return nil, ErrInvalid.Errorf("ons4.%s: must be 0 to 10", name)
			}
		}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS:
		if err := items(7); err != nil {
			return nil, err
		}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS:
		if err := items(14); err != nil {
			return nil, err
		}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW:
		my := m.GetMycaw()
		if my == nil || len(my.GetConcerns()) < 1 || len(my.GetConcerns()) > 2 {
			return nil, ErrInvalid.Errorf("mycaw.concerns: one or two concerns are required")
		}
		for i, c := range my.GetConcerns() {
			if c.GetConcern() == "" || c.GetScore() > 6 {
				return nil, ErrInvalid.Errorf("mycaw.concerns[%d]: a concern and a score 0 to 6 are required", i)
			}
			if errs := texts(kernel.Prose(fmt.Sprintf("mycaw.concerns[%d].concern", i), c.GetConcern())); errs != nil {
				return nil, errs
			}
		}
		if my.GetWellbeing() > 6 {
			return nil, ErrInvalid.Errorf("mycaw.wellbeing: must be 0 to 6")
		}
	default:
		return nil, ErrInvalid.Errorf("instrument must be ons4, swemwbs, wemwbs or mycaw")
	}
	switch m.GetPoint() {
	case pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE:
	case pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP:
		if !r.baselines[m.GetInstrument()] {
			return nil, ErrConflict.Errorf("a follow-up needs a baseline of the same instrument first")
		}
	default:
		return nil, ErrInvalid.Errorf("point must be baseline or follow_up")
	}
	return []proto.Message{m}, nil
}

// texts is ErrInvalid listing the fields that the character rule
// (kernel.Line, kernel.Prose) refuses in checks, or nil when there are
// none.
func texts(checks ...[]kernel.FieldError) error {
	var fields []kernel.FieldError
	for _, c := range checks {
		fields = append(fields, c...)
	}
	if len(fields) == 0 {
		return nil
	}
	return ErrInvalid.WithFields(fields...)
}
