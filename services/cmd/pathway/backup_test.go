package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/keyring"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/erasure"
	"github.com/pathway-sp/pathway/services/keys"
)

// Fields of read answers that legitimately differ between two asks of
// the same log; every other field must be the same after a restore:
//   - at the top of an answer, when it was made (as_of) and the log
//     position its view has read to (sequence: a view resumed after a
//     start has read to the log's end, a live one names the last event it
//     applied; both are the same state);
//   - anywhere, how long people have waited until the clock's now
//     (waited, median_wait, oldest_wait: from "since", which is compared);
//   - a FHIR search Bundle's meta.lastUpdated (when the Bundle was made;
//     its entries' are compared);
//   - the server's own address in FHIR URLs, which differs by process.
var (
	madeWhen  = []string{"as_of", "sequence"}
	waitsTill = []string{"waited", "median_wait", "oldest_wait"}
)

// read is one GET of a read endpoint with the key of a role allowed it.
type read struct{ path, key string }

// region is what TestBackupRestoreMustShow writes: ids and keys to read
// it back with.
type region struct {
	k                          vcseKeys
	triage, lw                 string
	worker                     string
	erased, interrupted, late  string
	ids                        []string
	handoff, erasedHandoff     string
	walk                       string
	partnerHooks, referrerHook *apitest.Receiver
}

// reads lists every GET route of the API (httpapi.Routes) with the
// requests that read it for the region; a route missing here fails the
// test, so a new read endpoint joins the comparison.
func (r region) reads(t *testing.T) []read {
	t.Helper()
	k := r.k
	byRoute := map[string][]read{
		"/v1/referrals":                    {{"/v1/referrals", k.ref}},
		"/v1/referrals/{id}":               nil,
		"/v1/referrals/{id}/timeline":      nil,
		"/v1/triage/queue":                 {{"/v1/triage/queue", r.triage}},
		"/v1/me":                           {{"/v1/me", k.ops}, {"/v1/me", r.lw}},
		"/v1/workers/{id}":                 {{"/v1/workers/" + r.worker, k.ops}},
		"/v1/waitlists":                    {{"/v1/waitlists", k.ops}},
		"/v1/waitlists/{queue}":            {{"/v1/waitlists/U12345", k.ops}},
		"/v1/caseloads":                    {{"/v1/caseloads", k.ops}},
		"/v1/stats/funnel":                 {{"/v1/stats/funnel", k.ops}},
		"/v1/caseloads/{worker}":           {{"/v1/caseloads/" + r.worker, r.lw}},
		"/v1/alerts":                       {{"/v1/alerts", k.ops}},
		"/v1/reports/activity":             {{"/v1/reports/activity?month=" + time.Now().UTC().Format("2006-01"), k.ops}},
		"/v1/reports/demand":               {{"/v1/reports/demand", k.ops}},
		"/v1/directory/services":           {{"/v1/directory/services", k.ops}},
		"/v1/directory/services/{id}":      {{"/v1/directory/services/" + r.walk, k.ops}},
		"/v1/handoffs/{id}":                {{"/v1/handoffs/" + r.handoff, k.ops}, {"/v1/handoffs/" + r.erasedHandoff, k.ops}},
		"/v1/partner/handoffs":             {{"/v1/partner/handoffs", k.partnerA}},
		"/v1/partner/handoffs/{id}":        {{"/v1/partner/handoffs/" + r.handoff, k.partnerA}, {"/v1/partner/handoffs/" + r.erasedHandoff, k.partnerA}},
		"/v1/partner/services":             {{"/v1/partner/services", k.partnerA}},
		"/v1/partner/webhooks":             {{"/v1/partner/webhooks", k.partnerA}},
		"/v1/partner/webhooks/deliveries":  {{"/v1/partner/webhooks/deliveries", k.partnerA}},
		"/v1/referrer/webhooks":            {{"/v1/referrer/webhooks", k.ref}},
		"/v1/referrer/webhooks/deliveries": {{"/v1/referrer/webhooks/deliveries", k.ref}},
		"/v1/stats/partners":               {{"/v1/stats/partners", k.ops}},
		"/fhir/r4/ServiceRequest":          {{"/fhir/r4/ServiceRequest", k.ref}, {"/fhir/r4/ServiceRequest?status=active", k.ref}},
		"/fhir/r4/ServiceRequest/{id}":     nil,
		"/fhir/r4/Task/{id}":               nil,
		// Read apart (auditTrail): every read of a referral adds to it.
		"/v1/audit": {},
		// The process's own counters, not the log's: not compared.
		"/metrics": {},
	}
	for _, id := range append([]string{r.erased, r.interrupted}, r.ids...) {
		byRoute["/v1/referrals/{id}"] = append(byRoute["/v1/referrals/{id}"], read{"/v1/referrals/" + id, k.admin})
		byRoute["/v1/referrals/{id}/timeline"] = append(byRoute["/v1/referrals/{id}/timeline"], read{"/v1/referrals/" + id + "/timeline", k.admin})
		byRoute["/fhir/r4/ServiceRequest/{id}"] = append(byRoute["/fhir/r4/ServiceRequest/{id}"], read{"/fhir/r4/ServiceRequest/" + id, k.admin})
		byRoute["/fhir/r4/Task/{id}"] = append(byRoute["/fhir/r4/Task/{id}"], read{"/fhir/r4/Task/" + id, k.admin})
	}
	var out []read
	for _, rt := range httpapi.Routes() {
		if rt.Method != http.MethodGet {
			continue
		}
		rs, ok := byRoute[rt.Path]
		if !ok {
			t.Errorf("GET %s is not compared across a restore: add it to region.reads", rt.Path)
		}
		out = append(out, rs...)
	}
	return out
}

// answers reads every endpoint and returns each answer as canonical JSON
// without the fields of unchangedByRestore.
func answers(p *pathway, reads []read) map[string]string {
	out := map[string]string{}
	for _, r := range reads {
		var v any
		code, _ := p.do("GET", r.path, r.key, nil, &v)
		body := strings.ReplaceAll(canonical(v), p.base, "BASE")
		out[r.path+" as "+r.key[:8]] = fmt.Sprintf("%d %s", code, body)
	}
	return out
}

func canonical(v any) string {
	var strip func(any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for _, f := range waitsTill {
				delete(x, f)
			}
			for k, e := range x {
				x[k] = strip(e)
			}
		case []any:
			for i, e := range x {
				x[i] = strip(e)
			}
		}
		return v
	}
	if top, ok := v.(map[string]any); ok {
		for _, f := range madeWhen {
			delete(top, f)
		}
		if meta, ok := top["meta"].(map[string]any); ok && top["resourceType"] == "Bundle" {
			delete(meta, "lastUpdated")
		}
	}
	b, _ := json.Marshal(strip(v))
	return string(b)
}

// differences lists the reads whose answers differ, each with the JSON
// paths where they do.
func differences(got, want map[string]string) []string {
	var out []string
	for k, w := range want {
		g := got[k]
		if g == w {
			continue
		}
		gf, wf := flatten(g), flatten(w)
		var at []string
		for p, v := range wf {
			if gf[p] != v {
				at = append(at, fmt.Sprintf("%s: got %s, want %s", p, gf[p], v))
			}
		}
		for p, v := range gf {
			if _, ok := wf[p]; !ok {
				at = append(at, fmt.Sprintf("%s: got %s, want nothing", p, v))
			}
		}
		sort.Strings(at)
		out = append(out, k+":\n    "+strings.Join(at, "\n    "))
	}
	sort.Strings(out)
	return out
}

// flatten turns an answer ("code json") into its leaves by JSON path.
func flatten(answer string) map[string]string {
	code, body, _ := strings.Cut(answer, " ")
	out := map[string]string{"status": code}
	var v any
	_ = json.Unmarshal([]byte(body), &v)
	var walk func(string, any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			b, _ := json.Marshal(x)
			out[path] = string(b)
		}
	}
	walk("", v)
	return out
}

// sameAnswers waits until p answers every read as want (a restored serve
// catches up from its checkpoints), and fails with the differences.
func sameAnswers(t *testing.T, p *pathway, reads []read, want map[string]string, when string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		diff := differences(answers(p, reads), want)
		if len(diff) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d reads answer otherwise:\n%s", when, len(diff), len(want), strings.Join(diff, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settledAnswers returns p's answers once its read models have caught up: two
// passes in a row the same.
func settledAnswers(t *testing.T, p *pathway, reads []read) map[string]string {
	t.Helper()
	got := answers(p, reads)
	for deadline := time.Now().Add(20 * time.Second); ; {
		time.Sleep(200 * time.Millisecond)
		prev := got
		got = answers(p, reads)
		diff := differences(got, prev)
		if len(diff) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read models did not settle: two passes differ in\n%s", strings.Join(diff, "\n"))
		}
	}
}

// auditTrail is the audit of the region's referrals' reads.
func auditTrail(p *pathway, r region) string {
	var out []string
	for _, id := range append([]string{r.erased, r.interrupted}, r.ids...) {
		var v any
		code, _ := p.do("GET", "/v1/audit?referral="+id, r.k.admin, nil, &v)
		out = append(out, fmt.Sprintf("%s %d %s", id, code, canonical(v)))
	}
	return strings.Join(out, "\n")
}

// failingKeys is a key bucket that fails to destroy: an erasure
// interrupted between its event and its keys.
type failingKeys struct{}

func (failingKeys) Destroy(context.Context, string, ...string) error {
	return errors.New("the process died")
}

// writeRegion writes a varied region on p: partners and services, webhooks
// of a partner and a referrer, a link worker with a full caseload and a
// waitlist, case work (a contact, a plan, an outcome), a handoff accepted
// by its partner, a person erased (with a handoff) and an erasure
// interrupted before its keys were destroyed.
func writeRegion(t *testing.T, p *pathway) region {
	t.Helper()
	r := region{k: p.vcseKeys(), triage: p.key(keys.RoleTriage, "")}
	k := r.k
	rep := p.importSmall(k.admin)
	r.walk = rep.Results[0].ServiceID
	r.partnerHooks = apitest.NewReceiver(t, "a-long-shared-secret-0001")
	r.referrerHook = apitest.NewReceiver(t, "a-long-shared-secret-0002")
	if code, _ := p.do("POST", "/v1/partner/webhooks", k.partnerA, map[string]string{"url": r.partnerHooks.URL() + "/hooks", "secret": r.partnerHooks.Secret()}, nil); code != http.StatusCreated {
		t.Fatalf("partner webhook: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrer/webhooks", k.ref, map[string]string{"url": r.referrerHook.URL(), "secret": r.referrerHook.Secret()}, nil); code != http.StatusCreated {
		t.Fatalf("referrer webhook: %d", code)
	}
	r.worker = p.worker(k.ops, "Alex Link", 1)
	r.lw = p.linkWorkerKey(r.worker)

	// The person erased: assigned, handed off, discharged, erased.
	r.erased = p.referPerson(k.ref, k.ops)
	var h struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+r.erased+"/handoffs", r.lw, map[string]any{
		"service_id": r.walk, "shared_fields": []string{"given_name", "phone"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}
	r.erasedHandoff = h.ID
	if code, _ := p.do("POST", "/v1/referrals/"+r.erased+"/discharge", r.lw, map[string]any{"reason": "goals_met"}, nil); code != http.StatusOK {
		t.Fatalf("discharge: %d", code)
	}
	eventually(t, "the handoff cancelled with its referral", func() bool {
		var hs struct{ Status string }
		p.do("GET", "/v1/handoffs/"+h.ID, k.ops, nil, &hs)
		return hs.Status == "cancelled"
	})
	erase := map[string]any{"nhs_number": eraseNHS, "ground": "subject_request", "reason": "Erasure request DP-3107"}
	if code, _ := p.do("POST", "/v1/people/erase", k.admin, erase, nil); code != http.StatusOK {
		t.Fatalf("erase: %d", code)
	}

	// One assigned with case work and a handoff; two waitlisted.
	r.ids = p.refer(k.ref, "9000000009", "9000000017", "9000000025")
	eventually(t, "one assigned, two waitlisted", func() bool {
		var v view
		n := 0
		for i, id := range r.ids {
			p.do("GET", "/v1/referrals/"+id, k.ops, nil, &v)
			if i == 0 && v.Status == "assigned" || i > 0 && v.Status == "waitlisted" {
				n++
			}
		}
		return n == 3
	})
	now := time.Now().Add(-time.Hour).Format(time.RFC3339)
	for path, body := range map[string]any{
		"/contacts": map[string]any{"kind": "face_to_face", "when": now, "duration_minutes": 45, "what_matters_conversation": true},
		"/plan":     map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group", "target_date": "2027-01-31"}}},
		"/outcomes": map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}},
	} {
		if code, _ := p.do("POST", "/v1/referrals/"+r.ids[0]+path, r.lw, body, nil); code != http.StatusOK {
			t.Fatalf("case work %s: %d", path, code)
		}
	}
	if code, _ := p.do("POST", "/v1/referrals/"+r.ids[0]+"/handoffs", r.lw, map[string]any{
		"service_id": r.walk, "shared_fields": []string{"given_name"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}
	r.handoff = h.ID
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/accept", k.partnerA, map[string]string{"note": "We will call"}, nil); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}

	// An erasure interrupted after its event, before its keys: cancelled,
	// then erased by a process that dies before destroying the key.
	r.interrupted = p.refer(k.ref, "9000000033")[0]
	if code, _ := p.do("POST", "/v1/referrals/"+r.interrupted+"/cancel", k.ref, map[string]any{"reason": "entered-in-error", "note": "wrong patient"}, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	l, err := openPersonalLog(t.Context(), p.data, "", "", serveConfig{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	_, err = erasure.New(events.New(l.js, events.Options{Keys: l.ring}), failingKeys{}, l.people).Referral(t.Context(), r.interrupted, erasure.Request{
		Ground: pathwayv1.ErasureGround_ERASURE_GROUND_ENTERED_IN_ERROR, Reason: "Entered in error, ticket 88",
		Command: events.Command{Actor: &pathwayv1.Actor{Id: "cli:admin-7", Role: pathwayv1.Role_ROLE_ADMIN}}})
	if err == nil || !strings.Contains(err.Error(), "the process died") {
		t.Fatalf("the interrupted erasure: %v, want its keys left", err)
	}

	eventually(t, "webhooks delivered", func() bool {
		return len(r.partnerHooks.Payloads()) > 0 && len(r.referrerHook.Payloads()) > 0
	})
	return r
}

// TestBackupRestoreMustShow: a varied region is backed up while pathway
// serves it; the data directory is wiped; the backup restored into a new
// data directory, and into a separate NATS server through --nats-url,
// answers every read endpoint as before (but for when each answer was
// made). What came after the backup is not there; the erased person stays
// erased, an erasure interrupted before its keys is finished by the
// restore, and no file of the backup or the restored directory holds the
// erased person's NHS number.
func TestBackupRestoreMustShow(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen, cfg.WebhookAllowPrivate = data, "127.0.0.1:0", "127.0.0.1:0", true
	p := startPathwayWith(t, cfg)
	r := writeRegion(t, p)
	reads := r.reads(t)

	// The answers, once the read models have caught up: two passes in a
	// row the same.
	settledAnswers(t, p, reads)
	audit := auditTrail(p, r)

	// Back up while pathway serves.
	backupDir := filepath.Join(t.TempDir(), "backup")
	noEnv := func(string) string { return "" }
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"backup", "--out", backupDir, "--data", data}, noEnv, &out, &errb); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, errb.String())
	}
	var m struct {
		Encrypted bool
		Streams   []struct{ Name string }
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || !m.Encrypted {
		t.Fatalf("backup printed %s (%v), want its manifest, encrypted", out.String(), err)
	}
	var names []string
	for _, s := range m.Streams {
		names = append(names, s.Name)
	}
	for _, want := range []string{"PATHWAY", "PATHWAY_AUDIT", "KV_PATHWAY_KEYS", "KV_PATHWAY_INTAKE", "KV_PATHWAY_WEBHOOKS", "KV_PATHWAY_DELIVERIES", "OBJ_PATHWAY_CHECKPOINTS"} {
		if !slices.Contains(names, want) {
			t.Errorf("backup holds %v, not %s", names, want)
		}
	}
	if !regexp.MustCompile(`(?m)^backup PATHWAY: \d+ messages, [\d.]+ [KM]iB in `).MatchString(errb.String()) {
		t.Errorf("backup progress on stderr:\n%s\nwant a line for the log with its messages and bytes", errb.String())
	}

	// The interrupted erasure finished on the source (running it again
	// does); the backup still holds its key. The answers to compare with
	// are those of the source with every erasure done.
	out.Reset()
	errb.Reset()
	if code := run(t.Context(), []string{"erase", "--referral", r.interrupted, "--ground", "entered_in_error", "--reason", "Entered in error, ticket 88", "--by", "admin-7", "--data", data}, noEnv, &out, &errb); code != 0 {
		t.Fatalf("erase again: exit %d\n%s", code, errb.String())
	}
	before := settledAnswers(t, p, reads)
	for k, v := range before {
		if !strings.HasPrefix(v, "200 ") {
			t.Errorf("GET %s: %s, want 200", k, v)
		}
	}

	// What comes after the backup is lost with the data directory.
	late := p.refer(r.k.ref, "9000000041")[0]
	p.stop()
	keyFile := filepath.Join(t.TempDir(), "master.key") // kept apart, as the operator must
	if b, err := os.ReadFile(filepath.Join(data, masterKeyFile)); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}

	// Restore into a new data directory.
	restored := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	errb.Reset()
	if code := run(t.Context(), []string{"restore", "--from", backupDir, "--data", restored, "--master-key", keyFile}, noEnv, &out, &errb); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "2 erasures in the restored log; their 3 keys are destroyed") {
		t.Errorf("restore said:\n%s\nwant the 2 erasures' 3 keys destroyed", errb.String())
	}
	if !regexp.MustCompile(`(?m)^restore PATHWAY: \d+ messages, `).MatchString(errb.String()) {
		t.Errorf("restore progress on stderr:\n%s\nwant a line for the log", errb.String())
	}
	cfg.DataDir = restored
	p2 := startPathwayWith(t, cfg)
	if got := auditTrail(p2, r); got != audit {
		t.Errorf("the audit after the restore:\n%s\nwant\n%s", got, audit)
	}
	sameAnswers(t, p2, reads, before, "restored into a new data directory")
	if code, _ := p2.do("GET", "/v1/referrals/"+late, r.k.admin, nil, nil); code != http.StatusNotFound {
		t.Errorf("the referral made after the backup: %d, want 404 (not in the backup)", code)
	}
	checkErasedKeys(t, p2, r, filepath.Join(restored, masterKeyFile))
	p2.stop()

	// Nothing of the erased person in the backup (encrypted: not even the
	// ids the log keeps in clear) or the restored directory.
	if found := scanDir(t, backupDir, append(eraseTraces, r.erased, r.ids[0])...); len(found) > 0 {
		t.Errorf("the backup holds in clear: %v", found)
	}
	if found := scanDir(t, restored, eraseTraces...); len(found) > 0 {
		t.Errorf("the restored data directory holds: %v", found)
	}
	if found := scanDir(t, restored, r.ids[0]); len(found) == 0 {
		t.Fatalf("the scan found not even a referral id in the restored directory: it reads nothing")
	}

	// Restore into another NATS server (a cluster's way in).
	natsDir := t.TempDir()
	srv, err := embedded.Start(embedded.Config{DataDir: natsDir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	nkey := filepath.Join(natsDir, embedded.CredentialsFile)
	env := func(k string) string {
		if k == envNames["nats-nkey"] {
			return nkey
		}
		return ""
	}
	errb.Reset()
	if code := run(t.Context(), []string{"restore", "--from", backupDir, "--nats-url", srv.ClientURL(), "--master-key", keyFile}, env, &out, &errb); code != 0 {
		t.Fatalf("restore --nats-url: exit %d\n%s", code, errb.String())
	}
	ext := defaultServeConfig()
	ext.DataDir, ext.HTTPAddr, ext.WebhookAllowPrivate = t.TempDir(), "127.0.0.1:0", true
	ext.NATSURL, ext.NATSNkey, ext.MasterKey = srv.ClientURL(), nkey, keyFile
	p3 := startPathwayWith(t, ext)
	if got := auditTrail(p3, r); got != audit {
		t.Errorf("the audit after the restore into NATS:\n%s\nwant\n%s", got, audit)
	}
	sameAnswers(t, p3, reads, before, "restored into a NATS server")
	checkErasedKeys(t, p3, r, keyFile)
}

// checkErasedKeys checks that the keys of both erased referrals, and of
// the erased handoff, are destroyed in p's log.
func checkErasedKeys(t *testing.T, p *pathway, r region, masterFile string) {
	t.Helper()
	master, _, err := keyring.LoadMaster(masterFile, func(string) string { return "" }, false)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.Open(t.Context(), p.connect(), master, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"referral." + r.erased, "handoff." + r.erasedHandoff, "referral." + r.interrupted} {
		if _, err := ring.Key(t.Context(), id, false); !errors.Is(err, events.ErrErased) {
			t.Errorf("key %s after the restore: %v, want destroyed", id, err)
		}
	}
	// The sealed fields, read through the log as pathway reads them (the
	// events name the keys' slots): gone for the erased, there for another.
	store := events.New(p.connect(), events.Options{Keys: ring})
	received := events.TypeOf(&pathwayv1.ReferralReceived{})
	seen := map[string]bool{}
	for rec, err := range store.ReadWith(t.Context(), events.ReadOptions{Subject: events.TypeSubject("referral"), Types: []string{received}, Open: true}) {
		if err != nil {
			t.Fatal(err)
		}
		ev, ok := rec.Payload.(*pathwayv1.ReferralReceived)
		if !ok {
			continue
		}
		switch id := rec.Aggregate.ID; id {
		case r.erased, r.interrupted:
			seen[id] = true
			if !rec.Erased || ev.GetPerson().GetFamilyName() != "" {
				t.Errorf("referral %s after the restore: erased %v, family name %q; want erased", id, rec.Erased, ev.GetPerson().GetFamilyName())
			}
		case r.ids[0]:
			seen[id] = true
			if rec.Erased || ev.GetPerson().GetFamilyName() == "" {
				t.Errorf("a referral never erased, after the restore: erased %v, family name %q; want it read", rec.Erased, ev.GetPerson().GetFamilyName())
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("found the received events of %d of the 3 referrals checked", len(seen))
	}
}

// TestBackupRestoreRefuse: the commands answer a wrong command line, a
// directory that holds no backup, a damaged one, an encrypted one without
// its master key and a data directory in use, each with an error that
// says what to do, and restore nothing.
func TestBackupRestoreRefuse(t *testing.T) {
	data := t.TempDir()
	p := startPathway(t, data)
	noEnv := func(string) string { return "" }
	backupDir := filepath.Join(t.TempDir(), "backup")
	cmd := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(t.Context(), args, noEnv, &out, &errb)
		return code, errb.String()
	}
	if code, msg := cmd("backup", "--out", backupDir, "--data", data); code != 0 {
		t.Fatalf("backup: %d %s", code, msg)
	}
	p.stop()
	keyFile := filepath.Join(data, masterKeyFile)
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"backup without --out", []string{"backup", "--data", data}, 2, "--out DIR is required"},
		{"backup into a used directory", []string{"backup", "--out", backupDir, "--data", data}, 1, "is not empty"},
		{"backup of no data directory", []string{"backup", "--out", t.TempDir(), "--data", filepath.Join(t.TempDir(), "none")}, 1, "no data directory"},
		{"restore without --from", []string{"restore", "--data", t.TempDir()}, 2, "--from DIR is required"},
		{"restore to both", []string{"restore", "--from", backupDir, "--data", t.TempDir(), "--nats-url", "nats://127.0.0.1:4222"}, 2, "exactly one of --data NEWDIR and --nats-url URL"},
		{"restore to neither", []string{"restore", "--from", backupDir}, 2, "exactly one of --data NEWDIR and --nats-url URL"},
		{"restore from no backup", []string{"restore", "--from", t.TempDir(), "--data", filepath.Join(t.TempDir(), "new"), "--master-key", keyFile}, 1, "not a pathway backup"},
		{"restore without the master key", []string{"restore", "--from", backupDir, "--data", filepath.Join(t.TempDir(), "new")}, 1, "give --master-key FILE"},
		{"restore into a used directory", []string{"restore", "--from", backupDir, "--data", used, "--master-key", keyFile}, 1, "is not empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, msg := cmd(c.args...)
			if code != c.code || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, %q; want exit %d saying %q", code, msg, c.code, c.want)
			}
		})
	}
	for _, c := range [][]string{{"help", "backup"}, {"help", "restore"}} {
		var out bytes.Buffer
		if code := run(t.Context(), c, noEnv, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "master key") {
			t.Errorf("%v: exit %d %q, want the usage with what the master key is for", c, code, out.String())
		}
	}
	if entries, _ := os.ReadDir(used); len(entries) != 1 {
		t.Errorf("a refused restore changed the directory: %d entries", len(entries))
	}

	// A damaged file is found before anything is restored.
	b, err := os.ReadFile(filepath.Join(backupDir, logFileOf(t, backupDir)))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0xff
	if err := os.WriteFile(filepath.Join(backupDir, logFileOf(t, backupDir)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "new")
	if code, msg := cmd("restore", "--from", backupDir, "--data", target, "--master-key", keyFile); code != 1 || !strings.Contains(msg, "corrupt") {
		t.Errorf("restore of a damaged backup: exit %d %q, want refused as corrupt", code, msg)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore made %s: %v", target, err)
	}

	// Damaged and its checksum forged: found only as it is restored
	// (each chunk is authenticated); the new directory is left empty.
	mb, err := os.ReadFile(filepath.Join(backupDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest map[string]any
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	for _, s := range manifest["streams"].([]any) {
		if s := s.(map[string]any); s["name"] == "PATHWAY" {
			s["sha256"] = hex.EncodeToString(sum[:])
		}
	}
	if mb, err = json.Marshal(manifest); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(backupDir, "manifest.json"), mb, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, msg := cmd("restore", "--from", backupDir, "--data", target, "--master-key", keyFile); code != 1 || !strings.Contains(msg, "corrupt") {
		t.Errorf("restore of a forged backup: exit %d %q, want refused as corrupt", code, msg)
	}
	if entries, err := os.ReadDir(target); err != nil || len(entries) != 0 {
		t.Errorf("a restore that failed part-way left %d entries in %s (%v), want it empty", len(entries), target, err)
	}
}

// logFileOf is the file of the log's stream in the backup in dir.
func logFileOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Streams []struct{ Name, File string } }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Streams {
		if s.Name == "PATHWAY" {
			return s.File
		}
	}
	t.Fatal("no log in the backup")
	return ""
}
