package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
)

const chromiumPath = "/usr/bin/chromium"

// chromium returns the path of Debian's chromium, installing it when
// missing and the test runs as root; otherwise it skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if os.Geteuid() != 0 {
		t.Skipf("the dashboard browser test needs %s: install it with `apt-get install -y chromium` (as root) to run this test", chromiumPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium").CombinedOutput()
	if err != nil {
		t.Fatalf("install chromium: %v\n%s", err, out)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium installed but %s is missing: %v", chromiumPath, err)
	}
	return chromiumPath
}

// browser starts a headless chromium for t at 1400 px wide and returns
// its context, which ends with the test or after d.
func browser(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	chrome := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(bctx, d)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// page drives a browser tab in a test: do runs actions or fails the
// test, text reads a node's text (again when a live update replaced it).
type page struct {
	t   *testing.T
	ctx context.Context
}

func (pg page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	pg.t.Helper()
	if err := chromedp.Do(pg.ctx, actions...); err != nil {
		pg.t.Fatalf("%s: %v", what, err)
	}
}

func (pg page) text(sel string) string {
	pg.t.Helper()
	var err error
	for range 20 { // a live update may replace the node: read again
		var v string
		if v, err = chromedp.Run(pg.ctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	pg.t.Fatalf("read %s: %v", sel, err)
	return ""
}

// press focuses sel and presses key: by keyboard, as a person without a
// mouse would, and immune to the layout moving under a click (a live
// update, a resized window).
func press(sel, key string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Focus(chromedp.CSS(sel))(ctx, tg); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.KeyEvent(key)(ctx, tg)
	}
}

// nhsNumbers returns n valid NHS numbers.
func nhsNumbers(n int) []string {
	var out []string
	for v := 9000000000; len(out) < n; v++ {
		if s := fmt.Sprint(v); referral.ValidNHSNumber(s) {
			out = append(out, s)
		}
	}
	return out
}

// TestDashboardInBrowser signs in to the dashboard in a real headless
// chromium, watches the overview while a referral ends up on a waitlist
// through the API, and sees the queue's count change without a reload.
func TestDashboardInBrowser(t *testing.T) {
	chromium(t) // skips at once where there is no chromium
	p := startPathway(t, "")
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")

	ctx := browser(t, 2*time.Minute)

	// Signing in: the overview sends an unsigned-in browser to the form.
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx, chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#key"))); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.Contains(title, "Sign in") {
		t.Fatalf("title %q (%v), want the sign-in page", title, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(css("#key"), ops),
		chromedp.Click(css("form.signin button[type=submit]")),
		chromedp.WaitVisible(css("#live")),
		chromedp.WaitVisible(css(`#live-status[data-state="live"]`)),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		// A live update may replace the node between finding and reading
		// it: read again.
		var err error
		for range 20 {
			var v string
			if v, err = chromedp.Run(ctx, chromedp.Text(css(sel))); err == nil {
				return v
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("read %s: %v", sel, err)
		return ""
	}
	if h, status := text("main h1"), text("#live-status"); h != "Overview" || !strings.Contains(status, "Live") {
		t.Fatalf("after sign-in: heading %q, status %q; want the live overview", h, status)
	}
	// A mark that a reload would wipe.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	if before := text("#live"); !strings.Contains(before, "No one is waiting") {
		t.Fatalf("a fresh pathway's overview: want no one waiting, got:\n%s", before)
	}

	// Through the API: a worker with one place takes the first referral;
	// the second waits on the worker's PCN's queue, U12345.
	p.worker(ops, "Robin Worker", 1)
	nhs := nhsNumbers(3)
	posted := time.Now()
	p.refer(ref, nhs[:2]...)
	queue := `td.size[data-queue="U12345"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(queue))); err != nil {
		t.Fatalf("the U12345 waitlist did not appear on the open page: %v", err)
	}
	count := ""
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && count != "1"; time.Sleep(100 * time.Millisecond) {
		count = text(queue)
	}
	if count != "1" {
		t.Fatalf("U12345 shows %q waiting, want 1", count)
	}
	t.Logf("the open page showed the waitlist %v after the referrals were posted", time.Since(posted).Round(time.Millisecond))
	notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil || !notReloaded {
		t.Fatalf("the page reloaded (%v), want it updated in place", err)
	}
	workers := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(workers, "full"); time.Sleep(100 * time.Millisecond) {
		workers = text("#workers-h + .scroll table")
	}
	if !strings.Contains(workers, "Robin Worker") || !strings.Contains(workers, "full") {
		t.Errorf("caseloads %q: want Robin Worker shown full", workers)
	}

	// Keyboard focus and an open disclosure survive a live update.
	if err := chromedp.Do(ctx, chromedp.Click(css("#waitchart-data > summary")), chromedp.Focus(css(`a[href="/waitlists/U12345"]`))); err != nil {
		t.Fatal(err)
	}
	p.refer(ref, nhs[2])
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && count != "2"; time.Sleep(100 * time.Millisecond) {
		count = text(queue)
	}
	if count != "2" {
		t.Fatalf("U12345 shows %q waiting after a third referral, want 2", count)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute('href') || document.activeElement.tagName`))
	if err != nil || focused != "/waitlists/U12345" {
		t.Errorf("focus after a live update: on %q (%v), want still on the U12345 link", focused, err)
	}
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#waitchart-data').open`))
	if err != nil || !kept {
		t.Errorf("the chart's data table closed on a live update (%v), want it kept open", err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.ArtifactDir()
	shot := filepath.Join(dir, "dashboard-overview.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the overview: %s", shot)
	// The same page on a wall display.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(2560, 1440)); err != nil {
		t.Fatal(err)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-wall.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 1100)); err != nil {
		t.Fatal(err)
	}

	// The queue's link leads to its waitlist: initials, no contact details.
	if err := chromedp.Do(ctx, chromedp.Click(css(`a[href="/waitlists/U12345"]`)), chromedp.WaitVisible(css("table.entries"))); err != nil {
		t.Fatalf("open the waitlist: %v", err)
	}
	if rows := text("table.entries tbody"); !strings.Contains(rows, "S.E.") || strings.Contains(rows, "07700900123") || strings.Contains(rows, "TS1 3BA") {
		t.Errorf("waitlist rows %q: want initials S.E. and no contact details", rows)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-waitlist.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The funnel, from the navigation.
	if err := chromedp.Do(ctx, chromedp.Click(css(`nav a[href="/funnel"]`)), chromedp.WaitVisible(css("#sources-cap"))); err != nil {
		t.Fatalf("open the funnel: %v", err)
	}
	if h, desc := text("main h1"), text("#stages-h + .scroll table"); h != "Referral funnel" || !strings.Contains(desc, "waitlisted") {
		t.Errorf("funnel page: heading %q, stages %q; want the funnel with a waitlisted stage", h, desc)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-funnel.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// Stopping pathway with the page open ends its stream (so shutdown
	// does not wait on it), and the page says it lost the connection.
	p.stop()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css(`#live-status[data-state="lost"]`))); err != nil {
		t.Fatalf("the page did not show the lost connection: %v", err)
	}
	if status := text("#live-status"); !strings.Contains(status, "reconnecting") {
		t.Errorf("status %q after the server stopped, want it to say it is reconnecting", status)
	}
}
