package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWorkspaceInBrowser is issue 13's must-show for the link worker
// workspace, in a real headless chromium: a link worker signs in with
// their own key, opens a new referral from their caseload, records a
// contact, a plan (after being shown the plan form's errors beside its
// fields) and a baseline ONS4, searches the directory and hands off
// sharing two fields; the partner accepts through the API and the open
// page shows it without a reload. Then a follow-up ONS4 shows its change
// from the baseline, and a discharge closes the episode; the place it
// frees goes to the head of the waitlist, which the ops caseload page then
// lists. The pages fit a 390 px wide phone without sideways scrolling.
func TestWorkspaceInBrowser(t *testing.T) {
	chromium(t) // skips at once where there is no chromium
	p := startPathway(t, "")
	k := p.vcseKeys()
	refID, worker := p.api().AssignedReferral(k.ref, k.ops, "9434765919")
	lw := p.linkWorkerKey(worker)
	// The worker's caseload is full with Sam, so the next referral of the
	// PCN waits for a place: the one Sam's discharge frees at the end.
	if code, _ := p.do("PATCH", "/v1/workers/"+worker, k.ops, map[string]any{"capacity": 1}, nil); code != http.StatusOK {
		t.Fatalf("the worker's capacity to 1: %d", code)
	}
	waiting := p.refer(k.ref, nhsNumbers(1)[0])[0]
	awaitStatus := func(id, want string) {
		t.Helper()
		var got struct {
			Status string `json:"status"`
		}
		for deadline := time.Now().Add(15 * time.Second); got.Status != want; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("referral %s is %q, want %s", id, got.Status, want)
			}
			p.do("GET", "/v1/referrals/"+id, k.ops, nil, &got)
		}
	}
	awaitStatus(waiting, "waitlisted")
	rep := p.importSmall(k.admin)
	walkID := rep.Results[0].ServiceID

	ctx := browser(t, 3*time.Minute)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	pg := page{t, ctx}
	do := pg.do
	text := pg.text
	// forget removes the notice of the last form sent, so that waiting for
	// the next one waits for the page the next form answers with.
	forget := func() {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById('done')?.remove(), true)`)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// fits checks that the page needs no sideways scrolling at 390 px,
	// nothing wider than the page, and takes its screenshots at both widths
	// (go test -artifacts keeps them).
	fits := func(name string) {
		t.Helper()
		shot(name + "-1400")
		do("narrow the window", chromedp.EmulateViewport(390, 844))
		// The widest element past the page's width (a scroll bar's width
		// aside), if any.
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
		// The viewport, not the full page: chromium's full-page capture
		// crops a narrow page's width by its scroll bar.
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-390.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		do("widen the window", chromedp.EmulateViewport(1400, 1000))
	}

	// Sign in with the link worker's own key: their home is their caseload.
	do("open the workspace", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#key")))
	do("sign in", chromedp.SendKeys(css("#key"), lw), press("form.signin button[type=submit]", "\r"),
		chromedp.WaitVisible(css(`a[data-referral="`+refID+`"]`)))
	if h := text("main h1"); h != "My caseload" {
		t.Fatalf("after sign-in: heading %q, want My caseload", h)
	}
	if row := text("li.case"); !strings.Contains(row, "Sam Example") || !strings.Contains(row, "First contact") {
		t.Errorf("caseload row %q: want Sam Example with the first contact due", row)
	}
	fits("workspace-caseload")

	// The referral's page: the person in full, live.
	do("open the referral", press(`a[data-referral="`+refID+`"]`, "\r"), chromedp.WaitVisible(css(`#live-status[data-state="live"]`)))
	if person := text("dl.person"); !strings.Contains(person, "943 476 5919") || !strings.Contains(person, "07700900123") {
		t.Errorf("person %q: want the NHS number and phone", person)
	}

	// A contact, by keyboard: the form opens from its summary, the radio
	// buttons and the box take the space bar.
	do("record a contact",
		press("#record-contact > summary", "\r"),
		chromedp.WaitVisible(css("#contact-kind")),
		press("#contact-kind", " "),
		press("#contact-what-matters-conversation", " "),
		chromedp.SendKeys(css("#contact-duration-minutes"), "45"),
		chromedp.SendKeys(css("#contact-note"), "Talked about walking"),
		chromedp.Submit(css("#contact-note")),
		chromedp.WaitVisible(css("#done")))
	if c := text("table.contacts tbody"); !strings.Contains(c, "phone") || !strings.Contains(c, "45 min") {
		t.Errorf("contacts %q: want the phone call of 45 minutes", c)
	}

	// The plan, sent first without what matters: the error shows in the
	// summary, linked to the field, and beside it.
	do("send the plan without what matters",
		press("#agree-plan > summary", "\r"),
		chromedp.WaitVisible(css("#plan-goals-0-description")),
		chromedp.SendKeys(css("#plan-goals-0-description"), "Join a walking group"),
		chromedp.Submit(css("#plan-goals-0-description")),
		chromedp.WaitVisible(css(".error-summary")))
	if s := text(".error-summary"); !strings.Contains(s, "What matters") {
		t.Errorf("error summary %q: want what matters named", s)
	}
	if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.error-summary a').getAttribute('href')`)); err != nil || href != "#plan-what-matters" {
		t.Errorf("the summary links to %q (%v), want #plan-what-matters", href, err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.HasPrefix(title, "Error: ") {
		t.Errorf("title %q, want it to begin with Error:", title)
	}
	if kept := text("#agree-plan .field-error"); !strings.Contains(kept, "required") {
		t.Errorf("field error %q, want it beside the field", kept)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#plan-goals-0-description"))); v != "Join a walking group" {
		t.Errorf("the goal typed came back as %q, want it kept", v)
	}
	forget()
	do("agree the plan",
		chromedp.SendKeys(css("#plan-what-matters"), "Getting out of the house and meeting people"),
		chromedp.Submit(css("#plan-what-matters")),
		chromedp.WaitVisible(css("#done")))
	if plan := text("ol.goals"); !strings.Contains(plan, "Join a walking group") {
		t.Errorf("plan goals %q, want the walking group", plan)
	}

	ons4 := func(point string, scores [4]string) {
		t.Helper()
		forget()
		sel := "#ons4-point"
		if point == "follow_up" {
			sel = "#ons4-point-follow_up"
		}
		do("record ONS4 "+point, press("#record-ons4 > summary", "\r"), chromedp.WaitVisible(css(sel)), press(sel, " "),
			chromedp.SendKeys(css("#ons4-ons4-life-satisfaction"), scores[0]), chromedp.SendKeys(css("#ons4-ons4-worthwhile"), scores[1]),
			chromedp.SendKeys(css("#ons4-ons4-happy-yesterday"), scores[2]), chromedp.SendKeys(css("#ons4-ons4-anxious-yesterday"), scores[3]),
			chromedp.Submit(css("#ons4-ons4-anxious-yesterday")), chromedp.WaitVisible(css("#done")))
	}
	ons4("baseline", [4]string{"4", "5", "3", "7"})
	if o := text(`table[data-instrument="ONS4"] tbody`); !strings.Contains(o, "baseline") {
		t.Errorf("outcomes %q, want the baseline", o)
	}
	fits("workspace-referral")

	// The directory: found by the person's need and district at first;
	// then by words.
	do("open the directory", press("#find-service", "\r"), chromedp.WaitVisible(css("#search-text")))
	if d, _ := chromedp.Run(ctx, chromedp.Value(css("#search-district"))); d != "TS1" {
		t.Errorf("district %q, want the person's TS1 (never the full postcode)", d)
	}
	do("search by words", chromedp.SendKeys(css("#search-text"), "walks"), chromedp.Submit(css("#search-text")),
		chromedp.WaitVisible(css(`input[name=service_id][value="`+walkID+`"]`)))
	if found := text("ul.services"); !strings.Contains(found, "Tees Valley Walking Group") || strings.Contains(found, "Money Advice") {
		t.Errorf("found %q, want only the walking group", found)
	}
	fits("workspace-directory")
	do("hand off sharing two fields",
		press(`input[name=service_id][value="`+walkID+`"]`, " "),
		press(`input[name=shared_fields][value=given_name]`, " "),
		press(`input[name=shared_fields][value=phone]`, " "),
		chromedp.SendKeys(css("#handoff-note"), "Keen to start next week"),
		press("#handoff-consent", " "),
		chromedp.Submit(css("#handoff-consent")),
		chromedp.WaitVisible(css(`[data-status="requested"]`)))
	handoffID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('li.handoff').getAttribute('data-handoff')`))
	if err != nil || handoffID == "" {
		t.Fatalf("no handoff on the page (%v)", err)
	}
	do("wait for the live stream", chromedp.WaitVisible(css(`#live-status[data-state="live"]`)))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	// The partner sees the two fields shared, and accepts through the API.
	var seen struct {
		SharedFields []string       `json:"shared_fields"`
		Shared       map[string]any `json:"shared"`
	}
	if code, _ := p.do("GET", "/v1/partner/handoffs/"+handoffID, k.partnerA, nil, &seen); code != http.StatusOK {
		t.Fatalf("the partner's read: %d", code)
	}
	if fmt.Sprint(seen.SharedFields) != "[given_name phone]" || len(seen.Shared) != 2 {
		t.Errorf("the partner sees %v %v, want given_name and phone only", seen.SharedFields, seen.Shared)
	}
	accepted := time.Now()
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+handoffID+"/accept", k.partnerA, nil, nil); code != http.StatusOK {
		t.Fatalf("the partner's accept: %d", code)
	}
	do("see the answer live", chromedp.WaitVisible(css(`[data-status="accepted"]`)))
	t.Logf("the open page showed the partner's answer %v after it was sent", time.Since(accepted).Round(time.Millisecond))
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !still {
		t.Fatalf("the page reloaded (%v), want it updated in place", err)
	}

	// Later: a follow-up ONS4 shows its change from the baseline, and a
	// discharge closes the episode.
	ons4("follow_up", [4]string{"7", "7", "6", "4"})
	if o := text(`table[data-instrument="ONS4"] tbody`); !strings.Contains(o, "7 (+3)") || !strings.Contains(o, "4 (−3)") {
		t.Errorf("outcomes %q, want life satisfaction up 3 and anxiety down 3", o)
	}
	forget()
	do("discharge", press("#discharge > summary", "\r"), chromedp.WaitVisible(css("#discharge-reason")), press("#discharge-reason", " "),
		chromedp.Submit(css("#discharge-reason")), chromedp.WaitVisible(css("#done")))
	// The page comes back with the notice; its status may be drawn again
	// by a live update meanwhile, so read it until it settles.
	st := text("#ref-status")
	for deadline := time.Now().Add(10 * time.Second); st != "discharged" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		st = text("#ref-status")
	}
	if st != "discharged" {
		t.Errorf("status %q after the discharge, want discharged", st)
	}
	shot("workspace-discharged-1400")

	// The place Sam's discharge freed goes to the head of the PCN's
	// waitlist, and the ops pages show it: the worker's caseload now
	// lists that referral.
	awaitStatus(waiting, "assigned")
	signOut(t, ctx)
	signIn(t, ctx, p.base, k.ops, `#live-status[data-state="live"]`)
	do("the ops view of the worker's caseload", chromedp.Navigate(p.base+"/caseloads/"+worker),
		chromedp.WaitVisible(css(`a[data-referral="`+waiting+`"]`)))
	shot("ops-caseload-after-discharge-1400")
}
