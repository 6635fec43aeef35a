package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// formState is one form as the page shows it: its single-use token, the
// values to show (those sent back, or the current record), and its
// errors by field name, with the summary that links to them.
type formState struct {
	// Prefix makes the form's field ids unique on the page.
	Prefix  string
	Token   string
	Values  url.Values
	Errors  map[string]string
	Summary []fieldMsg
}

// fieldMsg is one line of an error summary: the field's id and the text.
type fieldMsg struct{ ID, Text string }

var nonID = regexp.MustCompile(`[^a-z0-9]+`)

// ID is the element id of the field name: "goals[0].description" in the
// form "plan" is "plan-goals-0-description".
func (f formState) ID(name string) string {
	return f.Prefix + "-" + strings.Trim(nonID.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// V is the value of the field name.
func (f formState) V(name string) string { return f.Values.Get(name) }

// Has reports whether the field name was sent with value v (a ticked box,
// a chosen radio button).
func (f formState) Has(name, v string) bool {
	for _, x := range f.Values[name] {
		if x == v {
			return true
		}
	}
	return false
}

// E is the error of the field name, if any.
func (f formState) E(name string) string { return f.Errors[name] }

// Failed reports whether the form was sent back with errors.
func (f formState) Failed() bool { return len(f.Summary) > 0 }

// fail records the errors of the form: each field's beside it and in the
// summary; a message with no field goes to the summary, linked to first
// (the form's first field).
func (f *formState) fail(first string, fields []kernel.FieldError, message string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	for _, e := range fields {
		text := fieldLabel(e.Field) + " " + e.Reason
		if _, dup := f.Errors[e.Field]; !dup {
			f.Errors[e.Field] = text
			f.Summary = append(f.Summary, fieldMsg{ID: f.ID(e.Field), Text: text})
		}
	}
	if message != "" {
		f.Summary = append(f.Summary, fieldMsg{ID: f.ID(first), Text: message})
	}
}

// fieldLabel names a field for people: "duration_minutes" is "Duration
// minutes", "goals[1].description" is "Goal 2 description".
func fieldLabel(field string) string {
	if m := goalField.FindStringSubmatch(field); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("Goal %d %s", n+1, strings.ReplaceAll(m[2], "_", " "))
	}
	if m := concernField.FindStringSubmatch(field); m != nil {
		n, _ := strconv.Atoi(m[1])
		return strings.TrimSpace(fmt.Sprintf("Concern %d %s", n+1, strings.TrimPrefix(m[2], "concern")))
	}
	if m := itemField.FindStringSubmatch(field); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("Item %d", n+1)
	}
	field = strings.TrimPrefix(strings.TrimPrefix(field, "ons4."), "mycaw.")
	field = strings.ReplaceAll(strings.ReplaceAll(field, "_", " "), ".", " ")
	if field == "" {
		return ""
	}
	return strings.ToUpper(field[:1]) + field[1:]
}

var (
	goalField    = regexp.MustCompile(`^goals\[(\d+)\]\.(\w+)$`)
	itemField    = regexp.MustCompile(`^items\[(\d+)\]$`)
	concernField = regexp.MustCompile(`^mycaw\.concerns\[(\d+)\]\.(\w+)$`)
)

// option is one choice of a radio group or a select.
type option struct{ Value, Label string }

var (
	contactKinds     = []option{{"phone", "Phone"}, {"face_to_face", "Face to face"}, {"home_visit", "Home visit"}, {"video", "Video"}}
	dischargeOptions = []option{{"goals_met", "Goals met"}, {"disengaged", "Disengaged"}, {"declined", "Declined social prescribing"},
		{"moved_away", "Moved away"}, {"redirected", "Redirected to another service"}, {"died", "Died"}, {"other", "Other (say more in the note)"}}
	measurePoints = []option{{"baseline", "Baseline"}, {"follow_up", "Follow-up"}}
	ons4Questions = []option{{"ons4.life_satisfaction", "Overall, how satisfied are you with your life nowadays?"},
		{"ons4.worthwhile", "Overall, to what extent do you feel the things you do in your life are worthwhile?"},
		{"ons4.happy_yesterday", "Overall, how happy did you feel yesterday?"},
		{"ons4.anxious_yesterday", "Overall, how anxious did you feel yesterday?"}}
)

// goalRows is how many goal rows the plan form offers.
const goalRows = 6

// referralForms are the forms of a referral page.
type referralForms struct {
	ID                                       string
	Open, Closable, Erased                   bool
	Done                                     string
	Contact, Plan, Ons4, Swemwbs, Wemwbs, Dc formState
	Mycaw                                    formState
	// Failed names the form sent back with errors ("" for none).
	Failed                                string
	Now                                   string
	Kinds, Reasons, Points, Ons4Questions []option
	Goals, Swemwbs7, Wemwbs14, Scale10    []int
	Scale5                                []int
	DirectoryAvailable                    bool
}

// Summary is the error summary of the form sent back, if any.
func (f referralForms) Summary() []fieldMsg {
	for _, s := range []formState{f.Contact, f.Plan, f.Ons4, f.Swemwbs, f.Wemwbs, f.Mycaw, f.Dc} {
		if s.Failed() {
			return s.Summary
		}
	}
	return nil
}

// done are the notices after a form's success, by the done parameter.
var doneText = map[string]string{"contact": "Contact recorded.", "plan": "Support plan agreed.", "outcome": "Outcome measure recorded.",
	"discharge": "Discharged.", "handoff": "Handoff sent to the service."}

// referralForms makes the forms of ref's page for session s, with fresh
// tokens; the plan form shows the current plan.
func (h *handler) referralForms(s session, ref *referral.Referral, done string) *referralForms {
	tok := func(prefix string) formState {
		return formState{Prefix: prefix, Token: h.formToken(s), Values: url.Values{}, Errors: map[string]string{}}
	}
	f := &referralForms{ID: ref.ID(), Open: ref.Status() == referral.StatusAssigned, Done: doneText[done],
		Closable: ref.Status() == referral.StatusAssigned || ref.Status() == referral.StatusAccepted || ref.Status() == referral.StatusWaitlisted,
		Contact:  tok("contact"), Plan: tok("plan"), Ons4: tok("ons4"), Swemwbs: tok("swemwbs"), Wemwbs: tok("wemwbs"), Mycaw: tok("mycaw"), Dc: tok("discharge"),
		Now: h.cfg.Now().In(h.cfg.Location).Format("2006-01-02T15:04"), Kinds: contactKinds, Reasons: dischargeOptions, Points: measurePoints,
		Ons4Questions: ons4Questions, Goals: seq(goalRows), Swemwbs7: seq(7), Wemwbs14: seq(14), Scale10: seq(11), Scale5: []int{1, 2, 3, 4, 5},
		DirectoryAvailable: h.cfg.Partners != nil}
	f.Erased, _, _ = ref.Erased()
	f.Contact.Values.Set("when", f.Now)
	for _, c := range ref.History() {
		if p, ok := c.Payload.(*pathwayv1.SupportPlanAgreed); ok {
			f.Plan.Values = url.Values{"what_matters": {p.GetWhatMatters()}}
			for i, g := range p.GetGoals() {
				f.Plan.Values.Set(fmt.Sprintf("goals[%d].description", i), g.GetDescription())
				if t := g.GetTargetDate(); t != nil {
					f.Plan.Values.Set(fmt.Sprintf("goals[%d].target_date", i), fmt.Sprintf("%04d-%02d-%02d", t.GetYear(), t.GetMonth(), t.GetDay()))
				}
			}
		}
	}
	return f
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// caseForm serves POST /cases/{id}/{form}: a link worker's form runs its
// command, as the API's endpoint would, and answers with the referral's
// page: 303 to it on success, or the page with the form sent back, its
// errors beside its fields and in a summary at the top.
func (h *handler) caseForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.formSession(w, r, 64<<10, func(s session) bool { return s.key.Role == keys.RoleLinkWorker })
	if !ok {
		return
	}
	name := r.PathValue("form")
	if _, ok := caseCommands[name]; !ok && name != "handoffs" {
		h.notFound(w, r)
		return
	}
	ref, err := h.reach(r.Context(), s.key, r.PathValue("id"))
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	cmd, status, message, ok := h.formCommand(w, r, s, "the record on this page")
	if !ok {
		return
	}
	if name == "handoffs" {
		h.handoffForm(w, r, s, ref, cmd, status, message)
		return
	}
	c := caseCommands[name]
	form := h.referralForms(s, ref, "")
	state := c.state(form)
	state.Values = r.PostForm
	var fields []kernel.FieldError
	if message == "" {
		fields, err = c.run(h, r.Context(), ref, r.PostForm, cmd)
		switch {
		case err == nil && len(fields) == 0:
			h.log.Info("dashboard form", "form", name, "referral", ref.ID(), "key_id", s.key.ID)
			http.Redirect(w, r, "/cases/"+ref.ID()+"?done="+c.done+"#"+c.anchor, http.StatusSeeOther)
			return
		case err != nil:
			status, fields, message = h.commandFailure(err)
			if status == 0 {
				http.Error(w, "the form could not be sent right now; retry shortly", http.StatusServiceUnavailable)
				return
			}
		}
	}
	state.fail(c.first, fields, message)
	form.Failed = name
	h.renderReferral(w, r, s, ref, form, status)
}

// commandFailure turns a command's error into a status, the fields it
// names and a message for the form; status 0 for an error the form
// cannot explain (logged).
func (h *handler) commandFailure(err error) (int, []kernel.FieldError, string) {
	var ke *kernel.Error
	switch kind := kernel.KindOf(err); {
	case errors.As(err, &ke) && kind == kernel.Invalid:
		return http.StatusUnprocessableEntity, ke.Fields, ke.Message
	case errors.As(err, &ke) && kind == kernel.Conflict:
		return http.StatusConflict, ke.Fields, ke.Message
	case errors.Is(err, events.ErrNotFound):
		return http.StatusNotFound, nil, "This referral or service no longer exists."
	case kind == kernel.Busy || kind == kernel.Unavailable:
		return http.StatusServiceUnavailable, nil, "pathway is busy: send the form again in a moment."
	}
	return 0, nil, ""
}

// renderReferral renders ref's page with forms, at status.
func (h *handler) renderReferral(w http.ResponseWriter, r *http.Request, s session, ref *referral.Referral, forms *referralForms, status int) {
	h.settle(r.Context())
	seq := h.position()
	d, err := h.referralPage(r.Context(), ref, h.cfg.Now())
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	v := view{route: "POST /cases/{id}/{form}", referrals: []string{ref.ID()}}
	if !h.audited(w, r, s, v) {
		return
	}
	title := d.Person.Name
	failed := forms.Failed != ""
	if failed {
		title = "Error: " + title
	}
	h.render(w, status, "referral", page{Title: title, Nav: "cases", Live: "/cases/" + ref.ID(), Seq: seq, CSRF: h.csrfToken("session", s.value),
		Key: s.key, Worker: true, Data: d, Forms: forms, Failed: failed})
}

// caseCommand is one form of the referral page and the command it runs.
type caseCommand struct {
	// done is the notice's code on success, anchor the section to show.
	done, anchor string
	// first is the form's first field, which a message without a field
	// links to.
	first string
	state func(*referralForms) *formState
	// run checks the form at the edge and runs the command: the invalid
	// fields, or the command's error.
	run func(h *handler, ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error)
}

var caseCommands = map[string]caseCommand{
	"contacts": {done: "contact", anchor: "contacts-h", first: "kind",
		state: func(f *referralForms) *formState { return &f.Contact }, run: (*handler).recordContact},
	"plan": {done: "plan", anchor: "plan-h", first: "what_matters",
		state: func(f *referralForms) *formState { return &f.Plan }, run: (*handler).agreePlan},
	"ons4": {done: "outcome", anchor: "outcomes-h", first: "point",
		state: func(f *referralForms) *formState { return &f.Ons4 }, run: measure("ons4")},
	"swemwbs": {done: "outcome", anchor: "outcomes-h", first: "point",
		state: func(f *referralForms) *formState { return &f.Swemwbs }, run: measure("swemwbs")},
	"wemwbs": {done: "outcome", anchor: "outcomes-h", first: "point",
		state: func(f *referralForms) *formState { return &f.Wemwbs }, run: measure("wemwbs")},
	"mycaw": {done: "outcome", anchor: "outcomes-h", first: "point",
		state: func(f *referralForms) *formState { return &f.Mycaw }, run: measure("mycaw")},
	"discharge": {done: "discharge", anchor: "summary-h", first: "reason",
		state: func(f *referralForms) *formState { return &f.Dc }, run: (*handler).discharge},
}

// checkNote is the API's rule for a note.
func checkNote(note string) []kernel.FieldError {
	if len(note) > 2000 {
		return []kernel.FieldError{{Field: "note", Reason: "must be at most 2000 characters"}}
	}
	return nil
}

// localTime reads a datetime-local or date value in the dashboard's time
// zone.
func (h *handler) localTime(v string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, v, h.cfg.Location); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (h *handler) recordContact(ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error) {
	var errs []kernel.FieldError
	kind, ok := referral.ContactKind(v.Get("kind"))
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "kind", Reason: "must be chosen: phone, face to face, home visit or video", Missing: true})
	}
	at, ok := h.localTime(v.Get("when"))
	switch {
	case !ok:
		errs = append(errs, kernel.FieldError{Field: "when", Reason: "must be a date and time", Missing: v.Get("when") == ""})
	case at.After(h.cfg.Now().Add(5 * time.Minute)):
		errs = append(errs, kernel.FieldError{Field: "when", Reason: "must not be in the future"})
	}
	dna := v.Get("did_not_attend") == "yes"
	minutes := 0
	if d := strings.TrimSpace(v.Get("duration_minutes")); d != "" {
		n, err := strconv.Atoi(d)
		switch {
		case err != nil || n < 0 || n > 480:
			errs = append(errs, kernel.FieldError{Field: "duration_minutes", Reason: "must be 0 to 480"})
		case dna && n > 0:
			errs = append(errs, kernel.FieldError{Field: "duration_minutes", Reason: "must be empty for a did-not-attend"})
		}
		minutes = n
	}
	errs = append(errs, checkNote(v.Get("note"))...)
	if len(errs) > 0 {
		return errs, nil
	}
	_, err := h.cfg.Workspace.Cases.RecordContact(ctx, ref.ID(), cmd, &pathwayv1.ContactRecorded{ContactId: uuid.NewString(), Kind: kind,
		At: timestamppb.New(at), DurationMinutes: uint32(minutes), DidNotAttend: dna, WhatMattersConversation: v.Get("what_matters_conversation") == "yes",
		Note: v.Get("note")})
	return nil, err
}

func (h *handler) agreePlan(ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error) {
	var errs []kernel.FieldError
	whatMatters := strings.TrimSpace(v.Get("what_matters"))
	switch {
	case whatMatters == "":
		errs = append(errs, kernel.FieldError{Field: "what_matters", Reason: "is required: what matters to the person, in their words", Missing: true})
	case len(whatMatters) > 2000:
		errs = append(errs, kernel.FieldError{Field: "what_matters", Reason: "must be at most 2000 characters"})
	}
	var goals []*pathwayv1.Goal
	var rows []int // the form's row of each goal
	for i := range goalRows {
		desc := strings.TrimSpace(v.Get(fmt.Sprintf("goals[%d].description", i)))
		date := strings.TrimSpace(v.Get(fmt.Sprintf("goals[%d].target_date", i)))
		if desc == "" && date == "" {
			continue
		}
		g := &pathwayv1.Goal{Id: uuid.NewString(), Description: desc}
		if desc == "" {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("goals[%d].description", i), Reason: "is required for a goal with a target date", Missing: true})
		} else if len(desc) > 500 {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("goals[%d].description", i), Reason: "must be at most 500 characters"})
		}
		if date != "" {
			d, err := time.Parse(time.DateOnly, date)
			if err != nil {
				errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("goals[%d].target_date", i), Reason: "must be a date"})
			} else {
				g.TargetDate = &pathwayv1.Date{Year: int32(d.Year()), Month: int32(d.Month()), Day: int32(d.Day())}
			}
		}
		goals, rows = append(goals, g), append(rows, i)
	}
	if len(goals) == 0 {
		errs = append(errs, kernel.FieldError{Field: "goals[0].description", Reason: "is required: agree at least one goal", Missing: true})
	}
	if len(errs) > 0 {
		return errs, nil
	}
	_, err := h.cfg.Workspace.Cases.AgreePlan(ctx, ref.ID(), cmd, whatMatters, goals)
	// The domain numbers the goals sent; the form numbers its rows.
	var ke *kernel.Error
	if errors.As(err, &ke) && len(ke.Fields) > 0 {
		fields := make([]kernel.FieldError, len(ke.Fields))
		for i, f := range ke.Fields {
			if m := goalField.FindStringSubmatch(f.Field); m != nil {
				if n, _ := strconv.Atoi(m[1]); n < len(rows) {
					f.Field = fmt.Sprintf("goals[%d].%s", rows[n], m[2])
				}
			}
			fields[i] = f
		}
		return nil, &kernel.Error{Kind: ke.Kind, Fields: fields, Message: ke.Message, Err: ke}
	}
	return nil, err
}

// measure returns the run of an outcome form of the instrument.
func measure(instrument string) func(h *handler, ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error) {
	return func(h *handler, ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error) {
		var errs []kernel.FieldError
		m := &pathwayv1.OutcomeMeasured{}
		switch v.Get("point") {
		case "baseline":
			m.Point = pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE
		case "follow_up":
			m.Point = pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP
		default:
			errs = append(errs, kernel.FieldError{Field: "point", Reason: "must be chosen: baseline or follow-up", Missing: true})
		}
		at := h.cfg.Now()
		if s := v.Get("measured_at"); s != "" {
			t, ok := h.localTime(s)
			switch {
			case !ok:
				errs = append(errs, kernel.FieldError{Field: "measured_at", Reason: "must be a date"})
			case t.After(at.Add(5 * time.Minute)):
				errs = append(errs, kernel.FieldError{Field: "measured_at", Reason: "must not be in the future"})
			default:
				at = t
			}
		}
		m.MeasuredAt = timestamppb.New(at)
		score := func(field string, lo, hi int) uint32 {
			n, err := strconv.Atoi(v.Get(field))
			if err != nil || n < lo || n > hi {
				errs = append(errs, kernel.FieldError{Field: field, Reason: fmt.Sprintf("must be %d to %d", lo, hi), Missing: v.Get(field) == ""})
				return 0
			}
			return uint32(n)
		}
		switch instrument {
		case "ons4":
			m.Instrument = pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4
			m.Scores = &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: score("ons4.life_satisfaction", 0, 10),
				Worthwhile: score("ons4.worthwhile", 0, 10), HappyYesterday: score("ons4.happy_yesterday", 0, 10), AnxiousYesterday: score("ons4.anxious_yesterday", 0, 10)}}
		case "swemwbs", "wemwbs":
			n := 7
			m.Instrument = pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS
			if instrument == "wemwbs" {
				n, m.Instrument = 14, pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS
			}
			we := &pathwayv1.WarwickEdinburghScores{}
			for i := range n {
				we.Items = append(we.Items, score(fmt.Sprintf("items[%d]", i), 1, 5))
			}
			m.Scores = &pathwayv1.OutcomeMeasured_WarwickEdinburgh{WarwickEdinburgh: we}
		case "mycaw":
			m.Instrument = pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW
			my := &pathwayv1.MycawScores{}
			for i := range 2 {
				name := fmt.Sprintf("mycaw.concerns[%d].concern", i)
				concern := strings.TrimSpace(v.Get(name))
				switch {
				case concern == "" && i == 0:
					errs = append(errs, kernel.FieldError{Field: name, Reason: "is required: the person's first concern, in their words", Missing: true})
				case concern == "":
					continue
				case len(concern) > 500:
					errs = append(errs, kernel.FieldError{Field: name, Reason: "must be at most 500 characters"})
				}
				my.Concerns = append(my.Concerns, &pathwayv1.MycawConcern{Concern: concern, Score: score(fmt.Sprintf("mycaw.concerns[%d].score", i), 0, 6)})
			}
			my.Wellbeing = score("mycaw.wellbeing", 0, 6)
			m.Scores = &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: my}
		}
		if len(errs) > 0 {
			return errs, nil
		}
		_, err := h.cfg.Workspace.Cases.MeasureOutcome(ctx, ref.ID(), cmd, m)
		return nil, err
	}
}

func (h *handler) discharge(ctx context.Context, ref *referral.Referral, v url.Values, cmd events.Command) ([]kernel.FieldError, error) {
	var errs []kernel.FieldError
	reason, ok := referral.DischargeReason(v.Get("reason"))
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be chosen", Missing: true})
	}
	errs = append(errs, checkNote(v.Get("note"))...)
	if len(errs) > 0 {
		return errs, nil
	}
	_, err := h.cfg.Workspace.Cases.Discharge(ctx, ref.ID(), cmd, reason, v.Get("note"))
	return nil, err
}
