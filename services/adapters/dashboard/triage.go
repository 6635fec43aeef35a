package dashboard

// The triage workspace: triage staff (keys.RoleTriage) and admins work
// the manual triage queue, safeguarding escalations first (GET /triage,
// live), and decide a referral on its page (GET /triage/{id}, POST
// /triage/{id}): accept, signpost, decline with a reason, or redirect
// with a destination, each with the reason for the decision. The same
// form overrides an automatic decision, which the domain marks as an
// override. The form runs the API's command (intake.Service's Triage,
// as POST /v1/referrals/{id}/triage does), with the API's field rules,
// and its token is used once. Other roles get 403.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// Triager records a person's triage decision on a referral.
// *intake.Service implements it, as it does for the API.
type Triager interface {
	Triage(ctx context.Context, id string, cmd events.Command, d *pathwayv1.ReferralTriaged) (uint64, error)
}

var _ Triager = (*intake.Service)(nil)

// TriageDesk is what the triage workspace needs: the log, to read a
// referral in full as the API does, the engine of the manual triage
// queue (intake.Index), and the service whose command its form runs.
type TriageDesk struct {
	Store   *events.Store       // required
	Queue   *projections.Engine // *intake.Index; required
	Decider Triager             // required
}

func (td *TriageDesk) validate() error {
	var errs []error
	if td.Store == nil {
		errs = append(errs, errors.New("dashboard: Triage.Store is required"))
	}
	if td.Queue == nil {
		errs = append(errs, errors.New("dashboard: Triage.Queue is required"))
	}
	if td.Decider == nil {
		errs = append(errs, errors.New("dashboard: Triage.Decider is required"))
	}
	return errors.Join(errs...)
}

// triageRole reports whether role may work the triage pages.
func triageRole(role keys.Role) bool { return role == keys.RoleTriage || role == keys.RoleAdmin }

// triagePath reports whether path is under the triage workspace.
func triagePath(path string) bool { return path == "/triage" || strings.HasPrefix(path, "/triage/") }

// routeTriage adds the triage workspace's own routes (its pages are
// served by page, through resolve).
func (h *handler) routeTriage(protect *http.CrossOriginProtection) {
	h.mux.Handle("POST /triage/open", protect.Handler(http.HandlerFunc(h.triageOpen)))
	h.mux.Handle("POST /triage/{id}", protect.Handler(http.HandlerFunc(h.triageForm)))
}

// triageRow is one referral waiting in the manual triage queue.
type triageRow struct {
	ID, Initials, Received, Waited, Priority string
	Escalated                                bool
}

// triageQueueData is the queue page's live part.
type triageQueueData struct {
	AsOf        string
	Escalations []triageRow
	Queue       []triageRow
}

// resolveTriage resolves a page under /triage for a key of triageRole.
func (h *handler) resolveTriage(ctx context.Context, key keys.Key, path string, q url.Values, now time.Time) (view, error) {
	if h.cfg.Triage == nil {
		return view{}, errNotFound
	}
	if !triageRole(key.Role) {
		return view{}, errForbidden
	}
	if path == "/triage" {
		d := h.triageQueue(now)
		var ids []string
		for _, r := range append(append([]triageRow{}, d.Escalations...), d.Queue...) {
			ids = append(ids, r.ID)
		}
		return view{name: "triagequeue", title: "Triage queue", nav: "triage", triage: key.Role == keys.RoleTriage, data: d,
			controls: triageFind{}, route: "GET /triage", referrals: ids}, nil
	}
	id := strings.TrimPrefix(path, "/triage/")
	ref, err := h.triageReferral(ctx, id)
	if err != nil {
		return view{}, err
	}
	d := h.triageCase(ref, now)
	forms := func(s session) any { return h.triageForms(s, ref, q.Get("done")) }
	return view{name: "triagecase", title: "Triage " + d.Name, nav: "triage", triage: key.Role == keys.RoleTriage, data: d, static: true,
		route: "GET /triage/{id}", referrals: []string{ref.ID()}, formsFor: forms}, nil
}

// triageFind is the queue page's form that opens a referral by its id.
type triageFind struct{ Error, Value string }

// triageQueue builds the queue page from the intake index at now:
// safeguarding escalations, then the rest, each oldest first.
func (h *handler) triageQueue(now time.Time) triageQueueData {
	var entries []intake.QueueEntry
	h.read(h.cfg.Triage.Queue, func(p projections.Projection) { entries = p.(*intake.Index).ManualTriageQueue() })
	names := map[string]string{}
	h.read(h.cfg.Initials, func(p projections.Projection) {
		of := p.(*Initials).Of
		for _, e := range entries {
			names[e.ID] = of[e.ID]
		}
	})
	d := triageQueueData{AsOf: h.clock(now)}
	for _, e := range entries {
		r := triageRow{ID: e.ID, Initials: cmp.Or(names[e.ID], "?"), Received: h.stamp(e.ReceivedAt), Waited: span(max(now.Sub(e.ReceivedAt), 0)),
			Priority: cmp.Or(priorityText(e.Priority), "not set"), Escalated: e.Escalated}
		if r.Priority == "unspecified" {
			r.Priority = "not set"
		}
		if e.Escalated {
			d.Escalations = append(d.Escalations, r)
		} else {
			d.Queue = append(d.Queue, r)
		}
	}
	return d
}

// triageOpen serves POST /triage/open: the queue page's "open a
// referral by id" form, answered 303 to the referral's triage page, or
// the queue page with the error beside the field. It is a POST, so that
// whatever is typed (a name, an NHS number, by mistake) stays out of
// addresses, the browser's history and the logs; its token is the
// session's.
func (h *handler) triageOpen(w http.ResponseWriter, r *http.Request) {
	s, ok := h.formSession(w, r, 4<<10, func(s session) bool { return h.cfg.Triage != nil && triageRole(s.key.Role) })
	if !ok {
		return
	}
	if !h.validCSRF(r, "session", s.value) {
		http.Error(w, "this form did not come from the dashboard (missing or wrong CSRF token); go back, reload and try again", http.StatusForbidden)
		return
	}
	id := strings.ToLower(strings.TrimSpace(r.PostFormValue("id")))
	msg := ""
	if _, err := uuid.Parse(id); err != nil {
		msg = "Referral id must be a referral's id, such as 0b9c4f6e-2d1a-4c3b-9e8f-7a6b5c4d3e2f"
	} else if _, err := h.triageReferral(r.Context(), id); errors.Is(err, errNotFound) {
		msg = "Referral id: there is no referral with this id"
	} else if err != nil {
		h.refuse(w, r, s, err)
		return
	} else {
		http.Redirect(w, r, "/triage/"+id, http.StatusSeeOther)
		return
	}
	h.settle(r.Context())
	v, err := h.resolve(r.Context(), s.key, "/triage", nil, h.cfg.Now())
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	if !h.audited(w, r, s, v) {
		return
	}
	// What was typed is not shown back: it may be anything.
	h.render(w, http.StatusUnprocessableEntity, v.name, page{Title: "Error: " + v.title, Nav: v.nav, Live: "/triage", Seq: h.position(),
		CSRF: h.csrfToken("session", s.value), Key: s.key, Triage: v.triage, Controls: triageFind{Error: msg}, Data: v.data, Failed: true})
}

// triageReferral reads the referral id from the log: errNotFound when
// there is none.
func (h *handler) triageReferral(ctx context.Context, id string) (*referral.Referral, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, errNotFound
	}
	ref, _, err := events.Get(ctx, h.cfg.Triage.Store, aggregate.Referral, id)
	if errors.Is(err, events.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !ref.Exists() {
		return nil, errNotFound
	}
	return ref, nil
}

// triageCaseData is a referral as triage staff see it: in full, as the
// API shows them (docs/PRIVACY.md), with its current triage.
type triageCaseData struct {
	AsOf, ID, Name, Status, Priority, Urgency    string
	NHSNumber, Born, Postcode, Practice, Source  string
	Referrer, Received, WhatMatters, Safeguarded string
	Needs                                        []string
	Escalated, Erased                            bool
	// Decision is the triage recorded so far, if any.
	Decision *decisionView
}

// decisionView is a recorded triage decision.
type decisionView struct {
	Decision, Priority, Reason, DeclineReason, Destination, Rule string
	Automatic, Override                                          bool
	Failures                                                     []string
}

func (h *handler) triageCase(ref *referral.Referral, now time.Time) triageCaseData {
	rec := ref.Received()
	p := rec.GetPerson()
	erased, _, _ := ref.Erased()
	d := triageCaseData{AsOf: h.clock(now), ID: ref.ID(), Name: personName(ref), Status: strings.ReplaceAll(string(ref.Status()), "_", " "),
		Priority: wordOf(ref.Priority().String(), "PRIORITY_"), Urgency: wordOf(rec.GetUrgency().String(), "PRIORITY_"),
		NHSNumber: nhsSpaced(p.GetNhsNumber()), Postcode: p.GetPostcode(), Practice: rec.GetGpPractice(),
		Source: wordOf(rec.GetSource().String(), "REFERRAL_SOURCE_"), Referrer: strings.Trim(rec.GetReferrer().GetName()+", "+rec.GetReferrer().GetOrganisation(), ", "),
		Received: h.stamp(ref.ReceivedAt()), WhatMatters: rec.GetWhatMatters(), Escalated: ref.Escalated() || rec.GetSafeguarding().GetConcern(),
		Safeguarded: rec.GetSafeguarding().GetDetails(), Erased: erased}
	if dob := p.GetDateOfBirth(); dob != nil {
		d.Born = fmt.Sprintf("%d %s %d (age %d)", dob.GetDay(), time.Month(dob.GetMonth()).String(), dob.GetYear(), referral.Age(dob, now))
	}
	for _, n := range rec.GetNeeds() {
		d.Needs = append(d.Needs, wordOf(n.String(), "NEED_"))
	}
	if t := ref.Triage(); t != nil {
		d.Decision = &decisionView{Decision: wordOf(t.GetDecision().String(), "TRIAGE_DECISION_"), Priority: wordOf(t.GetPriority().String(), "PRIORITY_"),
			Reason: t.GetReason(), DeclineReason: t.GetDeclineReason(), Destination: t.GetRedirectDestination(), Rule: t.GetRuleId(),
			Automatic: t.GetRuleId() != "", Override: t.GetOverride(), Failures: t.GetEligibilityFailures()}
	}
	return d
}

// triageForms is the decision form of a referral's triage page.
type triageForms struct {
	ID string
	// Open: a decision can be recorded now: the referral awaits triage,
	// or its decision was automatic (the form overrides it).
	Open, Override, Escalated bool
	Done                      string
	Form                      formState
	Decisions, Priorities     []option
}

// Summary is the error summary of the form sent back, if any.
func (f triageForms) Summary() []fieldMsg { return f.Form.Summary }

var (
	triageDecisionOptions = []option{{"accept", "Accept for a link worker"}, {"signpost", "Signpost (information only)"},
		{"decline", "Decline, with a reason"}, {"redirect", "Redirect to another service"}}
	triagePriorityOptions = []option{{"", "Keep the current priority"}, {"urgent", "Urgent"}, {"high", "High"}, {"routine", "Routine"}}
	triageDecisionCodes   = map[string]pathwayv1.TriageDecision{
		"accept": pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, "signpost": pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
		"decline": pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, "redirect": pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT,
	}
	triagePriorityCodes = map[string]pathwayv1.Priority{
		"": pathwayv1.Priority_PRIORITY_UNSPECIFIED, "urgent": pathwayv1.Priority_PRIORITY_URGENT,
		"high": pathwayv1.Priority_PRIORITY_HIGH, "routine": pathwayv1.Priority_PRIORITY_ROUTINE,
	}
	triageDone = map[string]string{"decided": "Decision recorded.", "override": "Automatic decision overridden."}
)

// triageOpenFor reports whether ref can be triaged by staff now, and
// whether that would override an automatic decision (the domain decides
// in the end: referral.StaffTriage).
func triageOpenFor(ref *referral.Referral) (open, override bool) {
	switch ref.Status() {
	case referral.StatusReceived, referral.StatusManualTriage:
		return true, false
	case referral.StatusAccepted, referral.StatusSignposted, referral.StatusDeclined, referral.StatusRedirected:
		auto := ref.Triage().GetRuleId() != ""
		return auto, auto
	}
	return false, false
}

func (h *handler) triageForms(s session, ref *referral.Referral, done string) *triageForms {
	open, override := triageOpenFor(ref)
	f := &triageForms{ID: ref.ID(), Open: open, Override: override, Escalated: ref.Escalated(), Done: triageDone[done],
		Form:      formState{Prefix: "triage", Token: h.formToken(s), Values: url.Values{}, Errors: map[string]string{}},
		Decisions: triageDecisionOptions, Priorities: triagePriorityOptions}
	if f.Escalated { // the domain refuses it: redirect instead
		f.Decisions = []option{triageDecisionOptions[0], triageDecisionOptions[1], triageDecisionOptions[3]}
	}
	return f
}

// checkTriage checks the form with the API's rules (httpapi's
// triageBody) and returns the decision to record.
func checkTriage(v url.Values, escalated bool) (*pathwayv1.ReferralTriaged, []kernel.FieldError) {
	var errs []kernel.FieldError
	decision := v.Get("decision")
	dec, ok := triageDecisionCodes[decision]
	switch {
	case !ok:
		errs = append(errs, kernel.FieldError{Field: "decision", Reason: "must be chosen: accept, signpost, decline or redirect", Missing: decision == ""})
	case escalated && decision == "decline":
		errs = append(errs, kernel.FieldError{Field: "decision", Reason: "cannot be decline: a referral with a safeguarding concern is redirected instead"})
	}
	pri, ok := triagePriorityCodes[v.Get("priority")]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "priority", Reason: "must be urgent, high or routine"})
	}
	reason := strings.TrimSpace(v.Get("reason"))
	if reason == "" || len(reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "is required: why you decided this, in at most 2000 characters", Missing: reason == ""})
	}
	declineReason, destination := strings.TrimSpace(v.Get("decline_reason")), strings.TrimSpace(v.Get("destination"))
	if decision == "decline" && declineReason == "" {
		errs = append(errs, kernel.FieldError{Field: "decline_reason", Reason: "is required to decline", Missing: true})
	}
	if decision == "redirect" && destination == "" {
		errs = append(errs, kernel.FieldError{Field: "destination", Reason: "is required to redirect: the service the person is sent to", Missing: true})
	}
	if decision != "decline" {
		declineReason = ""
	}
	if decision != "redirect" {
		destination = ""
	}
	return &pathwayv1.ReferralTriaged{Decision: dec, Priority: pri, Eligible: dec == pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
		Reason: reason, DeclineReason: declineReason, RedirectDestination: destination}, errs
}

// triageForm serves POST /triage/{id}: the decision form runs the API's
// triage command with the staff's key as actor, and answers 303 to the
// referral's triage page, or the page with the form sent back (422, or
// 409 with the domain's message), errors beside the fields.
func (h *handler) triageForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.formSession(w, r, 32<<10, func(s session) bool { return triageRole(s.key.Role) })
	if !ok {
		return
	}
	ref, err := h.triageReferral(r.Context(), r.PathValue("id"))
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	cmd, status, message, ok := h.formCommand(w, r, s, "the decision on this page")
	if !ok {
		return
	}
	forms := h.triageForms(s, ref, "")
	forms.Form.Values = r.PostForm
	var fields []kernel.FieldError
	if message == "" {
		var d *pathwayv1.ReferralTriaged
		d, fields = checkTriage(r.PostForm, ref.Escalated())
		if len(fields) == 0 {
			_, err = h.cfg.Triage.Decider.Triage(r.Context(), ref.ID(), cmd, d)
			if err == nil {
				done := "decided"
				if forms.Override {
					done = "override"
				}
				h.log.Info("dashboard form", "form", "triage", "referral", ref.ID(), "key_id", s.key.ID)
				http.Redirect(w, r, "/triage/"+ref.ID()+"?done="+done, http.StatusSeeOther)
				return
			}
			status, fields, message = h.commandFailure(err)
			if status == 0 {
				h.log.Error("dashboard triage failed", "referral", ref.ID(), "err", err)
				http.Error(w, "the form could not be sent right now; retry shortly", http.StatusServiceUnavailable)
				return
			}
		}
	}
	forms.Form.fail("decision", fields, message)
	if ref, err = h.triageReferral(r.Context(), ref.ID()); err != nil {
		h.refuse(w, r, s, err)
		return
	}
	if !h.audited(w, r, s, view{route: "POST /triage/{id}", referrals: []string{ref.ID()}}) {
		return
	}
	d := h.triageCase(ref, h.cfg.Now())
	h.render(w, status, "triagecase", page{Title: "Error: Triage " + d.Name, Nav: "triage", CSRF: h.csrfToken("session", s.value), Key: s.key,
		Triage: s.key.Role == keys.RoleTriage, Data: d, Forms: forms, Failed: true})
}
