package main

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestOpsInBrowser is issue 13's must-show for ops who can act, in a real
// headless chromium, by keyboard: ops signs in, opens a waitlist by its
// PCN's name and exports it as CSV (the file read with the session's
// cookie); goes from the overview's urgent unmatched count to the list
// behind it and assigns one of them from its row with a reason (sent
// first without one: the error shows beside the field); goes from a
// worker's case count to the caseload behind it, opens a referral and
// reassigns it with a reason (the same way), and the API shows both with
// their reasons, by ops; then exports the unmatched waitlist as CSV and
// finds in it the urgent referral still waiting, and not the one
// assigned.
func TestOpsInBrowser(t *testing.T) {
	chromium(t) // skips at once where there is no chromium
	p := startPathway(t, "")
	ops, admin, ref := p.key(keys.RoleOps, ""), p.key(keys.RoleAdmin, ""), p.key(keys.RoleReferrer, "A81001")
	register := func(name, pcn, pcnName, practice string) string {
		t.Helper()
		var w struct {
			ID string `json:"id"`
		}
		if code, _ := p.do("POST", "/v1/workers", ops, map[string]any{"name": name, "pcn": pcn, "pcn_name": pcnName, "practices": []string{practice}, "capacity": 1}, &w); code != http.StatusCreated {
			t.Fatalf("register %s: %d", name, code)
		}
		return w.ID
	}
	// Alex covers the practice and has one place; Bea, of another PCN,
	// has a place free.
	alex := register("Alex Link", "U12345", "Riverside PCN", "A81001")
	bea := register("Bea Bridge", "U54321", "Coastal PCN", "A81099")
	cai := register("Cai Hill", "U67890", "Hillside PCN", "A81098")
	nhs := nhsNumbers(4)
	first := p.refer(ref, nhs[0])[0]
	await := func(id, status string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var v view
			p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
			if v.Status == status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("referral %s: status %q, want %s", id, v.Status, status)
			}
		}
	}
	await(first, "assigned")
	// Alex is full: the next waits on Riverside's waitlist. (An urgent
	// referral of the example's needs is redirected to the crisis team by
	// the triage rules, so it would not wait here.)
	waiting := p.refer(ref, nhs[1])[0]
	await(waiting, "waitlisted")
	// Two urgent referrals (of a need the triage rules keep for a link
	// worker) from a practice in the area that no link worker's PCN
	// covers: they wait on the unmatched queue.
	urgent := make([]string, 2)
	for i := range urgent {
		body := exampleReferral()
		body["urgency"], body["needs"], body["gp_practice"] = "urgent", []string{"loneliness"}, "A81003"
		body["person"].(map[string]any)["nhs_number"] = nhs[2+i]
		var sub submitted
		if code, _ := p.do("POST", "/v1/referrals", ref, body, &sub); code != http.StatusCreated {
			t.Fatalf("urgent referral %d: %d", i, code)
		}
		urgent[i] = sub.ID
		await(sub.ID, "waitlisted")
	}

	ctx := browser(t, 3*time.Minute)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	pg := page{t, ctx}
	do := pg.do
	text := pg.text
	dir := t.ArtifactDir()
	// fits checks that nothing is wider than the page at 390 px and keeps
	// screenshots at both widths (go test -artifacts keeps them).
	fits := func(name string) {
		t.Helper()
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, name+"-1400.png"), png, 0o644)
		}
		do("narrow the window", chromedp.EmulateViewport(390, 844))
		over, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const w = document.documentElement.clientWidth; let worst = '';
			for (const el of document.querySelectorAll('body *')) {
				const r = el.getBoundingClientRect();
				if (r.right > w + 1 && !el.closest('.scroll')) { worst = el.tagName + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.right) + '>' + w; }
			}
			return worst;
		})()`))
		if err != nil || over != "" {
			t.Errorf("%s at 390 px: %s (%v), want nothing wider than the page", name, over, err)
		}
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(filepath.Join(dir, name+"-390.png"), png, 0o644)
		}
		do("widen the window", chromedp.EmulateViewport(1400, 1000))
	}

	do("open the dashboard", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#key")))
	do("sign in", chromedp.SendKeys(css("#key"), ops), press("form.signin button[type=submit]", "\r"),
		chromedp.WaitVisible(css(`#live-status[data-state="live"]`)))
	if q := text("#queue-U12345 th"); !strings.Contains(q, "Riverside PCN") {
		t.Errorf("the queue shows as %q, want its PCN's name", q)
	}

	// The waitlist, by its PCN's name.
	do("open the waitlist", press("#queue-U12345 th a", "\r"), chromedp.WaitVisible(css(`a[data-referral="`+waiting+`"]`)))
	if h := text("main h1"); !strings.Contains(h, "Riverside PCN") {
		t.Errorf("the waitlist's heading %q, want its PCN's name", h)
	}
	fits("ops-waitlist")

	// Its CSV, fetched as the link would be, with the session's cookie.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const x = new XMLHttpRequest(); x.open('GET', document.getElementById('waitlist-csv').href, false); x.send();
		return x.status + ' ' + x.getResponseHeader('Content-Type') + '\n' + x.responseText; })()`))
	if err != nil {
		t.Fatal(err)
	}
	head, file, _ := strings.Cut(got, "\n")
	if !strings.HasPrefix(head, "200 text/csv") {
		t.Fatalf("the waitlist's CSV: %q, want 200 text/csv", head)
	}
	rows, err := csv.NewReader(strings.NewReader(file)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][1] != "referral_id" || rows[1][1] != waiting || rows[1][3] != "routine" || rows[1][8] != "U12345" {
		t.Errorf("the waitlist's CSV: %q, want its header and the referral waiting", rows)
	}

	// From the overview's count of urgent unmatched referrals to the list
	// behind it, and one of them assigned from its row.
	do("back to the overview", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#queue-unmatched a.urgent-count")))
	if n := text("#queue-unmatched a.urgent-count"); n != "2" {
		t.Errorf("the overview's urgent unmatched count %q, want 2", n)
	}
	do("open the urgent unmatched", press("#queue-unmatched a.urgent-count", "\r"), chromedp.WaitVisible(css(`a[data-assign="`+urgent[0]+`"]`)))
	if h := text("main h1"); !strings.Contains(h, "Unmatched") {
		t.Errorf("the list behind the count is %q, want the unmatched waitlist", h)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#priority"))); v != "urgent" {
		t.Errorf("the list's priority filter %q, want urgent", v)
	}
	for _, id := range urgent {
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[data-referral="`+id+`"]').length`)); n != 1 {
			t.Errorf("the urgent referral %s is not on the list behind the count", id)
		}
	}
	fits("ops-waitlist-urgent")
	do("choose the first to assign", press(`a[data-assign="`+urgent[0]+`"]`, "\r"), chromedp.WaitVisible(css("#row-worker-id")))
	do("choose Cai", chromedp.SendKeys(css("#row-worker-id"), "Cai"))
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#row-worker-id"))); v != cai {
		do("choose Cai by value", chromedp.SetValue(css("#row-worker-id"), cai))
	}
	do("assign without a reason", press("#row-assign button[type=submit]", "\r"), chromedp.WaitVisible(css(".error-summary")))
	if e := text("#row-reason-error"); !strings.Contains(e, "Reason") {
		t.Errorf("the reason's error %q, want it beside the field", e)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#row-worker-id"))); v != cai {
		t.Errorf("the worker chosen came back as %q, want Cai kept", v)
	}
	fits("ops-waitlist-assign-error")
	do("assign with a reason", chromedp.SendKeys(css("#row-reason"), "Urgent: Hillside has room this week"),
		press("#row-assign button[type=submit]", "\r"), chromedp.WaitVisible(css("#done")))
	await(urgent[0], "assigned")

	// From Alex's case count to the caseload, and the referral on it.
	do("back to the overview", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css(`a[data-caseload="`+alex+`"]`)))
	do("open Alex's cases", press(`a[data-caseload="`+alex+`"]`, "\r"), chromedp.WaitVisible(css(`a[data-referral="`+first+`"]`)))
	do("open the referral", press(`a[data-referral="`+first+`"]`, "\r"), chromedp.WaitVisible(css("#assign-worker-id")))
	if w := text("#ref-worker"); !strings.Contains(w, "Alex Link") {
		t.Errorf("the referral's worker %q, want Alex Link", w)
	}
	if person := text("#ref-person"); strings.Contains(person, "Sam") {
		t.Errorf("an ops key without personal_data sees %q, want initials", person)
	}
	fits("ops-referral")

	// Reassign without a reason: the error beside the field.
	do("choose Bea", chromedp.SendKeys(css("#assign-worker-id"), "Bea"))
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#assign-worker-id"))); v != bea {
		do("choose Bea by value", chromedp.SetValue(css("#assign-worker-id"), bea))
	}
	do("reassign without a reason", press("#assign button[type=submit]", "\r"), chromedp.WaitVisible(css(".error-summary")))
	if e := text("#assign-reason-error"); !strings.Contains(e, "Reason") {
		t.Errorf("the reason's error %q, want it beside the field", e)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#assign-worker-id"))); v != bea {
		t.Errorf("the worker chosen came back as %q, want Bea kept", v)
	}
	do("reassign with a reason", chromedp.SendKeys(css("#assign-reason"), "Closer to where they live"),
		press("#assign button[type=submit]", "\r"), chromedp.WaitVisible(css("#done")))
	if w := text("#ref-worker"); !strings.Contains(w, "Bea Bridge") {
		t.Errorf("after reassigning, the worker %q, want Bea Bridge", w)
	}

	// The API agrees: reassigned to Bea, with the reason, by the ops key.
	var tl struct {
		Events []struct {
			Type      string         `json:"type"`
			ActorRole string         `json:"actor_role"`
			Details   map[string]any `json:"details"`
		} `json:"events"`
	}
	if code, _ := p.do("GET", "/v1/referrals/"+first+"/timeline", admin, nil, &tl); code != http.StatusOK {
		t.Fatalf("timeline: %d", code)
	}
	found := false
	for _, e := range tl.Events {
		if e.Type == "ReferralReassigned" && e.Details["to_worker_id"] == bea && e.Details["reason"] == "Closer to where they live" && e.ActorRole == "ops" {
			found = true
		}
	}
	if !found {
		t.Errorf("the timeline %+v has no reassignment to Bea by ops with the reason", tl.Events)
	}
	if code, _ := p.do("GET", "/v1/referrals/"+urgent[0]+"/timeline", admin, nil, &tl); code != http.StatusOK {
		t.Fatalf("timeline: %d", code)
	}
	found = false
	for _, e := range tl.Events {
		if e.Type == "ReferralAssigned" && e.Details["worker_id"] == cai && e.Details["reason"] == "Urgent: Hillside has room this week" && e.ActorRole == "ops" {
			found = true
		}
	}
	if !found {
		t.Errorf("the timeline %+v has no assignment to Cai by ops with the reason", tl.Events)
	}

	// The unmatched waitlist exported as CSV: the urgent referral still
	// waiting, and not the one assigned.
	do("open the unmatched waitlist", chromedp.Navigate(p.base+"/waitlists/unmatched"), chromedp.WaitVisible(css("#waitlist-csv")))
	got, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const x = new XMLHttpRequest(); x.open('GET', document.getElementById('waitlist-csv').href, false); x.send();
		return x.status + ' ' + x.getResponseHeader('Content-Type') + '\n' + x.responseText; })()`))
	if err != nil {
		t.Fatal(err)
	}
	head, file, _ = strings.Cut(got, "\n")
	if !strings.HasPrefix(head, "200 text/csv") {
		t.Fatalf("the unmatched waitlist's CSV: %q, want 200 text/csv", head)
	}
	if rows, err = csv.NewReader(strings.NewReader(file)).ReadAll(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1][1] != urgent[1] || rows[1][3] != "urgent" || rows[1][8] != "unmatched" || strings.Contains(file, urgent[0]) {
		t.Errorf("the unmatched waitlist's CSV: %q, want its header and the urgent referral still waiting", rows)
	}
}
