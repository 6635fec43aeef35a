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

// submitResponse is the answer to a submit.
type submitResponse struct {
	ID                  string `json:"id"`
	Status              string `json:"status"`
	Sequence            uint64 `json:"sequence"`
	PossibleDuplicateOf string `json:"possible_duplicate_of,omitempty"`
}

// submit handles POST /v1/referrals.
func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	var sub referral.Submission
	if !decodeJSON(w, r, &sub) {
		return
	}
	res, err := a.submitReferral(r, sub, "json")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/referrals/"+res.ID)
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, submitResponse{ID: res.ID, Status: string(res.Status), Sequence: res.Sequence, PossibleDuplicateOf: res.PossibleDuplicateOf})
}

// submitReferral runs a submission from either front door.
func (a *api) submitReferral(r *http.Request, sub referral.Submission, channel string) (intake.Result, error) {
	p := principalFrom(r.Context())
	key, err := idempotencyKey(r)
	if err != nil {
		return intake.Result{}, err
	}
	if p.key.Role == keys.RoleReferrer && sub.Referrer.Organisation != p.key.Organisation {
		errs := sub.Validate(a.refs.Now())
		if !slices.ContainsFunc(errs, func(e kernel.FieldError) bool { return e.Field == "referrer.organisation" }) {
			errs = append(errs, kernel.FieldError{Field: "referrer.organisation", Reason: "must be the organisation of your API key"})
		}
		return intake.Result{}, kernel.InvalidFields(errs...)
	}
	return a.refs.Intake.Submit(r.Context(), intake.Submission{
		Submission:     sub,
		Actor:          p.actor,
		IdempotencyKey: key,
		Channel:        channel,
		CorrelationID:  correlationID(r),
	})
}

// load reads the referral named in the path, answering 404 for a bad id,
// a missing referral, or one the caller's organisation may not see.
func (a *api) load(w http.ResponseWriter, r *http.Request) (*referral.Referral, bool) {
	ref, err := a.loadVisible(r)
	if err != nil {
		a.writeError(w, r, err)
		return nil, false
	}
	return ref, true
}

// loadVisible reads the referral named in the path; events.ErrNotFound
// when it does not exist or the caller may not see it.
func (a *api) loadVisible(r *http.Request) (*referral.Referral, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return nil, events.ErrNotFound
	}
	ref, _, err := events.Get(r.Context(), a.refs.Store, aggregate.Referral, id)
	if err != nil {
		return nil, err
	}
	if !canSee(principalFrom(r.Context()).key, ref) {
		return nil, events.ErrNotFound
	}
	return ref, nil
}

// canSee reports whether key may see the referral: a referrer only the
// referrals its own organisation made.
func canSee(key keys.Key, ref *referral.Referral) bool {
	if key.Role == keys.RoleReferrer {
		return ref.Received().GetReferrer().GetOrganisation() == key.Organisation
	}
	return true
}

// referralView is the JSON form of a referral's state and history.
type referralView struct {
	ID                    string              `json:"id"`
	Status                string              `json:"status"`
	Active                bool                `json:"active"`
	Priority              string              `json:"priority"`
	Sequence              uint64              `json:"sequence"`
	ReceivedAt            time.Time           `json:"received_at"`
	UpdatedAt             time.Time           `json:"updated_at"`
	Referral              referral.Submission `json:"referral"`
	Code                  *codeView           `json:"code,omitempty"`
	SafeguardingEscalated bool                `json:"safeguarding_escalated"`
	PossibleDuplicateOf   string              `json:"possible_duplicate_of,omitempty"`
	Triage                *triageView         `json:"triage,omitempty"`
	CancelReason          string              `json:"cancel_reason,omitempty"`
	MergedInto            string              `json:"merged_into,omitempty"`
	History               []historyView       `json:"history"`
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

func viewOf(ref *referral.Referral) referralView {
	v := referralView{
		ID:                    ref.ID(),
		Status:                string(ref.Status()),
		Active:                ref.Status().Active(),
		Priority:              enumWire(ref.Priority().String(), "PRIORITY_"),
		Sequence:              ref.Version(),
		ReceivedAt:            ref.ReceivedAt(),
		UpdatedAt:             ref.UpdatedAt(),
		Referral:              referral.FromEvent(ref.Received()),
		SafeguardingEscalated: ref.Escalated(),
		PossibleDuplicateOf:   ref.Received().GetPossibleDuplicateOf(),
		CancelReason:          strings.ReplaceAll(enumWire(ref.CancelReason().String(), "CANCEL_REASON_"), "_", "-"),
		MergedInto:            ref.MergedInto(),
		History:               []historyView{},
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
	writeJSON(w, http.StatusOK, viewOf(ref))
}

type changeResponse struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Sequence uint64 `json:"sequence"`
}

// afterChange answers a state change with the referral as it now is.
func (a *api) afterChange(w http.ResponseWriter, r *http.Request, id string, seq uint64) {
	ref, _, err := events.Get(r.Context(), a.refs.Store, aggregate.Referral, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, changeResponse{ID: id, Status: string(ref.Status()), Sequence: seq})
}

// change runs a state change on the referral named in the path, after
// the body's field errors (if any) are answered, and answers with the
// referral's new status.
func (a *api) change(w http.ResponseWriter, r *http.Request, errs []kernel.FieldError, do func(id string, cmd events.Command) (uint64, error)) {
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	ref, ok := a.load(w, r)
	if !ok {
		return
	}
	cmd, err := a.command(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	seq, err := do(ref.ID(), cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.afterChange(w, r, ref.ID(), seq)
}

// commandOrProblem is command, answering 400 when the Idempotency-Key is
// malformed. The key is scoped to the route: the same key sent to another
// endpoint (cancel after accept, update after create) is another command,
// not a retry.
func (a *api) commandOrProblem(w http.ResponseWriter, r *http.Request) (events.Command, bool) {
	cmd, err := a.command(r)
	if err != nil {
		a.writeError(w, r, err)
		return cmd, false
	}
	if cmd.IdempotencyKey != "" {
		cmd.IdempotencyKey = r.Method + " " + r.URL.Path + "\x00" + cmd.IdempotencyKey
	}
	return cmd, true
}

func (a *api) command(r *http.Request) (events.Command, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return events.Command{}, err
	}
	return events.Command{Actor: principalFrom(r.Context()).actor, IdempotencyKey: key, CorrelationID: correlationID(r)}, nil
}

// cancel handles POST /v1/referrals/{id}/cancel.
func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	reason := map[string]pathwayv1.CancelReason{
		"revoked":          pathwayv1.CancelReason_CANCEL_REASON_REVOKED,
		"entered-in-error": pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR,
	}[body.Reason]
	var errs []kernel.FieldError
	if reason == pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be revoked or entered-in-error"})
	}
	if len(body.Note) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "note", Reason: "must be at most 2000 characters"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.Cancel(r.Context(), id, cmd, reason, body.Note)
	})
}

// merge handles POST /v1/referrals/{id}/merge: the referral {id} is a
// duplicate of the referral named "into", which survives.
func (a *api) merge(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Into   string `json:"into"`
		Reason string `json:"reason"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	if _, err := uuid.Parse(body.Into); err != nil {
		errs = append(errs, kernel.FieldError{Field: "into", Reason: "must be the id of the referral that survives"})
	}
	if body.Reason == "" || len(body.Reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "an audit reason of at most 2000 characters is required"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.Merge(r.Context(), id, body.Into, cmd, body.Reason)
	})
}

// triageQueue handles GET /v1/triage/queue.
func (a *api) triageQueue(w http.ResponseWriter, r *http.Request) {
	// Show every change made before this request (read your writes).
	head, err := a.refs.Store.LastSequence(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.refs.TriageQueue.WaitFor(ctx, head); err != nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the triage queue is catching up with the log; retry"))
		return
	}
	var q []intake.QueueEntry
	a.refs.TriageQueue.Read(func(p projections.Projection, _ uint64) { q = p.(*intake.Index).ManualTriageQueue() })
	type item struct {
		ID                    string    `json:"id"`
		ReceivedAt            time.Time `json:"received_at"`
		Priority              string    `json:"priority"`
		SafeguardingEscalated bool      `json:"safeguarding_escalated"`
		Waiting               string    `json:"waiting"`
	}
	now := a.refs.Now()
	items := make([]item, 0, len(q))
	for _, e := range q {
		items = append(items, item{ID: e.ID, ReceivedAt: e.ReceivedAt, Priority: enumWire(e.Priority.String(), "PRIORITY_"),
			SafeguardingEscalated: e.Escalated, Waiting: now.Sub(e.ReceivedAt).Round(time.Second).String()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// triage handles POST /v1/referrals/{id}/triage.
func (a *api) triage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Decision      string `json:"decision"`
		Priority      string `json:"priority"`
		Reason        string `json:"reason"`
		DeclineReason string `json:"decline_reason"`
		Destination   string `json:"destination"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	decisions := map[string]pathwayv1.TriageDecision{
		"accept": pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, "signpost": pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
		"decline": pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, "redirect": pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT,
	}
	priorities := map[string]pathwayv1.Priority{
		"": pathwayv1.Priority_PRIORITY_UNSPECIFIED, "urgent": pathwayv1.Priority_PRIORITY_URGENT,
		"high": pathwayv1.Priority_PRIORITY_HIGH, "routine": pathwayv1.Priority_PRIORITY_ROUTINE,
	}
	var errs []kernel.FieldError
	dec, okDec := decisions[body.Decision]
	if !okDec {
		errs = append(errs, kernel.FieldError{Field: "decision", Reason: "must be accept, signpost, decline or redirect"})
	}
	pri, okPri := priorities[body.Priority]
	if !okPri {
		errs = append(errs, kernel.FieldError{Field: "priority", Reason: "must be urgent, high or routine"})
	}
	if body.Reason == "" || len(body.Reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "a reason of at most 2000 characters is required"})
	}
	if body.Decision == "decline" && body.DeclineReason == "" {
		errs = append(errs, kernel.FieldError{Field: "decline_reason", Reason: "is required to decline"})
	}
	if body.Decision == "redirect" && body.Destination == "" {
		errs = append(errs, kernel.FieldError{Field: "destination", Reason: "is required to redirect"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.Triage(r.Context(), id, cmd, &pathwayv1.ReferralTriaged{
			Decision: dec, Priority: pri, Eligible: dec == pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
			Reason: body.Reason, DeclineReason: body.DeclineReason, RedirectDestination: body.Destination,
		})
	})
}
