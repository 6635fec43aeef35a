package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// riskMatrix is the DCB0129 matrix docs/SAFETY.md scores with: the rating
// of a likelihood and a severity.
var riskMatrix = map[string]map[string]int{
	"Very high": {"Minor": 3, "Significant": 4, "Considerable": 4, "Major": 5, "Catastrophic": 5},
	"High":      {"Minor": 2, "Significant": 3, "Considerable": 3, "Major": 4, "Catastrophic": 5},
	"Medium":    {"Minor": 2, "Significant": 2, "Considerable": 3, "Major": 3, "Catastrophic": 4},
	"Low":       {"Minor": 1, "Significant": 2, "Considerable": 2, "Major": 3, "Catastrophic": 4},
	"Very low":  {"Minor": 1, "Significant": 1, "Considerable": 2, "Major": 2, "Catastrophic": 3},
}

var (
	testRefRe = regexp.MustCompile("`([a-z][a-z0-9/]*)\\.(Test[A-Za-z0-9_]+)(?:/([A-Za-z0-9_]+))?`")
	hazardRe  = regexp.MustCompile(`(?m)^### (H\d\d) `)
	riskRe    = regexp.MustCompile(`(?m)^- \*\*(Initial|Residual) risk:\*\* likelihood (Very high|High|Medium|Low|Very low) × severity (Minor|Significant|Considerable|Major|Catastrophic) = \*\*(\d)\*\*`)
	summaryRe = regexp.MustCompile(`(?m)^\| (H\d\d) \| [^|]+ \| (\d) \| (\d) \|$`)
)

// TestSafetyLogNamesRealTests keeps docs/SAFETY.md honest: every test it
// names as the proof of a control exists in the package it names (and a
// named subtest is in that package's tree); every hazard has a cause, an
// effect, an initial risk, controls with tests and a residual risk; each
// rating is the matrix's for its likelihood and severity; and the summary
// agrees with the hazards.
func TestSafetyLogNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "docs", "SAFETY.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	refs := testRefRe.FindAllStringSubmatch(doc, -1)
	if len(refs) < 50 {
		t.Fatalf("the log names %d tests; the parse has broken", len(refs))
	}
	sources := map[string]string{} // package dir -> its test files, joined
	tree := map[string]string{}    // package dir -> every Go file under it, joined
	read := func(dir string, all bool) string {
		var b strings.Builder
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != dir && !all {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && (all || strings.HasSuffix(path, "_test.go")) {
				data, _ := os.ReadFile(path)
				b.Write(data)
			}
			return nil
		})
		return b.String()
	}
	for _, r := range refs {
		pkg, name, sub := r[1], r[2], r[3]
		dir := filepath.Join(root, filepath.FromSlash(pkg))
		if _, ok := sources[pkg]; !ok {
			sources[pkg], tree[pkg] = read(dir, false), read(dir, true)
		}
		if !strings.Contains(sources[pkg], "func "+name+"(t *testing.T)") {
			t.Errorf("%s: no test %s in %s", r[0], name, pkg)
		}
		if sub != "" && !strings.Contains(tree[pkg], strconv.Quote(sub)) {
			t.Errorf("%s: no subtest %q under %s", r[0], sub, pkg)
		}
	}

	// Each hazard, from its heading to the next.
	heads := hazardRe.FindAllStringSubmatchIndex(doc, -1)
	if len(heads) < 8 {
		t.Fatalf("%d hazards, want at least the eight of issue 11", len(heads))
	}
	ratings := map[string][2]string{}
	for i, h := range heads {
		id := doc[h[2]:h[3]]
		if want := "H" + strconv.Itoa(100 + i + 1)[1:]; id != want {
			t.Errorf("hazard %d is %s, want %s: ids run in order", i+1, id, want)
		}
		end := len(doc)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		} else if j := strings.Index(doc[h[0]:], "\n## "); j > 0 {
			end = h[0] + j
		}
		body := doc[h[0]:end]
		for _, field := range []string{"- **Cause:**", "- **Effect:**", "- **Initial risk:**", "- **Controls:**", "- **Residual risk:**"} {
			if !strings.Contains(body, field) {
				t.Errorf("%s has no %s", id, strings.Trim(field, "-* :"))
			}
		}
		controls := body[strings.Index(body, "- **Controls:**")+1:]
		if k := strings.Index(controls, "- **Residual risk:**"); k > 0 {
			controls = controls[:k]
		}
		for _, c := range regexp.MustCompile(`(?m)^  \d+\. `).Split(controls, -1)[1:] {
			if !testRefRe.MatchString(c) {
				t.Errorf("%s: a control names no test: %q", id, strings.TrimSpace(c))
			}
		}
		var got [2]string
		for _, m := range riskRe.FindAllStringSubmatch(body, -1) {
			n, _ := strconv.Atoi(m[4])
			if want := riskMatrix[m[2]][m[3]]; n != want {
				t.Errorf("%s: %s risk %s × %s rated %d, the matrix says %d", id, m[1], m[2], m[3], n, want)
			}
			if m[1] == "Initial" {
				got[0] = m[4]
			} else {
				got[1] = m[4]
			}
		}
		if got[0] == "" || got[1] == "" {
			t.Errorf("%s: initial or residual risk not in the form 'likelihood L × severity S = **N**'", id)
		}
		ratings[id] = got
	}
	rows := summaryRe.FindAllStringSubmatch(doc, -1)
	if len(rows) != len(heads) {
		t.Errorf("the summary lists %d hazards, the log %d", len(rows), len(heads))
	}
	for _, r := range rows {
		if got := ratings[r[1]]; got != [2]string{r[2], r[3]} {
			t.Errorf("summary: %s rated %s then %s, the hazard %s then %s", r[1], r[2], r[3], got[0], got[1])
		}
	}
}
