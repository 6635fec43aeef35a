package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The pathway binary, built once per test process as the Containerfile
// builds it: no cgo, -trimpath.
var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

func pathwayBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pathway-deploy")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "pathway")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/pathway-sp/pathway/services/cmd/pathway")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build pathway: %v\n%s", err, out)
			return
		}
		binary = bin
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// TestStaticBuild: the binary the Containerfile builds needs no dynamic
// loader or C library, so it runs on distroless/static.
func TestStaticBuild(t *testing.T) {
	f, err := elf.Open(pathwayBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v, want none", libs)
	}
}

// running is a pathway serve on a temporary data directory.
type running struct {
	data    string
	api     string // http://host:port of the HTTP API
	metrics string // http://host:port of --metrics-listen
}

var (
	httpRe    = regexp.MustCompile(`msg="HTTP listening" addr=(\S+)`)
	metricsRe = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
)

// startPathway runs pathway serve on its embedded NATS, with its metrics
// on their own address, until the test ends.
func startPathway(t *testing.T) *running {
	t.Helper()
	bin := pathwayBinary(t)
	r := &running{data: filepath.Join(t.TempDir(), "data")}
	cmd := exec.Command(bin, "serve", "--data", r.data, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log bytes.Buffer
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log.WriteString(line + "\n")
			if m := httpRe.FindStringSubmatch(line); m != nil {
				r.api = "http://" + m[1]
			}
			if m := metricsRe.FindStringSubmatch(line); m != nil {
				r.metrics = "http://" + m[1]
			}
			ready := r.api != "" && r.metrics != "" && strings.Contains(log.String(), "services started")
			mu.Unlock()
			if ready {
				once.Do(func() { close(started) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("pathway serve log:\n%s", log.String())
			mu.Unlock()
		}
	})
	select {
	case <-started:
	case <-time.After(90 * time.Second):
		t.Fatal("pathway serve did not start within 90 s")
	}
	mu.Lock()
	defer mu.Unlock()
	return r
}

// cleanEnv is the environment without pathway's own variables, so that a
// developer's settings do not leak into the test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATHWAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// refer creates a referrer's key with the CLI and posts the README's
// example referral, as a newcomer would.
func (r *running) refer(t *testing.T) {
	t.Helper()
	cmd := exec.Command(pathwayBinary(t), "keys", "create", "--role", "referrer", "--org", "A81001", "--data", r.data)
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pathway keys create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	body, err := os.ReadFile("../docs/examples/referral.json")
	if err != nil {
		t.Fatal(err)
	}
	// The key is known to the API within a second of its creation.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("POST", r.api+"/v1/referrals", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "deploy-test-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			return
		}
		if resp.StatusCode != http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("POST /v1/referrals: %d %s, want 201", resp.StatusCode, b)
		}
	}
}

// scrape returns the metric families --metrics-listen serves.
func (r *running) scrape(ctx context.Context, t *testing.T) map[string]*familyInfo {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.metrics+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]*familyInfo{}
	for name, f := range fams {
		out[name] = &familyInfo{series: len(f.GetMetric()), typ: f.GetType()}
	}
	return out
}

type familyInfo struct {
	series int
	typ    dto.MetricType
}

// exposedNames is every series name the families give a query: a
// histogram's and a summary's _bucket, _sum and _count beside its own.
func exposedNames(fams map[string]*familyInfo) map[string]bool {
	names := map[string]bool{}
	for n, f := range fams {
		names[n] = true
		switch f.typ {
		case dto.MetricType_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}
