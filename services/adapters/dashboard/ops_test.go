package dashboard_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/keys"
)

// namedWorker registers a link worker of pcn, with the PCN's name, and
// capacity places.
func (e *env) namedWorker(id, name, pcn, pcnName string, capacity uint32) {
	e.t.Helper()
	if _, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "worker", ID: id}, 0,
		events.Event{Payload: &pathwayv1.WorkerRegistered{Name: name, Pcn: pcn, PcnName: pcnName, Practices: []string{"A81001"}, Capacity: capacity}}); err != nil {
		e.t.Fatal(err)
	}
}

// opsKey creates an ops key with scopes and waits until it authenticates.
func (e *env) opsKey(scopes ...keys.Scope) string {
	e.t.Helper()
	plain, _, err := e.keys.Create(context.Background(), keys.Spec{Role: keys.RoleOps, Scopes: scopes, Label: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	for range 1000 {
		if _, err := e.auth.Authenticate(plain); err == nil {
			return plain
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("the ops key was not accepted")
	return ""
}

// TestOpsReferralPage: ops and admin open a referral from the waitlist;
// an ops key without the personal_data scope sees it pseudonymised, one
// with it (and admin) in full; each read is audited; other roles get 403
// and an id that is not a referral 404.
func TestOpsReferralPage(t *testing.T) {
	e := newEnv(t, withWorkspace)
	e.namedWorker(uuid.NewString(), "Robin Link", "U12345", "Riverside PCN", 10)
	id := e.refer("U12345", pathwayv1.Priority_PRIORITY_URGENT, "Sam", "Example")
	e.caughtUp()

	ops := e.browser()
	ops.signIn(e.opsKey())
	code, page, _ := ops.get("/waitlists/U12345")
	if code != http.StatusOK || !strings.Contains(page, `href="/referrals/`+id+`"`) {
		t.Fatalf("the waitlist: %d, want 200 with the referral linked", code)
	}
	if !strings.Contains(page, "Riverside PCN (U12345)") {
		t.Errorf("the waitlist does not name its PCN")
	}
	code, page, _ = ops.get("/referrals/" + id)
	if code != http.StatusOK || !strings.Contains(page, "S.E.") || !strings.Contains(page, "pseudonymised") {
		t.Fatalf("the referral for ops: %d, want 200 with the initials, pseudonymised", code)
	}
	for _, personal := range []string{"Sam", "Example", "9434765919", "943 476 5919", "07700900123", "TS1 3BA", "sam.example"} {
		if strings.Contains(page, personal) {
			t.Errorf("the pseudonymised page shows %q", personal)
		}
	}
	recs, err := e.audit.Query(context.Background(), audit.Filter{Referral: id})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r audit.Record) bool { return r.Route == "GET /referrals/{id}" && r.Role == "ops" }) {
		t.Errorf("audit of %s: %+v, want the referral page's read by ops", id, recs)
	}

	full := e.browser()
	full.signIn(e.opsKey(keys.ScopePersonalData))
	if code, page, _ := full.get("/referrals/" + id); code != http.StatusOK || !strings.Contains(page, "Sam Example") || !strings.Contains(page, "943 476 5919") {
		t.Errorf("the referral for ops with personal_data: %d, want the name and NHS number", code)
	}
	admin := e.browser()
	admin.signIn(e.key(keys.RoleAdmin))
	if code, page, _ := admin.get("/referrals/" + id); code != http.StatusOK || !strings.Contains(page, "Sam Example") {
		t.Errorf("the referral for admin: %d, want the name", code)
	}
	for _, path := range []string{"/referrals/" + uuid.NewString(), "/referrals/not-an-id", "/referrals/" + id + "/more"} {
		if code, _, _ := ops.get(path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	lw := e.browser()
	lw.signIn(e.key(keys.RoleLinkWorker))
	for _, path := range []string{"/referrals/" + id, "/handoffs/expired", "/waitlists/U12345?format=csv"} {
		if code, page, _ := lw.get(path); code != http.StatusForbidden || strings.Contains(page, id) {
			t.Errorf("a link worker's GET %s: %d, want 403 showing nothing", path, code)
		}
	}
	if code, _, _ := lw.post("/referrals/"+id+"/assign", url.Values{"worker_id": {uuid.NewString()}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Errorf("a link worker's assign: %d, want 403", code)
	}
	anon := e.browser()
	if code, _, hdr := anon.get("/referrals/" + id); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
		t.Errorf("without a session: %d to %q, want 303 to sign in", code, hdr.Get("Location"))
	}
}

// TestOpsAssign: ops assign a waitlisted referral from its page, then
// reassign it, through the API's command; a form sent without a worker
// or a reason comes back with the errors beside the fields; a token
// serves once; a full worker's refusal shows beside the picker.
func TestOpsAssign(t *testing.T) {
	e := newEnv(t, withWorkspace)
	first, second, full := uuid.NewString(), uuid.NewString(), uuid.NewString()
	e.namedWorker(first, "Robin First", "U12345", "Riverside PCN", 10)
	e.namedWorker(second, "Kim Second", "U12345", "Riverside PCN", 10)
	e.namedWorker(full, "Lee Full", "U12345", "Riverside PCN", 0)
	id := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Sam", "Example")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.opsKey())
	path := "/referrals/" + id

	_, page, _ := b.get(path)
	token := formToken(t, page, path+"/assign")
	code, page, _ := b.post(path+"/assign", url.Values{"csrf": {token}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("assign without a worker or reason: %d, want 422", code)
	}
	for _, want := range []string{`class="error-summary"`, `href="#assign-worker-id"`, `href="#assign-reason"`, `id="assign-worker-id-error"`, `id="assign-reason-error"`, `aria-invalid="true"`, "<title>Error: "} {
		if !strings.Contains(page, want) {
			t.Errorf("the form sent back lacks %s", want)
		}
	}
	if h := e.history(id); slices.Contains(h, "ReferralAssigned") {
		t.Fatalf("an invalid form assigned the referral: %v", h)
	}

	// A full worker: the domain refuses, beside the picker.
	token = formToken(t, page, path+"/assign")
	code, page, _ = b.post(path+"/assign", url.Values{"csrf": {token}, "worker_id": {full}, "reason": {"closest to home"}})
	if code != http.StatusConflict || !strings.Contains(page, `id="assign-worker-id-error"`) || !strings.Contains(page, "closest to home") {
		t.Fatalf("assign to a full worker: %d, want 409 with the error beside the picker and the reason kept", code)
	}

	token = formToken(t, page, path+"/assign")
	code, _, hdr := b.post(path+"/assign", url.Values{"csrf": {token}, "worker_id": {first}, "reason": {"speaks the language"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), path+"?done=assigned") {
		t.Fatalf("assign: %d to %q, want 303 back to the page", code, hdr.Get("Location"))
	}
	if h := e.history(id); !slices.Contains(h, "ReferralAssigned") {
		t.Fatalf("after assign: %v, want ReferralAssigned", h)
	}
	if code, _, _ := b.post(path+"/assign", url.Values{"csrf": {token}, "worker_id": {second}, "reason": {"again"}}); code != http.StatusConflict {
		t.Errorf("the same form again: %d, want 409", code)
	}
	if h := e.history(id); slices.Contains(h, "ReferralReassigned") {
		t.Fatalf("a spent token reassigned: %v", h)
	}
	e.caughtUp()
	_, page, _ = b.get(path + "?done=assigned")
	if !strings.Contains(page, "Robin First") || !strings.Contains(page, ">Reassign<") || !strings.Contains(page, `id="done"`) {
		t.Errorf("after assign the page shows no worker, notice or reassign form")
	}
	token = formToken(t, page, path+"/assign")
	code, _, _ = b.post(path+"/assign", url.Values{"csrf": {token}, "worker_id": {second}, "reason": {"cover for leave"}})
	if code != http.StatusSeeOther {
		t.Fatalf("reassign: %d, want 303", code)
	}
	if h := e.history(id); !slices.Contains(h, "ReferralReassigned") {
		t.Fatalf("after reassign: %v, want ReferralReassigned", h)
	}
	if strings.Contains(e.logs.String(), "cover for leave") || strings.Contains(e.logs.String(), "Sam") {
		t.Errorf("the dashboard's log holds what was typed or the person's name")
	}
}

// TestOpsCSV: the waitlist and caseload pages link to CSVs of their
// tables, served to the session (the API takes keys, not sessions).
func TestOpsCSV(t *testing.T) {
	e := newEnv(t, withWorkspace)
	id := e.refer("U12345", pathwayv1.Priority_PRIORITY_URGENT, "Sam", "Example")
	other := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "=cmd", "Example")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.opsKey())
	_, page, _ := b.get("/waitlists/U12345?priority=urgent")
	if !strings.Contains(page, `href="/waitlists/U12345?format=csv&amp;priority=urgent"`) {
		t.Fatalf("the waitlist has no CSV link for what it shows")
	}
	code, body, hdr := b.get("/waitlists/U12345?format=csv&priority=urgent")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("the CSV: %d %s", code, hdr.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][1] != "referral_id" || rows[1][1] != id || rows[1][2] != "S.E." || rows[1][3] != "urgent" {
		t.Errorf("the urgent CSV: %q, want a header and the urgent referral", rows)
	}
	if strings.Contains(body, other) {
		t.Errorf("the urgent CSV holds the routine referral")
	}
}
