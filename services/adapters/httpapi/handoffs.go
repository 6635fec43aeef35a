package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/keys"
)

// handoffDesk requests handoffs and moves them along their lifecycle.
type handoffDesk interface {
	RequestHandoff(ctx context.Context, referralID string, in handoffs.HandoffInput, cmd events.Command) (string, uint64, error)
	Act(ctx context.Context, id string, a handoff.Action, reason, outcome, note string, cmd events.Command, allowed func(*handoff.Handoff) error) (uint64, handoff.Status, error)
}

var _ handoffDesk = (*handoffs.Service)(nil)

type handoffBody struct {
	ServiceID    string   `json:"service_id"`
	SharedFields []string `json:"shared_fields"`
	Consent      *bool    `json:"consent"`
	Confirm      bool     `json:"confirm"`
	Note         string   `json:"note"`
	// input is what the body asks for, made by check.
	input handoffs.HandoffInput
}

func (b *handoffBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	if _, err := uuid.Parse(b.ServiceID); err != nil {
		errs = append(errs, kernel.FieldError{Field: "service_id", Reason: "must be the id of a directory service"})
	}
	in := handoffs.HandoffInput{ServiceID: b.ServiceID, ConfirmCapacity: b.Confirm, Note: b.Note}
	names := slices.Sorted(maps.Keys(handoff.SharedFieldNames))
	for i, f := range b.SharedFields {
		sf, ok := handoff.SharedFieldNames[f]
		if !ok {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("shared_fields[%d]", i), Reason: "must be one of " + strings.Join(names, ", ")})
			continue
		}
		if slices.Contains(in.Shared, sf) {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("shared_fields[%d]", i), Reason: "is named twice"})
		}
		in.Shared = append(in.Shared, sf)
	}
	if b.Consent == nil || !*b.Consent {
		errs = append(errs, kernel.FieldError{Field: "consent", Reason: "the person's consent to the handoff is required (true)"})
	} else {
		in.Consent = true
	}
	b.input = in
	return append(errs, checkNote(b.Note)...)
}

// capacityWarning refuses a handoff to a service that signals no
// capacity, until it is confirmed: a conflict that names the status.
type capacityWarning struct {
	err    *kernel.Error
	status string
}

func (c *capacityWarning) Error() string { return c.err.Error() }
func (c *capacityWarning) Unwrap() error { return c.err }

// requestHandoff handles POST /v1/referrals/{id}/handoffs.
func (a *api) requestHandoff() http.HandlerFunc {
	return command(a, keyPerRoute, (*handoffBody).check, func(r *http.Request, b *handoffBody, cmd events.Command) (reply, error) {
		ref, err := a.loadVisible(r)
		if err != nil {
			return reply{}, err
		}
		id, seq, err := a.handoffs.RequestHandoff(r.Context(), ref.ID(), b.input, cmd)
		if errors.Is(err, handoff.ErrCapacity) {
			svc, _ := directory.LoadService(r.Context(), a.store, b.ServiceID)
			status := partner.CapacityName(svc.Capacity())
			return reply{}, &capacityWarning{status: status, err: &kernel.Error{Kind: kernel.Conflict, Err: err,
				Message: "the service's capacity status is " + status + "; send the request again with \"confirm\": true to hand off anyway"}}
		}
		if err != nil {
			return reply{}, err
		}
		h, err := handoffs.LoadHandoff(r.Context(), a.store, id)
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusCreated, body: map[string]any{"id": id, "status": h.Status(), "sequence": seq, "respond_by": h.RespondBy()}}, nil
	})
}

// handoffView is a handoff as staff or its partner see it.
type handoffView struct {
	ID              string         `json:"id"`
	Status          string         `json:"status"`
	ReferralID      string         `json:"referral_id,omitempty"`
	ServiceID       string         `json:"service_id"`
	PartnerID       string         `json:"partner_id"`
	SharedFields    []string       `json:"shared_fields"`
	Shared          map[string]any `json:"shared"`
	Note            string         `json:"note,omitempty"`
	RequestedAt     time.Time      `json:"requested_at"`
	RespondBy       time.Time      `json:"respond_by"`
	UpdatedAt       time.Time      `json:"updated_at"`
	Reminders       int            `json:"reminders"`
	Reason          string         `json:"reason,omitempty"`
	Outcome         string         `json:"outcome,omitempty"`
	Sequence        uint64         `json:"sequence"`
	CapacityWarning bool           `json:"capacity_warning_confirmed,omitempty"`
	// Erased: the person's data this handoff shared was erased for good.
	Erased  bool          `json:"erased"`
	History []historyItem `json:"history"`
}

type historyItem struct {
	Sequence uint64    `json:"sequence"`
	Type     string    `json:"type"`
	At       time.Time `json:"at"`
	Role     string    `json:"actor_role,omitempty"`
}

// viewHandoff is h as staff see it (with its referral) or its partner
// does; a pseudonymised view shows no shared data and no note.
func viewHandoff(h *handoff.Handoff, staff, pseudo bool) handoffView {
	req := h.Requested()
	v := handoffView{ID: h.ID(), Status: string(h.Status()), Erased: h.Erased(), ServiceID: req.GetServiceId(), PartnerID: req.GetPartnerId(),
		Note: req.GetNote(), RequestedAt: h.RequestedAt(), RespondBy: h.RespondBy(), UpdatedAt: h.UpdatedAt(), Reminders: h.Reminders(),
		Reason: h.Reason(), Outcome: h.Outcome(), Sequence: h.Version(), CapacityWarning: req.GetCapacityWarningConfirmed(), SharedFields: []string{}}
	if staff {
		v.ReferralID = req.GetReferralId()
	}
	for _, f := range req.GetSharedFields() {
		v.SharedFields = append(v.SharedFields, handoff.SharedFieldName(f))
	}
	v.Shared = details(req.GetShared())
	if v.Shared == nil || pseudo || (!staff && (h.Status() == handoff.StatusCancelled || h.Status() == handoff.StatusEnteredInError)) {
		// A withdrawn handoff shows the partner nothing more of the person.
		v.Shared, v.SharedFields, v.Note = map[string]any{}, []string{}, ""
	}
	for _, c := range h.History() {
		it := historyItem{Sequence: c.Sequence, Type: string(c.Payload.ProtoReflect().Descriptor().Name()), At: c.At}
		if c.Actor != nil {
			it.Role = enumWire(c.Actor.GetRole().String(), "ROLE_")
		}
		v.History = append(v.History, it)
	}
	return v
}

// loadHandoff reads the handoff in the path. A partner sees only its own,
// a link worker only those of referrals it may reach (visible): another's,
// like a missing one, is events.ErrNotFound.
func (a *api) loadHandoff(r *http.Request) (*handoff.Handoff, error) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		return nil, events.ErrNotFound
	}
	h, err := handoffs.LoadHandoff(r.Context(), a.store, id)
	if err != nil {
		return nil, err
	}
	if !a.mayActOn(r, h) {
		return nil, events.ErrNotFound
	}
	if key := principalFrom(r.Context()).key; key.Role == keys.RoleLinkWorker {
		ref, _, err := events.Get(r.Context(), a.store, aggregate.Referral, h.Requested().GetReferralId())
		if err != nil {
			return nil, err
		}
		if ok, err := a.visible(r.Context(), key, ref); err != nil || !ok {
			return nil, cmp.Or(err, events.ErrNotFound)
		}
	}
	return h, nil
}

func (a *api) mayActOn(r *http.Request, h *handoff.Handoff) bool {
	if !h.Exists() {
		return false
	}
	key := principalFrom(r.Context()).key
	return key.Role != keys.RolePartner || h.PartnerID() == key.Organisation
}

// getHandoff handles GET /v1/handoffs/{id} (staff) and
// GET /v1/partner/handoffs/{id} (the partner: shared fields only).
func (a *api) getHandoff(w http.ResponseWriter, r *http.Request) {
	h, err := a.loadHandoff(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	key := principalFrom(r.Context()).key
	if err := a.audit(r, h.Requested().GetReferralId(), h.ID(), ""); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewHandoff(h, key.Role != keys.RolePartner, pseudonymised(key)))
}

// actionBody is a handoff action's body, which may be empty.
type actionBody struct {
	Reason  string `json:"reason"`
	Outcome string `json:"outcome"`
	Note    string `json:"note"`
}

func (*actionBody) optional() {}

func (b *actionBody) check(action handoff.Action) []kernel.FieldError {
	var errs []kernel.FieldError
	if handoff.NeedsReason(action) && b.Reason == "" {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "is required to " + string(action) + ": one of " + strings.Join(handoff.Reasons, ", ")})
	}
	if b.Reason != "" && !slices.Contains(handoff.Reasons, b.Reason) {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be a reason code: " + strings.Join(handoff.Reasons, ", ") + " (say more in note)"})
	}
	if action == handoff.ActionComplete && !slices.Contains(handoff.Outcomes, b.Outcome) {
		errs = append(errs, kernel.FieldError{Field: "outcome", Reason: "is required to complete: one of " + strings.Join(handoff.Outcomes, ", ")})
	}
	if action != handoff.ActionComplete && b.Outcome != "" {
		errs = append(errs, kernel.FieldError{Field: "outcome", Reason: "only a completion carries an outcome"})
	}
	return append(errs, checkNote(b.Note)...)
}

// handoffAction handles POST /v1/partner/handoffs/{id}/{action} and the
// link worker's POST /v1/handoffs/{id}/cancel and /entered-in-error.
func (a *api) handoffAction(action handoff.Action) http.HandlerFunc {
	check := func(b *actionBody) []kernel.FieldError { return b.check(action) }
	return command(a, keyPerRoute, check, func(r *http.Request, b *actionBody, cmd events.Command) (reply, error) {
		h, err := a.loadHandoff(r)
		if err != nil {
			return reply{}, err
		}
		seq, status, err := a.handoffs.Act(r.Context(), h.ID(), action, b.Reason, b.Outcome, b.Note, cmd, func(h *handoff.Handoff) error {
			if !a.mayActOn(r, h) {
				return events.ErrNotFound
			}
			return nil
		})
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, body: map[string]any{"id": h.ID(), "status": status, "sequence": seq}}, nil
	})
}

// partnerAction routes POST /v1/partner/handoffs/{id}/{action}.
func (a *api) partnerAction() http.HandlerFunc {
	actions := map[handoff.Action]http.HandlerFunc{}
	for _, act := range handoff.PartnerActions {
		actions[act] = a.handoffAction(act)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := actions[handoff.Action(r.PathValue("action"))]
		if !ok {
			a.writeError(w, r, kernel.Errorf(kernel.NotFound, "no such action; want accept, reject, start, hold, complete or fail"))
			return
		}
		h(w, r)
	}
}
