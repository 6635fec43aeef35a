package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// binary is the pathway binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pathway-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pathway")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pathway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `pathway serve`.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	log   bytes.Buffer
	lines chan string
	done  chan error
}

func startServe(tb testing.TB, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "PATHWAY_NATS_URL=", "PATHWAY_DATA=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if tb.Failed() {
			tb.Logf("pathway serve log:\n%s", p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// await returns the first submatch of re in the log, waiting up to d.
func (p *proc) await(tb testing.TB, re *regexp.Regexp, d time.Duration) string {
	tb.Helper()
	deadline := time.After(d)
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m[1]
		}
		select {
		case <-p.lines:
		case <-deadline:
			tb.Fatalf("log never matched %v within %v", re, d)
		}
	}
}

// stop sends sig and requires a clean exit within 10 seconds.
func (p *proc) stop(tb testing.TB, sig os.Signal) {
	tb.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			tb.Fatalf("exit after %v: %v, want a clean exit", sig, err)
		}
		tb.Logf("stopped on %v in %v", sig, time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		tb.Fatalf("still running 10s after %v", sig)
	}
}

var (
	httpAddrRe = regexp.MustCompile(`msg="HTTP listening" addr=(\S+)`)
	natsURLRe  = regexp.MustCompile(`nats_url=(\S+)`)
)

// awaitReady polls GET /readyz until 200, within 15 seconds.
func awaitReady(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		code, body := get(tb, "http://"+addr+"/readyz")
		if code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s", code, body)
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("/readyz not 200 within 15s; last answer: %s", last)
}

func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storeAt connects to the embedded server of the pathway serve running on
// data, at url, with the credentials it keeps there.
func storeAt(tb testing.TB, data, url string) *events.Store {
	tb.Helper()
	return events.New(jetStreamAt(tb, data, url), events.Options{})
}

func TestServeAnswersReadyAndSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	args := []string{"--data", data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}
	ctx := context.Background()

	p := startServe(t, args...)
	addr := p.await(t, httpAddrRe, 15*time.Second)
	awaitReady(t, addr)
	if code, body := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	url := p.await(t, natsURLRe, time.Second)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("embedded NATS at %s, want loopback only", url)
	}
	// A partner event: no service reacts to it, so the aggregate holds
	// exactly what this test wrote.
	agg := events.Aggregate{Type: "partner", ID: uuid.NewString()}
	v, err := storeAt(t, data, url).Append(ctx, agg, 0, events.Event{Payload: &pathwayv1.PartnerRegistered{Name: "kept"}})
	if err != nil {
		t.Fatalf("append through the embedded server: %v", err)
	}
	p.stop(t, syscall.SIGTERM)

	p = startServe(t, args...)
	addr = p.await(t, httpAddrRe, 15*time.Second)
	awaitReady(t, addr)
	s := storeAt(t, data, p.await(t, natsURLRe, time.Second))
	recs, version, err := s.Load(ctx, agg)
	if err != nil || len(recs) != 1 || version != v {
		t.Fatalf("after restart: %d events at %d (%v), want 1 at %d", len(recs), version, err, v)
	}
	if _, err := s.Append(ctx, agg, v, events.Event{Payload: &pathwayv1.PartnerUpdated{Name: "after restart"}}); err != nil {
		t.Fatalf("append after restart: %v", err)
	}
	p.stop(t, syscall.SIGINT)
}

func TestServeExternalNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(t.TempDir(), "unused")
	// The external NATS's credentials, made by a first start.
	natsData := t.TempDir()
	srv, err := embedded.Start(embedded.Config{DataDir: natsData, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown(context.Background())

	p := startServe(t, "--nats-url", "nats://"+natsAddr, "--nats-nkey", filepath.Join(natsData, embedded.CredentialsFile), "--data", data, "--http", "127.0.0.1:0", "--master-key", testMasterKey(t))
	addr := p.await(t, httpAddrRe, 15*time.Second)
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while NATS is down: %d, want 200", code)
	}
	code, body := get(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS") {
		t.Fatalf("/readyz while NATS is down: %d %s, want 503 naming NATS", code, body)
	}
	var problem struct{ Detail string }
	if err := json.Unmarshal([]byte(body), &problem); err != nil || problem.Detail == "" {
		t.Errorf("/readyz body %q is not a problem with a reason", body)
	}

	// The external NATS comes up: pathway connects and sets up the stream.
	srv, err = embedded.Start(embedded.Config{DataDir: natsData, Listen: natsAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	awaitReady(t, addr)
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("with --nats-url, pathway created %s: it must start no server", data)
	}
	p.stop(t, syscall.SIGTERM)
}

func TestCommandLine(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{name: "no command", code: 2, stderr: "Usage:"},
		{name: "help", args: []string{"help"}, stdout: "pathway serve [flags]"},
		{name: "--help", args: []string{"--help"}, stdout: "pathway version"},
		{name: "help serve", args: []string{"help", "serve"}, stdout: "--fsync=false"},
		{name: "serve --help", args: []string{"serve", "--help"}, stderr: "PATHWAY_DATA"},
		{name: "version --help", args: []string{"version", "--help"}, stderr: "Prints the version"},
		{name: "help version", args: []string{"help", "version"}, stdout: "Prints the version"},
		{name: "version", args: []string{"version"}, stdout: "pathway "},
		{name: "unknown command", args: []string{"sereve"}, code: 2, stderr: `unknown command "sereve"`},
		{name: "help unknown", args: []string{"help", "nope"}, code: 2, stderr: "no help for unknown command"},
		{name: "unknown flag", args: []string{"serve", "--nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"serve", "extra"}, code: 2, stderr: "unexpected argument"},
		{name: "every bad setting at once", args: []string{"serve", "--http", "nope", "--replicas", "9", "--nats-listen", "x"}, code: 1,
			stderr: "--nats-listen"},
		{name: "bad setting from the environment", args: []string{"serve"}, env: map[string]string{"PATHWAY_HTTP": "bad"}, code: 1, stderr: `--http "bad"`},
		{name: "token with user", args: []string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-user", "u", "--nats-token", "t"}, code: 1, stderr: "cannot be combined"},
		{name: "bad retention", args: []string{"serve", "--retention", "discharged=8h"}, code: 2, stderr: "unknown unit"},
		{name: "unknown outcome", args: []string{"serve", "--retention", "closed=8y"}, code: 2, stderr: "entered_in_error"},
		{name: "NKey with user", args: []string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-user", "u", "--nats-nkey", "f"}, code: 1, stderr: "--nats-nkey cannot be combined"},
		{name: "NATS beyond loopback without TLS", args: []string{"serve", "--nats-listen", "0.0.0.0:4222"}, code: 1, stderr: "not a loopback address"},
		{name: "NATS on every interface without TLS", args: []string{"serve", "--nats-listen", ":4222"}, code: 1, stderr: "give --nats-cert and --nats-key"},
		{name: "NATS beyond loopback from the environment", args: []string{"serve"}, env: map[string]string{"PATHWAY_NATS_LISTEN": "10.1.2.3:4222"}, code: 1, stderr: "not a loopback address"},
		{name: "TLS certificate without its key", args: []string{"serve", "--nats-listen", "0.0.0.0:4222", "--nats-cert", "c.pem"}, code: 1, stderr: "go together"},
		{name: "TLS with an external NATS", args: []string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-cert", "c.pem", "--nats-key", "k.pem"}, code: 1, stderr: "for the embedded server"},
		{name: "HTTPS certificate without its key", args: []string{"serve", "--tls-cert", "c.pem"}, code: 1, stderr: "--tls-cert and --tls-key go together"},
		{name: "HTTPS key from the environment without its certificate", args: []string{"serve"}, env: map[string]string{"PATHWAY_TLS_KEY": "k.pem"}, code: 1, stderr: "--tls-cert and --tls-key go together"},
		{name: "NATS client certificate without its key", args: []string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-client-cert", "c.pem"}, code: 1, stderr: "--nats-client-cert and --nats-client-key go together"},
		{name: "NATS client TLS with the embedded server", args: []string{"serve", "--nats-ca", "ca.pem"}, code: 1, stderr: "for an external NATS (--nats-url)"},
		{name: "NATS CA that cannot be read", args: []string{"keys", "list", "--nats-url", "nats://127.0.0.1:1", "--nats-ca", "/nonexistent/ca.pem"}, code: 1, stderr: "--nats-ca: open /nonexistent/ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := noEnv
			if tc.env != nil {
				getenv = func(k string) string { return tc.env[k] }
			}
			code := run(context.Background(), tc.args, getenv, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
		})
	}
	t.Run("all problems reported together", func(t *testing.T) {
		var stderr bytes.Buffer
		run(context.Background(), []string{"serve", "--http", "nope", "--replicas", "9"}, noEnv, io.Discard, &stderr)
		for _, want := range []string{"--http", "--replicas 9"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q does not mention %s", stderr.String(), want)
			}
		}
	})
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":          "nats://127.0.0.1:4222",
		"nats://user:secret@host:4222":   "nats://***@host:4222",
		"tls://tok@en@nats.example:4222": "tls://***@nats.example:4222",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeysCommand(t *testing.T) {
	data := t.TempDir()
	env := func(string) string { return "" }
	run1 := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "--data", data), env, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run1("keys", "create", "--role", "referrer", "--org", "A81001", "--label", "practice system")
	if code != 0 || !strings.HasPrefix(out, "pw_") || !strings.Contains(errs, "shown only now") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	id := strings.Split(strings.TrimSpace(out), "_")[1]
	if code, _, errs := run1("keys", "create", "--role", "referrer"); code != 1 || !strings.Contains(errs, "--org") {
		t.Fatalf("referrer without org: %d %q, want 1 naming --org", code, errs)
	}
	if code, _, errs := run1("keys", "create", "--role", "nurse"); code != 1 || !strings.Contains(errs, "role") {
		t.Fatalf("unknown role: %d %q", code, errs)
	}
	// A link worker's key acts for a worker on the roster.
	if code, _, errs := run1("keys", "create", "--role", "link_worker"); code != 1 || !strings.Contains(errs, "--worker") {
		t.Fatalf("link worker without a worker: %d %q, want 1 naming --worker", code, errs)
	}
	if code, _, errs := run1("keys", "create", "--role", "link_worker", "--worker", "0190f6b2-0000-7000-8000-000000000001"); code != 1 || !strings.Contains(errs, "no link worker") {
		t.Fatalf("link worker of no worker: %d %q, want 1: no link worker", code, errs)
	}
	if code, _, errs := run1("keys", "create", "--role", "ops", "--scope", "team"); code != 1 || !strings.Contains(errs, "team scope") {
		t.Fatalf("ops key with the team scope: %d %q, want 1 naming the scope", code, errs)
	}
	code, out, _ = run1("keys", "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "A81001") || strings.Contains(out, "pw_") {
		t.Fatalf("list: %d %q, want the key's id and organisation and no secret", code, out)
	}
	if code, out, _ := run1("keys", "revoke", id); code != 0 || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if code, _, errs := run1("keys", "revoke", "0123456789ab"); code != 1 || !strings.Contains(errs, "no key") {
		t.Fatalf("revoke unknown: %d %q", code, errs)
	}
	_, out, _ = run1("keys", "list")
	if !strings.Contains(out, id) || strings.Contains(strings.SplitN(out, "\n", 3)[1], " - ") && false {
		t.Fatalf("list after revoke: %q", out)
	}

	// With pathway serve running on the directory, keys talks to it and
	// the new key works at once.
	p := startServe(t, "--data", data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	addr := p.await(t, httpAddrRe, 15*time.Second)
	awaitReady(t, addr)
	code, out, _ = run1("keys", "create", "--role", "ops")
	if code != 0 {
		t.Fatalf("create while serving: %d", code)
	}
	ops := strings.TrimSpace(out)
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+ops)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("a key created while serving was not accepted within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A link worker key for a worker on the roster, with the team scope.
	worker := apitest.Client{TB: t, Base: "http://" + addr}.Worker(ops, "Alex Link", 5)
	code, out, errs = run1("keys", "create", "--role", "link_worker", "--worker", worker, "--scope", "team")
	if code != 0 || !strings.HasPrefix(out, "pw_") || !strings.Contains(errs, "of PCN U12345") || !strings.Contains(errs, "scope team") {
		t.Fatalf("link worker key: %d %q %q, want a key of the worker's PCN with the team scope", code, out, errs)
	}
	lwID := strings.Split(strings.TrimSpace(out), "_")[1]
	code, out, _ = run1("keys", "list")
	var line string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, lwID) {
			line = l
		}
	}
	if code != 0 || !strings.Contains(line, worker) || !strings.Contains(line, "team") {
		t.Fatalf("list: %d %q, want the link worker key with its worker and scope", code, out)
	}
	p.stop(t, syscall.SIGTERM)
}

// TestNATSIsLocked: the first start on a new data directory makes it,
// and the embedded server's credentials there, its owner's alone; a
// running serve refuses NATS clients without them and admits a tool that
// uses the file as its NKey seed; and a command whose credentials the
// running serve refuses fails, rather than open the directory under it.
func TestNATSIsLocked(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := func(string) string { return "" }
	var out, errb bytes.Buffer
	p := startServe(t, "--data", data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	awaitReady(t, p.await(t, httpAddrRe, 15*time.Second))
	url := p.await(t, natsURLRe, time.Second)
	creds := filepath.Join(data, embedded.CredentialsFile)
	for path, want := range map[string]os.FileMode{data: 0o700, creds: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	if nc, err := nats.Connect(url); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Errorf("connect without credentials: %v, want %v", err, nats.ErrAuthorization)
	}
	seed, err := nats.NkeyOptionFromSeed(creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, seed)
	if err != nil {
		t.Fatalf("connect with the credentials file as an NKey seed: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(context.Background(), events.DefaultStream); err != nil {
		t.Errorf("the event stream through the credentials: %v", err)
	}

	// Someone else's credentials in the directory: the running serve
	// refuses them, and keys says so instead of opening the directory.
	other := t.TempDir()
	srv, err := embedded.Start(embedded.Config{DataDir: other, Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown(context.Background())
	mine, _ := os.ReadFile(creds)
	theirs, _ := os.ReadFile(filepath.Join(other, embedded.CredentialsFile))
	os.WriteFile(creds, theirs, 0o600)
	out.Reset()
	errb.Reset()
	code := run(context.Background(), []string{"keys", "list", "--data", data}, env, &out, &errb)
	os.WriteFile(creds, mine, 0o600)
	if code != 1 || !strings.Contains(strings.ToLower(errb.String()), "authorization violation") {
		t.Errorf("keys list with credentials the running serve refuses: exit %d, stdout %q, stderr %q; want 1 with the refusal", code, out.String(), errb.String())
	}
	p.stop(t, syscall.SIGTERM)
}

// TestServeBeyondLoopbackWithTLS: with a certificate, the embedded server
// listens on every interface; a TLS client with the credentials connects,
// and pathway keys reaches the running serve over TLS, trusting the
// certificate it recorded in the data directory.
func TestServeBeyondLoopbackWithTLS(t *testing.T) {
	certFile, keyFile, roots := eventstest.Certificate(t)
	data := t.TempDir()
	p := startServe(t, "--data", data, "--http", "127.0.0.1:0", "--nats-listen", "0.0.0.0:0", "--nats-cert", certFile, "--nats-key", keyFile)
	addr := p.await(t, httpAddrRe, 15*time.Second)
	awaitReady(t, addr)
	u, err := neturl.Parse(p.await(t, natsURLRe, time.Second))
	if err != nil || u.Scheme != "tls" {
		t.Fatalf("embedded NATS at %v (%v), want a tls:// URL", u, err)
	}
	seed, err := nats.NkeyOptionFromSeed(filepath.Join(data, embedded.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("tls://127.0.0.1:"+u.Port(), nats.Secure(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), seed)
	if err != nil {
		t.Fatalf("TLS client with the credentials: %v", err)
	}
	defer nc.Close()
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("no TLS on the connection: %v", err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(context.Background(), events.DefaultStream); err != nil {
		t.Errorf("the event stream over TLS: %v", err)
	}

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keys", "create", "--role", "ops", "--data", data}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("keys create against the serve on TLS: %d %s", code, errb.String())
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the key created over TLS was not accepted within 5s: keys did not write to the running serve")
		}
	}
	p.stop(t, syscall.SIGTERM)
}

func TestBadRulesStopStartup(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rules, []byte("version: \"1\"\nrules:\n  - id: broken\n    when: 'age >'\n    decision: accept\n"), 0o600)
	var errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--rules", rules, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard, &errb)
	if code != 1 || !strings.Contains(errb.String(), `rule "broken"`) {
		t.Fatalf("bad rules: exit %d, stderr %q; want 1 naming the rule", code, errb.String())
	}
}

func TestRebuildCommand(t *testing.T) {
	data := t.TempDir()
	p := startPathway(t, data)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	wk := struct{ ID string }{p.worker(ops, "W", 1)}
	lw := p.linkWorkerKey(wk.ID)
	ids := p.refer(ref, "9434765919", "4010232137", "9876543210")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v struct {
			Status string `json:"status"`
		}
		p.do("GET", "/v1/referrals/"+ids[2], ops, nil, &v)
		if v.Status == "waitlisted" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.do("POST", "/v1/referrals/"+ids[0]+"/contacts", lw, map[string]any{"kind": "phone", "when": time.Now().Add(-time.Hour).Format(time.RFC3339), "duration_minutes": 30}, nil)
	last := p.logLength()
	endpoints := []string{"/v1/waitlists", "/v1/waitlists/U12345", "/v1/caseloads", "/v1/caseloads/" + wk.ID, "/v1/stats/funnel",
		"/v1/reports/activity?month=" + kernel.Month(time.Now())}
	answers := func(p *pathway) map[string]string {
		out := map[string]string{}
		for _, e := range endpoints {
			var body map[string]any
			sep := "?"
			if strings.Contains(e, "?") {
				sep = "&"
			}
			if code, _ := p.do("GET", fmt.Sprintf("%s%smin_seq=%d", e, sep, last), ops, nil, &body); code != http.StatusOK {
				t.Fatalf("GET %s: %d", e, code)
			}
			delete(body, "as_of") // the moment of the read
			b, _ := json.Marshal(body)
			out[e] = string(b)
		}
		return out
	}
	before := answers(p)
	p.stop()

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"rebuild", "--data", data}, func(string) string { return "" }, &out, &errb)
	for _, name := range []string{"waitlists", "caseloads", "funnel", "activity-report", "triage-queue", "assignment-view", "handoff-deadlines", "webhook-deliveries"} {
		if code != 0 || !strings.Contains(out.String(), name+": rebuilt to sequence") {
			t.Fatalf("rebuild: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
		}
	}
	if !strings.Contains(errb.String(), "100%") || !strings.Contains(errb.String(), "[####################]") {
		t.Errorf("no progress bar: %q", errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"rebuild", "nope", "--data", data}, func(string) string { return "" }, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "unknown read model") {
		t.Fatalf("unknown read model: exit %d, %q", code, errb.String())
	}
	// After the rebuild every read endpoint answers as before. Waits are
	// measured at the moment of reading, so compare with them re-read.
	p = startPathway(t, data)
	ops = p.key(keys.RoleOps, "")
	after := answers(p)
	for _, e := range endpoints {
		if stripWaits(before[e]) != stripWaits(after[e]) {
			t.Errorf("%s differs after rebuild:\nbefore %s\nafter  %s", e, before[e], after[e])
		}
	}
}

// waitFields are figures that move with the clock between two reads.
var waitFields = regexp.MustCompile(`"(days|text|oldest_wait|median_wait|waited|overdue)":("[^"]*"|[0-9.e+-]+|true|false)`)

func stripWaits(s string) string { return waitFields.ReplaceAllString(s, "") }

// TestCommandsRefuseAMissingDataDirectory: run from another folder, a
// command does not make an empty log in a new ./data and report success.
func TestCommandsRefuseAMissingDataDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "data")
	file := filepath.Join(t.TempDir(), "services.json")
	if err := os.WriteFile(file, []byte(`{"contents":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"keys", "create", "--role", "ops"},
		{"keys", "list"},
		{"directory", "import", file},
		{"directory", "sync", "https://directory.example.org/api"},
		{"rebuild"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "--data", missing), func(string) string { return "" }, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "no data directory "+missing) || !strings.Contains(errb.String(), "--data") {
			t.Errorf("%v: %d %q, want 1 naming the missing directory and --data", args, code, errb.String())
		}
		if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v made %s", args, missing)
		}
	}
}
