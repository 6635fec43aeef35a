package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/keys"
)

func withTriage(o *envOptions) { o.triage = true }

// manual appends a referral the rules left to staff; escalated adds a
// safeguarding escalation. It returns its id.
func (e *env) manual(given, family string, escalated bool) string {
	e.t.Helper()
	id := uuid.NewString()
	evs := []events.Event{{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, GpPractice: "A81001",
		Needs:        []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS},
		Safeguarding: &pathwayv1.Safeguarding{Concern: escalated},
		Person:       &pathwayv1.Person{NhsNumber: "9434765919", GivenName: given, FamilyName: family, Postcode: "TS1 3BA", Phone: "07700900123"}}}}
	if escalated {
		evs = append(evs, events.Event{Payload: &pathwayv1.SafeguardingEscalated{}})
	}
	evs = append(evs, events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL,
		Priority: pathwayv1.Priority_PRIORITY_ROUTINE, RuleId: "manual", RulesVersion: "1"}})
	if _, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0, evs...); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// declinedByRules appends a referral the rules declined; it returns its id.
func (e *env) declinedByRules(given, family string) string {
	e.t.Helper()
	id := uuid.NewString()
	if _, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, GpPractice: "A81001",
			Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: given, FamilyName: family}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, DeclineReason: "not-eligible",
			Reason: "the rules said so", Priority: pathwayv1.Priority_PRIORITY_ROUTINE, RuleId: "not-eligible", RulesVersion: "1"}}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) triage(id string) *pathwayv1.ReferralTriaged {
	e.t.Helper()
	ref, _, err := events.Get(context.Background(), e.log.Store, aggregate.Referral, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref.Triage()
}

// TestTriageNeedToKnow: triage and admin keys work the triage pages;
// ops and link worker keys get 403 there, pages and form alike, and a
// triage key gets 403 on the operations pages and the workspace.
func TestTriageNeedToKnow(t *testing.T) {
	e := newEnv(t, withTriage, withWorkspace)
	esc := e.manual("Kit", "Young", true)
	plain := e.manual("Ali", "Quiet", false)
	e.caughtUp()

	tr := e.browser()
	if code, _, _ := tr.signIn(e.key(keys.RoleTriage)); code != http.StatusSeeOther {
		t.Fatalf("a triage key's sign-in: %d, want 303", code)
	}
	if code, _, hdr := tr.get("/"); code != http.StatusSeeOther || hdr.Get("Location") != "/triage" {
		t.Fatalf("triage staff's home: %d to %q, want 303 to /triage", code, hdr.Get("Location"))
	}
	code, page, _ := tr.get("/triage")
	if code != http.StatusOK {
		t.Fatalf("GET /triage: %d, want 200", code)
	}
	// Escalations first, by initials: no names or contact details.
	if i, j := strings.Index(page, esc), strings.Index(page, plain); i < 0 || j < 0 || i > j {
		t.Errorf("the queue lists the escalation at %d and the other at %d, want the escalation first", i, j)
	}
	if !strings.Contains(page, "K.Y.") || strings.Contains(page, "Young") || strings.Contains(page, "07700900123") {
		t.Errorf("the queue page shows more than initials")
	}
	for _, path := range []string{"/funnel", "/partners", "/cases"} {
		if code, _, _ := tr.get(path); code != http.StatusForbidden {
			t.Errorf("a triage key at %s: %d, want 403", path, code)
		}
	}
	for _, path := range []string{"/triage/" + uuid.NewString(), "/triage/not-an-id", "/triage/" + esc + "/more"} {
		if code, _, _ := tr.get(path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	code, page, _ = tr.get("/triage/" + esc)
	if code != http.StatusOK || !strings.Contains(page, "Kit Young") {
		t.Fatalf("GET /triage/{id}: %d, want 200 with the person in full", code)
	}
	token := formToken(t, page, "/triage/"+esc)

	// Open by id: an id goes to its page; anything else comes back beside
	// the field, not echoed, and never in an address.
	if code, _, hdr := tr.post("/triage/open", url.Values{"csrf": {csrfOf(t, page)}, "id": {" " + strings.ToUpper(plain) + " "}}); code != http.StatusSeeOther || hdr.Get("Location") != "/triage/"+plain {
		t.Errorf("open by id: %d to %q, want 303 to its page", code, hdr.Get("Location"))
	}
	for _, typed := range []string{"Kit Young", uuid.NewString()} {
		code, back, _ := tr.post("/triage/open", url.Values{"csrf": {csrfOf(t, page)}, "id": {typed}})
		if code != http.StatusUnprocessableEntity || !strings.Contains(back, `id="open-id-error"`) || strings.Contains(back, typed) {
			t.Errorf("open %q: %d, want 422 with the error beside the field and nothing typed echoed", typed, code)
		}
	}
	if code, _, _ := tr.post("/triage/open", url.Values{"id": {plain}}); code != http.StatusForbidden {
		t.Errorf("open by id without the token: %d, want 403", code)
	}

	admin := e.browser()
	admin.signIn(e.key(keys.RoleAdmin))
	if code, _, _ := admin.get("/triage/" + plain); code != http.StatusOK {
		t.Errorf("an admin at /triage/{id}: %d, want 200", code)
	}
	for _, role := range []keys.Role{keys.RoleOps, keys.RoleLinkWorker} {
		b := e.browser()
		b.signIn(e.key(role))
		for _, path := range []string{"/triage", "/triage/" + esc} {
			if code, page, _ := b.get(path); code != http.StatusForbidden || strings.Contains(page, "Young") {
				t.Errorf("%s key at %s: %d, want 403 telling nothing", role, path, code)
			}
		}
		_, home, _ := b.get("/triage") // the 403 page carries the sign-out form's token
		if code, page, _ := b.post("/triage/open", url.Values{"csrf": {csrfOf(t, home)}, "id": {esc}}); code != http.StatusForbidden || strings.Contains(page, "Young") {
			t.Errorf("%s key opening a referral by id: %d, want 403", role, code)
		}
		// Refused for the role, before the form's token is looked at.
		if code, page, _ := b.post("/triage/"+esc, url.Values{"csrf": {token}, "decision": {"accept"}, "reason": {"ok"}}); code != http.StatusForbidden || strings.Contains(page, "This form has expired") {
			t.Errorf("%s key posting a decision: %d, want 403 for the role", role, code)
		}
	}
	if d := e.triage(esc); d.GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL {
		t.Errorf("after refused posts the decision is %v, want still manual", d.GetDecision())
	}
}

// TestTriageForm: a decision goes through the API's command, with the
// API's rules beside the fields; a token is used once; reads of the
// referral are audited; an automatic decision is overridden.
func TestTriageForm(t *testing.T) {
	e := newEnv(t, withTriage)
	esc := e.manual("Kit", "Young", true)
	auto := e.declinedByRules("Ali", "Auto")
	e.caughtUp()
	tr := e.browser()
	tr.signIn(e.key(keys.RoleTriage))

	_, page, _ := tr.get("/triage/" + esc)
	token := formToken(t, page, "/triage/"+esc)
	if strings.Contains(page, `value="decline"`) {
		t.Errorf("decline is offered for a safeguarding escalation")
	}
	// Redirect without a destination or a reason: both beside their fields.
	code, page, _ := tr.post("/triage/"+esc, url.Values{"csrf": {token}, "decision": {"redirect"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a redirect without a reason: %d, want 422", code)
	}
	for _, want := range []string{`id="triage-reason-error"`, `id="triage-destination-error"`, `href="#triage-reason"`, `aria-invalid="true"`, "<title>Error: "} {
		if !strings.Contains(page, want) {
			t.Errorf("the page sent back lacks %s", want)
		}
	}
	// Declining an escalation is refused at the edge, as the domain would.
	token = formToken(t, page, "/triage/"+esc)
	if code, page, _ := tr.post("/triage/"+esc, url.Values{"csrf": {token}, "decision": {"decline"}, "decline_reason": {"x"}, "reason": {"x"}}); code != http.StatusUnprocessableEntity || !strings.Contains(page, "redirected instead") {
		t.Errorf("declining an escalation: %d, want 422 saying to redirect", code)
	}
	_, page, _ = tr.get("/triage/" + esc)
	token = formToken(t, page, "/triage/"+esc)
	form := url.Values{"csrf": {token}, "decision": {"redirect"}, "destination": {"Children's social care"}, "reason": {"Under 18"}}
	code, _, hdr := tr.post("/triage/"+esc, form)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/triage/"+esc+"?done=decided" {
		t.Fatalf("the decision: %d to %q, want 303 back to the page", code, hdr.Get("Location"))
	}
	d := e.triage(esc)
	if d.GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT || d.GetRedirectDestination() != "Children's social care" || d.GetReason() != "Under 18" {
		t.Errorf("recorded %v, want the redirect with its destination and reason", d)
	}
	if code, _, _ := tr.post("/triage/"+esc, form); code != http.StatusConflict {
		t.Errorf("the same form again: %d, want 409", code)
	}
	e.caughtUp()
	if _, page, _ := tr.get("/triage"); strings.Contains(page, esc) {
		t.Errorf("the decided referral is still in the queue")
	}
	recs, err := e.audit.Query(context.Background(), audit.Filter{Referral: esc})
	if err != nil || len(recs) < 2 {
		t.Errorf("audit of %s: %d records (%v), want the page reads and the form sent back", esc, len(recs), err)
	}
	for _, r := range recs {
		if r.Role != "triage" {
			t.Errorf("audit record %+v, want the triage key", r)
		}
	}
	if strings.Contains(e.logs.String(), "Children") || strings.Contains(e.logs.String(), "Under 18") {
		t.Errorf("the log carries what was typed")
	}

	// An automatic decline, overridden.
	_, page, _ = tr.get("/triage/" + auto)
	if !strings.Contains(page, "Override the automatic decision") {
		t.Fatalf("the page of an automatic decline does not offer the override")
	}
	code, _, hdr = tr.post("/triage/"+auto, url.Values{"csrf": {formToken(t, page, "/triage/"+auto)}, "decision": {"signpost"}, "reason": {"Lives in the area after all"}})
	if code != http.StatusSeeOther || !strings.HasSuffix(hdr.Get("Location"), "?done=override") {
		t.Fatalf("the override: %d to %q, want 303 with the override notice", code, hdr.Get("Location"))
	}
	if d := e.triage(auto); !d.GetOverride() || d.GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST {
		t.Errorf("recorded %v, want a signpost marked as an override", d)
	}
	// Staff decided it: nothing more to decide here.
	if _, page, _ := tr.get("/triage/" + auto); strings.Contains(page, `id="decide"`) {
		t.Errorf("a referral staff triaged still offers the form")
	}
}
