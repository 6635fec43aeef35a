package dashboard

// Ops who can act: a referral's page for the operations staff
// (/referrals/{id}), pseudonymised for an ops key without the
// personal_data scope as the API's read is, with its assign or reassign
// form, which runs the API's command (assignment.Assign); and the lists
// behind the overview's counts (/handoffs/expired; a waitlist's breaches
// and urgent entries are the waitlist page filtered). It needs the log,
// which Config.Workspace holds: without it the referral pages are not
// served and referrals show as text.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
)

// opsRoles are the roles of the operations pages and forms.
func opsRole(k keys.Key) bool { return k.Role == keys.RoleOps || k.Role == keys.RoleAdmin }

// pseudonymised reports whether key sees people pseudonymised: an ops key
// without the personal_data scope, as the API's reads decide.
func pseudonymised(k keys.Key) bool { return k.Role == keys.RoleOps && !k.Has(keys.ScopePersonalData) }

// actionable reports whether the dashboard can open referrals (it holds
// the log).
func (h *handler) actionable() bool { return h.cfg.Workspace != nil }

// opsReferral is the ops referral page's data.
type opsReferral struct {
	AsOf                          string
	ID, Status, Priority, Source  string
	Urgent, Safeguarding, Erased  bool
	Pseudonymised                 bool
	Initials, Name, NHSNumber     string
	Born, Language                string
	Referrer, Practice, Received  string
	Needs                         []string
	Queue, QueueName, Waited      string
	Worker, WorkerName, WorkerPCN string
	Assignable                    bool
	Timeline                      []timelineItem
}

// loadReferral reads the referral id from the log: errNotFound when it
// is not one.
func (h *handler) loadReferral(ctx context.Context, id string) (*referral.Referral, error) {
	if !h.actionable() {
		return nil, errNotFound
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, errNotFound
	}
	ref, _, err := events.Get(ctx, h.cfg.Workspace.Store, aggregate.Referral, id)
	if errors.Is(err, events.ErrNotFound) || (err == nil && !ref.Exists()) {
		return nil, errNotFound
	}
	return ref, err
}

// assignable reports whether ref can be assigned or reassigned by hand.
func assignable(ref *referral.Referral) bool {
	switch ref.Status() {
	case referral.StatusAccepted, referral.StatusWaitlisted, referral.StatusAssigned:
		return true
	}
	return false
}

// opsReferralPage builds the page of ref for key at now.
func (h *handler) opsReferralPage(key keys.Key, ref *referral.Referral, now time.Time) opsReferral {
	rec := ref.Received()
	p := rec.GetPerson()
	erased, _, _ := ref.Erased()
	d := opsReferral{AsOf: h.clock(now), ID: ref.ID(), Status: strings.ReplaceAll(string(ref.Status()), "_", " "),
		Priority: wordOf(ref.Priority().String(), "PRIORITY_"), Urgent: ref.Priority() == pathwayv1.Priority_PRIORITY_URGENT,
		Source: wordOf(rec.GetSource().String(), "REFERRAL_SOURCE_"), Safeguarding: rec.GetSafeguarding().GetConcern() || ref.Escalated(),
		Erased: erased, Pseudonymised: pseudonymised(key), Initials: referral.Initials(p.GetGivenName(), p.GetFamilyName()),
		Referrer: rec.GetReferrer().GetOrganisation(), Practice: rec.GetGpPractice(), Received: h.stamp(ref.ReceivedAt()),
		Language: p.GetLanguage(), Assignable: assignable(ref)}
	if erased {
		d.Initials = "(erased)"
	}
	if !d.Pseudonymised {
		d.Name, d.NHSNumber = personName(ref), nhsSpaced(p.GetNhsNumber())
		if dob := p.GetDateOfBirth(); dob != nil {
			d.Born = fmt.Sprintf("%d %s %d (age %d)", dob.GetDay(), time.Month(dob.GetMonth()).String(), dob.GetYear(), referral.Age(dob, now))
		}
	}
	for _, n := range rec.GetNeeds() {
		d.Needs = append(d.Needs, wordOf(n.String(), "NEED_"))
	}
	if ref.Status() == referral.StatusWaitlisted {
		d.Queue = ref.Queue()
		d.QueueName = h.queueName(d.Queue)
		h.read(h.cfg.Waitlists, func(pr projections.Projection) {
			for _, e := range pr.(*waitlists.Waitlists).Ordered(d.Queue) {
				if e.ID == ref.ID() {
					d.Waited = span(max(now.Sub(e.Since), 0))
				}
			}
		})
	}
	if w := ref.Worker(); w != "" && ref.Status() == referral.StatusAssigned {
		d.Worker = w
		for _, s := range h.workerRows() {
			if s.ID == w {
				d.WorkerName, d.WorkerPCN = s.Name, s.PCN
			}
		}
	}
	for _, c := range ref.History() {
		who := "pathway"
		if a := c.Actor; a != nil {
			who = cmp.Or(wordOf(a.GetRole().String(), "ROLE_"), "pathway")
		}
		d.Timeline = append(d.Timeline, timelineItem{When: h.stamp(c.At), What: eventWords(c.Payload.ProtoReflect().Descriptor().Name()), Who: who})
	}
	slices.Reverse(d.Timeline)
	return d
}

// assignForm is the assign or reassign form of an ops referral page.
type assignForm struct {
	ID         string
	Reassign   bool
	Assignable bool
	Done       string
	Form       formState
	Workers    []workerChoice
}

// workerChoice is one link worker the picker offers.
type workerChoice struct {
	ID, Label string
	Current   bool
}

// assignDone are the notices after the assign form's success.
var assignDone = map[string]string{"assigned": "Assigned.", "reassigned": "Reassigned."}

// assignFormFor makes the assign form of ref for session s: the active
// link workers, those of the referral's PCN (its waitlist's, or its
// worker's) first, each with how full they are.
func (h *handler) assignFormFor(s session, ref *referral.Referral, done string) *assignForm {
	f := &assignForm{ID: ref.ID(), Reassign: ref.Status() == referral.StatusAssigned, Assignable: assignable(ref), Done: assignDone[done],
		Form: formState{Prefix: "assign", Token: h.formToken(s), Values: url.Values{}, Errors: map[string]string{}}}
	var sums []caseloads.Summary
	h.read(h.cfg.Caseloads, func(p projections.Projection) { sums = p.(*caseloads.Caseloads).Summaries() })
	pcn := ref.Queue()
	for _, w := range sums {
		if w.ID == ref.Worker() && pcn == "" {
			pcn = w.PCN
		}
	}
	slices.SortStableFunc(sums, func(a, b caseloads.Summary) int {
		switch {
		case a.PCN == pcn && b.PCN != pcn:
			return -1
		case b.PCN == pcn && a.PCN != pcn:
			return 1
		}
		return 0
	})
	for _, w := range sums {
		if !w.Active {
			continue
		}
		label := fmt.Sprintf("%s, %s: %d of %d places taken", w.Name, h.queueName(w.PCN), w.Count, w.Capacity)
		if w.Capacity > 0 && w.Count >= w.Capacity {
			label += " (full)"
		}
		f.Workers = append(f.Workers, workerChoice{ID: w.ID, Label: label, Current: w.ID == ref.Worker() && f.Reassign})
	}
	return f
}

// resolveOps resolves the pages of the operations staff that act:
// /referrals/{id} and /handoffs/expired.
func (h *handler) resolveOps(ctx context.Context, key keys.Key, path string, q url.Values, now time.Time) (view, error) {
	switch {
	case path == "/handoffs/expired":
		d := h.expiredHandoffs(now)
		ids := make([]string, len(d.Rows))
		for i, r := range d.Rows {
			ids[i] = r.Referral
		}
		return view{name: "expired", title: "Expired handoffs", nav: "overview", data: d, route: "GET /handoffs/expired", referrals: ids,
			csv: d.csv}, nil
	case strings.HasPrefix(path, "/referrals/"):
		id := strings.TrimPrefix(path, "/referrals/")
		ref, err := h.loadReferral(ctx, id)
		if err != nil {
			return view{}, err
		}
		d := h.opsReferralPage(key, ref, now)
		title := "Referral " + d.Initials
		if !d.Pseudonymised {
			title = "Referral of " + d.Name
		}
		done := q.Get("done")
		return view{name: "opsreferral", title: title, nav: "overview", data: d, static: true, route: "GET /referrals/{id}", referrals: []string{ref.ID()},
			formsFor: func(s session) any { return h.assignFormFor(s, ref, done) }}, nil
	}
	return view{}, errNotFound
}

// assignSubmit serves POST /referrals/{id}/assign: ops or admin assign or
// reassign the referral by hand with a reason, through the API's command;
// 303 back to the page on success, else the page with the form's errors.
func (h *handler) assignSubmit(w http.ResponseWriter, r *http.Request) {
	s, ok := h.formSession(w, r, 16<<10, func(s session) bool { return opsRole(s.key) })
	if !ok {
		return
	}
	ref, err := h.loadReferral(r.Context(), r.PathValue("id"))
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	cmd, status, message, ok := h.formCommand(w, r, s, "the referral on this page")
	if !ok {
		return
	}
	workerID, reason := r.PostFormValue("worker_id"), strings.TrimSpace(r.PostFormValue("reason"))
	var fields []kernel.FieldError
	fromCommand := false
	if message == "" {
		// The API's checks at the edge (httpapi's assignBody.check).
		if _, err := uuid.Parse(workerID); err != nil {
			fields = append(fields, kernel.FieldError{Field: "worker_id", Reason: "must be chosen: pick the link worker to assign"})
		}
		if reason == "" || len(reason) > 2000 {
			fields = append(fields, kernel.FieldError{Field: "reason", Reason: "is required: say why, in at most 2000 characters"})
		}
	}
	if message == "" && len(fields) == 0 {
		reassign := ref.Status() == referral.StatusAssigned
		_, err = assignment.Assign(r.Context(), h.cfg.Workspace.Store, ref.ID(), workerID, reason, cmd, h.cfg.Now())
		if err == nil {
			h.log.Info("dashboard form", "form", "assign", "referral", ref.ID(), "key_id", s.key.ID)
			done := "assigned"
			if reassign {
				done = "reassigned"
			}
			http.Redirect(w, r, "/referrals/"+ref.ID()+"?done="+done+"#assign-h", http.StatusSeeOther)
			return
		}
		fromCommand = true
		status, fields, message = h.commandFailure(err)
		if status == 0 {
			h.log.Error("dashboard assign failed", "referral", ref.ID(), "err", err)
			http.Error(w, "the form could not be sent right now; retry shortly", http.StatusServiceUnavailable)
			return
		}
		if ref2, err := h.loadReferral(r.Context(), ref.ID()); err == nil {
			ref = ref2
		}
	}
	form := h.assignFormFor(s, ref, "")
	form.Form.Values = r.PostForm
	if fromCommand && len(fields) == 0 && message != "" {
		// The domain's refusal (a full caseload, the same worker, no such
		// worker) is about the worker chosen: shown beside the picker.
		fields, message = []kernel.FieldError{{Field: "worker_id", Reason: "cannot be given this referral: " + strings.TrimSuffix(message, ".")}}, ""
	}
	form.Form.fail("worker_id", fields, message)
	h.settle(r.Context())
	seq := h.position()
	d := h.opsReferralPage(s.key, ref, h.cfg.Now())
	if !h.audited(w, r, s, view{route: "POST /referrals/{id}/assign", referrals: []string{ref.ID()}}) {
		return
	}
	title := "Referral " + d.Initials
	if !d.Pseudonymised {
		title = "Referral of " + d.Name
	}
	h.render(w, status, "opsreferral", page{Title: "Error: " + title, Nav: "overview", Seq: seq, CSRF: h.csrfToken("session", s.value),
		Key: s.key, Data: d, Forms: form, Failed: true})
}

// expiredRow is one expired handoff.
type expiredRow struct {
	ID, Referral, Initials string
	Service, Partner       string
	Requested, RespondBy   string
	Overdue                string
	requested              time.Time
}

// expiredData is the list of expired handoffs.
type expiredData struct {
	AsOf      string
	Available bool
	Rows      []expiredRow
	Total     int
}

// expiredHandoffs lists the handoffs left unanswered past their
// deadline, the longest expired first.
func (h *handler) expiredHandoffs(now time.Time) expiredData {
	d := expiredData{AsOf: h.clock(now), Available: h.cfg.Partners != nil}
	if !d.Available {
		return d
	}
	var list []partners.Handoff
	names, orgs := map[string]string{}, map[string]string{}
	h.read(h.cfg.Partners, func(p projections.Projection) {
		pp := p.(*partners.Partners)
		for _, hd := range pp.Handoffs {
			if hd.Status == "expired" {
				list = append(list, *hd)
			}
		}
		for id, s := range pp.Services {
			names[id] = s.Name
		}
		for id, o := range pp.Partners {
			orgs[id] = o.Name
		}
	})
	slices.SortFunc(list, func(a, b partners.Handoff) int {
		return cmp.Or(a.RespondBy.Compare(b.RespondBy), strings.Compare(a.ID, b.ID))
	})
	d.Total = len(list)
	var initials map[string]string
	h.read(h.cfg.Initials, func(p projections.Projection) {
		of := p.(*Initials).Of
		initials = make(map[string]string, len(list))
		for _, x := range list {
			initials[x.ReferralID] = of[x.ReferralID]
		}
	})
	for _, x := range list {
		if len(d.Rows) >= maxRows {
			break
		}
		d.Rows = append(d.Rows, expiredRow{ID: x.ID, Referral: x.ReferralID, Initials: cmp.Or(initials[x.ReferralID], "?"),
			Service: cmp.Or(names[x.ServiceID], x.ServiceID), Partner: cmp.Or(orgs[x.PartnerID], x.PartnerID),
			Requested: h.stamp(x.RequestedAt), RespondBy: h.stamp(x.RespondBy), Overdue: span(max(now.Sub(x.RespondBy), 0)), requested: x.RequestedAt})
	}
	return d
}

// csv is the expired handoffs as a table.
func (d expiredData) csv() [][]string {
	out := [][]string{{"handoff_id", "referral_id", "initials", "service", "partner", "requested", "respond_by", "overdue_by"}}
	for _, r := range d.Rows {
		out = append(out, []string{r.ID, r.Referral, r.Initials, r.Service, r.Partner, r.Requested, r.RespondBy, r.Overdue})
	}
	return out
}

// pcnNames are the PCNs' names by ODS code, as their link workers'
// registrations give them.
func (h *handler) pcnNames() map[string]string {
	out := map[string]string{}
	h.read(h.cfg.Caseloads, func(p projections.Projection) {
		for _, w := range p.(*caseloads.Caseloads).Workers {
			if w.PCNName != "" {
				out[w.PCN] = w.PCNName
			}
		}
	})
	return out
}

// unmatchedText says what the unmatched queue is.
const unmatchedText = "No PCN covers the practice"

// queueName names a queue for people: its PCN's name and ODS code, or
// what unmatched means.
func (h *handler) queueName(q string) string {
	return queueLabel(q, h.pcnNames())
}

func queueLabel(q string, names map[string]string) string {
	if q == assignment.Unmatched {
		return "Unmatched: " + strings.ToLower(unmatchedText[:1]) + unmatchedText[1:]
	}
	if n := names[q]; n != "" {
		return n + " (" + q + ")"
	}
	return q
}

// waitlistQuery is a waitlist's priority and over-target filters as
// query parameters.
func waitlistQuery(prio string, over bool) url.Values {
	q := url.Values{}
	if prio != "" {
		q.Set("priority", prio)
	}
	if over {
		q.Set("over", "target")
	}
	return q
}

// waitlistFilter is a waitlist page's filter, with the address of the
// CSV of what it shows (f's CSV, which keeps every filter).
func waitlistFilter(queue, prio string, over bool, f opsFilter) filter {
	return filter{Queue: queue, Priority: prio, Over: over, CSV: f.CSV, Ops: f}
}
