package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// The person of the erasure tests: values distinctive enough to find in
// raw bytes.
const (
	eraseNHS    = "9434765919"
	eraseGiven  = "Quillonetta"
	eraseFamily = "Zabrowski"
	erasePhone  = "07700900461"
)

var eraseTraces = []string{eraseNHS, "943 476 5919", eraseGiven, eraseFamily, erasePhone}

// referPerson posts a referral of the erasure tests' person and waits
// until it is assigned (a worker must have a place).
func (p *pathway) referPerson(refKey, opsKey string) string {
	p.t.Helper()
	body := exampleReferral()
	body["person"] = map[string]any{
		"nhs_number": eraseNHS, "given_name": eraseGiven, "family_name": eraseFamily,
		"date_of_birth": "1956-03-14", "postcode": "TS1 3BA", "phone": erasePhone,
		"preferred_contact": "phone", "language": "en",
	}
	var sub submitted
	if code, _ := p.do("POST", "/v1/referrals", refKey, body, &sub); code != http.StatusCreated {
		p.t.Fatalf("refer: %d", code)
	}
	eventually(p.t.(*testing.T), "the referral assigned", func() bool {
		var v view
		p.do("GET", "/v1/referrals/"+sub.ID, opsKey, nil, &v)
		return v.Status == "assigned"
	})
	return sub.ID
}

// stats are the non-personal answers erasure must leave as they were
// (without when they were asked and the log position they reflect).
func (p *pathway) stats(opsKey string) string {
	p.t.Helper()
	var out []string
	for _, path := range []string{"/v1/stats/funnel", "/v1/waitlists", "/v1/caseloads", "/v1/stats/partners"} {
		var v map[string]any
		if code, _ := p.do("GET", path, opsKey, nil, &v); code != http.StatusOK {
			p.t.Fatalf("GET %s: %d", path, code)
		}
		delete(v, "as_of") // when it was asked
		delete(v, "sequence")
		b, _ := json.Marshal(v)
		out = append(out, path+" "+string(b))
	}
	return strings.Join(out, "\n")
}

// scanDir returns which of needles occur in any file under dir.
func scanDir(tb testing.TB, dir string, needles ...string) []string {
	tb.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found[n+" in "+strings.TrimPrefix(path, dir)] = true
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for f := range found {
		out = append(out, f)
	}
	return out
}

// TestErasureMustShow: create, read and erase a person. The raw data
// directory then holds no trace of their NHS number, name or phone; every
// API and FHIR read says erased; counts and waits are unchanged; and a
// restart and `pathway rebuild` give the same answers.
func TestErasureMustShow(t *testing.T) {
	data := t.TempDir()
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = data, "127.0.0.1:0", "127.0.0.1:0"
	p := startPathwayWith(t, cfg)
	k := p.vcseKeys()
	rep := p.importSmall(k.admin)
	walkID := rep.Results[0].ServiceID
	lw := p.linkWorkerKey(p.worker(k.ops, "Alex Link", 5))

	// Create and read.
	id := p.referPerson(k.ref, k.ops)
	var h struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+id+"/handoffs", lw, map[string]any{
		"service_id": walkID, "shared_fields": []string{"given_name", "phone"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}
	var before map[string]any
	p.do("GET", "/v1/referrals/"+id, k.admin, nil, &before)
	if b, _ := json.Marshal(before); !bytes.Contains(b, []byte(eraseFamily)) || !bytes.Contains(b, []byte(eraseNHS)) {
		t.Fatalf("before erasure the referral does not show the person: %s", b)
	}
	var shared map[string]any
	p.do("GET", "/v1/partner/handoffs/"+h.ID, k.partnerA, nil, &shared)
	if b, _ := json.Marshal(shared); !bytes.Contains(b, []byte(eraseGiven)) {
		t.Fatalf("before erasure the partner does not see the shared name: %s", b)
	}
	// Stored in the log, none of it is in clear even now.
	if found := scanDir(t, data, eraseTraces...); len(found) > 0 {
		t.Errorf("before erasure, the data directory holds in clear: %v", found)
	}

	// An open referral cannot be erased; close it first.
	erase := map[string]any{"nhs_number": eraseNHS, "ground": "subject_request", "reason": "Erasure request DP-2291"}
	if code, _ := p.do("POST", "/v1/people/erase", k.admin, erase, nil); code != http.StatusConflict {
		t.Errorf("erase with an open referral: %d, want 409", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+id+"/discharge", lw, map[string]any{"reason": "goals_met"}, nil); code != http.StatusOK {
		t.Fatalf("discharge: %d", code)
	}
	var hs struct{ Status string }
	eventually(t, "the handoff cancelled with its referral", func() bool {
		p.do("GET", "/v1/handoffs/"+h.ID, k.ops, nil, &hs)
		return hs.Status == "cancelled"
	})
	time.Sleep(200 * time.Millisecond) // let the read models see the discharge
	stats := p.stats(k.ops)

	// Only an admin, and with a reason that names no one.
	if code, _ := p.do("POST", "/v1/people/erase", k.ops, erase, nil); code != http.StatusForbidden {
		t.Errorf("erase by ops: %d, want 403", code)
	}
	named := map[string]any{"nhs_number": eraseNHS, "ground": "subject_request", "reason": "Ms " + eraseFamily + " asked"}
	var pr problem
	if code, _ := p.do("POST", "/v1/people/erase", k.admin, named, &pr); code != http.StatusBadRequest {
		t.Errorf("erase with a reason naming the person: %d %+v, want 400", code, pr)
	}

	// Erase.
	var res struct {
		Referrals []struct {
			ReferralID string   `json:"referral_id"`
			Handoffs   []string `json:"handoffs_erased"`
		}
	}
	if code, _ := p.do("POST", "/v1/people/erase", k.admin, erase, &res, "Idempotency-Key", "erase-1"); code != http.StatusOK {
		t.Fatalf("erase: %d", code)
	}
	if len(res.Referrals) != 1 || res.Referrals[0].ReferralID != id || len(res.Referrals[0].Handoffs) != 1 || res.Referrals[0].Handoffs[0] != h.ID {
		t.Fatalf("erase: %+v, want referral %s with handoff %s", res, id, h.ID)
	}

	checkErased := func(p *pathway, when string) {
		t.Helper()
		var v map[string]any
		p.do("GET", "/v1/referrals/"+id, k.admin, nil, &v)
		b, _ := json.Marshal(v)
		if v["erased"] != true || v["erasure"] == nil {
			t.Errorf("%s: GET referral: %s, want erased with the erasure", when, b)
		}
		for _, tr := range eraseTraces {
			if bytes.Contains(b, []byte(tr)) {
				t.Errorf("%s: GET referral still shows %q", when, tr)
			}
		}
		if v["status"] != "discharged" {
			t.Errorf("%s: status %v, want discharged still", when, v["status"])
		}
		code, _ := p.do("GET", "/fhir/r4/ServiceRequest/"+id, k.admin, nil, &v)
		b, _ = json.Marshal(v)
		if code != http.StatusOK || !bytes.Contains(b, []byte(`"code":"erased"`)) {
			t.Errorf("%s: FHIR read: %d %s, want tagged erased", when, code, b)
		}
		for _, tr := range eraseTraces {
			if bytes.Contains(b, []byte(tr)) {
				t.Errorf("%s: FHIR read still shows %q", when, tr)
			}
		}
		p.do("GET", "/v1/handoffs/"+h.ID, k.ops, nil, &v)
		b, _ = json.Marshal(v)
		if bytes.Contains(b, []byte(eraseGiven)) || bytes.Contains(b, []byte(erasePhone)) || v["erased"] != true {
			t.Errorf("%s: the handoff: %s, want erased with nothing shared left", when, b)
		}
		p.do("GET", "/v1/partner/handoffs/"+h.ID, k.partnerA, nil, &v)
		b, _ = json.Marshal(v)
		if bytes.Contains(b, []byte(eraseGiven)) || bytes.Contains(b, []byte(erasePhone)) {
			t.Errorf("%s: the partner still sees %s", when, b)
		}
		if got := p.stats(k.ops); got != stats {
			t.Errorf("%s: counts and waits changed:\n%s\nwant\n%s", when, got, stats)
		}
	}
	checkErased(p, "after erasure")

	// A retry with the same key answers as the first time.
	if code, _ := p.do("POST", "/v1/people/erase", k.admin, erase, nil, "Idempotency-Key", "erase-1"); code != http.StatusOK {
		t.Errorf("retried erase: %d, want 200", code)
	}

	// Nothing on disk yields the person; the scan does read the store
	// (the referral id is there in clear).
	p.stop()
	if found := scanDir(t, data, eraseTraces...); len(found) > 0 {
		t.Errorf("after erasure, the data directory holds: %v", found)
	}
	if found := scanDir(t, data, id); len(found) == 0 {
		t.Fatalf("the scan found not even the referral id: it reads nothing")
	}

	// A rebuild of every read model, then a restart, answer the same.
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"rebuild", "--data", data}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out.String(), errb.String())
	}
	p2 := startPathwayWith(t, cfg)
	checkErased(p2, "after a rebuild and a restart")
}

// TestEraseCommand erases a referral entered in error with `pathway erase`
// while pathway serve runs on the data directory: the running server
// drops what it held of the person at once (it watches the data keys).
func TestEraseCommand(t *testing.T) {
	data := t.TempDir()
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = data, "127.0.0.1:0", "127.0.0.1:0"
	p := startPathwayWith(t, cfg)
	admin, ops, ref := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, ""), p.key(keys.RoleReferrer, "A81001")
	p.worker(ops, "Alex Link", 5)
	id := p.referPerson(ref, ops)
	if code, _ := p.do("POST", "/v1/referrals/"+id+"/cancel", ref, map[string]any{"reason": "entered-in-error", "note": "wrong patient"}, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	var v map[string]any
	p.do("GET", "/v1/referrals/"+id, admin, nil, &v) // the server now holds it in memory

	env := func(string) string { return "" }
	var out, errb bytes.Buffer
	args := []string{"erase", "--data", data, "--referral", id, "--ground", "entered_in_error", "--reason", "Wrong patient selected at the practice", "--by", "admin-7"}
	if code := run(t.Context(), args[:4], env, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--ground") {
		t.Errorf("erase without ground, reason and by: exit %d, %q; want 2 naming what is missing", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(t.Context(), args, env, &out, &errb); code != 0 {
		t.Fatalf("pathway erase: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), id) {
		t.Errorf("pathway erase printed %q, want the referral erased", out.String())
	}
	eventually(t, "the running server shows the referral erased", func() bool {
		clear(v)
		p.do("GET", "/v1/referrals/"+id, admin, nil, &v)
		b, _ := json.Marshal(v)
		return v["erased"] == true && !bytes.Contains(b, []byte(eraseFamily))
	})
	if e, _ := v["erasure"].(map[string]any); e["ground"] != "entered_in_error" || e["reason"] != "Wrong patient selected at the practice" {
		t.Errorf("erasure: %v, want its ground and reason", v["erasure"])
	}
	var tl struct {
		Events []struct {
			Type    string
			ActorID string `json:"actor_id"`
		}
	}
	p.do("GET", "/v1/referrals/"+id+"/timeline", admin, nil, &tl)
	last := tl.Events[len(tl.Events)-1]
	if last.Type != "ReferralErased" || last.ActorID != "cli:admin-7" {
		t.Errorf("timeline ends with %+v, want the erasure by cli:admin-7", last)
	}
}

// TestSubjectAccessMustShow: the subject access export of a person with a
// referral, a handoff and three reads contains all of them, and the audit
// lists those reads; a break-glass read is audited with its reason.
func TestSubjectAccessMustShow(t *testing.T) {
	data := t.TempDir()
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = data, "127.0.0.1:0", "127.0.0.1:0"
	p := startPathwayWith(t, cfg)
	k := p.vcseKeys()
	walkID := p.importSmall(k.admin).Results[0].ServiceID
	worker := p.worker(k.ops, "Alex Link", 5)
	lw := p.linkWorkerKey(worker)
	id := p.referPerson(k.ref, k.ops)
	var h struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+id+"/handoffs", lw, map[string]any{
		"service_id": walkID, "shared_fields": []string{"given_name", "phone"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}

	// Three reads, by three keys.
	for _, rd := range []struct{ path, key string }{
		{"/v1/referrals/" + id, k.admin}, {"/v1/referrals/" + id + "/timeline", lw}, {"/fhir/r4/ServiceRequest/" + id, k.ref},
	} {
		if code, _ := p.do("GET", rd.path, rd.key, nil, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d", rd.path, code)
		}
	}
	// A link worker of another PCN reaches it only through the glass, and
	// the read is on the record with its reason.
	other := p.linkWorkerKey(p.api().WorkerOf(k.ops, "Bo Link", "U99999", "B82001", 5))
	if code, _ := p.do("GET", "/v1/referrals/"+id, other, nil, nil); code != http.StatusNotFound {
		t.Errorf("another PCN's link worker: %d, want 404", code)
	}
	if code, _ := p.do("GET", "/v1/referrals/"+id, other, nil, nil, "Pathway-Access-Reason", "covering for Alex, urgent callback"); code != http.StatusOK {
		t.Errorf("break-glass read: %d, want 200", code)
	}

	type record struct {
		KeyID  string `json:"key_id"`
		Route  string `json:"route"`
		Reason string `json:"reason"`
	}
	var audited struct{ Records []record }
	if code, _ := p.do("GET", "/v1/audit?referral="+id, k.admin, nil, &audited); code != http.StatusOK {
		t.Fatalf("GET /v1/audit: %d", code)
	}
	has := func(recs []record, route, reason string) bool {
		for _, r := range recs {
			if r.Route == route && r.Reason == reason {
				return true
			}
		}
		return false
	}
	for _, route := range []string{"GET /v1/referrals/{id}", "GET /v1/referrals/{id}/timeline", "GET /fhir/r4/ServiceRequest/{id}"} {
		if !has(audited.Records, route, "") {
			t.Errorf("the audit lacks the read %s: %+v", route, audited.Records)
		}
	}
	if !has(audited.Records, "GET /v1/referrals/{id}", "covering for Alex, urgent callback") {
		t.Errorf("the audit lacks the break-glass read with its reason")
	}
	if b, _ := json.Marshal(audited); bytes.Contains(b, []byte(eraseFamily)) || bytes.Contains(b, []byte(eraseNHS)) {
		t.Errorf("the audit holds personal data: %s", b)
	}
	if code, _ := p.do("GET", "/v1/audit?referral="+id, k.ops, nil, nil); code != http.StatusForbidden {
		t.Errorf("the audit read by ops: %d, want 403", code)
	}

	// The export, through the API and the command line.
	var x struct {
		Referrals []struct {
			ID     string
			Events []struct{ Type string }
			Views  map[string]any `json:"read_models"`
		}
		Handoffs []struct {
			ID     string
			Shared map[string]any
		}
		Audit []record
	}
	if code, _ := p.do("POST", "/v1/people/access-request", k.admin, map[string]any{"nhs_number": eraseNHS}, &x); code != http.StatusOK {
		t.Fatalf("access request: %d", code)
	}
	if len(x.Referrals) != 1 || x.Referrals[0].ID != id || len(x.Referrals[0].Events) < 3 || x.Referrals[0].Views["caseloads"] == nil {
		t.Errorf("export referrals: %+v, want the referral with its events and its caseload", x.Referrals)
	}
	if len(x.Handoffs) != 1 || x.Handoffs[0].ID != h.ID || x.Handoffs[0].Shared["given_name"] != eraseGiven {
		t.Errorf("export handoffs: %+v, want the handoff with what was shared", x.Handoffs)
	}
	for _, route := range []string{"GET /v1/referrals/{id}", "GET /v1/referrals/{id}/timeline", "GET /fhir/r4/ServiceRequest/{id}"} {
		if !has(x.Audit, route, "") {
			t.Errorf("the export's audit lacks %s", route)
		}
	}
	out := filepath.Join(t.TempDir(), "sar.json")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"sar", "--data", data, "--nhs-number", eraseNHS, "--out", out, "--by", "dpo-3"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("pathway sar: exit %d\n%s", code, stderr.String())
	}
	page, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".html")
	if err != nil || !bytes.Contains(page, []byte(eraseFamily)) || !bytes.Contains(page, []byte("Who looked at your record")) {
		t.Errorf("the HTML summary: %v, want the person and who read their record", err)
	}
	// Both exports are on the record.
	p.do("GET", "/v1/audit?referral="+id, k.admin, nil, &audited)
	if !has(audited.Records, "POST /v1/people/access-request", "") || !has(audited.Records, "pathway sar", "") {
		t.Errorf("the exports are not on the record: %+v", audited.Records)
	}
}
