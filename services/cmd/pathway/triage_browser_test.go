package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// manualReferral sends a referral that waits for manual triage: a child
// with a safeguarding concern, whom the rules would decline but may not
// (a safeguarding referral is never declined automatically), so it waits
// for staff, escalated. It returns the referral's id once the triage
// queue lists it.
func (p *pathway) manualReferral(refKey, triageKey string) string {
	p.t.Helper()
	body := apitest.ExampleReferral()
	person := body["person"].(map[string]any)
	person["nhs_number"], person["given_name"], person["family_name"], person["date_of_birth"] = "9100000000", "Kit", "Young", "2012-05-01"
	person["postcode"] = "TS1 4AB"
	body["safeguarding"] = map[string]any{"concern": true, "details": "Told the GP about trouble at home"}
	var s apitest.Submitted
	if code, _ := p.do("POST", "/v1/referrals", refKey, body, &s); code != http.StatusCreated {
		p.t.Fatalf("the safeguarding referral: %d", code)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var q struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		p.do("GET", "/v1/triage/queue", triageKey, nil, &q)
		for _, it := range q.Items {
			if it.ID == s.ID {
				return s.ID
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("referral %s not in the manual triage queue within 15s", s.ID)
		}
	}
}

// TestTriageInBrowser is issue 13's triage workspace in a real chromium,
// by keyboard: triage staff sign in with a triage key and land on the
// manual triage queue, where a safeguarding escalation waits at the top;
// they open it, choose to redirect it, send the form without a reason
// and are shown the error beside the field and in a summary that links
// to it; with the reason, the decision is recorded through the API's
// command, the API shows it, and the referral has left the queue.
func TestTriageInBrowser(t *testing.T) {
	ctx := browser(t, 3*time.Minute)
	a := newA11y(t, ctx)
	p := startPathway(t, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	triageKey := p.key(keys.RoleTriage, "")
	id := p.manualReferral(ref, triageKey)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	pg := page{t, ctx}
	do := pg.do
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return v
	}

	// Signed in, triage staff land on the queue; the escalation is first.
	do("open the dashboard", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(css("#key")))
	do("sign in", chromedp.SendKeys(css("#key"), triageKey), press("form.signin button[type=submit]", "\r"),
		chromedp.WaitVisible(css(`a[data-referral="`+id+`"]`)))
	if h := text("main h1"); h != "Triage queue" {
		t.Fatalf("after sign-in: heading %q, want Triage queue", h)
	}
	if esc := text("#escalations-h + .note + ol"); !strings.Contains(esc, "K.Y.") || !strings.Contains(strings.ToLower(esc), "safeguarding") {
		t.Errorf("escalations %q: want K.Y. marked safeguarding", esc)
	}
	if q := text("main"); strings.Contains(q, "Kit Young") || strings.Contains(q, "TS1 4AB") {
		t.Errorf("the queue shows the name or postcode, want initials only")
	}

	// The referral in full; decline is not offered for an escalation.
	do("open the referral", press(`a[data-referral="`+id+`"]`, "\r"), chromedp.WaitVisible(css("#decide")))
	if person := text("dl.person"); !strings.Contains(person, "Kit Young") || !strings.Contains(person, "910 000 0000") {
		t.Errorf("person %q: want the name and NHS number", person)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name=decision][value=decline]').length`)); n != 0 {
		t.Errorf("decline is offered for a safeguarding escalation, want it left out")
	}

	// Redirect without a reason: the error beside the field and in the
	// summary, linked to it; what was typed is kept.
	do("redirect without a reason",
		press("#triage-decision-redirect", " "),
		chromedp.SendKeys(css("#triage-destination"), "Children's social care"),
		press("#decide button[type=submit]", "\r"),
		chromedp.WaitVisible(css(".error-summary")))
	if s := text(".error-summary"); !strings.Contains(s, "Reason") {
		t.Errorf("error summary %q: want the reason named", s)
	}
	if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.error-summary a').getAttribute('href')`)); err != nil || href != "#triage-reason" {
		t.Errorf("the summary links to %q (%v), want #triage-reason", href, err)
	}
	if beside := text("#triage-reason-error"); !strings.Contains(beside, "required") {
		t.Errorf("field error %q, want it beside the reason", beside)
	}
	if inv, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('triage-reason').getAttribute('aria-invalid') || ''`)); inv != "true" {
		t.Errorf("the reason's aria-invalid is %q, want true", inv)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Title()); !strings.HasPrefix(title, "Error: ") {
		t.Errorf("title %q, want it to begin with Error:", title)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(css("#triage-destination"))); v != "Children's social care" {
		t.Errorf("the destination came back as %q, want it kept", v)
	}
	if checked, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('triage-decision-redirect').checked`)); !checked {
		t.Errorf("redirect is no longer chosen, want it kept")
	}
	a.check("triage-referral-error")

	// With the reason, the decision is recorded.
	do("redirect with a reason",
		chromedp.SendKeys(css("#triage-reason"), "Under 18: children's services hold the safeguarding lead"),
		press("#decide button[type=submit]", "\r"),
		chromedp.WaitVisible(css("#done")))
	if st := text("#ref-status"); st != "redirected" {
		t.Errorf("status %q after the decision, want redirected", st)
	}
	var v struct {
		Status string `json:"status"`
		Triage struct {
			Decision    string `json:"decision"`
			Destination string `json:"redirect_destination"`
		} `json:"triage"`
	}
	if code, _ := p.do("GET", "/v1/referrals/"+id, triageKey, nil, &v); code != http.StatusOK || v.Status != "redirected" || v.Triage.Decision != "redirect" {
		t.Errorf("the API shows %d %+v, want the referral redirected", code, v)
	}

	// Back on the queue, the referral has gone.
	do("back to the queue", press(`nav a[href="/triage"]`, "\r"), chromedp.WaitVisible(css("#escalation-count")))
	if n := text("#escalation-count"); strings.TrimSpace(n) != "0" {
		t.Errorf("escalations %q after the decision, want 0", n)
	}
	if gone, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[data-referral="`+id+`"]').length`)); gone != 0 {
		t.Errorf("the referral is still in the queue, want it gone")
	}
}
