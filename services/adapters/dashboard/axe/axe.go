// Package axe checks, in tests, the dashboard's pages against WCAG 2.2 AA
// with axe-core (the npm package axe-core, Deque's accessibility rules
// engine): a browser test injects axe.min.js into the page open in
// chromium and runs axe.run with the WCAG 2.0, 2.1 and 2.2 A and AA tags.
// The first use installs what is missing: the npm package (npm ci, from
// the committed lock file in this folder) and, when the test runs as
// root, Debian's nodejs and npm. Nothing here is served: the dashboard
// has no Node build, and node runs only in tests.
package axe

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/chromedp/chromedp"
	"github.com/pathway-sp/pathway/services/adapters/npmtest"
)

// Tags are the axe-core rule tags checked: WCAG 2.2 level AA, with the
// A and AA rules of 2.0 and 2.1 it includes.
var Tags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// Violation is one rule a page breaks, with the elements that break it.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Serious reports whether v is serious or critical: what the dashboard
// must never have.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

var (
	once   sync.Once
	script string
	err    error
)

// Script returns axe.min.js, installing it first when missing. An error
// wrapping npmtest.ErrNoNode means the machine cannot run it (a test
// skips). It is safe for concurrent use.
func Script() (string, error) {
	once.Do(func() {
		dir := Dir()
		if err = npmtest.Install(dir, filepath.Join("axe-core", "axe.min.js")); err != nil {
			err = fmt.Errorf("axe-core: %w", err)
			return
		}
		var b []byte
		b, err = os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
		script = string(b)
	})
	return script, err
}

// Run injects src (Script's) into the page open in ctx's chromium tab
// and returns what axe.run finds against Tags, serious or not.
func Run(ctx context.Context, src string) ([]Violation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+"\n;true")); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	tags, _ := json.Marshal(Tags)
	expr := `axe.run(document, {runOnly: {type: 'tag', values: ` + string(tags) + `}, resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("axe-core's answer: %w", err)
	}
	return vs, nil
}

// Dir is the folder of the axe-core npm package.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}
