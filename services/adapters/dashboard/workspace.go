package dashboard

// The link worker workspace: a link worker signs in with a key tied to
// their worker (keys.RoleLinkWorker with Worker) and works their caseload
// (caseload.go), a referral's page (referral.go), its forms (casework.go)
// and the directory and handoff form (handoff.go). It reaches exactly the
// referrals the API lets the key reach (access.LinkWorkerReaches): any
// other is answered as a page that does not exist. Its forms run the same
// commands as the API (the intake service's case work, the handoffs
// service), never writing events themselves, and each form's token is
// used once.

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/access"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
)

// DefaultFollowUpAfter is when a follow-up outcome measure falls due
// after its baseline, unless Workspace.FollowUpAfter says otherwise.
const DefaultFollowUpAfter = 12 * 7 * 24 * time.Hour

// CaseWork records a case's work: contacts, the plan, outcomes and the
// discharge. *intake.Service implements it, as it does for the API.
type CaseWork interface {
	RecordContact(ctx context.Context, id string, cmd events.Command, c *pathwayv1.ContactRecorded) (uint64, error)
	AgreePlan(ctx context.Context, id string, cmd events.Command, whatMatters string, goals []*pathwayv1.Goal) (uint64, error)
	MeasureOutcome(ctx context.Context, id string, cmd events.Command, m *pathwayv1.OutcomeMeasured) (uint64, error)
	Discharge(ctx context.Context, id string, cmd events.Command, reason pathwayv1.DischargeReason, note string) (uint64, error)
}

// HandoffDesk requests handoffs to VCSE services. *handoffs.Service
// implements it, as it does for the API.
type HandoffDesk interface {
	RequestHandoff(ctx context.Context, referralID string, in handoffs.HandoffInput, cmd events.Command) (string, uint64, error)
}

var (
	_ CaseWork    = (*intake.Service)(nil)
	_ HandoffDesk = (*handoffs.Service)(nil)
)

// Workspace is what the link worker workspace needs besides the read
// models: the log, to read referrals and handoffs in full (as the API
// does), and the services whose commands its forms run. The directory
// search reads Config.Partners; without it the search says it is not
// available.
type Workspace struct {
	Store    *events.Store // required
	Cases    CaseWork      // required
	Handoffs HandoffDesk   // required
	// FollowUpAfter is when a follow-up measure falls due after its
	// baseline; default DefaultFollowUpAfter.
	FollowUpAfter time.Duration
}

func (ws *Workspace) validate() error {
	var errs []error
	if ws.Store == nil {
		errs = append(errs, errors.New("dashboard: Workspace.Store is required"))
	}
	if ws.Cases == nil {
		errs = append(errs, errors.New("dashboard: Workspace.Cases is required"))
	}
	if ws.Handoffs == nil {
		errs = append(errs, errors.New("dashboard: Workspace.Handoffs is required"))
	}
	if ws.FollowUpAfter < 0 {
		errs = append(errs, errors.New("dashboard: Workspace.FollowUpAfter must be positive"))
	}
	return errors.Join(errs...)
}

// resolveWorkspace resolves a page under /cases for a link worker's key.
func (h *handler) resolveWorkspace(ctx context.Context, key keys.Key, path string, q url.Values, now time.Time) (view, error) {
	if path == "/cases" {
		d, err := h.myCaseload(ctx, key, now)
		if err != nil {
			return view{}, err
		}
		ids := make([]string, len(d.Cases))
		for i, c := range d.Cases {
			ids[i] = c.ID
		}
		return view{name: "mycaseload", title: "My caseload", nav: "cases", data: d, worker: true, route: "GET /cases", referrals: ids}, nil
	}
	parts := strings.Split(strings.TrimPrefix(path, "/cases/"), "/")
	ref, err := h.reach(ctx, key, parts[0])
	if err != nil {
		return view{}, err
	}
	switch {
	case len(parts) == 1:
		d, err := h.referralPage(ctx, ref, now)
		if err != nil {
			return view{}, err
		}
		forms := func(s session) any { return h.referralForms(s, ref, q.Get("done")) }
		return view{name: "referral", title: d.Person.Name, nav: "cases", data: d, worker: true, route: "GET /cases/{id}", referrals: []string{ref.ID()},
			formsFor: forms}, nil
	case len(parts) == 2 && parts[1] == "directory":
		d := h.directoryPage(ref, q, now)
		forms := func(s session) any { return h.directoryForms(s, ref, d) }
		return view{name: "directory", title: "Hand off " + d.Initials + " to a service", nav: "cases", data: d, worker: true, static: true,
			route: "GET /cases/{id}/directory", referrals: []string{ref.ID()}, formsFor: forms}, nil
	}
	return view{}, errNotFound
}

// postcodeFree returns the address of a directory search without the
// full postcode typed in its district field (its district instead), and
// whether it changed: a postcode is personal data, which stays out of
// addresses, the browser's history and the logs of what serves them.
func postcodeFree(u *url.URL) (string, bool) {
	if !strings.HasPrefix(u.Path, "/cases/") || !strings.HasSuffix(u.Path, "/directory") {
		return "", false
	}
	q := u.Query()
	pc := referral.NormalisePostcode(q.Get("district"))
	if !referral.ValidPostcode(pc) {
		return "", false
	}
	q.Set("district", referral.PostcodeDistrict(pc))
	return u.Path + "?" + q.Encode(), true
}

// reach reads the referral id as key may see it: errNotFound when it does
// not exist or the key may not reach it (another worker's), exactly as
// the API answers 404; else a read error.
func (h *handler) reach(ctx context.Context, key keys.Key, id string) (*referral.Referral, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, errNotFound
	}
	ws := h.cfg.Workspace
	ref, _, err := events.Get(ctx, ws.Store, aggregate.Referral, id)
	if errors.Is(err, events.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !ref.Exists() {
		return nil, errNotFound
	}
	ok, err := access.LinkWorkerReaches(ctx, ws.Store, key, ref)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotFound
	}
	return ref, nil
}

// formToken is the token of one workspace form: its own random id, when
// it was issued, and a signature binding both to the session, so that
// it is good only in this session, for formTTL, and once (Config.Forms).
// The id is also the command's idempotency key.
func (h *handler) formToken(s session) string {
	id, issued := randomToken(), strconv.FormatInt(h.cfg.Now().Unix(), 10)
	return id + "." + issued + "." + h.mac("csrf", "form", s.value, id, issued)
}

// formSession reads a posted form of at most limit bytes and its
// session, for a session admit admits: otherwise it answers (400 for a
// form it cannot read, the sign-in page, 403) and ok is false.
func (h *handler) formSession(w http.ResponseWriter, r *http.Request, limit int64, admit func(session) bool) (session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return session{}, false
	}
	s, err := h.session(r)
	if err != nil {
		h.toSignin(w, r, err)
		return session{}, false
	}
	if !admit(s) {
		h.refuse(w, r, s, errForbidden)
		return session{}, false
	}
	return s, true
}

// formCommand spends the form's token (spendFormToken) and returns the
// command the form runs: the session's key as actor, the form's id as the
// idempotency key. A token refused gives the status and the message the
// page shows again with the form (what names what to check first: "the
// referral on this page"); ok is false when the token could not be
// checked at all, and the answer is written.
func (h *handler) formCommand(w http.ResponseWriter, r *http.Request, s session, what string) (cmd events.Command, status int, message string, ok bool) {
	formID, err := h.spendFormToken(r, s)
	status = http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, errBadForm):
		status, message = http.StatusForbidden, "This form has expired or did not come from this page. Check the details and send it again."
	case errors.Is(err, ErrFormUsed):
		status, message = http.StatusConflict, "This form was already sent. Check "+what+" before sending it again."
	case err != nil:
		h.log.Error("dashboard form check failed", "err", err)
		http.Error(w, "cannot check the form right now; retry shortly", http.StatusServiceUnavailable)
		return cmd, 0, "", false
	}
	role := map[keys.Role]pathwayv1.Role{keys.RoleLinkWorker: pathwayv1.Role_ROLE_LINK_WORKER, keys.RoleOps: pathwayv1.Role_ROLE_OPS,
		keys.RoleTriage: pathwayv1.Role_ROLE_TRIAGE, keys.RoleAdmin: pathwayv1.Role_ROLE_ADMIN}[s.key.Role]
	cmd = events.Command{Actor: &pathwayv1.Actor{Id: s.key.ID, Role: role, Organisation: s.key.Organisation}, IdempotencyKey: "dashboard form " + formID}
	return cmd, status, message, true
}

// spendFormToken checks the form's token against the session and spends
// it, returning the form's id: errBadForm for a token that is missing,
// forged, of another session or expired, ErrFormUsed for one used before,
// or the ledger's error.
func (h *handler) spendFormToken(r *http.Request, s session) (string, error) {
	parts := strings.Split(r.PostFormValue("csrf"), ".")
	if len(parts) != 3 || !hmac.Equal([]byte(parts[2]), []byte(h.mac("csrf", "form", s.value, parts[0], parts[1]))) {
		return "", errBadForm
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if age := h.cfg.Now().Sub(time.Unix(issued, 0)); err != nil || age < -time.Minute || age > formTTL {
		return "", errBadForm
	}
	return parts[0], h.cfg.Forms.Use(r.Context(), parts[0])
}
