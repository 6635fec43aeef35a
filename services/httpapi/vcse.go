package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/vcse"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// VCSE is what the directory, handoff and partner endpoints need.
type VCSE struct {
	Service  *vcse.Service
	Webhooks *webhooks.Service
	// Partners is the partners read model (directory, inboxes, stats).
	Partners *projections.Engine
}

// MaxImportBytes is the largest HSDS import body accepted.
const MaxImportBytes = 8 << 20

type contactBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	URL   string `json:"url"`
}

func (c *contactBody) proto() *pathwayv1.ContactPoint {
	if c == nil {
		return nil
	}
	return &pathwayv1.ContactPoint{Name: c.Name, Email: c.Email, Phone: c.Phone, Url: c.URL}
}

// savePartner handles POST /v1/directory/partners.
func (a *api) savePartner(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID                 string       `json:"id"`
		Name               string       `json:"name"`
		Description        string       `json:"description"`
		Contact            *contactBody `json:"contact"`
		RegistrationNumber string       `json:"registration_number"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	saved, err := a.vcse.Service.SavePartner(r.Context(), body.ID, &pathwayv1.PartnerRegistered{Name: body.Name, Description: body.Description,
		Contact: body.Contact.proto(), RegistrationNumber: body.RegistrationNumber}, cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, savedStatus(saved), map[string]any{"id": saved.ID, "sequence": saved.Sequence, "created": saved.Created, "changed": saved.Changed})
}

func savedStatus(s vcse.Saved) int {
	if s.Created {
		return http.StatusCreated
	}
	return http.StatusOK
}

type serviceBody struct {
	PartnerID     string       `json:"partner_id"`
	Name          string       `json:"name"`
	Description   string       `json:"description"`
	Needs         []string     `json:"needs"`
	TaxonomyTerms []string     `json:"taxonomy_terms"`
	MinAge        int          `json:"min_age"`
	MaxAge        int          `json:"max_age"`
	Districts     []string     `json:"postcode_districts"`
	Eligibility   string       `json:"eligibility_description"`
	Locations     []locBody    `json:"locations"`
	Contact       *contactBody `json:"contact"`
	Capacity      string       `json:"capacity_status"`
}

type locBody struct {
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	Postcode  string  `json:"postcode"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

func (b serviceBody) details() (*pathwayv1.ServiceDetails, pathwayv1.CapacityStatus, []kernel.FieldError) {
	var errs []kernel.FieldError
	d := &pathwayv1.ServiceDetails{PartnerId: b.PartnerID, Name: b.Name, Description: b.Description, TaxonomyTerms: b.TaxonomyTerms,
		Contact: b.Contact.proto(), Eligibility: &pathwayv1.Eligibility{Description: b.Eligibility}}
	for i, n := range b.Needs {
		v, ok := pathwayv1.Need_value["NEED_"+strings.ToUpper(n)]
		if !ok || v == 0 {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("needs[%d]", i), Reason: "must be one of " + strings.Join(referral.NeedNames(), ", ")})
			continue
		}
		d.Needs = append(d.Needs, pathwayv1.Need(v))
	}
	if b.MinAge < 0 || b.MaxAge < 0 || b.MinAge > 130 || b.MaxAge > 130 {
		errs = append(errs, kernel.FieldError{Field: "min_age", Reason: "ages must be 0 to 130"})
	} else {
		d.Eligibility.MinAge, d.Eligibility.MaxAge = uint32(b.MinAge), uint32(b.MaxAge)
	}
	for _, pd := range b.Districts {
		d.Eligibility.PostcodeDistricts = append(d.Eligibility.PostcodeDistricts, strings.ToUpper(strings.TrimSpace(pd)))
	}
	for _, l := range b.Locations {
		pc := l.Postcode
		if pc != "" {
			pc = referral.NormalisePostcode(pc)
		}
		d.Locations = append(d.Locations, &pathwayv1.Location{Name: l.Name, Address: l.Address, Postcode: pc, Latitude: l.Latitude, Longitude: l.Longitude})
	}
	c := pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED
	if b.Capacity != "" {
		var ok bool
		if c, ok = partner.ParseCapacity(b.Capacity); !ok {
			errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "must be " + partner.CapacityNames})
		}
	}
	if len(errs) == 0 {
		errs = partner.ValidateService(d)
	}
	return d, c, errs
}

// createService handles POST /v1/directory/services.
func (a *api) createService(w http.ResponseWriter, r *http.Request) {
	a.saveService(w, r, "")
}

// updateService handles PUT /v1/directory/services/{id}.
func (a *api) updateService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		a.writeError(w, r, events.ErrNotFound)
		return
	}
	a.saveService(w, r, id)
}

func (a *api) saveService(w http.ResponseWriter, r *http.Request, id string) {
	var body serviceBody
	if !decodeJSON(w, r, &body) {
		return
	}
	d, c, errs := body.details()
	if id != "" && body.Capacity != "" {
		errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "is set by the partner (PUT /v1/partner/services/{id}/capacity), not with an update"})
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
		if cmd.IdempotencyKey != "" {
			id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("service\x00"+cmd.IdempotencyKey)).String()
		}
	} else {
		svc, err := vcse.LoadService(r.Context(), a.refs.Store, id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !svc.Exists() {
			a.writeError(w, r, events.ErrNotFound)
			return
		}
	}
	saved, err := a.vcse.Service.SaveService(r.Context(), id, d, c, cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, savedStatus(saved), map[string]any{"id": saved.ID, "sequence": saved.Sequence, "created": saved.Created, "changed": saved.Changed})
}

// importDirectory handles POST /v1/directory/import: an HSDS 3.0 array of
// services or an Open Referral UK page.
func (a *api) importDirectory(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImportBytes))
	if err != nil {
		WriteProblem(w, Problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("an import must be at most %d bytes; split the file", MaxImportBytes)})
		return
	}
	recs, err := partner.ParseHSDS(data)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	rep, err := a.vcse.Service.Import(r.Context(), recs, cmd, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// searchServices handles GET /v1/directory/services?need=&postcode=&text=&age=.
func (a *api) searchServices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []kernel.FieldError
	query := partners.Query{Need: q.Get("need"), Text: q.Get("text")}
	if query.Need != "" && !slices.Contains(referral.NeedNames(), query.Need) {
		errs = append(errs, kernel.FieldError{Field: "need", Reason: "must be one of " + strings.Join(referral.NeedNames(), ", ")})
	}
	if pc := q.Get("postcode"); pc != "" {
		n := referral.NormalisePostcode(pc)
		if referral.ValidPostcode(n) {
			query.District = referral.PostcodeDistrict(n)
		} else if d := strings.ToUpper(strings.TrimSpace(pc)); len(d) <= 4 && d != "" && referral.ValidPostcode(referral.NormalisePostcode(d+" 1AA")) {
			query.District = d
		} else {
			errs = append(errs, kernel.FieldError{Field: "postcode", Reason: "must be a UK postcode or postcode district"})
		}
	}
	if v := q.Get("age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 130 {
			errs = append(errs, kernel.FieldError{Field: "age", Reason: "must be 0 to 130"})
		}
		query.Age = n
	}
	if len(query.Text) > 200 {
		errs = append(errs, kernel.FieldError{Field: "text", Reason: "must be at most 200 characters"})
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		all := p.(*partners.Partners).Search(query)
		return map[string]any{"sequence": seq, "total": len(all), "limit": limit, "offset": offset, "services": window(all, limit, offset)}
	})
}

// getService handles GET /v1/directory/services/{id}.
func (a *api) getService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		s, ok := p.(*partners.Partners).Services[id]
		if !ok {
			return kernel.Errorf(kernel.NotFound, "no such service")
		}
		return map[string]any{"sequence": seq, "service": s}
	})
}

// requestHandoff handles POST /v1/referrals/{id}/handoffs.
func (a *api) requestHandoff(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ServiceID    string   `json:"service_id"`
		SharedFields []string `json:"shared_fields"`
		Consent      *bool    `json:"consent"`
		Confirm      bool     `json:"confirm"`
		Note         string   `json:"note"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	if _, err := uuid.Parse(body.ServiceID); err != nil {
		errs = append(errs, kernel.FieldError{Field: "service_id", Reason: "must be the id of a directory service"})
	}
	in := vcse.HandoffInput{ServiceID: body.ServiceID, ConfirmCapacity: body.Confirm, Note: body.Note}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range handoff.SharedFieldNames {
			if !yield(k) {
				return
			}
		}
	})
	for i, f := range body.SharedFields {
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
	if body.Consent == nil || !*body.Consent {
		errs = append(errs, kernel.FieldError{Field: "consent", Reason: "the person's consent to the handoff is required (true)"})
	} else {
		in.Consent = true
	}
	if len(body.Note) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "note", Reason: "must be at most 2000 characters"})
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	ref, ok := a.load(w, r)
	if !ok {
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	id, seq, err := a.vcse.Service.RequestHandoff(r.Context(), ref.ID(), in, cmd)
	if errors.Is(err, handoff.ErrCapacity) {
		svc, _ := vcse.LoadService(r.Context(), a.refs.Store, body.ServiceID)
		writeProblemWith(w, Problem{Type: problemBase + "capacity-warning", Title: "The service signals no capacity", Status: http.StatusConflict,
			Detail: "the service's capacity status is " + partner.CapacityName(svc.Capacity()) + "; send the request again with \"confirm\": true to hand off anyway"},
			map[string]any{"capacity_status": partner.CapacityName(svc.Capacity())})
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h, err := vcse.LoadHandoff(r.Context(), a.refs.Store, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": h.Status(), "sequence": seq, "respond_by": h.RespondBy()})
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
	History         []historyItem  `json:"history"`
}

type historyItem struct {
	Sequence uint64    `json:"sequence"`
	Type     string    `json:"type"`
	At       time.Time `json:"at"`
	Role     string    `json:"actor_role,omitempty"`
}

func viewHandoff(h *handoff.Handoff, staff bool) handoffView {
	req := h.Requested()
	v := handoffView{ID: h.ID(), Status: string(h.Status()), ServiceID: req.GetServiceId(), PartnerID: req.GetPartnerId(),
		Note: req.GetNote(), RequestedAt: h.RequestedAt(), RespondBy: h.RespondBy(), UpdatedAt: h.UpdatedAt(), Reminders: h.Reminders(),
		Reason: h.Reason(), Outcome: h.Outcome(), Sequence: h.Version(), CapacityWarning: req.GetCapacityWarningConfirmed(), SharedFields: []string{}}
	if staff {
		v.ReferralID = req.GetReferralId()
	}
	for _, f := range req.GetSharedFields() {
		v.SharedFields = append(v.SharedFields, handoff.SharedFieldName(f))
	}
	v.Shared = details(req.GetShared())
	if v.Shared == nil || (!staff && (h.Status() == handoff.StatusCancelled || h.Status() == handoff.StatusEnteredInError)) {
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

// loadHandoff reads the handoff in the path. A partner sees only its own:
// another's, like a missing one, is 404.
func (a *api) loadHandoff(w http.ResponseWriter, r *http.Request) (*handoff.Handoff, bool) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		a.writeError(w, r, events.ErrNotFound)
		return nil, false
	}
	h, err := vcse.LoadHandoff(r.Context(), a.refs.Store, id)
	if err == nil && !a.mayActOn(r, h) {
		err = events.ErrNotFound
	}
	if err != nil {
		a.writeError(w, r, err)
		return nil, false
	}
	return h, true
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
	h, ok := a.loadHandoff(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, viewHandoff(h, principalFrom(r.Context()).key.Role != keys.RolePartner))
}

// handoffAction handles POST /v1/partner/handoffs/{id}/{action} and the
// link worker's POST /v1/handoffs/{id}/cancel and /entered-in-error.
func (a *api) handoffAction(action handoff.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reason  string `json:"reason"`
			Outcome string `json:"outcome"`
			Note    string `json:"note"`
		}
		if r.ContentLength != 0 && !decodeJSON(w, r, &body) {
			return
		}
		var errs []kernel.FieldError
		if handoff.NeedsReason(action) && body.Reason == "" {
			errs = append(errs, kernel.FieldError{Field: "reason", Reason: "is required to " + string(action) + ": one of " + strings.Join(handoff.Reasons, ", ")})
		}
		if body.Reason != "" && !slices.Contains(handoff.Reasons, body.Reason) {
			errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be a reason code: " + strings.Join(handoff.Reasons, ", ") + " (say more in note)"})
		}
		if action == handoff.ActionComplete && !slices.Contains(handoff.Outcomes, body.Outcome) {
			errs = append(errs, kernel.FieldError{Field: "outcome", Reason: "is required to complete: one of " + strings.Join(handoff.Outcomes, ", ")})
		}
		if action != handoff.ActionComplete && body.Outcome != "" {
			errs = append(errs, kernel.FieldError{Field: "outcome", Reason: "only a completion carries an outcome"})
		}
		if len(body.Note) > 2000 {
			errs = append(errs, kernel.FieldError{Field: "note", Reason: "must be at most 2000 characters"})
		}
		if len(errs) > 0 {
			writeInvalid(w, errs...)
			return
		}
		h, ok := a.loadHandoff(w, r)
		if !ok {
			return
		}
		cmd, ok := a.commandOrProblem(w, r)
		if !ok {
			return
		}
		seq, status, err := a.vcse.Service.Act(r.Context(), h.ID(), action, body.Reason, body.Outcome, body.Note, cmd, func(h *handoff.Handoff) error {
			if !a.mayActOn(r, h) {
				return events.ErrNotFound
			}
			return nil
		})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": h.ID(), "status": status, "sequence": seq})
	}
}

// partnerAction routes POST /v1/partner/handoffs/{id}/{action}.
func (a *api) partnerAction(w http.ResponseWriter, r *http.Request) {
	act := handoff.Action(r.PathValue("action"))
	if !slices.Contains(handoff.PartnerActions, act) {
		a.writeError(w, r, kernel.Errorf(kernel.NotFound, "no such action; want accept, reject, start, hold, complete or fail"))
		return
	}
	a.handoffAction(act)(w, r)
}

// partnerHandoffs handles GET /v1/partner/handoffs?status=.
func (a *api) partnerHandoffs(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" {
		if _, ok := handoff.ParseStatus(status); !ok {
			writeInvalid(w, kernel.FieldError{Field: "status", Reason: "must be a handoff status, e.g. requested, accepted, in-progress"})
			return
		}
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	org := principalFrom(r.Context()).key.Organisation
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		all := p.(*partners.Partners).Inbox(org, status)
		for i := range all {
			all[i].ReferralID = "" // the partner works from the handoff, not the referral
		}
		return map[string]any{"sequence": seq, "total": len(all), "limit": limit, "offset": offset, "handoffs": window(all, limit, offset)}
	})
}

// partnerServices handles GET /v1/partner/services.
func (a *api) partnerServices(w http.ResponseWriter, r *http.Request) {
	org := principalFrom(r.Context()).key.Organisation
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		return map[string]any{"sequence": seq, "services": nonNil(p.(*partners.Partners).ServicesOf(org))}
	})
}

// setCapacity handles PUT /v1/partner/services/{id}/capacity.
func (a *api) setCapacity(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	c, ok := partner.ParseCapacity(body.Status)
	if !ok {
		writeInvalid(w, kernel.FieldError{Field: "status", Reason: "must be " + partner.CapacityNames})
		return
	}
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		a.writeError(w, r, events.ErrNotFound)
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	seq, err := a.vcse.Service.SetCapacity(r.Context(), id, principalFrom(r.Context()).key.Organisation, c, body.Note, cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "capacity_status": body.Status, "sequence": seq})
}

// registerWebhook handles POST /v1/partner/webhooks.
func (a *api) registerWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	ep, err := a.vcse.Webhooks.Register(r.Context(), principalFrom(r.Context()).key.Organisation, body.URL, body.Secret)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ep.Secret = ""
	writeJSON(w, http.StatusCreated, ep)
}

// listWebhooks handles GET /v1/partner/webhooks.
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": nonNil(a.vcse.Webhooks.Endpoints(principalFrom(r.Context()).key.Organisation))})
}

// deleteWebhook handles DELETE /v1/partner/webhooks/{id}.
func (a *api) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := a.vcse.Webhooks.Delete(r.Context(), principalFrom(r.Context()).key.Organisation, r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDeliveries handles GET /v1/partner/webhooks/deliveries?status=.
func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{webhooks.StatusPending, webhooks.StatusDelivered, webhooks.StatusFailed}, status) {
		writeInvalid(w, kernel.FieldError{Field: "status", Reason: "must be pending, delivered or failed"})
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	all := a.vcse.Webhooks.Deliveries(principalFrom(r.Context()).key.Organisation, status)
	writeJSON(w, http.StatusOK, map[string]any{"total": len(all), "limit": limit, "offset": offset, "deliveries": nonNil(window(all, limit, offset))})
}

// redeliver handles POST /v1/partner/webhooks/deliveries/{id}/redeliver.
func (a *api) redeliver(w http.ResponseWriter, r *http.Request) {
	d, err := a.vcse.Webhooks.Redeliver(r.Context(), principalFrom(r.Context()).key.Organisation, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}

// partnerStats handles GET /v1/stats/partners.
func (a *api) partnerStats(w http.ResponseWriter, r *http.Request) {
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		pm := p.(*partners.Partners)
		per, svc := pm.Stats()
		return map[string]any{"sequence": seq, "as_of": now, "attention": pm.Attention(now), "partners": per, "services": svc}
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
