package dashboard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestOverviewListsAlerts: urgent and safeguarding referrals waiting over
// the threshold stand at the top of the overview, safeguarding first, with
// their wait, initials only; an open page shows them as the clock passes
// the threshold, with no new event in the log.
func TestOverviewListsAlerts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	untriaged := uuid.NewString()
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "referral", ID: untriaged}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: pathwayv1.Priority_PRIORITY_URGENT,
			Person: &pathwayv1.Person{NhsNumber: "4010232137", GivenName: "Kim", FamilyName: "Urgentcase", Phone: "07700900555"}}}); err != nil {
		t.Fatal(err)
	}
	safeguarding := uuid.NewString()
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "referral", ID: safeguarding}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "C99001", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE,
			Person:       &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Sam", FamilyName: "Concerned", Phone: "07700900123"},
			Safeguarding: &pathwayv1.Safeguarding{Concern: true, Details: "Disclosed risk at home"}}},
		events.Event{Payload: &pathwayv1.SafeguardingEscalated{Details: "Disclosed risk at home", EscalatedTo: "safeguarding lead", Priority: pathwayv1.Priority_PRIORITY_URGENT}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: pathwayv1.Priority_PRIORITY_URGENT}},
		events.Event{Payload: &pathwayv1.ReferralWaitlisted{Queue: "unmatched", Priority: pathwayv1.Priority_PRIORITY_URGENT}}); err != nil {
		t.Fatal(err)
	}
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Lee", "Routine")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleOps))

	_, page, _ := b.get("/")
	if !strings.Contains(page, `id="no-alerts"`) || !strings.Contains(page, "(2 waiting, within it)") || strings.Contains(page, `class="alerts raised"`) {
		t.Fatalf("within the threshold: want no alert and 2 watched:\n%s", section(page))
	}
	// Within the threshold they stand out at the top all the same, with
	// their age: safeguarding first.
	if w := section(page); !strings.Contains(w, `id="within"`) || strings.Index(w, `data-referral="`+safeguarding) > strings.Index(w, `data-referral="`+untriaged) ||
		strings.Index(w, `data-referral="`+untriaged) < 0 || !strings.Contains(w, "awaiting triage") {
		t.Errorf("within the threshold: want both listed with their age, safeguarding first:\n%s", w)
	}
	live, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := b.stream(live, "/", "")
	if _, ok := next(t, ch, 10*time.Second); !ok {
		t.Fatal("no first rendering on the live stream")
	}

	e.clock.Add(4*time.Hour + time.Minute)
	_, page, _ = b.get("/")
	s := section(page)
	sg, ur := strings.Index(s, `data-referral="`+safeguarding), strings.Index(s, `data-referral="`+untriaged)
	if !strings.Contains(s, `class="alerts raised"`) || !strings.Contains(s, "2 urgent or safeguarding referrals waiting over 4h 0m") || sg < 0 || ur < sg {
		t.Fatalf("over the threshold: want both listed, safeguarding first:\n%s", s)
	}
	if strings.Index(page, `id="alerts"`) > strings.Index(page, `id="today-h"`) {
		t.Error("the alerts are not at the top of the overview")
	}
	for _, want := range []string{"Safeguarding concern", "waitlisted, no PCN covers the practice", "awaiting triage", "S.C.", "K.U.", "<strong>4h 0m</strong>"} {
		if !strings.Contains(s, want) {
			t.Errorf("the alerts do not show %q:\n%s", want, s)
		}
	}
	for _, personal := range []string{"Concerned", "Urgentcase", "9434765919", "07700900555", "Disclosed"} {
		if strings.Contains(page, personal) {
			t.Errorf("the overview shows %q", personal)
		}
	}
	// Alerts show people by initials: each page that listed them is
	// audited (within the threshold, and over it).
	for _, id := range []string{safeguarding, untriaged} {
		recs, err := e.audit.Query(ctx, audit.Filter{Referral: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Route != "GET /" || recs[1].Route != "GET /" || recs[0].Role != "ops" {
			t.Errorf("audit of %s: %+v, want two reads of the overview by the ops key", id, recs)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var got event
	for time.Now().Before(deadline) && !strings.Contains(got.data, `data-referral="`+untriaged) {
		var ok bool
		if got, ok = next(t, ch, time.Until(deadline)); !ok {
			break
		}
	}
	if !strings.Contains(got.data, `data-referral="`+untriaged) {
		t.Fatalf("the open page was not updated when the threshold passed; last %+v", got)
	}
}

// section is the alerts section of a page.
func section(page string) string {
	i := strings.Index(page, `id="alerts"`)
	if i < 0 {
		return "(no alerts section)"
	}
	j := strings.Index(page[i:], "</section>")
	if j < 0 {
		return page[i:]
	}
	return page[i : i+j]
}
