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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/npmtest"
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
		if errors.Is(err, npmtest.ErrNoNode) {
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
	if err := npmtest.Install(dir, filepath.Join("fhir", "package.json")); err != nil {
		return nil, fmt.Errorf("the FHIR validator: %w", err)
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
