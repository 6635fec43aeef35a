// Package fhirtest checks, in tests, that what pathway emits is valid
// FHIR R4: it runs FHIR.js (the npm package fhir, a maintained validator
// of resources against the R4 definitions) under Node.js, from
// services/adapters/fhir/validator. The first use installs what is
// missing: the npm packages (npm ci, from the committed lock file) and,
// when the test runs as root, Debian's nodejs and npm.
package fhirtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Message is one finding of the validator.
type Message struct {
	Location   string `json:"location"`
	ResourceID string `json:"resourceId"`
	Severity   string `json:"severity"`
	Message    string `json:"message"`
}

func (m Message) String() string {
	return fmt.Sprintf("%s %s (%s): %s", m.Severity, m.Location, m.ResourceID, m.Message)
}

// Validate fails t unless body is a FHIR R4 resource that the validator
// finds valid: no error, and no element R4 does not define.
func Validate(t testing.TB, body []byte) {
	t.Helper()
	msgs, err := Check(body)
	if err != nil {
		if strings.HasPrefix(err.Error(), skipPrefix) {
			t.Skip(err.Error())
		}
		t.Fatalf("FHIR validator: %v", err)
	}
	if len(msgs) > 0 {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString("\n  " + m.String())
		}
		t.Errorf("not valid FHIR R4:%s\nresource: %s", b.String(), body)
	}
}

// Check returns what makes body invalid FHIR R4 (nothing when it is
// valid), or an error when the validator cannot run.
func Check(body []byte) ([]Message, error) {
	var line bytes.Buffer
	if err := json.Compact(&line, body); err != nil {
		return []Message{{Severity: "error", Message: "not JSON: " + err.Error()}}, nil
	}
	v, err := validator()
	if err != nil {
		return nil, err
	}
	return v.check(line.Bytes())
}

const skipPrefix = "fhirtest: skip: "

type proc struct {
	mu  sync.Mutex
	in  io.Writer
	out *bufio.Reader
}

var (
	once     sync.Once
	shared   *proc
	startErr error
)

func validator() (*proc, error) {
	once.Do(func() { shared, startErr = start() })
	return shared, startErr
}

func (p *proc) check(line []byte) ([]Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.in.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("write to the validator: %w", err)
	}
	reply, err := p.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read from the validator: %w", err)
	}
	var r struct {
		Valid    bool      `json:"valid"`
		Messages []Message `json:"messages"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return nil, fmt.Errorf("the validator's answer %q: %w", reply, err)
	}
	if r.Valid {
		return nil, nil
	}
	return r.Messages, nil
}

// Dir is the folder of the validator's Node.js package.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "validator")
}

func start() (*proc, error) {
	dir := Dir()
	if err := ensureNode(); err != nil {
		return nil, err
	}
	if err := ensurePackages(dir); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "validate.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node validate.js: %w", err)
	}
	// The process ends with the test binary: its standard input closes.
	return &proc{in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// ensureNode installs Debian's nodejs and npm when node is missing and
// the test runs as root.
func ensureNode() error {
	if _, err := exec.LookPath("node"); err == nil {
		if _, err := exec.LookPath("npm"); err == nil {
			return nil
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%sthe FHIR validator needs Node.js and npm: install them with `apt-get install -y nodejs npm` (as root) to run this test", skipPrefix)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm").CombinedOutput()
	if err != nil {
		return fmt.Errorf("install nodejs and npm: %v\n%s", err, out)
	}
	return nil
}

// ensurePackages runs npm ci in dir unless the packages are there. Test
// binaries of several packages run at once, so a lock file keeps them to
// one install.
func ensurePackages(dir string) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fhir", "package.json")); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return nil
}
