package dashboard

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/handoffs"
)

// serviceRow is one service found in the directory.
type serviceRow struct {
	ID, Name, Partner, Description, Capacity, Ages, Areas string
	Needs                                                 []string
	// Full: the service signals no capacity or a waitlist; a handoff to
	// it must be confirmed.
	Full bool
	// What a link worker reads out: who it is for, when and where it
	// runs, in which languages, what it costs, how to apply and how to
	// reach it, and any notice from the provider.
	Eligibility, Languages, Fees, Apply, Alert string
	When                                       []string
	Where                                      []placeRow
	Contact                                    []string
}

// placeRow is a location of a service on the directory page.
type placeRow struct {
	Address, Distance string
	Access            []string
	When              []string
}

// directoryData is the directory page: the search, what it found, and
// the handoff form (Forms, in directoryForms).
type directoryData struct {
	ID, Name, Initials string
	// The search: a need's wire name, a postcode district, text, and
	// whether to keep to services for the person's age.
	Need, District, Text string
	Age                  int
	ByAge                bool
	Needs                []option
	Search               formState
	Results              []serviceRow
	Available            bool
}

// directoryForms is the handoff form of the directory page.
type directoryForms struct {
	ID      string
	Open    bool
	Handoff formState
	Shared  []option
	// The search to run again when the form is sent back.
	Need, District, Text string
	ByAge                bool
	Results              []serviceRow
	Failed               bool
}

// sharedOptions are the fields a link worker may share, in the schema's
// order, in words.
var sharedOptions = func() []option {
	var out []option
	for name, f := range handoff.SharedFieldNames {
		out = append(out, option{Value: name, Label: strconv.Itoa(int(f))})
	}
	slices.SortFunc(out, func(a, b option) int {
		x, _ := strconv.Atoi(a.Label)
		y, _ := strconv.Atoi(b.Label)
		return x - y
	})
	for i := range out {
		label := strings.ReplaceAll(out[i].Value, "_", " ")
		if out[i].Value == "nhs_number" {
			label = "NHS number"
		}
		out[i].Label = strings.ToUpper(label[:1]) + label[1:]
	}
	return out
}()

// needOptions are the needs to search by.
var needOptions = func() []option {
	out := []option{{"", "Any need"}}
	for _, n := range referral.NeedNames() {
		out = append(out, option{Value: n, Label: strings.ToUpper(n[:1]) + strings.ReplaceAll(n[1:], "_", " ")})
	}
	return out
}()

// directoryPage searches the directory for ref's person with the query
// q; with no search given, by the person's first need, their postcode
// district and their age.
func (h *handler) directoryPage(ref *referral.Referral, q url.Values, now time.Time) directoryData {
	p := ref.Received().GetPerson()
	d := directoryData{ID: ref.ID(), Name: personName(ref), Initials: referral.Initials(p.GetGivenName(), p.GetFamilyName()), Needs: needOptions,
		Available: h.cfg.Partners != nil, Search: formState{Prefix: "search", Values: q, Errors: map[string]string{}}}
	if dob := p.GetDateOfBirth(); dob != nil {
		d.Age = referral.Age(dob, now)
	}
	if !q.Has("search") {
		if needs := ref.Received().GetNeeds(); len(needs) > 0 {
			d.Need = referral.WireName(needs[0].String(), "NEED_")
		}
		if pc := referral.NormalisePostcode(p.GetPostcode()); referral.ValidPostcode(pc) {
			d.District = referral.PostcodeDistrict(pc)
		}
		d.ByAge = d.Age > 0
	} else {
		d.Need, d.Text, d.ByAge = q.Get("need"), strings.TrimSpace(q.Get("text")), q.Get("by_age") == "yes"
		var errs []kernel.FieldError
		if d.Need != "" && !slices.Contains(referral.NeedNames(), d.Need) {
			errs = append(errs, kernel.FieldError{Field: "need", Reason: "must be one of the needs listed"})
			d.Need = ""
		}
		if pc := strings.TrimSpace(q.Get("district")); pc != "" {
			n := referral.NormalisePostcode(pc)
			switch u := strings.ToUpper(pc); {
			case referral.ValidPostcode(n):
				d.District = referral.PostcodeDistrict(n) // never the full postcode
			case len(u) <= 4 && referral.ValidPostcode(referral.NormalisePostcode(u+" 1AA")):
				d.District = u
			default:
				errs = append(errs, kernel.FieldError{Field: "district", Reason: "must be a UK postcode district, such as TS1"})
			}
		}
		if len(d.Text) > 200 {
			errs = append(errs, kernel.FieldError{Field: "text", Reason: "must be at most 200 characters"})
			d.Text = d.Text[:200]
		}
		d.Search.fail("need", errs, "")
	}
	query := partners.Query{Need: d.Need, District: d.District, Text: d.Text, Age: map[bool]int{true: d.Age}[d.ByAge]}
	if pc := referral.NormalisePostcode(p.GetPostcode()); referral.ValidPostcode(pc) && referral.PostcodeDistrict(pc) == d.District {
		query.Postcode = pc // ranks by distance from the person's home; it is never in the page or its address
	}
	d.Results = h.search(query)
	return d
}

// search runs q on the directory read model.
func (h *handler) search(q partners.Query) []serviceRow {
	if h.cfg.Partners == nil {
		return nil
	}
	var found []partners.Service
	h.read(h.cfg.Partners, func(p projections.Projection) { found = p.(*partners.Partners).Search(q) })
	rows := make([]serviceRow, 0, len(found))
	for _, s := range found {
		row := serviceRow{ID: s.ID, Name: s.Name, Partner: s.PartnerName, Description: s.Description,
			Capacity: strings.ReplaceAll(s.Capacity, "-", " "), Full: s.Capacity != "" && s.Capacity != "capacity", Areas: strings.Join(s.Districts, ", ")}
		for _, n := range s.Needs {
			row.Needs = append(row.Needs, strings.ReplaceAll(n, "_", " "))
		}
		switch {
		case s.MinAge > 0 && s.MaxAge > 0:
			row.Ages = fmt.Sprintf("%d to %d", s.MinAge, s.MaxAge)
		case s.MinAge > 0:
			row.Ages = fmt.Sprintf("%d and over", s.MinAge)
		case s.MaxAge > 0:
			row.Ages = fmt.Sprintf("up to %d", s.MaxAge)
		}
		if row.Areas == "" {
			row.Areas = "anywhere"
		}
		if len(s.ServiceAreas) > 0 && len(s.Districts) == 0 {
			row.Areas = strings.Join(s.ServiceAreas, "; ")
		}
		describeService(&row, s)
		rows = append(rows, row)
	}
	return rows
}

// directoryForms makes the handoff form of the directory page d for
// session s.
func (h *handler) directoryForms(s session, ref *referral.Referral, d directoryData) *directoryForms {
	return &directoryForms{ID: ref.ID(), Open: ref.Status() == referral.StatusAssigned, Shared: sharedOptions,
		Handoff: formState{Prefix: "handoff", Token: h.formToken(s), Values: url.Values{}, Errors: map[string]string{}},
		Need:    d.Need, District: d.District, Text: d.Text, ByAge: d.ByAge, Results: d.Results}
}

// handoffForm serves POST /cases/{id}/handoffs: the person's consent, the
// fields to share and the service chosen become a handoff request
// through the handoffs service, as the API's does. status and message
// carry a refused form token (then nothing runs).
func (h *handler) handoffForm(w http.ResponseWriter, r *http.Request, s session, ref *referral.Referral, cmd events.Command, status int, message string) {
	v := r.PostForm
	var errs []kernel.FieldError
	in := handoffs.HandoffInput{ServiceID: v.Get("service_id"), ConfirmCapacity: v.Get("confirm") == "yes", Note: v.Get("note"), Consent: v.Get("consent") == "yes"}
	if message == "" {
		if _, err := uuid.Parse(in.ServiceID); err != nil {
			errs = append(errs, kernel.FieldError{Field: "service_id", Reason: "must be chosen from the services found", Missing: true})
		}
		for _, name := range v["shared_fields"] {
			f, ok := handoff.SharedFieldNames[name]
			if !ok {
				errs = append(errs, kernel.FieldError{Field: "shared_fields", Reason: "must be fields listed here"})
				break
			}
			if !slices.Contains(in.Shared, f) {
				in.Shared = append(in.Shared, f)
			}
		}
		if !in.Consent {
			errs = append(errs, kernel.FieldError{Field: "consent", Reason: "is required: the person must agree to the handoff and to what is shared", Missing: true})
		}
		errs = append(errs, checkNote(in.Note)...)
	}
	if message == "" && len(errs) == 0 {
		_, _, err := h.cfg.Workspace.Handoffs.RequestHandoff(r.Context(), ref.ID(), in, cmd)
		switch {
		case err == nil:
			h.log.Info("dashboard form", "form", "handoffs", "referral", ref.ID(), "key_id", s.key.ID)
			http.Redirect(w, r, "/cases/"+ref.ID()+"?done=handoff#handoffs-h", http.StatusSeeOther)
			return
		case errors.Is(err, handoff.ErrCapacity):
			capacity := "not known"
			if svc, lerr := directory.LoadService(r.Context(), h.cfg.Workspace.Store, in.ServiceID); lerr == nil {
				capacity = partner.CapacityName(svc.Capacity())
			}
			status = http.StatusConflict
			errs = append(errs, kernel.FieldError{Field: "confirm", Reason: "is needed: the service's capacity status is " + strings.ReplaceAll(capacity, "-", " ") + "; tick the box to hand off anyway"})
		default:
			var fields []kernel.FieldError
			status, fields, message = h.commandFailure(err)
			if status == 0 {
				http.Error(w, "the form could not be sent right now; retry shortly", http.StatusServiceUnavailable)
				return
			}
			errs = append(errs, fields...)
		}
	}
	q := url.Values{"search": {"1"}, "need": {v.Get("need")}, "district": {v.Get("district")}, "text": {v.Get("text")}, "by_age": {v.Get("by_age")}}
	d := h.directoryPage(ref, q, h.cfg.Now())
	forms := h.directoryForms(s, ref, d)
	forms.Handoff.Values = v
	forms.Handoff.fail("service_id", errs, message)
	forms.Failed = true
	if !h.audited(w, r, s, view{route: "POST /cases/{id}/{form}", referrals: []string{ref.ID()}}) {
		return
	}
	h.render(w, status, "directory", page{Title: "Error: Hand off " + d.Initials + " to a service", Nav: "cases", CSRF: h.csrfToken("session", s.value),
		Key: s.key, Worker: true, Data: d, Forms: forms, Failed: true})
}

// describeService fills in what a link worker reads about s.
func describeService(row *serviceRow, s partners.Service) {
	row.Eligibility, row.Apply, row.Alert = s.Eligibility, s.ApplicationProcess, s.Alert
	var langs []string
	for _, l := range s.Languages {
		langs = append(langs, cmp.Or(l.GetName(), l.GetCode()))
	}
	row.Languages = strings.Join(langs, ", ")
	fees := []string{}
	if s.Fees != "" {
		fees = append(fees, s.Fees)
	}
	for _, c := range s.CostOptions {
		f := strings.TrimSpace(c.GetOption())
		if c.GetAmount() != "" {
			amount := c.GetAmount()
			if c.GetCurrency() == "" || c.GetCurrency() == "GBP" {
				amount = "£" + amount
			} else {
				amount += " " + c.GetCurrency()
			}
			f = strings.TrimPrefix(f+": "+amount+" "+c.GetAmountDescription(), ": ")
		}
		fees = append(fees, strings.TrimSpace(f))
	}
	row.Fees = strings.Join(fees, " ")
	for _, sc := range s.Schedules {
		if w := partner.ScheduleSummary(sc); w != "" {
			row.When = append(row.When, w)
		}
	}
	for _, l := range s.Locations {
		if l.Address == "" && l.City == "" && l.Postcode == "" && l.Name == "" {
			continue
		}
		parts := []string{}
		for _, v := range []string{l.Name, l.Address, l.Address2, strings.TrimSpace(l.City + " " + l.Postcode)} {
			if v != "" {
				parts = append(parts, v)
			}
		}
		pr := placeRow{Address: strings.Join(parts, ", ")}
		for _, a := range l.Accessibility {
			pr.Access = append(pr.Access, cmp.Or(a.GetDescription(), a.GetDetails()))
		}
		for _, sc := range l.Schedules {
			if w := partner.ScheduleSummary(sc); w != "" && !slices.Contains(row.When, w) {
				pr.When = append(pr.When, w)
			}
		}
		row.Where = append(row.Where, pr)
	}
	if s.DistanceKM != nil && len(row.Where) > 0 {
		row.Where[0].Distance = fmt.Sprintf("%.1f km", *s.DistanceKM)
	}
	phone := func(p *pathwayv1.Phone) string {
		if p.GetExtension() != "" {
			return p.GetNumber() + " ext. " + p.GetExtension()
		}
		return p.GetNumber()
	}
	if len(s.Contact.Phones) > 0 {
		row.Contact = append(row.Contact, "Phone "+phone(s.Contact.Phones[0]))
	} else if s.Contact.Phone != "" {
		row.Contact = append(row.Contact, "Phone "+s.Contact.Phone)
	}
	if s.Contact.Email != "" {
		row.Contact = append(row.Contact, "Email "+s.Contact.Email)
	}
	if s.Contact.URL != "" {
		row.Contact = append(row.Contact, s.Contact.URL)
	}
}
