package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
)

// pathway is `pathway serve` running in the test process on a temporary
// data directory, with HTTP and NATS on free loopback ports.
type pathway struct {
	t       testing.TB
	base    string
	natsURL string
	natsOpt []nats.Option // the credentials (and TLS) to connect to natsURL
	client  *http.Client  // nil: http.DefaultClient; one trusting the certificate with --tls-cert
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

// startPathwayWith starts pathway with cfg. Unless cfg names trusted
// proxies, loopback is trusted, so that key's requests (below) can come
// from addresses of their own.
func startPathwayWith(tb testing.TB, cfg serveConfig) *pathway {
	tb.Helper()
	cfg.rules = triage.DefaultRules()
	if cfg.NATSURL != "" && cfg.MasterKey == "" {
		// Every process of one test on one external log shares its keys.
		cfg.MasterKey = testMasterKey(tb)
	}
	if cfg.TrustedProxies == nil {
		cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pathway{t: tb, data: cfg.DataDir, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}, natsURL: cfg.NATSURL}
	log := slog.New(slog.NewTextHandler(p.logs, nil))
	go func() { p.done <- serve(ctx, cfg, log) }()
	// Under the race detector a start on a large log (the demo test's
	// 12,000 events) can take longer than 15s while the read models
	// replay; the base commit failed there too.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out := p.logs.String()
		if m := httpAddrRe.FindStringSubmatch(out); m != nil && p.base == "" {
			p.base = "http://" + m[1]
			if cfg.TLSCert != "" {
				p.base = "https://" + m[1]
			}
		}
		if m := natsURLRe.FindStringSubmatch(out); m != nil {
			p.natsURL = m[1]
		}
		if p.base != "" && strings.Contains(out, "services started") {
			tb.Cleanup(p.stop)
			var err error
			if cfg.NATSURL == "" {
				p.natsOpt, err = embedded.ClientOptions(cfg.DataDir)
			} else {
				p.natsOpt, err = natsOptionsAuth(cfg)
			}
			if err != nil {
				tb.Fatal(err)
			}
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	tb.Fatalf("pathway did not start within 60s:\n%s", p.logs.String())
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

// connect connects to pathway's NATS as pathway does, for as long as the
// test runs.
func (p *pathway) connect() jetstream.JetStream {
	p.t.Helper()
	nc, err := nats.Connect(p.natsURL, p.natsOpt...)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		p.t.Fatal(err)
	}
	return js
}

// key creates an API key of role (with an organisation for a referrer or
// a partner) through the keys store on pathway's NATS.
func (p *pathway) key(role keys.Role, org string) string {
	p.t.Helper()
	return p.keyFor(keys.Spec{Role: role, Organisation: org})
}

// linkWorkerKey creates a link worker's key bound to worker.
func (p *pathway) linkWorkerKey(worker string) string {
	p.t.Helper()
	return p.keyFor(keys.Spec{Role: keys.RoleLinkWorker, Worker: worker})
}

// keyFor creates the key spec says and waits until pathway accepts it.
func (p *pathway) keyFor(spec keys.Spec) string {
	p.t.Helper()
	spec.Label = "test"
	js := p.connect()
	ctx := context.Background()
	ks, err := keys.Open(ctx, js, keys.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	plain, _, err := ks.Create(ctx, spec)
	if err != nil {
		p.t.Fatal(err)
	}
	// The authenticator follows the bucket: wait until it knows the key.
	// Each try that fails counts as a failed key check, so each comes from
	// an address of its own (through loopback, a trusted proxy), leaving
	// the budget of the tests' own address (edge.Throttle) whole.
	deadline := time.Now().Add(5 * time.Second)
	for try := 1; time.Now().Before(deadline); try++ {
		client := fmt.Sprintf("192.0.2.%d", try%250+1)
		if code, _ := p.do("GET", "/v1/me", plain, nil, nil, "X-Forwarded-For", client); code == http.StatusOK {
			return plain
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("key for %s not accepted within 5s", spec.Role)
	return ""
}

// do sends a request and decodes a JSON answer into out (when not nil).
// api is the HTTP API of this pathway, for apitest's requests.
func (p *pathway) api() apitest.Client { return apitest.Client{TB: p.t, Base: p.base, HTTP: p.client} }

func (p *pathway) do(method, path, key string, body any, out any, headers ...string) (int, http.Header) {
	p.t.Helper()
	return p.api().Do(method, path, key, body, out, headers...)
}

// logLength returns the last sequence of the event log.
func (p *pathway) logLength() uint64 {
	p.t.Helper()
	n, err := events.New(p.connect(), events.Options{}).LastSequence(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

func (p *pathway) worker(opsKey, name string, capacity int) string {
	p.t.Helper()
	return p.api().Worker(opsKey, name, capacity)
}

func (p *pathway) refer(refKey string, nhs ...string) []string {
	p.t.Helper()
	return p.api().Refer(refKey, nhs...)
}

func exampleReferral() map[string]any { return apitest.ExampleReferral() }

type (
	problem   = apitest.Problem
	submitted = apitest.Submitted
	view      = apitest.View
)

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

// TestServicesRunApartOnExternalNATS runs intake and triage as two
// processes' worth of services against one external NATS: a referral
// taken by the intake is triaged by the other.
func TestServicesRunApartOnExternalNATS(t *testing.T) {
	dir := t.TempDir()
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	start := func(services ...string) *pathway {
		cfg := defaultServeConfig()
		cfg.NATSURL = srv.ClientURL()
		cfg.NATSNkey = filepath.Join(dir, embedded.CredentialsFile)
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

var (
	masterOnce sync.Once
	masterFile string
)

// testMasterKey returns the file of a master key that every pathway of
// this test binary on an external NATS uses.
func testMasterKey(tb testing.TB) string {
	tb.Helper()
	masterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pathway-master")
		if err != nil {
			tb.Fatal(err)
		}
		masterFile = filepath.Join(dir, "master.key")
		if err := os.WriteFile(masterFile, []byte(base64.StdEncoding.EncodeToString([]byte("pathway test master key, 32 byte"))), 0o600); err != nil {
			tb.Fatal(err)
		}
	})
	return masterFile
}
