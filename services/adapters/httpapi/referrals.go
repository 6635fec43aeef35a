package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
)

// referralDesk takes referrals in, withdraws them and merges duplicates:
// what the referral endpoints ask of intake.
type referralDesk interface {
	Submit(ctx context.Context, sub intake.Submission) (intake.Result, error)
	Cancel(ctx context.Context, id string, cmd events.Command, reason pathwayv1.CancelReason, note string) (uint64, error)
	Merge(ctx context.Context, dupID, survivorID string, cmd events.Command, reason string) (uint64, error)
}

// triager records a person's triage decision on a referral.
type triager interface {
	Triage(ctx context.Context, id string, cmd events.Command, d *pathwayv1.ReferralTriaged) (uint64, error)
}

var (
	_ referralDesk = (*intake.Service)(nil)
	_ triager      = (*intake.Service)(nil)
)

// submitResponse is the answer to a submit.
type submitResponse struct {
	ID                  string `json:"id"`
	Status              string `json:"status"`
	Sequence            uint64 `json:"sequence"`
	PossibleDuplicateOf string `json:"possible_duplicate_of,omitempty"`
}

// submit handles POST /v1/referrals.
func (a *api) submit() http.HandlerFunc {
	return command(a, keyAsSent, nil, func(r *http.Request, sub *referral.Submission, cmd events.Command) (reply, error) {
		res, err := a.submitReferral(r, *sub, cmd, "json")
		if err != nil {
			return reply{}, err
		}
		dup, err := a.duplicateShown(r, res.PossibleDuplicateOf)
		if err != nil {
			return reply{}, err
		}
		return reply{status: createdStatus(res.Created), location: "/v1/referrals/" + res.ID,
			body: submitResponse{ID: res.ID, Status: string(res.Status), Sequence: res.Sequence, PossibleDuplicateOf: dup}}, nil
	})
}

// duplicateShown returns id, the referral a new one may duplicate, when
// the caller's key may see that referral, and "" otherwise: a referrer
// learns nothing of another organisation's referrals, not even that the
// person has one.
func (a *api) duplicateShown(r *http.Request, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	dup, _, err := events.Get(r.Context(), a.store, aggregate.Referral, id)
	if err != nil {
		return "", err
	}
	ok, err := a.visible(r.Context(), principalFrom(r.Context()).key, dup)
	if !ok || err != nil {
		return "", err
	}
	return id, nil
}

// submitReferral runs a submission from either front door. The command's
// key is as sent: intake scopes it to the referrer's organisation.
func (a *api) submitReferral(r *http.Request, sub referral.Submission, cmd events.Command, channel string) (intake.Result, error) {
	p := principalFrom(r.Context())
	if p.key.Role == keys.RoleReferrer && sub.Referrer.Organisation != p.key.Organisation {
		errs := sub.Validate(a.now())
		if !slices.ContainsFunc(errs, func(e kernel.FieldError) bool { return e.Field == "referrer.organisation" }) {
			errs = append(errs, kernel.FieldError{Field: "referrer.organisation", Reason: "must be the organisation of your API key"})
		}
		return intake.Result{}, kernel.InvalidFields(errs...)
	}
	return a.referrals.Submit(r.Context(), intake.Submission{
		Submission:     sub,
		Actor:          cmd.Actor,
		IdempotencyKey: cmd.IdempotencyKey,
		Channel:        channel,
		CorrelationID:  cmd.CorrelationID,
	})
}

// load reads the referral named in the path, answering 404 for a bad id,
// a missing referral, or one the caller may not reach (visible).
func (a *api) load(w http.ResponseWriter, r *http.Request) (*referral.Referral, bool) {
	ref, err := a.loadVisible(r)
	if err != nil {
		a.writeError(w, r, err)
		return nil, false
	}
	return ref, true
}

// loadVisible reads the referral named in the path; events.ErrNotFound
// when it does not exist or the caller may not reach it (visible) and
// gives no break-glass reason its role allows. A GET is recorded in the
// audit log before it is answered.
func (a *api) loadVisible(r *http.Request) (*referral.Referral, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return nil, events.ErrNotFound
	}
	ref, _, err := events.Get(r.Context(), a.store, aggregate.Referral, id)
	if err != nil {
		return nil, err
	}
	key := principalFrom(r.Context()).key
	ok, err := a.visible(r.Context(), key, ref)
	if err != nil {
		return nil, err
	}
	reason := ""
	if !ok {
		// Break-glass: a read outside the key's reach, with a reason.
		if reason, err = accessReason(r); err != nil {
			return nil, err
		}
		if reason == "" || r.Method != http.MethodGet || !breakGlass(key) {
			return nil, events.ErrNotFound
		}
		a.log.Warn("break-glass read", "key_id", key.ID, "route", r.Pattern, "referral", ref.ID())
	}
	if r.Method == http.MethodGet {
		if err := a.audit(r, ref.ID(), "", reason); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// referralView is the JSON form of a referral's state and history.
type referralView struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Active     bool      `json:"active"`
	Priority   string    `json:"priority"`
	Sequence   uint64    `json:"sequence"`
	ReceivedAt time.Time `json:"received_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Referral is the referral.Submission, or its referral.Pseudonym in a
	// pseudonymised view.
	Referral              any         `json:"referral"`
	Code                  *codeView   `json:"code,omitempty"`
	SafeguardingEscalated bool        `json:"safeguarding_escalated"`
	PossibleDuplicateOf   string      `json:"possible_duplicate_of,omitempty"`
	Triage                *triageView `json:"triage,omitempty"`
	CancelReason          string      `json:"cancel_reason,omitempty"`
	MergedInto            string      `json:"merged_into,omitempty"`
	// Erased is set once the referral's personal data was erased: the
	// person's details are gone for good, the rest of the record stays.
	Erased  bool          `json:"erased"`
	Erasure *erasureView  `json:"erasure,omitempty"`
	History []historyView `json:"history"`
}

type erasureView struct {
	At     time.Time `json:"at"`
	Ground string    `json:"ground,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

type codeView struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type triageView struct {
	Decision            string   `json:"decision"`
	Priority            string   `json:"priority"`
	Eligible            bool     `json:"eligible"`
	EligibilityFailures []string `json:"eligibility_failures,omitempty"`
	Reason              string   `json:"reason,omitempty"`
	DeclineReason       string   `json:"decline_reason,omitempty"`
	RedirectDestination string   `json:"redirect_destination,omitempty"`
	RuleID              string   `json:"rule_id,omitempty"`
	RulesVersion        string   `json:"rules_version,omitempty"`
	Override            bool     `json:"override"`
}

type historyView struct {
	Sequence  uint64    `json:"sequence"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	ActorRole string    `json:"actor_role,omitempty"`
}

func enumWire(name, prefix string) string {
	if strings.HasSuffix(name, "_UNSPECIFIED") {
		return ""
	}
	return referral.WireName(name, prefix)
}

// viewOf is the view of ref; a pseudonymised one shows the person's
// pseudonym, and of the triage no text staff wrote.
func viewOf(ref *referral.Referral, pseudonymised bool) referralView {
	sub := referral.FromEvent(ref.Received())
	v := referralView{
		ID:                    ref.ID(),
		Status:                string(ref.Status()),
		Active:                ref.Status().Active(),
		Priority:              enumWire(ref.Priority().String(), "PRIORITY_"),
		Sequence:              ref.Version(),
		ReceivedAt:            ref.ReceivedAt(),
		UpdatedAt:             ref.UpdatedAt(),
		Referral:              sub,
		SafeguardingEscalated: ref.Escalated(),
		PossibleDuplicateOf:   ref.Received().GetPossibleDuplicateOf(),
		CancelReason:          strings.ReplaceAll(enumWire(ref.CancelReason().String(), "CANCEL_REASON_"), "_", "-"),
		MergedInto:            ref.MergedInto(),
		History:               []historyView{},
	}
	if erased, e, at := ref.Erased(); erased {
		v.Erased = true
		v.Erasure = &erasureView{At: at, Ground: enumWire(e.GetGround().String(), "ERASURE_GROUND_"), Reason: e.GetReason()}
	}
	if c := ref.Received().GetCode(); c != nil {
		v.Code = &codeView{System: c.GetSystem(), Code: c.GetCode(), Display: c.GetDisplay()}
	}
	if t := ref.Triage(); t != nil {
		v.Triage = &triageView{
			Decision:            enumWire(t.GetDecision().String(), "TRIAGE_DECISION_"),
			Priority:            enumWire(t.GetPriority().String(), "PRIORITY_"),
			Eligible:            t.GetEligible(),
			EligibilityFailures: t.GetEligibilityFailures(),
			Reason:              t.GetReason(),
			DeclineReason:       t.GetDeclineReason(),
			RedirectDestination: t.GetRedirectDestination(),
			RuleID:              t.GetRuleId(),
			RulesVersion:        t.GetRulesVersion(),
			Override:            t.GetOverride(),
		}
	}
	if pseudonymised {
		v.Referral = sub.Pseudonymised()
		if v.Triage != nil {
			v.Triage.Reason, v.Triage.DeclineReason, v.Triage.RedirectDestination = "", "", ""
		}
	}
	for _, c := range ref.History() {
		h := historyView{Sequence: c.Sequence, Type: strings.TrimPrefix(string(c.Payload.ProtoReflect().Descriptor().Name()), ""), At: c.At}
		if c.Actor != nil {
			h.ActorRole = enumWire(c.Actor.GetRole().String(), "ROLE_")
		}
		v.History = append(v.History, h)
	}
	return v
}

// get handles GET /v1/referrals/{id}.
func (a *api) get(w http.ResponseWriter, r *http.Request) {
	ref, ok := a.load(w, r)
	if !ok {
		return
	}
	v := viewOf(ref, pseudonymised(principalFrom(r.Context()).key))
	dup, err := a.duplicateShown(r, v.PossibleDuplicateOf)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	v.PossibleDuplicateOf = dup
	writeJSON(w, http.StatusOK, v)
}

type changeResponse struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Sequence uint64 `json:"sequence"`
}

// change is a command on the referral named in the path (one the caller
// may see; else 404), with the key as sent, answered with the referral's
// new status and the command's sequence.
func change[B any](a *api, check func(*B) []kernel.FieldError, do func(ctx context.Context, id string, b *B, cmd events.Command) (uint64, error)) http.HandlerFunc {
	return command(a, keyAsSent, check, func(r *http.Request, b *B, cmd events.Command) (reply, error) {
		ref, err := a.loadVisible(r)
		if err != nil {
			return reply{}, err
		}
		seq, err := do(r.Context(), ref.ID(), b, cmd)
		if err != nil {
			return reply{}, err
		}
		if ref, _, err = events.Get(r.Context(), a.store, aggregate.Referral, ref.ID()); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, body: changeResponse{ID: ref.ID(), Status: string(ref.Status()), Sequence: seq}}, nil
	})
}

type cancelBody struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
	reason pathwayv1.CancelReason
}

var cancelReasons = map[string]pathwayv1.CancelReason{
	"revoked":          pathwayv1.CancelReason_CANCEL_REASON_REVOKED,
	"entered-in-error": pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR,
}

func (b *cancelBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	b.reason = cancelReasons[b.Reason]
	if b.reason == pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be revoked or entered-in-error"})
	}
	return append(errs, checkNote(b.Note)...)
}

// cancel handles POST /v1/referrals/{id}/cancel.
func (a *api) cancel() http.HandlerFunc {
	return change(a, (*cancelBody).check, func(ctx context.Context, id string, b *cancelBody, cmd events.Command) (uint64, error) {
		return a.referrals.Cancel(ctx, id, cmd, b.reason, b.Note)
	})
}

type mergeBody struct {
	Into   string `json:"into"`
	Reason string `json:"reason"`
}

func (b *mergeBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	if _, err := uuid.Parse(b.Into); err != nil {
		errs = append(errs, kernel.FieldError{Field: "into", Reason: "must be the id of the referral that survives"})
	}
	if b.Reason == "" || len(b.Reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "an audit reason of at most 2000 characters is required"})
	}
	return errs
}

// merge handles POST /v1/referrals/{id}/merge: the referral {id} is a
// duplicate of the referral named "into", which survives.
func (a *api) merge() http.HandlerFunc {
	return change(a, (*mergeBody).check, func(ctx context.Context, id string, b *mergeBody, cmd events.Command) (uint64, error) {
		return a.referrals.Merge(ctx, id, b.Into, cmd, b.Reason)
	})
}

// triageQueue handles GET /v1/triage/queue.
func (a *api) triageQueue(w http.ResponseWriter, r *http.Request) {
	// Show every change made before this request (read your writes).
	head, err := a.store.LastSequence(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.queue.WaitFor(ctx, head); err != nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the triage queue is catching up with the log; retry"))
		return
	}
	var q []intake.QueueEntry
	a.queue.Read(func(p projections.Projection, _ uint64) { q = p.(*intake.Index).ManualTriageQueue() })
	type item struct {
		ID                    string    `json:"id"`
		ReceivedAt            time.Time `json:"received_at"`
		Priority              string    `json:"priority"`
		SafeguardingEscalated bool      `json:"safeguarding_escalated"`
		Waiting               string    `json:"waiting"`
	}
	now := a.now()
	items := make([]item, 0, len(q))
	for _, e := range q {
		items = append(items, item{ID: e.ID, ReceivedAt: e.ReceivedAt, Priority: enumWire(e.Priority.String(), "PRIORITY_"),
			SafeguardingEscalated: e.Escalated, Waiting: now.Sub(e.ReceivedAt).Round(time.Second).String()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

type triageBody struct {
	Decision      string `json:"decision"`
	Priority      string `json:"priority"`
	Reason        string `json:"reason"`
	DeclineReason string `json:"decline_reason"`
	Destination   string `json:"destination"`
	decision      *pathwayv1.ReferralTriaged
}

var (
	triageDecisions = map[string]pathwayv1.TriageDecision{
		"accept": pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, "signpost": pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
		"decline": pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, "redirect": pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT,
	}
	triagePriorities = map[string]pathwayv1.Priority{
		"": pathwayv1.Priority_PRIORITY_UNSPECIFIED, "urgent": pathwayv1.Priority_PRIORITY_URGENT,
		"high": pathwayv1.Priority_PRIORITY_HIGH, "routine": pathwayv1.Priority_PRIORITY_ROUTINE,
	}
)

func (b *triageBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	dec, ok := triageDecisions[b.Decision]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "decision", Reason: "must be accept, signpost, decline or redirect"})
	}
	pri, ok := triagePriorities[b.Priority]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "priority", Reason: "must be urgent, high or routine"})
	}
	errs = append(errs, checkReason(b.Reason)...)
	if b.Decision == "decline" && b.DeclineReason == "" {
		errs = append(errs, kernel.FieldError{Field: "decline_reason", Reason: "is required to decline"})
	}
	if b.Decision == "redirect" && b.Destination == "" {
		errs = append(errs, kernel.FieldError{Field: "destination", Reason: "is required to redirect"})
	}
	b.decision = &pathwayv1.ReferralTriaged{Decision: dec, Priority: pri, Eligible: dec == pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
		Reason: b.Reason, DeclineReason: b.DeclineReason, RedirectDestination: b.Destination}
	return errs
}

// triage handles POST /v1/referrals/{id}/triage.
func (a *api) triage() http.HandlerFunc {
	return change(a, (*triageBody).check, func(ctx context.Context, id string, b *triageBody, cmd events.Command) (uint64, error) {
		return a.triager.Triage(ctx, id, cmd, b.decision)
	})
}

// checkNote checks an optional free-text note.
func checkNote(note string) []kernel.FieldError {
	if len(note) > 2000 {
		return []kernel.FieldError{{Field: "note", Reason: "must be at most 2000 characters"}}
	}
	return nil
}

// checkReason checks a required free-text reason.
func checkReason(reason string) []kernel.FieldError {
	if reason == "" || len(reason) > 2000 {
		return []kernel.FieldError{{Field: "reason", Reason: "a reason of at most 2000 characters is required"}}
	}
	return nil
}
