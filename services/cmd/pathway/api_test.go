package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/services/httpapi"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
)

// pathway is `pathway serve` running in the test process on a temporary
// data directory, with HTTP and NATS on free loopback ports.
type pathway struct {
	t       testing.TB
	base    string
	natsURL string
	data    string
	cancel  context.CancelFunc
	done    chan error
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startPathway(tb testing.TB, data string) *pathway {
	tb.Helper()
	if data == "" {
		data = tb.TempDir()
	}
	cfg := defaultServeConfig()
	cfg.DataDir = data
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATSListen = "127.0.0.1:0"
	return startPathwayWith(tb, cfg)
}

func startPathwayWith(tb testing.TB, cfg serveConfig) *pathway {
	tb.Helper()
	cfg.rules = triage.DefaultRules()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pathway{t: tb, data: cfg.DataDir, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}, natsURL: cfg.NATSURL}
	log := slog.New(slog.NewTextHandler(p.logs, nil))
	go func() { p.done <- serve(ctx, cfg, log) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out := p.logs.String()
		if m := httpAddrRe.FindStringSubmatch(out); m != nil && p.base == "" {
			p.base = "http://" + m[1]
		}
		if m := natsURLRe.FindStringSubmatch(out); m != nil {
			p.natsURL = m[1]
		}
		if p.base != "" && strings.Contains(out, "services started") {
			tb.Cleanup(p.stop)
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	tb.Fatalf("pathway did not start within 15s:\n%s", p.logs.String())
	return nil
}

func (p *pathway) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Errorf("pathway did not stop within 15s")
	}
	if p.t.Failed() {
		p.t.Logf("pathway log:\n%s", p.logs.String())
	}
}

// key creates an API key through the keys store on pathway's NATS.
func (p *pathway) key(role keys.Role, org string) string {
	p.t.Helper()
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		p.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	ks, err := keys.Open(ctx, js, keys.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	plain, _, err := ks.Create(ctx, role, org, "test")
	if err != nil {
		p.t.Fatal(err)
	}
	// The authenticator follows the bucket: wait until it knows the key.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := p.do("GET", "/v1/openapi.json", plain, nil, nil); code == http.StatusOK {
			return plain
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("key for %s not accepted within 5s", role)
	return ""
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (p *pathway) do(method, path, key string, body any, out any, headers ...string) (int, http.Header) {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			p.t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// logLength returns the last sequence of the event log.
func (p *pathway) logLength() uint64 {
	p.t.Helper()
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		p.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	n, err := events.New(js, events.Options{}).LastSequence(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// worker registers a link worker of PCN U12345 covering A81001 and
// returns its id.
func (p *pathway) worker(opsKey, name string, capacity int) string {
	p.t.Helper()
	var w struct {
		ID string `json:"id"`
	}
	if code, _ := p.do("POST", "/v1/workers", opsKey, map[string]any{"name": name, "pcn": "U12345", "practices": []string{"A81001"}, "capacity": capacity}, &w); code != http.StatusCreated {
		p.t.Fatalf("register worker: %d", code)
	}
	return w.ID
}

// refer submits the example referral once per NHS number, in order, and
// returns the ids.
func (p *pathway) refer(refKey string, nhs ...string) []string {
	p.t.Helper()
	var ids []string
	for _, n := range nhs {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		var c submitted
		if code, _ := p.do("POST", "/v1/referrals", refKey, body, &c); code != http.StatusCreated {
			p.t.Fatalf("referral for %s: %d", n, code)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

func exampleReferral() map[string]any {
	return map[string]any{
		"source":   "gp_practice",
		"referrer": map[string]any{"name": "Dr A Example", "role": "GP", "organisation": "A81001"},
		"person": map[string]any{
			"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Example",
			"date_of_birth": "1956-03-14", "postcode": "TS1 3BA", "phone": "07700900123",
			"preferred_contact": "phone", "language": "en", "interpreter_needed": false,
		},
		"gp_practice":  "A81001",
		"needs":        []string{"loneliness", "mental_health"},
		"what_matters": "Wants to get out of the house and meet people again",
		"urgency":      "routine",
		"safeguarding": map[string]any{"concern": false},
		"consent":      map[string]any{"given": true, "recorded_by": "Dr A Example", "recorded_at": "2026-11-20T10:00:00Z"},
	}
}

type problem struct {
	Type         string `json:"type"`
	Title        string `json:"title"`
	Status       int    `json:"status"`
	Detail       string `json:"detail"`
	OpenReferral string `json:"open_referral"`
	Errors       []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

type submitted struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Sequence uint64 `json:"sequence"`
}

type view struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Active bool   `json:"active"`
	Triage *struct {
		Decision     string `json:"decision"`
		RuleID       string `json:"rule_id"`
		RulesVersion string `json:"rules_version"`
	} `json:"triage"`
	Referral struct {
		Person struct {
			NHSNumber string `json:"nhs_number"`
			Postcode  string `json:"postcode"`
		} `json:"person"`
	} `json:"referral"`
	History []struct {
		Type string `json:"type"`
	} `json:"history"`
}

// TestIntakeMustShow walks the "must show" list through the real
// HTTP server on a fresh data directory.
func TestIntakeMustShow(t *testing.T) {
	p := startPathway(t, "")
	ref := p.key(keys.RoleReferrer, "A81001")

	// A valid JSON referral gets 201, and a GET returns it.
	var created submitted
	code, hdr := p.do("POST", "/v1/referrals", ref, exampleReferral(), &created, "Idempotency-Key", "req-1")
	if code != http.StatusCreated || created.ID == "" || created.Sequence == 0 {
		t.Fatalf("POST /v1/referrals: %d %+v, want 201 with id and sequence", code, created)
	}
	if loc := hdr.Get("Location"); loc != "/v1/referrals/"+created.ID {
		t.Errorf("Location: got %q, want /v1/referrals/%s", loc, created.ID)
	}
	var got view
	if code, _ := p.do("GET", "/v1/referrals/"+created.ID, ref, nil, &got); code != http.StatusOK || got.ID != created.ID {
		t.Fatalf("GET: %d %+v", code, got)
	}
	if got.Referral.Person.NHSNumber != "9434765919" || got.Referral.Person.Postcode != "TS1 3BA" {
		t.Errorf("GET returned person %+v", got.Referral.Person)
	}

	// The triage decision becomes visible. (The target is a second; the
	// test allows more on a loaded machine and logs what it saw.)
	submittedAt := time.Now()
	deadline := submittedAt.Add(10 * time.Second)
	for got.Triage == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		p.do("GET", "/v1/referrals/"+created.ID, ref, nil, &got)
	}
	if got.Triage == nil || got.Triage.Decision != "accept" || got.Triage.RuleID == "" || got.Triage.RulesVersion == "" {
		t.Fatalf("triage: %+v, want an accept naming its rule and rules version", got.Triage)
	}
	t.Logf("triage decision visible %v after the submit answered", time.Since(submittedAt).Round(time.Millisecond))

	// A retry with the same Idempotency-Key gets the same id.
	var again submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, exampleReferral(), &again, "Idempotency-Key", "req-1"); code != http.StatusOK || again.ID != created.ID {
		t.Fatalf("retry: %d %+v, want 200 with id %s", code, again, created.ID)
	}

	// A second open referral for the same NHS number gets 409.
	var dup problem
	code, _ = p.do("POST", "/v1/referrals", ref, exampleReferral(), &dup, "Idempotency-Key", "req-2")
	if code != http.StatusConflict || !strings.HasSuffix(dup.OpenReferral, created.ID) {
		t.Fatalf("second open referral: %d %+v, want 409 linking %s", code, dup, created.ID)
	}

	// An invalid NHS number gets 400 problem+json naming the field, and
	// nothing reaches the log.
	before := p.logLength()
	bad := exampleReferral()
	bad["person"].(map[string]any)["nhs_number"] = "9434765918"
	var prob problem
	code, hdr = p.do("POST", "/v1/referrals", ref, bad, &prob)
	if code != http.StatusBadRequest || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("invalid NHS number: %d %s, want 400 problem+json", code, hdr.Get("Content-Type"))
	}
	if len(prob.Errors) != 1 || prob.Errors[0].Field != "person.nhs_number" {
		t.Fatalf("invalid NHS number: errors %+v, want one naming person.nhs_number", prob.Errors)
	}
	if after := p.logLength(); after != before {
		t.Fatalf("a rejected request grew the log from %d to %d", before, after)
	}
	fmt.Fprintln(io.Discard, got.History)
}

// TestAuthorisationMatrix sends every role (and no key, a wrong key and a
// revoked key) to every endpoint, and checks who gets through.
func TestAuthorisationMatrix(t *testing.T) {
	p := startPathway(t, "")
	roleKeys := map[keys.Role]string{}
	for _, r := range keys.Roles {
		org := ""
		switch r {
		case keys.RoleReferrer:
			org = "A81001"
		case keys.RolePartner:
			org = "partner-a"
		}
		roleKeys[r] = p.key(r, org)
	}
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", roleKeys[keys.RoleReferrer], exampleReferral(), &created); code != http.StatusCreated {
		t.Fatalf("setup referral: %d", code)
	}
	revoked := p.key(keys.RoleAdmin, "")
	nc, _ := nats.Connect(p.natsURL)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ks, _ := keys.Open(context.Background(), js, keys.Options{})
	id := strings.Split(revoked, "_")[1]
	if _, err := ks.Revoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := p.do("GET", "/v1/openapi.json", revoked, nil, nil); code == http.StatusUnauthorized {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, route := range httpapiRoutes() {
		path := strings.ReplaceAll(route.Path, "{id}", created.ID)
		for _, r := range keys.Roles {
			t.Run(route.Method+" "+route.Path+" as "+string(r), func(t *testing.T) {
				// An empty JSON object: authorised callers get past the
				// gate (to a 2xx, 4xx validation or 409), others are stopped.
				code, _ := p.do(route.Method, path, roleKeys[r], bodyFor(route.Method), nil)
				allowed := containsRole(route.Roles, r)
				switch {
				case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
					t.Fatalf("got %d, want the %s role let through", code, r)
				case !allowed && code != http.StatusForbidden:
					t.Fatalf("got %d, want 403 for the %s role", code, r)
				}
			})
		}
		for name, key := range map[string]string{"no key": "", "wrong key": "pw_000000000000_" + strings.Repeat("A", 43), "revoked key": revoked, "garbage": "hello"} {
			t.Run(route.Method+" "+route.Path+" with "+name, func(t *testing.T) {
				var prob problem
				code, hdr := p.do(route.Method, path, key, bodyFor(route.Method), &prob)
				if code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/problem+json" || prob.Status != 401 {
					t.Fatalf("got %d %s, want 401 problem+json", code, hdr.Get("Content-Type"))
				}
			})
		}
	}
	if strings.Contains(p.logs.String(), roleKeys[keys.RoleAdmin]) || strings.Contains(p.logs.String(), "9434765919") {
		t.Error("the log contains a key or an NHS number")
	}
}

func bodyFor(method string) any {
	if method == "POST" {
		return "{}"
	}
	return nil
}

func containsRole(roles []keys.Role, r keys.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// TestIdempotentRetryAcrossRestart: the same Idempotency-Key, or the same
// external reference, after a restart on the same data, returns the
// original referral.
func TestIdempotentRetryAcrossRestart(t *testing.T) {
	data := t.TempDir()
	p := startPathway(t, data)
	ref := p.key(keys.RoleReferrer, "A81001")
	var first, second submitted
	p.do("POST", "/v1/referrals", ref, exampleReferral(), &first, "Idempotency-Key", "spoc-77")
	other := exampleReferral()
	other["person"].(map[string]any)["nhs_number"] = "4010232137"
	other["external_reference"] = "SPOC-CASE-1234"
	p.do("POST", "/v1/referrals", ref, other, &second)
	p.stop()

	p = startPathway(t, data)
	var again submitted
	code, _ := p.do("POST", "/v1/referrals", ref, exampleReferral(), &again, "Idempotency-Key", "spoc-77")
	if code != http.StatusOK || again.ID != first.ID {
		t.Fatalf("retry by key after restart: %d %+v, want 200 with %s", code, again, first.ID)
	}
	code, _ = p.do("POST", "/v1/referrals", ref, other, &again)
	if code != http.StatusOK || again.ID != second.ID {
		t.Fatalf("retry by external reference after restart: %d %+v, want 200 with %s", code, again, second.ID)
	}
	// The duplicate check survives the restart too.
	code, _ = p.do("POST", "/v1/referrals", ref, exampleReferral(), nil, "Idempotency-Key", "spoc-78")
	if code != http.StatusConflict {
		t.Fatalf("second open referral after restart: %d, want 409", code)
	}
}

// TestManualTriageQueueAndOverride: referrals the rules cannot decide wait
// in the queue, oldest first; staff decide them; an automatic decision can
// be overridden with a reason, recorded as an override.
func TestManualTriageQueueAndOverride(t *testing.T) {
	p := startPathway(t, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	staff := p.key(keys.RoleTriage, "")

	// A safeguarding concern outside the area: the rules would decline,
	// which is never automatic with a concern, so it waits for a person.
	sg := exampleReferral()
	sg["gp_practice"] = "Y99999"
	sg["safeguarding"] = map[string]any{"concern": true, "details": "lives alone, recent falls, possible neglect"}
	var queued submitted
	p.do("POST", "/v1/referrals", ref, sg, &queued)
	var q struct {
		Items []struct {
			ID                    string `json:"id"`
			Priority              string `json:"priority"`
			SafeguardingEscalated bool   `json:"safeguarding_escalated"`
		} `json:"items"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(q.Items) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		p.do("GET", "/v1/triage/queue", staff, nil, &q)
	}
	if len(q.Items) != 1 || q.Items[0].ID != queued.ID || q.Items[0].Priority != "urgent" || !q.Items[0].SafeguardingEscalated {
		t.Fatalf("triage queue: %+v, want the safeguarding referral at urgent", q.Items)
	}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+queued.ID+"/triage", staff, map[string]string{"decision": "redirect", "destination": "Adult social care safeguarding team", "reason": "safeguarding referral"}, &res); code != http.StatusOK || res.Status != "redirected" {
		t.Fatalf("staff triage: %d %+v", code, res)
	}
	p.do("GET", "/v1/triage/queue", staff, nil, &q)
	if len(q.Items) != 0 {
		t.Fatalf("queue after triage: %+v, want empty", q.Items)
	}

	// Override an automatic decline (out of area) with a reason.
	other := exampleReferral()
	other["person"].(map[string]any)["nhs_number"] = "4010232137"
	other["gp_practice"] = "Y99999"
	var declined submitted
	p.do("POST", "/v1/referrals", ref, other, &declined)
	var v view
	deadline = time.Now().Add(5 * time.Second)
	for v.Status != "declined" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		p.do("GET", "/v1/referrals/"+declined.ID, staff, nil, &v)
	}
	if v.Status != "declined" {
		t.Fatalf("out-of-area referral: %s, want declined by the rules", v.Status)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+declined.ID+"/triage", staff, map[string]string{"decision": "accept"}, &prob); code != http.StatusBadRequest {
		t.Fatalf("override without a reason: %d, want 400", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+declined.ID+"/triage", staff, map[string]string{"decision": "accept", "reason": "moved into the area last week"}, &res); code != http.StatusOK || (res.Status != "accepted" && res.Status != "waitlisted") {
		// Assignment may already have put the accepted referral on the
		// (unmatched) waitlist by the time the answer is read.
		t.Fatalf("override: %d %+v, want 200 accepted", code, res)
	}
	var after struct {
		Triage struct {
			Override bool   `json:"override"`
			RuleID   string `json:"rule_id"`
		} `json:"triage"`
	}
	p.do("GET", "/v1/referrals/"+declined.ID, staff, nil, &after)
	if !after.Triage.Override || after.Triage.RuleID != "" {
		t.Fatalf("after override: %+v, want an override by staff", after.Triage)
	}
}

func httpapiRoutes() []httpapi.Route { return httpapi.Routes() }

// TestServicesRunApartOnExternalNATS runs intake and triage as two
// processes' worth of services against one external NATS: a referral
// taken by the intake is triaged by the other.
func TestServicesRunApartOnExternalNATS(t *testing.T) {
	srv, err := embedded.Start(embedded.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	start := func(services ...string) *pathway {
		cfg := defaultServeConfig()
		cfg.NATSURL = srv.ClientURL()
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.Services = services
		return startPathwayWith(t, cfg)
	}
	in := start("intake")
	tri := start("triage")
	if strings.Contains(in.logs.String(), "triage rules loaded") || !strings.Contains(tri.logs.String(), "triage rules loaded") {
		t.Fatal("the intake process runs triage, or the triage process does not")
	}
	if code, _ := tri.do("GET", "/v1/openapi.json", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("the triage-only process serves the API: %d, want 404", code)
	}
	in.natsURL = srv.ClientURL()
	ref := in.key(keys.RoleReferrer, "A81001")
	var created submitted
	if code, _ := in.do("POST", "/v1/referrals", ref, exampleReferral(), &created); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	var v view
	deadline := time.Now().Add(5 * time.Second)
	for v.Triage == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		in.do("GET", "/v1/referrals/"+created.ID, ref, nil, &v)
	}
	if v.Triage == nil || v.Triage.Decision != "accept" {
		t.Fatalf("triage by the other process: %+v", v.Triage)
	}
}

// TestAssignmentThroughTheAPI: two workers with capacity 2 in one PCN
// and six eligible referrals from its practices: four are assigned, two
// wait with the urgent one first; a raised capacity assigns the head.
func TestAssignmentThroughTheAPI(t *testing.T) {
	p := startPathway(t, "")
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	var prob problem
	if code, _ := p.do("POST", "/v1/workers", ops, map[string]any{"name": "", "pcn": "A81001", "practices": []string{"x"}}, &prob); code != http.StatusBadRequest || len(prob.Errors) < 4 {
		t.Fatalf("invalid worker: %d %+v, want 400 with name, pcn, practices[0] and capacity", code, prob)
	}
	var w1, w2 struct {
		ID       string `json:"id"`
		Sequence uint64 `json:"sequence"`
		Caseload int    `json:"caseload"`
	}
	for _, w := range []*struct {
		ID       string `json:"id"`
		Sequence uint64 `json:"sequence"`
		Caseload int    `json:"caseload"`
	}{&w1, &w2} {
		if code, _ := p.do("POST", "/v1/workers", ops, map[string]any{"name": "Alex Link", "pcn": "U12345", "practices": []string{"A81001", "A81002"}, "capacity": 2, "languages": []string{"en", "pl"}}, w); code != http.StatusCreated || w.ID == "" || w.Sequence == 0 {
			t.Fatalf("register worker: %d %+v", code, w)
		}
	}
	nhs := []string{"9434765919", "4010232137", "9876543210", "1234567881", "2345678909", "3456789017"}
	var ids []string
	for i, n := range nhs {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		if i == 5 {
			body["urgency"] = "urgent"
			body["needs"] = []string{"loneliness"} // urgent mental health would be redirected
		}
		var created submitted
		if code, _ := p.do("POST", "/v1/referrals", ref, body, &created); code != http.StatusCreated {
			t.Fatalf("referral %d: %d", i, code)
		}
		ids = append(ids, created.ID)
	}
	statuses := func() map[string][]string {
		out := map[string][]string{}
		for _, id := range ids {
			var v view
			p.do("GET", "/v1/referrals/"+id, ref, nil, &v)
			out[v.Status] = append(out[v.Status], id)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	var st map[string][]string
	for {
		st = statuses()
		if len(st["assigned"])+len(st["waitlisted"]) == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st["assigned"]) != 4 || len(st["waitlisted"]) != 2 {
		t.Fatalf("statuses %v, want 4 assigned and 2 waitlisted", st)
	}
	// The waitlist read model, read after the last write.
	before := p.logLength()
	type wlView struct {
		Sequence uint64 `json:"sequence"`
		Summary  struct {
			Size       int            `json:"size"`
			ByPriority map[string]int `json:"by_priority"`
		} `json:"summary"`
		Entries []struct {
			Position int    `json:"position"`
			ID       string `json:"id"`
			Priority string `json:"priority"`
		} `json:"entries"`
	}
	var wl wlView
	if code, _ := p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?min_seq=%d", before), ops, nil, &wl); code != http.StatusOK {
		t.Fatalf("GET waitlist: %d", code)
	}
	if wl.Summary.Size != 2 || wl.Summary.ByPriority["urgent"] != 1 || len(wl.Entries) != 2 || wl.Entries[0].ID != ids[5] || wl.Entries[0].Position != 1 {
		t.Fatalf("waitlist %+v, want 2 entries with the urgent %s first", wl, ids[5])
	}
	var all struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	p.do("GET", fmt.Sprintf("/v1/waitlists?min_seq=%d", before), ops, nil, &all)
	if len(all.Queues) != 1 || all.Queues[0].Queue != "U12345" || all.Queues[0].Size != 2 {
		t.Fatalf("waitlists %+v", all)
	}
	if code, hdr := p.do("GET", fmt.Sprintf("/v1/waitlists?min_seq=%d", before+1000), ops, nil, nil); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("min_seq beyond the log: %d, want 503 with Retry-After", code)
	}
	// Raise one worker's capacity: the urgent referral, head of the
	// waitlist, is assigned; the routine one still waits.
	if code, _ := p.do("PATCH", "/v1/workers/"+w1.ID, ops, map[string]any{"capacity": 3, "reason": "extra sessions"}, &w1); code != http.StatusOK {
		t.Fatalf("raise capacity: %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		st = statuses()
		if len(st["assigned"]) == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st["waitlisted"]) != 1 || st["waitlisted"][0] == ids[5] {
		t.Fatalf("after raising capacity: %v, want the urgent referral %s assigned first", st, ids[5])
	}
	// Live, one waits; as of the earlier sequence, two did.
	var live, earlier wlView
	p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?min_seq=%d", p.logLength()), ops, nil, &live)
	p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?as_of_seq=%d", before), ops, nil, &earlier)
	if live.Summary.Size != 1 || earlier.Summary.Size != 2 || earlier.Sequence != before {
		t.Fatalf("live %+v, as of %d %+v; want 1 and 2", live.Summary, before, earlier)
	}
	if code, _ := p.do("PATCH", "/v1/workers/"+w2.ID, ops, map[string]any{"returned": true}, &prob); code != http.StatusConflict {
		t.Fatalf("returning a worker who is not absent: %d, want 409", code)
	}
}

// TestCaseWork: contacts on an assigned case, discharge freeing the place
// for the head of the waitlist, reopen, and the illegal moves as 409.
func TestCaseWork(t *testing.T) {
	p := startPathway(t, "")
	ops := p.key(keys.RoleOps, "")
	lw := p.key(keys.RoleLinkWorker, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	sole := struct{ ID string }{p.worker(ops, "Sole Worker", 1)}
	ids := p.refer(ref, "9434765919", "4010232137")
	waitFor := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var v view
		for time.Now().Before(deadline) {
			p.do("GET", "/v1/referrals/"+id, lw, nil, &v)
			if v.Status == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("referral %s is %s, want %s", id, v.Status, want)
	}
	waitFor(ids[0], "assigned")
	waitFor(ids[1], "waitlisted")

	contact := map[string]any{"kind": "face_to_face", "when": time.Now().Add(-time.Hour).Format(time.RFC3339), "duration_minutes": 45, "what_matters_conversation": true}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/contacts", lw, contact, &res); code != http.StatusOK || res.Status != "assigned" {
		t.Fatalf("contact: %d %+v", code, res)
	}
	// The caseload read model shows the case and its contact.
	var cl struct {
		Worker struct {
			Count       int     `json:"active_cases"`
			Utilisation float64 `json:"utilisation"`
		} `json:"worker"`
		Cases []struct {
			ID          string     `json:"id"`
			Stage       string     `json:"stage"`
			LastContact *time.Time `json:"last_contact"`
			Overdue     bool       `json:"overdue"`
		} `json:"cases"`
	}
	if code, _ := p.do("GET", fmt.Sprintf("/v1/caseloads/%s?min_seq=%d", sole.ID, res.Sequence), lw, nil, &cl); code != http.StatusOK {
		t.Fatalf("GET caseload: %d", code)
	}
	if cl.Worker.Count != 1 || cl.Worker.Utilisation != 1 || len(cl.Cases) != 1 || cl.Cases[0].ID != ids[0] || cl.Cases[0].Stage != "in_contact" || cl.Cases[0].LastContact == nil || cl.Cases[0].Overdue {
		t.Fatalf("caseload %+v", cl)
	}
	var all struct {
		Workers []struct {
			ID    string `json:"id"`
			Count int    `json:"active_cases"`
		} `json:"workers"`
	}
	p.do("GET", fmt.Sprintf("/v1/caseloads?min_seq=%d", res.Sequence), ops, nil, &all)
	if len(all.Workers) != 1 || all.Workers[0].ID != sole.ID || all.Workers[0].Count != 1 {
		t.Fatalf("caseloads %+v", all)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+ids[1]+"/contacts", lw, contact, &prob); code != http.StatusConflict {
		t.Fatalf("contact on a waitlisted referral: %d, want 409", code)
	}
	future := map[string]any{"kind": "phone", "when": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/contacts", lw, future, &prob); code != http.StatusBadRequest {
		t.Fatalf("contact in the future: %d, want 400", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "bored"}, &prob); code != http.StatusBadRequest || prob.Errors[0].Field != "reason" {
		t.Fatalf("bad discharge reason: %d %+v", code, prob)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "goals_met", "note": "joined a walking group"}, &res); code != http.StatusOK || res.Status != "discharged" {
		t.Fatalf("discharge: %d %+v", code, res)
	}
	waitFor(ids[1], "assigned") // the freed place goes to the head of the waitlist
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "goals_met"}, &prob); code != http.StatusConflict {
		t.Fatalf("second discharge: %d, want 409", code)
	}
	// Reopen: accepted again, and waits because the only place is taken.
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/reopen", lw, map[string]string{"reason": "asked to restart"}, &res); code != http.StatusOK {
		t.Fatalf("reopen: %d %+v", code, res)
	}
	waitFor(ids[0], "waitlisted")
	var tl view
	p.do("GET", "/v1/referrals/"+ids[0], lw, nil, &tl)
	var types []string
	for _, h := range tl.History {
		types = append(types, h.Type)
	}
	want := "ReferralReceived,ReferralTriaged,ReferralAssigned,ContactRecorded,ReferralDischarged,ReferralReopened,ReferralWaitlisted"
	if strings.Join(types, ",") != want {
		t.Fatalf("history %v, want %s", types, want)
	}
	var timeline struct {
		Events []struct {
			Type      string         `json:"type"`
			ActorRole string         `json:"actor_role"`
			Details   map[string]any `json:"details"`
		} `json:"events"`
	}
	if code, _ := p.do("GET", "/v1/referrals/"+ids[0]+"/timeline", lw, nil, &timeline); code != http.StatusOK || len(timeline.Events) != 7 {
		t.Fatalf("timeline: %d %+v", code, timeline)
	}
	if e := timeline.Events[4]; e.Type != "ReferralDischarged" || e.ActorRole != "link_worker" || e.Details["reason"] != "DISCHARGE_REASON_GOALS_MET" {
		t.Fatalf("discharge in the timeline: %+v", e)
	}
	if timeline.Events[0].Details != nil {
		t.Fatalf("the timeline shows the received referral's personal data: %+v", timeline.Events[0])
	}
}

// TestManualAssignAndReassign: staff assign only where there is a place,
// and a reassignment moves the case between caseloads in one step.
func TestManualAssignAndReassign(t *testing.T) {
	p := startPathway(t, "")
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	type wk struct {
		ID       string `json:"id"`
		Caseload int    `json:"caseload"`
	}
	var w1, w2 wk
	p.do("POST", "/v1/workers", ops, map[string]any{"name": "One", "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 1}, &w1)
	p.do("POST", "/v1/workers", ops, map[string]any{"name": "Two", "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 1}, &w2)
	var ids []string
	for _, n := range []string{"9434765919", "4010232137", "9876543210"} {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		var c submitted
		p.do("POST", "/v1/referrals", ref, body, &c)
		ids = append(ids, c.ID)
	}
	statusOf := func(id string) (string, string) {
		var v struct {
			Status string `json:"status"`
		}
		p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
		var tl struct {
			Events []struct {
				Details map[string]any `json:"details"`
			} `json:"events"`
		}
		p.do("GET", "/v1/referrals/"+id+"/timeline", ops, nil, &tl)
		w := ""
		for _, e := range tl.Events {
			if id, ok := e.Details["worker_id"].(string); ok {
				w = id
			}
			if id, ok := e.Details["to_worker_id"].(string); ok {
				w = id
			}
		}
		return v.Status, w
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := statusOf(ids[2])
		if s == "waitlisted" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, onW1 := statusOf(ids[0])
	other := w2.ID
	if onW1 == w2.ID {
		other = w1.ID
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+ids[2]+"/assign", ops, map[string]string{"worker_id": other, "reason": "urgent need"}, &prob); code != http.StatusConflict {
		t.Fatalf("assign to a full worker: %d %+v, want 409", code, prob)
	}
	// Make room on one worker, then move a case there by hand.
	p.do("PATCH", "/v1/workers/"+other, ops, map[string]any{"capacity": 3}, nil)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, w := statusOf(ids[2])
		if (s == "assigned" && w == other) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/assign", ops, map[string]string{"worker_id": other, "reason": "continuity with family"}, &res); code != http.StatusOK || res.Status != "assigned" {
		t.Fatalf("reassign: %d %+v", code, res)
	}
	var a, b wk
	p.do("GET", "/v1/workers/"+onW1, ops, nil, &a)
	p.do("GET", "/v1/workers/"+other, ops, nil, &b)
	if a.Caseload != 0 || b.Caseload != 3 {
		t.Fatalf("caseloads after reassign: %d and %d, want 0 and 3", a.Caseload, b.Caseload)
	}
	if _, w := statusOf(ids[0]); w != other {
		t.Fatalf("reassigned referral is with %s, want %s", w, other)
	}
}

// TestPlanAndOutcomes through the API, with the caseload stage following.
func TestPlanAndOutcomes(t *testing.T) {
	p := startPathway(t, "")
	ops := p.key(keys.RoleOps, "")
	lw := p.key(keys.RoleLinkWorker, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	wk := struct{ ID string }{p.worker(ops, "W", 1)}
	c := struct{ ID string }{p.refer(ref, "9434765919")[0]}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v view
		p.do("GET", "/v1/referrals/"+c.ID, lw, nil, &v)
		if v.Status == "assigned" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var res submitted
	plan := map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group", "target_date": "2027-01-31"}}}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/plan", lw, plan, &res); code != http.StatusOK {
		t.Fatalf("plan: %d", code)
	}
	var prob problem
	for name, tc := range map[string]struct {
		body map[string]any
		code int
	}{
		"ONS4 follow-up before baseline": {map[string]any{"instrument": "ons4", "point": "follow_up", "ons4": map[string]int{"life_satisfaction": 5, "worthwhile": 5, "happy_yesterday": 5, "anxious_yesterday": 5}}, http.StatusConflict},
		"SWEMWBS item of 6":              {map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{1, 2, 3, 4, 6, 1, 2}}, http.StatusBadRequest},
		"ONS4 missing an answer":         {map[string]any{"instrument": "ons4", "point": "baseline", "ons4": map[string]int{"life_satisfaction": 5}}, http.StatusBadRequest},
		"unknown instrument":             {map[string]any{"instrument": "phq9", "point": "baseline"}, http.StatusBadRequest},
	} {
		if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, tc.body, &prob); code != tc.code {
			t.Errorf("%s: %d, want %d", name, code, tc.code)
		}
	}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}}, &res); code != http.StatusOK {
		t.Fatalf("SWEMWBS baseline: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, map[string]any{"instrument": "swemwbs", "point": "follow_up", "items": []int{3, 3, 3, 3, 3, 3, 3}}, &res); code != http.StatusOK {
		t.Fatalf("SWEMWBS follow-up: %d", code)
	}
	p.do("POST", "/v1/referrals/"+c.ID+"/contacts", lw, map[string]any{"kind": "phone", "when": time.Now().Add(-time.Minute).Format(time.RFC3339), "duration_minutes": 20}, &res)
	var fs struct {
		Funnel struct {
			Total              int             `json:"total"`
			Stages             map[string]int  `json:"stages"`
			BySource           map[string]int  `json:"by_source"`
			TimeToTriage       struct{ N int } `json:"time_to_triage"`
			TimeToFirstContact struct{ N int } `json:"time_to_first_contact"`
			Outcomes           map[string]struct {
				N          int     `json:"n"`
				MeanChange float64 `json:"mean_change"`
			} `json:"outcome_change"`
		} `json:"funnel"`
	}
	if code, _ := p.do("GET", fmt.Sprintf("/v1/stats/funnel?min_seq=%d", res.Sequence), ops, nil, &fs); code != http.StatusOK {
		t.Fatalf("funnel: %d", code)
	}
	f := fs.Funnel
	if f.Total != 1 || f.Stages["assigned"] != 1 || f.BySource["gp_practice"] != 1 || f.TimeToTriage.N != 1 || f.TimeToFirstContact.N != 1 ||
		f.Outcomes["swemwbs"].N != 1 || f.Outcomes["swemwbs"].MeanChange != 4 {
		t.Fatalf("funnel %+v, want one assigned GP referral, triaged, contacted, SWEMWBS +4", f)
	}
	var cl struct {
		Cases []struct {
			Stage string `json:"stage"`
		} `json:"cases"`
	}
	p.do("GET", fmt.Sprintf("/v1/caseloads/%s?min_seq=%d", wk.ID, res.Sequence), lw, nil, &cl)
	if len(cl.Cases) != 1 || cl.Cases[0].Stage != "plan_agreed" {
		t.Fatalf("caseload %+v, want the case at plan_agreed", cl)
	}
}
