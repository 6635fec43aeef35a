package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/keys"
)

// The worker e.key(keys.RoleLinkWorker) acts for.
const myWorker = "0190f6b2-0000-7000-8000-000000000001"

func withWorkspace(o *envOptions) { o.workspace = true }

// worker registers a link worker of pcn.
func (e *env) worker(id, name, pcn string) {
	e.t.Helper()
	if _, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "worker", ID: id}, 0,
		events.Event{Payload: &pathwayv1.WorkerRegistered{Name: name, Pcn: pcn, Practices: []string{"A81001"}, Capacity: 10}}); err != nil {
		e.t.Fatal(err)
	}
}

// assigned appends a referral of given family, accepted and assigned to
// worker; it returns its id.
func (e *env) assigned(worker, given, family string) string {
	e.t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, GpPractice: "A81001",
			Needs:  []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS},
			Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: given, FamilyName: family, Postcode: "TS1 3BA", Phone: "07700900123"}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: pathwayv1.Priority_PRIORITY_ROUTINE}},
		events.Event{Payload: &pathwayv1.ReferralAssigned{WorkerId: worker}}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "worker", ID: worker}, events.AnyVersion,
		events.Event{Payload: &pathwayv1.WorkerCaseAssigned{ReferralId: id}}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// service registers a partner with one service; it returns the service's
// id.
func (e *env) service(name string) string {
	e.t.Helper()
	ctx := context.Background()
	partner, service := uuid.NewString(), uuid.NewString()
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "partner", ID: partner}, 0,
		events.Event{Payload: &pathwayv1.PartnerRegistered{Name: "Good Neighbours"}}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "service", ID: service}, 0, events.Event{Payload: &pathwayv1.ServiceRegistered{
		Details: &pathwayv1.ServiceDetails{PartnerId: partner, Name: name, Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}}}}); err != nil {
		e.t.Fatal(err)
	}
	return service
}

// formToken is the token of the form whose action is action in page.
func formToken(t *testing.T, page, action string) string {
	t.Helper()
	re := regexp.MustCompile(`action="` + regexp.QuoteMeta(action) + `[^"]*"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form posting to %s in the page", action)
	}
	return m[1]
}

func (e *env) history(id string) []string {
	e.t.Helper()
	ref, _, err := events.Get(context.Background(), e.log.Store, aggregate.Referral, id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range ref.History() {
		out = append(out, string(c.Payload.ProtoReflect().Descriptor().Name()))
	}
	return out
}

// TestWorkspaceNeedToKnow: a link worker reaches their own referrals and
// no one else's, which answer as pages that do not exist, as the API
// does; other roles get 403 under /cases, and link workers 403 on the
// operations pages.
func TestWorkspaceNeedToKnow(t *testing.T) {
	e := newEnv(t, withWorkspace)
	other := uuid.NewString()
	e.worker(myWorker, "Robin Mine", "U12345")
	e.worker(other, "Kim Other", "U99999")
	mine := e.assigned(myWorker, "Sam", "Mine")
	theirs := e.assigned(other, "Lee", "Theirs")
	e.caughtUp()

	lw := e.browser()
	if code, _, hdr := lw.signIn(e.key(keys.RoleLinkWorker)); code != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("a link worker's sign-in: %d to %q, want 303 to /", code, hdr.Get("Location"))
	}
	if code, _, hdr := lw.get("/"); code != http.StatusSeeOther || hdr.Get("Location") != "/cases" {
		t.Fatalf("a link worker's home: %d to %q, want 303 to /cases", code, hdr.Get("Location"))
	}
	code, page, _ := lw.get("/cases")
	if code != http.StatusOK || !strings.Contains(page, `href="/cases/`+mine+`"`) || !strings.Contains(page, "Sam Mine") {
		t.Fatalf("my caseload: %d, want 200 with my referral", code)
	}
	if strings.Contains(page, theirs) || strings.Contains(page, "Theirs") {
		t.Errorf("my caseload shows another worker's referral")
	}
	code, page, _ = lw.get("/cases/" + mine)
	if code != http.StatusOK || !strings.Contains(page, "07700900123") {
		t.Fatalf("my referral: %d, want 200 with the person's details", code)
	}
	token := formToken(t, page, "/cases/"+mine+"/contacts")
	before := len(e.history(theirs))
	for _, path := range []string{"/cases/" + theirs, "/cases/" + theirs + "/directory", "/cases/" + uuid.NewString(), "/cases/not-an-id", "/cases/" + mine + "/nothing"} {
		if code, page, _ := lw.get(path); code != http.StatusNotFound || strings.Contains(page, "Theirs") {
			t.Errorf("GET %s: %d, want 404 telling nothing", path, code)
		}
	}
	// A form of my page sent to another's referral.
	if code, _, _ := lw.post("/cases/"+theirs+"/contacts", url.Values{"csrf": {token}, "kind": {"phone"}, "when": {"2026-01-01T10:00"}}); code != http.StatusNotFound {
		t.Errorf("a contact posted to another worker's referral: %d, want 404", code)
	}
	if after := len(e.history(theirs)); after != before {
		t.Errorf("another worker's referral went from %d to %d events", before, after)
	}
	for _, path := range []string{"/funnel", "/partners", "/waitlists/U12345", "/caseloads/" + myWorker} {
		if code, _, _ := lw.get(path); code != http.StatusForbidden {
			t.Errorf("a link worker's GET %s: %d, want 403", path, code)
		}
	}
	ops := e.browser()
	ops.signIn(e.key(keys.RoleOps))
	for _, path := range []string{"/cases", "/cases/" + mine} {
		if code, page, _ := ops.get(path); code != http.StatusForbidden || strings.Contains(page, "Sam Mine") {
			t.Errorf("ops GET %s: %d, want 403 showing no one", path, code)
		}
	}
	if code, _, _ := ops.post("/cases/"+mine+"/contacts", url.Values{"csrf": {token}, "kind": {"phone"}}); code != http.StatusForbidden {
		t.Errorf("ops posting a contact: %d, want 403", code)
	}
}

// TestWorkspaceForms: each form runs the API's command once per token,
// shows its errors beside its fields, and refuses a token it did not
// issue.
func TestWorkspaceForms(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.worker(myWorker, "Robin Mine", "U12345")
	id := e.assigned(myWorker, "Sam", "Mine")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleLinkWorker))
	path := "/cases/" + id
	_, page, _ := b.get(path)

	// Errors beside the fields, linked from the summary; nothing recorded.
	when := e.clock.Now().Add(48 * time.Hour).In(time.UTC).Format("2006-01-02T15:04")
	code, page, _ := b.post(path+"/contacts", url.Values{"csrf": {formToken(t, page, path+"/contacts")}, "when": {when}, "duration_minutes": {"999"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("an invalid contact: %d, want 422", code)
	}
	for _, want := range []string{`<a href="#contact-kind">Kind must be chosen`, `<a href="#contact-when">When must not be in the future`,
		`<a href="#contact-duration-minutes">Duration minutes must be 0 to 480`, `id="contact-when-error"`, `aria-invalid="true"`, `<title>Error: Sam Mine`,
		`<details id="record-contact" open>`, `value="999"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page sent back lacks %q", want)
		}
	}
	if h := e.history(id); len(h) != 3 {
		t.Fatalf("after an invalid contact: %v, want nothing recorded", h)
	}

	// A valid contact, by the command, with the worker's key as actor.
	token := formToken(t, page, path+"/contacts")
	form := url.Values{"csrf": {token}, "kind": {"face_to_face"}, "when": {e.clock.Now().Add(-time.Hour).In(time.UTC).Format("2006-01-02T15:04")},
		"duration_minutes": {"40"}, "what_matters_conversation": {"yes"}}
	code, _, hdr := b.post(path+"/contacts", form)
	if code != http.StatusSeeOther || hdr.Get("Location") != path+"?done=contact#contacts-h" {
		t.Fatalf("a contact: %d to %q, want 303 back to the referral", code, hdr.Get("Location"))
	}
	ref, _, err := events.Get(context.Background(), e.log.Store, aggregate.Referral, id)
	if err != nil {
		t.Fatal(err)
	}
	last := ref.History()[len(ref.History())-1]
	if c, ok := last.Payload.(*pathwayv1.ContactRecorded); !ok || c.GetKind() != pathwayv1.ContactKind_CONTACT_KIND_FACE_TO_FACE || c.GetDurationMinutes() != 40 ||
		!c.GetWhatMattersConversation() || last.Actor.GetRole() != pathwayv1.Role_ROLE_LINK_WORKER {
		t.Fatalf("recorded %v by %v, want the face-to-face contact by the link worker", last.Payload, last.Actor)
	}
	// The same form again (a double click, a replay) records nothing more.
	if code, page, _ := b.post(path+"/contacts", form); code != http.StatusConflict || !strings.Contains(page, "already sent") {
		t.Errorf("the same form again: %d, want 409 saying it was already sent", code)
	}
	// A token made up, or of another session, is refused.
	forged := url.Values{"csrf": {"x.1.y"}, "kind": {"phone"}, "when": form["when"]}
	if code, _, _ := b.post(path+"/contacts", forged); code != http.StatusForbidden {
		t.Errorf("a forged token: %d, want 403", code)
	}
	other := e.browser()
	other.signIn(e.key(keys.RoleLinkWorker))
	_, page, _ = b.get(path)
	stolen := url.Values{"csrf": {formToken(t, page, path+"/contacts")}, "kind": {"phone"}, "when": form["when"]}
	if code, _, _ := other.post(path+"/contacts", stolen); code != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", code)
	}
	if h := e.history(id); len(h) != 4 {
		t.Fatalf("after the refused forms: %v, want one contact only", h)
	}

	// The domain's refusal shows too: a follow-up needs a baseline.
	_, page, _ = b.get(path)
	code, page, _ = b.post(path+"/ons4", url.Values{"csrf": {formToken(t, page, path+"/ons4")}, "point": {"follow_up"},
		"ons4.life_satisfaction": {"5"}, "ons4.worthwhile": {"5"}, "ons4.happy_yesterday": {"5"}, "ons4.anxious_yesterday": {"11"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `<a href="#ons4-ons4-anxious-yesterday">Anxious yesterday must be 0 to 10`) {
		t.Errorf("an ONS4 answer of 11: %d, want 422 naming the answer", code)
	}
	code, page, _ = b.post(path+"/ons4", url.Values{"csrf": {formToken(t, page, path+"/ons4")}, "point": {"follow_up"},
		"ons4.life_satisfaction": {"5"}, "ons4.worthwhile": {"5"}, "ons4.happy_yesterday": {"5"}, "ons4.anxious_yesterday": {"5"}})
	if code != http.StatusConflict || !strings.Contains(page, "a follow-up needs a baseline of the same instrument first") {
		t.Errorf("a follow-up without a baseline: %d, want 409 with the domain's reason", code)
	}

	// A plan with goals, and SWEMWBS at baseline: the page shows them.
	_, page, _ = b.get(path)
	if code, _, _ := b.post(path+"/plan", url.Values{"csrf": {formToken(t, page, path+"/plan")}, "what_matters": {"Meeting people"},
		"goals[1].description": {"Join the walking group"}, "goals[1].target_date": {"2027-01-31"}}); code != http.StatusSeeOther {
		t.Fatalf("a plan: %d, want 303", code)
	}
	sw := url.Values{"csrf": {formToken(t, page, path+"/swemwbs")}, "point": {"baseline"}}
	for i, v := range []string{"3", "3", "2", "4", "3", "2", "3"} {
		sw.Set("items["+string(rune('0'+i))+"]", v)
	}
	if code, _, _ := b.post(path+"/swemwbs", sw); code != http.StatusSeeOther {
		t.Fatalf("SWEMWBS: %d, want 303", code)
	}
	// MYCaW: a concern is required; with one, it is recorded.
	_, page, _ = b.get(path)
	code, page, _ = b.post(path+"/mycaw", url.Values{"csrf": {formToken(t, page, path+"/mycaw")}, "point": {"baseline"}, "mycaw.wellbeing": {"4"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `<a href="#mycaw-mycaw-concerns-0-concern">Concern 1 is required`) {
		t.Errorf("MYCaW without a concern: %d, want 422 naming the first concern", code)
	}
	if code, _, _ := b.post(path+"/mycaw", url.Values{"csrf": {formToken(t, page, path+"/mycaw")}, "point": {"baseline"},
		"mycaw.concerns[0].concern": {"Getting out"}, "mycaw.concerns[0].score": {"5"}, "mycaw.wellbeing": {"4"}}); code != http.StatusSeeOther {
		t.Fatalf("MYCaW: %d, want 303", code)
	}
	_, page, _ = b.get(path + "?done=outcome")
	for _, want := range []string{"Join the walking group", "(by 31 January 2027)", "Outcome measure recorded.", `data-instrument="SWEMWBS"`, "<td class=\"num\">20</td>", `data-instrument="MYCaW"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the referral page lacks %q", want)
		}
	}
}

// TestWorkspaceCaseload: the caseload puts the case with something
// overdue first, and says what is due.
func TestWorkspaceCaseload(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.worker(myWorker, "Robin Mine", "U12345")
	seen := e.assigned(myWorker, "Sam", "Seen")
	unseen := e.assigned(myWorker, "Ola", "Unseen")
	b := e.browser()
	b.signIn(e.key(keys.RoleLinkWorker))
	_, page, _ := b.get("/cases/" + seen)
	if code, _, _ := b.post("/cases/"+seen+"/contacts", url.Values{"csrf": {formToken(t, page, "/cases/"+seen+"/contacts")}, "kind": {"phone"},
		"when": {e.clock.Now().In(time.UTC).Format("2006-01-02T15:04")}}); code != http.StatusSeeOther {
		t.Fatalf("a contact: %d", code)
	}
	e.caughtUp()
	e.clock.Add(8 * 24 * time.Hour) // past the first contact's 7 days (and the session)
	b.signIn(e.key(keys.RoleLinkWorker))
	_, page, _ = b.get("/cases")
	i, j := strings.Index(page, "/cases/"+unseen), strings.Index(page, "/cases/"+seen)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("caseload order: unseen at %d, seen at %d; want the overdue first contact first", i, j)
	}
	if !strings.Contains(page, "Overdue:</strong> First contact") || !strings.Contains(page, "Next: Next contact") ||
		!strings.Contains(page, `<dd id="my-overdue"><span aria-hidden="true">⚠ </span>1</dd>`) {
		t.Errorf("the caseload does not say what is due and overdue:\n%s", page)
	}
	// The caseload's reads are audited, like the referral page's.
	for _, id := range []string{seen, unseen} {
		recs, err := e.audit.Query(context.Background(), audit.Filter{Referral: id})
		if err != nil {
			t.Fatal(err)
		}
		var routes []string
		for _, r := range recs {
			routes = append(routes, r.Route)
		}
		if !strings.Contains(strings.Join(routes, ","), "GET /cases") {
			t.Errorf("audit of %s: %v, want the caseload's read", id, routes)
		}
	}
	recs, _ := e.audit.Query(context.Background(), audit.Filter{Referral: seen})
	if len(recs) == 0 || recs[0].Route != "GET /cases/{id}" || recs[0].Role != "link_worker" {
		t.Errorf("audit of the referral page: %+v, want its read by the link worker first", recs)
	}
}

// TestWorkspaceHandoffLive: a handoff sent from the directory page shows
// on the referral's page, and the partner's answer reaches the open
// page's live stream.
func TestWorkspaceHandoffLive(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.worker(myWorker, "Robin Mine", "U12345")
	id := e.assigned(myWorker, "Sam", "Mine")
	svc := e.service("Walking group")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleLinkWorker))
	code, page, _ := b.get("/cases/" + id + "/directory")
	if code != http.StatusOK || !strings.Contains(page, `value="`+svc+`"`) || !strings.Contains(page, `value="TS1"`) || strings.Contains(page, "TS1 3BA") {
		t.Fatalf("the directory: %d, want the walking group found by the person's need and district, and never the full postcode", code)
	}
	// A full postcode typed goes out of the address at once.
	if code, _, hdr := b.get("/cases/" + id + "/directory?search=1&district=" + url.QueryEscape("TS1 3BA")); code != http.StatusSeeOther ||
		strings.Contains(hdr.Get("Location"), "3BA") || !strings.Contains(hdr.Get("Location"), "district=TS1") {
		t.Errorf("a search by full postcode: %d to %q, want 303 to the district alone", code, hdr.Get("Location"))
	}
	token := formToken(t, page, "/cases/"+id+"/handoffs")
	// Without consent: refused beside the box, nothing sent.
	code, page, _ = b.post("/cases/"+id+"/handoffs", url.Values{"csrf": {token}, "service_id": {svc}, "shared_fields": {"given_name", "phone"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, `<a href="#handoff-consent">Consent is required`) {
		t.Fatalf("a handoff without consent: %d, want 422 naming consent", code)
	}
	code, _, _ = b.post("/cases/"+id+"/handoffs", url.Values{"csrf": {formToken(t, page, "/cases/"+id+"/handoffs")}, "service_id": {svc},
		"shared_fields": {"given_name", "phone"}, "consent": {"yes"}})
	if code != http.StatusSeeOther {
		t.Fatalf("a handoff: %d, want 303", code)
	}
	ids, err := handoffs.OfReferrals(context.Background(), e.log.Store, id)
	if err != nil || len(ids) != 1 {
		t.Fatalf("handoffs of the referral: %v (%v), want one", ids, err)
	}
	h, err := handoffs.LoadHandoff(context.Background(), e.log.Store, ids[0])
	if err != nil || len(h.Requested().GetSharedFields()) != 2 || !h.Requested().GetConsent() {
		t.Fatalf("the handoff: %v (%v), want two fields shared with consent", h.Requested(), err)
	}
	e.caughtUp()
	_, page, _ = b.get("/cases/" + id)
	if !strings.Contains(page, `data-status="requested"`) || !strings.Contains(page, "Shared: given name, phone.") {
		t.Fatalf("the referral page does not show the handoff requested with what it shared")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := b.stream(ctx, "/cases/"+id, "")
	if ev, ok := next(t, stream, 10*time.Second); !ok || ev.name != "update" {
		t.Fatalf("first live event: %+v, want an update", ev)
	}
	desk := handoffs.New(e.log.Store, handoffs.Options{})
	if _, _, err := desk.Act(context.Background(), ids[0], handoff.ActionAccept, "", "", "", events.Command{}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ev, ok := next(t, stream, time.Until(deadline))
		if !ok {
			t.Fatalf("the partner's answer did not reach the open page")
		}
		if strings.Contains(ev.data, `data-status="accepted"`) {
			if strings.Contains(ev.data, "csrf") {
				t.Errorf("a live update carries a form: it would wipe what the worker is typing")
			}
			break
		}
	}
	// Another worker's referral has no live stream.
	if code, _, _ := b.get("/live?view=" + url.QueryEscape("/cases/"+uuid.NewString())); code != http.StatusNotFound {
		t.Errorf("the live stream of a referral out of reach: %d, want 404", code)
	}
}

// TestWorkspaceDirectoryShowsWhatLinkWorkersUse: a service imported from
// the HSDS 3.0 full example (placed at the person's postcode) shows on the
// directory page with who it is for, when and where it runs, how far, its
// access, languages, cost, how to apply and its phone with extension.
func TestWorkspaceDirectoryShowsWhatLinkWorkersUse(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.worker(myWorker, "Robin Mine", "U12345")
	id := e.assigned(myWorker, "Sam", "Mine")
	data, err := os.ReadFile(filepath.Join("..", "..", "domain", "partner", "testdata", "hsds3", "service_full.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, r := range [][2]string{{`"latitude": 100`, `"latitude": 54.5742`}, {`"longitude": 101`, `"longitude": -1.235`}, {`"postal_code": "ABC 1234"`, `"postal_code": "TS1 3BA"`},
		{`"country": "US"`, `"country": "GB"`}, {`"city": "MyCity"`, `"city": "Middlesbrough"`}, {`"address_type": "postal"`, `"address_type": "physical"`}} {
		s = strings.Replace(s, r[0], r[1], 1)
	}
	recs, err := partner.ParseHSDS([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := directory.New(e.log.Store).Import(context.Background(), recs, events.Command{Actor: &pathwayv1.Actor{Id: "import", Role: pathwayv1.Role_ROLE_ADMIN}}, nil); err != nil || rep.Created != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleLinkWorker))
	code, page, _ := b.get("/cases/" + id + "/directory?search=1&need=mental_health&district=TS1")
	if code != http.StatusOK {
		t.Fatalf("the directory: %d", code)
	}
	page = html.UnescapeString(page)
	for _, want := range []string{"Community Counselling", "Who it is for", "This service is intended for all people aged 12 and over",
		"Thursdays and Fridays, 10:00 to 18:00", "1-30 Main Street, MyVillage, Middlesbrough TS1 3BA (0.0 km away)", "induction loops",
		"<dd>Urdu</dd>", "Under 18s and Over 60s: £35 per 1 hour session", "How to apply", "ask your GP for a referral letter",
		"Phone +441234234567 ext. 100", "moved most of our counselling sessions online"} {
		if !strings.Contains(page, want) {
			t.Errorf("the directory page lacks %q", want)
		}
	}
	if strings.Contains(page, "TS1 3BA\"") || strings.Contains(page, "value=\"TS1 3BA") {
		t.Errorf("the person's full postcode is in the page")
	}
}
