package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// referFrom submits the example referral of the person with the NHS
// number from practice (also the referrer's organisation) and returns its
// id once it has reached status, as the admin key reads it.
func (s *server) referFrom(refKey, adminKey, practice, nhs, status string) string {
	s.t.Helper()
	body := exampleReferral()
	body["gp_practice"] = practice
	body["referrer"].(map[string]any)["organisation"] = practice
	body["person"].(map[string]any)["nhs_number"] = nhs
	var created submitted
	if code, _ := s.do("POST", "/v1/referrals", refKey, body, &created); code != http.StatusCreated {
		s.t.Fatalf("referral from %s: %d", practice, code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v view
		s.do("GET", "/v1/referrals/"+created.ID, adminKey, nil, &v)
		if v.Status == status {
			return created.ID
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("referral %s is %s, want %s", created.ID, v.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLinkWorkerNeedToKnow: a link worker's key reaches its worker's
// caseload and its PCN's waitlist; every other referral answers on every
// route a link worker may use exactly as an unknown referral does (404,
// the same problem) and changes nothing. The team scope widens the key to
// its whole PCN, never another; a key without a worker reaches nothing.
func TestLinkWorkerNeedToKnow(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin, ops := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, "")
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	walkID := p.importSmall(admin).Results[0].ServiceID

	// PCN A (U12345, practice A81001): Ann has one place, then Ben one;
	// a third person waits. PCN B (U22222, practice A81002): Cat has one
	// place; a second person waits.
	ann := p.api().WorkerOf(ops, "Ann A", "U12345", "A81001", 1)
	mine := p.referFrom(refA, admin, "A81001", "9434765005", "assigned")
	p.api().WorkerOf(ops, "Ben A", "U12345", "A81001", 1)
	colleagues := p.referFrom(refA, admin, "A81001", "9434765013", "assigned") // Ben's: Ann is full
	waiting := p.referFrom(refA, admin, "A81001", "9434765021", "waitlisted")
	cat := p.api().WorkerOf(ops, "Cat B", "U22222", "A81002", 1)
	otherPCN := p.referFrom(refB, admin, "A81002", "9434765048", "assigned")
	otherWaiting := p.referFrom(refB, admin, "A81002", "9434765056", "waitlisted")

	// Cat hands her case off, so PCN B has a handoff.
	var hB struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+otherPCN+"/handoffs", p.linkWorkerKey(cat), map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}, &hB); code != http.StatusCreated {
		t.Fatalf("Cat's handoff: %d", code)
	}

	annKey := p.linkWorkerKey(ann)
	teamKey := p.linkWorkerKey(ann, keys.ScopeTeam)
	legacy := p.legacyLinkWorkerKey()
	const unknown = "01a2a6b0-0000-7000-8000-00000000dead"

	// Every referral route a link worker may use, with a body it accepts,
	// so that only need-to-know can refuse it.
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/referrals/{id}", nil},
		{"GET", "/v1/referrals/{id}/timeline", nil},
		{"GET", "/fhir/r4/ServiceRequest/{id}", nil},
		{"GET", "/fhir/r4/Task/{id}", nil},
		{"POST", "/v1/referrals/{id}/contacts", map[string]any{"kind": "phone", "when": past, "duration_minutes": 10}},
		{"POST", "/v1/referrals/{id}/plan", map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group"}}}},
		{"POST", "/v1/referrals/{id}/outcomes", map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}}},
		{"POST", "/v1/referrals/{id}/discharge", map[string]string{"reason": "goals_met"}},
		{"POST", "/v1/referrals/{id}/reopen", map[string]string{"reason": "asked to restart"}},
		{"POST", "/v1/referrals/{id}/handoffs", map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}},
	}
	handoffRoutes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/handoffs/{id}", nil},
		{"POST", "/v1/handoffs/{id}/cancel", map[string]string{"reason": "duplicate"}},
		{"POST", "/v1/handoffs/{id}/entered-in-error", map[string]string{"reason": "duplicate"}},
	}

	// unreachable checks that key gets for the referral (or handoff) id on
	// every route what it gets for an unknown one, and that the log does
	// not grow.
	unreachable := func(t *testing.T, key, id string, handoff bool) {
		t.Helper()
		rs := routes
		if handoff {
			rs = handoffRoutes
		}
		before := p.logLength()
		for _, rt := range rs {
			var got, want map[string]any
			code, _ := p.do(rt.method, replaceID(rt.path, id), key, rt.body, &got)
			wantCode, _ := p.do(rt.method, replaceID(rt.path, unknown), key, rt.body, &want)
			if code != http.StatusNotFound || wantCode != http.StatusNotFound || !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %d %v, want 404 %v as for an unknown id (%d)", rt.method, rt.path, code, got, want, wantCode)
			}
		}
		if after := p.logLength(); after != before {
			t.Errorf("refused requests grew the log from %d to %d", before, after)
		}
	}
	reads := func(t *testing.T, key, id string) {
		t.Helper()
		for _, rt := range routes[:4] { // the reads
			if code, _ := p.do(rt.method, replaceID(rt.path, id), key, nil, nil); code != http.StatusOK {
				t.Errorf("%s %s: got %d, want 200", rt.method, rt.path, code)
			}
		}
	}

	t.Run("own caseload and PCN waitlist", func(t *testing.T) {
		reads(t, annKey, mine)
		reads(t, annKey, waiting)
		var res submitted
		if code, _ := p.do("POST", "/v1/referrals/"+mine+"/contacts", annKey, routes[4].body, &res); code != http.StatusOK || res.Status != "assigned" {
			t.Errorf("contact on her own case: %d %+v, want 200", code, res)
		}
	})
	t.Run("another PCN", func(t *testing.T) {
		unreachable(t, annKey, otherPCN, false)
		unreachable(t, annKey, otherWaiting, false)
		unreachable(t, annKey, hB.ID, true)
	})
	t.Run("own PCN, not on the caseload or waitlist", func(t *testing.T) {
		unreachable(t, annKey, colleagues, false)
	})
	t.Run("team scope", func(t *testing.T) {
		reads(t, teamKey, mine)
		reads(t, teamKey, waiting)
		reads(t, teamKey, colleagues)
		unreachable(t, teamKey, otherPCN, false)
		unreachable(t, teamKey, otherWaiting, false)
		unreachable(t, teamKey, hB.ID, true)
	})
	t.Run("key without a worker", func(t *testing.T) {
		for _, id := range []string{mine, waiting, colleagues, otherPCN} {
			unreachable(t, legacy, id, false)
		}
		unreachable(t, legacy, hB.ID, true)
	})
	t.Run("the PCN's own worker", func(t *testing.T) {
		catKey := p.linkWorkerKey(cat)
		reads(t, catKey, otherPCN)
		reads(t, catKey, otherWaiting)
		if code, _ := p.do("GET", "/v1/handoffs/"+hB.ID, catKey, nil, nil); code != http.StatusOK {
			t.Errorf("Cat's own handoff: %d, want 200", code)
		}
		unreachable(t, catKey, mine, false)
	})
}

// TestOpsSeePseudonyms: an ops key reads every endpoint it may call and
// finds none of the person's identifying details or free text, only the
// initials; an ops key with the personal_data scope gets the person's
// details on the referral reads and the handoff.
func TestOpsSeePseudonyms(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin, ops := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, "")
	opsPersonal := p.keyFor(keys.Spec{Role: keys.RoleOps, Scopes: []keys.Scope{keys.ScopePersonalData}})
	ref := p.key(keys.RoleReferrer, "A81001")

	// Ruth Testperson, with every personal field and free text filled,
	// referred from outside the area with a safeguarding concern, is
	// triaged and assigned by hand (reasons are free text) onto a worker's
	// caseload, with a contact, a plan and a handoff.
	triage := p.key(keys.RoleTriage, "")
	personal := map[string]string{
		"triage reason": "Ruth is known to the practice nurse", "assignment reason": "Alex knows Ruth's family",
		"triage destination": "Ruth's daughter's GP in Leeds", "triage decline reason": "Ruth moved in with Dan",
		"given name": "Ruth", "family name": "Testperson", "NHS number": "9434765064", "phone": "07700900456",
		"email": "ruth.t@example.org", "date of birth": "1948-07-02", "postcode": "TS5 6AB",
		"accessibility needs": "Uses a wheelchair", "what matters": "Walks by the river",
		"safeguarding details": "Neighbour takes her pension", "referrer's name": "Dr Quinn Referrer",
		"contact note": "Her son Arlo answered", "plan": "Sing in a choir again", "handoff note": "Ring after five",
		"external reference": "HOSP-556677",
	}
	body := exampleReferral()
	person := body["person"].(map[string]any)
	person["given_name"], person["family_name"], person["nhs_number"] = personal["given name"], personal["family name"], personal["NHS number"]
	person["phone"], person["email"], person["date_of_birth"] = personal["phone"], personal["email"], personal["date of birth"]
	person["postcode"], person["accessibility_needs"] = personal["postcode"], personal["accessibility needs"]
	body["what_matters"] = personal["what matters"]
	body["safeguarding"] = map[string]any{"concern": true, "details": personal["safeguarding details"]}
	body["referrer"] = map[string]any{"name": personal["referrer's name"], "role": "GP", "organisation": "A81001"}
	body["consent"] = map[string]any{"given": true, "recorded_by": personal["referrer's name"], "recorded_at": "2026-11-20T10:00:00Z"}
	body["external_reference"] = personal["external reference"]
	body["gp_practice"] = "A81006"

	worker := p.worker(ops, "Alex Link", 5)
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, body, &created); code != http.StatusCreated {
		t.Fatalf("referral: %d", code)
	}
	status := func(want string) func() bool {
		return func() bool {
			var v view
			p.do("GET", "/v1/referrals/"+created.ID, admin, nil, &v)
			return v.Status == want
		}
	}
	eventually(t, "the referral in manual triage", status("awaiting_triage"))
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/triage", triage, map[string]string{"decision": "accept", "reason": personal["triage reason"],
		// Staff text in every triage field, which an accept does not need.
		"destination": personal["triage destination"], "decline_reason": personal["triage decline reason"]}, nil); code != http.StatusOK {
		t.Fatalf("triage: %d", code)
	}
	eventually(t, "the referral waitlisted", status("waitlisted"))
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/assign", admin, map[string]string{"worker_id": worker, "reason": personal["assignment reason"]}, nil); code != http.StatusOK {
		t.Fatalf("assign: %d", code)
	}
	lw := p.linkWorkerKey(worker)
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/contacts", lw, map[string]any{"kind": "phone", "when": past, "duration_minutes": 10, "note": personal["contact note"]}, nil); code != http.StatusOK {
		t.Fatalf("contact: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/plan", lw, map[string]any{"what_matters": personal["plan"], "goals": []map[string]string{{"description": personal["plan"]}}}, nil); code != http.StatusOK {
		t.Fatalf("plan: %d", code)
	}
	walkID := p.importSmall(admin).Results[0].ServiceID
	var h struct {
		ID       string
		Sequence uint64
	}
	everything := []string{"given_name", "family_name", "date_of_birth", "phone", "email", "postcode", "needs", "what_matters", "language", "accessibility_needs", "preferred_contact", "nhs_number"}
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/handoffs", lw, map[string]any{"service_id": walkID, "shared_fields": everything, "consent": true, "note": personal["handoff note"]}, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}
	last := p.logLength()

	// Every GET endpoint an ops key may call, with its path filled in.
	ids := map[string]string{"/v1/referrals/": created.ID, "/fhir/r4/ServiceRequest/": created.ID, "/fhir/r4/Task/": created.ID, "/v1/handoffs/": h.ID,
		"/v1/workers/": worker, "/v1/directory/services/": walkID, "/v1/caseloads/": worker, "/v1/waitlists/": "U12345"}
	fill := func(t *testing.T, pattern string) string {
		t.Helper()
		path := pattern
		for _, param := range []string{"{id}", "{worker}", "{queue}"} {
			before, after, found := strings.Cut(path, param)
			if !found {
				continue
			}
			id, ok := ids[before]
			if !ok {
				t.Fatalf("%s: the test has no value for %s; add one", pattern, param)
			}
			path = before + id + after
		}
		// The query a route needs, besides min_seq.
		query := map[string]string{"/v1/reports/activity": "month=" + kernel.Month(time.Now()) + "&"}
		return path + "?" + query[pattern] + "min_seq=" + strconv.FormatUint(last, 10)
	}
	read := func(t *testing.T, key, path string) string {
		t.Helper()
		if strings.HasPrefix(path, "/metrics") { // text, not JSON
			req, _ := http.NewRequest("GET", p.base+path, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s, want 200", path, resp.StatusCode, b)
			}
			return string(b)
		}
		var raw json.RawMessage
		if code, _ := p.do("GET", path, key, nil, &raw); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s, want 200", path, code, raw)
		}
		return string(raw)
	}
	for _, route := range httpapi.Routes() {
		if route.Method != "GET" || !containsRole(route.Roles, keys.RoleOps) {
			continue
		}
		t.Run(route.Path, func(t *testing.T) {
			got := read(t, ops, fill(t, route.Path))
			for what, value := range personal {
				if strings.Contains(got, value) {
					t.Errorf("the ops key got the %s (%q)", what, value)
				}
			}
		})
	}

	// The handoff names the fields shared, without their values.
	var hv struct {
		SharedFields []string `json:"shared_fields"`
	}
	if p.do("GET", "/v1/handoffs/"+h.ID, ops, nil, &hv); len(hv.SharedFields) != len(everything) {
		t.Errorf("the ops handoff names %v, want the %d fields shared", hv.SharedFields, len(everything))
	}
	// The timeline still shows the coded facts: the worker assigned.
	if got := read(t, ops, "/v1/referrals/"+created.ID+"/timeline"); !strings.Contains(got, `"worker_id":"`+worker+`"`) {
		t.Errorf("the ops timeline: %s, want the assignment's worker_id", got)
	}
	// The referral reads show the initials; with the personal_data scope,
	// the person, and the handoff its shared data.
	for _, path := range []string{"/v1/referrals/" + created.ID, "/fhir/r4/ServiceRequest/" + created.ID} {
		if got := read(t, ops, path); !strings.Contains(got, "R.T.") {
			t.Errorf("GET %s as ops: no initials R.T. in %s", path, got)
		}
		got := read(t, opsPersonal, path)
		for _, what := range []string{"given name", "family name", "NHS number", "phone", "email", "date of birth", "postcode"} {
			if !strings.Contains(got, personal[what]) {
				t.Errorf("GET %s with the personal_data scope: no %s", path, what)
			}
		}
	}
	if got := read(t, opsPersonal, "/v1/handoffs/"+h.ID); !strings.Contains(got, personal["phone"]) || !strings.Contains(got, personal["given name"]) || !strings.Contains(got, personal["handoff note"]) {
		t.Errorf("the handoff with the personal_data scope: %s, want the shared data and the note", got)
	}
	if got := read(t, opsPersonal, "/v1/referrals/"+created.ID+"/timeline"); !strings.Contains(got, personal["contact note"]) {
		t.Errorf("the timeline with the personal_data scope: %s, want the events' details", got)
	}
}

// TestDuplicateAcrossOrganisations: a referral refused because the person
// has an open referral of another organisation answers 409 with nothing of
// that referral (no id, no link), only that the person may be known to the
// service and to call it, in JSON and in FHIR; the organisation that made
// the open referral is still told which it is.
func TestDuplicateAcrossOrganisations(t *testing.T) {
	t.Parallel()
	p := start(t)
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	var open submitted
	if code, _ := p.do("POST", "/v1/referrals", refA, exampleReferral(), &open); code != http.StatusCreated {
		t.Fatalf("A's referral: %d", code)
	}
	fromB := exampleReferral()
	fromB["referrer"].(map[string]any)["organisation"] = "A81002"
	fhirA, err := os.ReadFile("../fhir/testdata/gp-referral.json") // the same person, from A81001
	if err != nil {
		t.Fatal(err)
	}
	fhirB := strings.ReplaceAll(string(fhirA), "A81001", "A81002")
	admin := p.key(keys.RoleAdmin, "")
	eventually(t, "A's referral waiting", func() bool { // triaged and placed: nothing more to append
		var v view
		p.do("GET", "/v1/referrals/"+open.ID, admin, nil, &v)
		return v.Status == "waitlisted"
	})
	before := p.logLength()

	for name, req := range map[string]struct {
		path string
		body any
	}{"JSON": {"/v1/referrals", fromB}, "FHIR": {"/fhir/r4/ServiceRequest", fhirB}} {
		t.Run("another organisation, "+name, func(t *testing.T) {
			var raw json.RawMessage
			code, hdr := p.do("POST", req.path, refB, req.body, &raw)
			if code != http.StatusConflict {
				t.Fatalf("got %d %s, want 409", code, raw)
			}
			if strings.Contains(string(raw), open.ID) || hdr.Get("Link") != "" || strings.Contains(string(raw), "open_referral") {
				t.Errorf("got Link %q and %s, want nothing of the open referral", hdr.Get("Link"), raw)
			}
			if !strings.Contains(string(raw), "may already be known to the social prescribing service") || !strings.Contains(string(raw), "call the service") {
				t.Errorf("got %s, want to be told to call the service", raw)
			}
		})
	}
	if after := p.logLength(); after != before {
		t.Errorf("the refused referrals grew the log from %d to %d", before, after)
	}

	// The organisation of the open referral is told which it is, as before.
	var prob struct {
		Type           string `json:"type"`
		OpenReferralID string `json:"open_referral_id"`
	}
	code, hdr := p.do("POST", "/v1/referrals", refA, exampleReferral(), &prob, "Idempotency-Key", "again")
	if code != http.StatusConflict || prob.OpenReferralID != open.ID || !strings.Contains(hdr.Get("Link"), open.ID) {
		t.Errorf("A again: %d %+v Link %q, want 409 naming and linking %s", code, prob, hdr.Get("Link"), open.ID)
	}
	var raw json.RawMessage
	code, hdr = p.do("POST", "/fhir/r4/ServiceRequest", refA, fhirA, &raw, "Idempotency-Key", "again-in-fhir")
	if code != http.StatusConflict || !strings.Contains(string(raw), open.ID) || !strings.Contains(hdr.Get("Link"), open.ID) {
		t.Errorf("A again in FHIR: %d %s Link %q, want 409 naming and linking %s", code, raw, hdr.Get("Link"), open.ID)
	}
}
