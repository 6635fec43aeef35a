package dashboard

// Assigning from a waitlist row: each row of a waitlist has an Assign
// link (?assign={id}) that opens, below the table, a form to give that
// referral to a link worker with a place free, with a reason. It runs the
// API's command (assignment.Assign, as POST /v1/referrals/{id}/assign
// does), with the ops or admin key as actor; errors come back beside the
// fields, with the waitlist.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// rowAssignForm is the assign form of a waitlist row.
type rowAssignForm struct {
	Queue, QueueName string
	// ID and Initials are the referral's; "" when no row was chosen (or
	// the one chosen is no longer waiting here).
	ID, Initials string
	// Gone: the referral chosen is no longer on this waitlist.
	Gone bool
	Done string
	// Action is where the form posts.
	Action  string
	Form    formState
	Workers []workerChoice
	// Full counts the active link workers left out: no place free.
	Full int
}

// rowAssignDone are the notices after a row was assigned.
var rowAssignDone = map[string]string{"assigned": "Assigned: the referral has left the waitlist for the link worker's caseload."}

// waitlistAssignFor returns the forms of a waitlist page: the assign form
// of the referral id chosen (if any) with the notice done. Nil without
// the log (the dashboard cannot act).
func (h *handler) waitlistAssignFor(queue, id, done string) func(session) any {
	if !h.actionable() {
		return nil
	}
	return func(s session) any { return h.rowAssignForm(s, queue, id, done) }
}

// rowAssignForm builds the assign form of referral id on queue for s: the
// active link workers with a place free, the queue's PCN's first.
func (h *handler) rowAssignForm(s session, queue, id, done string) *rowAssignForm {
	f := &rowAssignForm{Queue: queue, QueueName: h.queueName(queue), Done: rowAssignDone[done], Action: "/waitlists/" + url.PathEscape(queue) + "/assign",
		Form: formState{Prefix: "row", Token: h.formToken(s), Values: url.Values{}, Errors: map[string]string{}}}
	if id != "" {
		waiting := false
		h.read(h.cfg.Waitlists, func(p projections.Projection) {
			e := p.(*waitlists.Waitlists).Entries[id]
			waiting = e != nil && e.Queue == queue
		})
		if waiting {
			f.ID = id
			h.read(h.cfg.Initials, func(p projections.Projection) { f.Initials = p.(*Initials).Of[id] })
			if f.Initials == "" {
				f.Initials = "?"
			}
		} else {
			f.Gone = true
		}
	}
	var sums []caseloads.Summary
	h.read(h.cfg.Caseloads, func(p projections.Projection) { sums = p.(*caseloads.Caseloads).Summaries() })
	slices.SortStableFunc(sums, func(a, b caseloads.Summary) int {
		switch {
		case a.PCN == queue && b.PCN != queue:
			return -1
		case b.PCN == queue && a.PCN != queue:
			return 1
		}
		return 0
	})
	for _, w := range sums {
		if !w.Active {
			continue
		}
		if w.Count >= w.Capacity {
			f.Full++
			continue
		}
		f.Workers = append(f.Workers, workerChoice{ID: w.ID, Label: fmt.Sprintf("%s, %s: %d of %d places free", w.Name, h.queueName(w.PCN), w.Capacity-w.Count, w.Capacity)})
	}
	return f
}

// waitlistAssignSubmit serves POST /waitlists/{queue}/assign: ops or
// admin give a waiting referral to a link worker with a reason, through
// the API's command; 303 back to the waitlist on success, else the
// waitlist with the form's errors beside its fields.
func (h *handler) waitlistAssignSubmit(w http.ResponseWriter, r *http.Request) {
	s, ok := h.formSession(w, r, 16<<10, func(s session) bool { return opsRole(s.key) })
	if !ok {
		return
	}
	queue := r.PathValue("queue")
	id := r.PostFormValue("referral_id")
	ref, err := h.loadReferral(r.Context(), id)
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	cmd, status, message, ok := h.formCommand(w, r, s, "the waitlist")
	if !ok {
		return
	}
	workerID, reason := r.PostFormValue("worker_id"), strings.TrimSpace(r.PostFormValue("reason"))
	var fields []kernel.FieldError
	if message == "" && (ref.Status() != referral.StatusWaitlisted || ref.Queue() != queue) {
		// Assigned meanwhile, say: this form never reassigns.
		status, message = http.StatusConflict, "This referral is no longer waiting on this waitlist: see its page."
	}
	if message == "" {
		// The API's checks at the edge (httpapi's assignBody.check).
		if _, err := uuid.Parse(workerID); err != nil {
			fields = append(fields, kernel.FieldError{Field: "worker_id", Reason: "must be chosen: pick the link worker to assign"})
		}
		if reason == "" || len(reason) > 2000 {
			fields = append(fields, kernel.FieldError{Field: "reason", Reason: "is required: say why, in at most 2000 characters"})
		}
	}
	fromCommand := false
	if message == "" && len(fields) == 0 {
		_, err = assignment.Assign(r.Context(), h.cfg.Workspace.Store, ref.ID(), workerID, reason, cmd, h.cfg.Now())
		if err == nil {
			h.log.Info("dashboard form", "form", "waitlist-assign", "referral", ref.ID(), "key_id", s.key.ID)
			http.Redirect(w, r, "/waitlists/"+url.PathEscape(queue)+"?done=assigned#row-assign-h", http.StatusSeeOther)
			return
		}
		fromCommand = true
		status, fields, message = h.commandFailure(err)
		if status == 0 {
			h.log.Error("dashboard waitlist assign failed", "referral", ref.ID(), "err", err)
			http.Error(w, "the form could not be sent right now; retry shortly", http.StatusServiceUnavailable)
			return
		}
	}
	if fromCommand && len(fields) == 0 && message != "" {
		// The domain's refusal (a full caseload, a referral no longer
		// waiting) is about the worker chosen: shown beside the picker.
		fields, message = []kernel.FieldError{{Field: "worker_id", Reason: "cannot be given this referral: " + strings.TrimSuffix(message, ".")}}, ""
	}
	h.settle(r.Context())
	seq := h.position()
	q := url.Values{"assign": {ref.ID()}}
	v, err := h.resolve(r.Context(), s.key, "/waitlists/"+queue, q, h.cfg.Now())
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	v.route = "POST /waitlists/{queue}/assign"
	if !h.audited(w, r, s, v) {
		return
	}
	form := h.rowAssignForm(s, queue, ref.ID(), "")
	form.Form.Values = r.PostForm
	first := "worker_id"
	if form.ID == "" {
		first = "assign" // no form to point into: the section
	}
	form.Form.fail(first, fields, message)
	h.render(w, status, v.name, page{Title: "Error: " + v.title, Nav: v.nav, Seq: seq, CSRF: h.csrfToken("session", s.value), Key: s.key,
		Controls: v.controls, Data: v.data, Forms: form, Failed: true})
}
