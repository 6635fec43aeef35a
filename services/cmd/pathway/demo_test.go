package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoDashboard is issue 6's first must-show: `pathway demo` followed
// by `pathway serve` serves a dashboard on which every panel shows
// figures. The region is shorter than the default (70 days, not 90) to keep the
// test quicker; the code path is the same.
func TestDemoDashboard(t *testing.T) {
	chromium(t) // skips at once where there is no chromium
	data := t.TempDir()
	var out, errOut bytes.Buffer
	start := time.Now()
	if code := run(context.Background(), []string{"demo", "--data", data, "--days", "70", "--per-day", "20"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("pathway demo: exit %d\n%s", code, errOut.String())
	}
	t.Logf("demo load took %v: %s", time.Since(start).Round(time.Second), lastLine(errOut.String()))
	key := regexp.MustCompile(`pw_[A-Za-z0-9_-]+`).FindString(out.String())
	if key == "" {
		t.Fatalf("pathway demo printed no ops key:\n%s", out.String())
	}
	// A second run refuses: the log is no longer empty.
	if code := run(context.Background(), []string{"demo", "--data", data}, func(string) string { return "" }, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not empty") {
		t.Errorf("a second demo load: exit %d, %q; want 1 saying the log is not empty", code, lastLine(errOut.String()))
	}

	p := startPathway(t, data)
	ctx := browser(t, 2*time.Minute)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#key")),
		chromedp.SendKeys(css("#key"), key), chromedp.Click(css("form.signin button[type=submit]")),
		chromedp.WaitVisible(css(`#live-status[data-state="live"]`))); err != nil {
		t.Fatalf("sign in with the demo's ops key: %v", err)
	}
	shoot(t, ctx, "demo-overview.png")
	// text is the text of the first element matching sel; "" when none does.
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+strconv.Quote(sel)+`) || {innerText: ""}).innerText`))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	count := func(sel string) int {
		t.Helper()
		// The first word is the figure ("⚠ 16 expired handoffs: see the list").
		words := strings.Fields(strings.TrimLeft(text(sel), "⚠ "))
		if len(words) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(words[0])
		return n
	}
	positive := func(name, sel string) {
		t.Helper()
		if n := count(sel); n <= 0 {
			t.Errorf("%s shows %q, want a positive count", name, text(sel))
		}
	}
	// The read models catch up with the demo's log after pathway starts,
	// and the page follows them live: wait for the figures (at most a
	// minute) before checking them.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if count("#referrals-in") > 0 && count("#handoffs-awaiting") > 0 && count("#handoffs-expired") > 0 &&
			count(`td.size[data-queue="U10002"]`) > 0 && count(`td.size[data-queue="U10003"]`) > 0 {
			break
		}
	}
	positive("referrals in today", "#referrals-in")
	positive("handoffs awaiting a partner", "#handoffs-awaiting")
	positive("handoffs expired", "#handoffs-expired")
	// Hillside and Coastal run short of link workers; Riverside has room.
	for _, q := range []string{"U10002", "U10003"} {
		positive("queue "+q, `td.size[data-queue="`+q+`"]`)
	}
	if queues := text("table.queues"); !strings.Contains(queues, "over") {
		t.Errorf("no queue shows a breach of the wait target:\n%s", queues)
	}
	if workers := text("#workers-h + .scroll table"); strings.Count(workers, "%") != 20 {
		t.Errorf("caseloads show %d workers' utilisation, want 20", strings.Count(workers, "%"))
	}
	for _, panel := range []string{"#queues-h", "#sources-h", "#outcomes-h"} {
		section := text(panel + " ~ *")
		if section == "" {
			t.Errorf("panel %s is empty", panel)
		}
	}
	if empties, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('main .empty').length`)); err != nil || empties != 0 {
		t.Errorf("%d panels say they have nothing to show (%v), want none", empties, err)
	}

	// The other pages have figures too.
	for _, page := range []struct{ path, want string }{
		{"/waitlists/U10002", "U10002"},
		{"/funnel", "Referral funnel"},
		{"/partners", "Tees"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(p.base+page.path), chromedp.WaitVisible(css("main h1"))); err != nil {
			t.Fatalf("open %s: %v", page.path, err)
		}
		if body := text("main"); !strings.Contains(body, page.want) {
			t.Errorf("%s does not show %q", page.path, page.want)
		}
		if empties, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('main .empty').length`)); empties != 0 {
			t.Errorf("%s has %d empty panels", page.path, empties)
		}
		shoot(t, ctx, "demo"+strings.ReplaceAll(page.path, "/", "-")+".png")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n")), "\n")
	return lines[len(lines)-1]
}

// shoot saves a full-page screenshot under the test's artifact directory.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
