package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestCaseWork: contacts on an assigned case, discharge freeing the place
// for the head of the waitlist, reopen, and the illegal moves as 409.
func TestCaseWork(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	sole := struct{ ID string }{p.worker(ops, "Sole Worker", 1)}
	lw := p.linkWorkerKey(sole.ID)
	ids := p.refer(ref, "9434765919", "4010232137")
	waitFor := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var v view
		for time.Now().Before(deadline) {
			p.do("GET", "/v1/referrals/"+id, ops, nil, &v) // before assignment the link worker does not reach it
			if v.Status == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("referral %s is %s, want %s", id, v.Status, want)
	}
	waitFor(ids[0], "assigned")
	waitFor(ids[1], "waitlisted")

	contact := map[string]any{"kind": "face_to_face", "when": time.Now().Add(-time.Hour).Format(time.RFC3339), "duration_minutes": 45, "what_matters_conversation": true}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/contacts", lw, contact, &res); code != http.StatusOK || res.Status != "assigned" {
		t.Fatalf("contact: %d %+v", code, res)
	}
	// The caseload read model shows the case and its contact.
	var cl struct {
		Worker struct {
			Count       int     `json:"active_cases"`
			Utilisation float64 `json:"utilisation"`
		} `json:"worker"`
		Cases []struct {
			ID          string     `json:"id"`
			Stage       string     `json:"stage"`
			LastContact *time.Time `json:"last_contact"`
			Overdue     bool       `json:"overdue"`
		} `json:"cases"`
	}
	if code, _ := p.do("GET", fmt.Sprintf("/v1/caseloads/%s?min_seq=%d", sole.ID, res.Sequence), lw, nil, &cl); code != http.StatusOK {
		t.Fatalf("GET caseload: %d", code)
	}
	if cl.Worker.Count != 1 || cl.Worker.Utilisation != 1 || len(cl.Cases) != 1 || cl.Cases[0].ID != ids[0] || cl.Cases[0].Stage != "in_contact" || cl.Cases[0].LastContact == nil || cl.Cases[0].Overdue {
		t.Fatalf("caseload %+v", cl)
	}
	var all struct {
		Workers []struct {
			ID    string `json:"id"`
			Count int    `json:"active_cases"`
		} `json:"workers"`
	}
	p.do("GET", fmt.Sprintf("/v1/caseloads?min_seq=%d", res.Sequence), ops, nil, &all)
	if len(all.Workers) != 1 || all.Workers[0].ID != sole.ID || all.Workers[0].Count != 1 {
		t.Fatalf("caseloads %+v", all)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+ids[1]+"/contacts", lw, contact, &prob); code != http.StatusConflict {
		t.Fatalf("contact on a waitlisted referral: %d, want 409", code)
	}
	future := map[string]any{"kind": "phone", "when": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/contacts", lw, future, &prob); code != http.StatusBadRequest {
		t.Fatalf("contact in the future: %d, want 400", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "bored"}, &prob); code != http.StatusBadRequest || prob.Errors[0].Field != "reason" {
		t.Fatalf("bad discharge reason: %d %+v", code, prob)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "goals_met", "note": "joined a walking group"}, &res); code != http.StatusOK || res.Status != "discharged" {
		t.Fatalf("discharge: %d %+v", code, res)
	}
	waitFor(ids[1], "assigned") // the freed place goes to the head of the waitlist
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "goals_met"}, &prob); code != http.StatusConflict {
		t.Fatalf("second discharge: %d, want 409", code)
	}
	// Reopen: accepted again, and waits because the only place is taken.
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/reopen", lw, map[string]string{"reason": "asked to restart"}, &res); code != http.StatusOK {
		t.Fatalf("reopen: %d %+v", code, res)
	}
	waitFor(ids[0], "waitlisted")
	var tl view
	p.do("GET", "/v1/referrals/"+ids[0], lw, nil, &tl)
	var types []string
	for _, h := range tl.History {
		types = append(types, h.Type)
	}
	want := "ReferralReceived,ReferralTriaged,ReferralAssigned,ContactRecorded,ReferralDischarged,ReferralReopened,ReferralWaitlisted"
	if strings.Join(types, ",") != want {
		t.Fatalf("history %v, want %s", types, want)
	}
	var timeline struct {
		Events []struct {
			Type      string         `json:"type"`
			ActorRole string         `json:"actor_role"`
			Details   map[string]any `json:"details"`
		} `json:"events"`
	}
	if code, _ := p.do("GET", "/v1/referrals/"+ids[0]+"/timeline", lw, nil, &timeline); code != http.StatusOK || len(timeline.Events) != 7 {
		t.Fatalf("timeline: %d %+v", code, timeline)
	}
	if e := timeline.Events[4]; e.Type != "ReferralDischarged" || e.ActorRole != "link_worker" || e.Details["reason"] != "goals_met" {
		t.Fatalf("discharge in the timeline: %+v", e)
	}
	if timeline.Events[0].Details != nil {
		t.Fatalf("the timeline shows the received referral's personal data: %+v", timeline.Events[0])
	}
}

// TestPlanAndOutcomes through the API, with the caseload stage following.
func TestPlanAndOutcomes(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	wk := struct{ ID string }{p.worker(ops, "W", 1)}
	lw := p.linkWorkerKey(wk.ID)
	c := struct{ ID string }{p.refer(ref, "9434765919")[0]}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v view
		p.do("GET", "/v1/referrals/"+c.ID, ops, nil, &v) // before assignment the link worker does not reach it
		if v.Status == "assigned" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var res submitted
	plan := map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group", "target_date": "2027-01-31"}}}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/plan", lw, plan, &res); code != http.StatusOK {
		t.Fatalf("plan: %d", code)
	}
	var prob problem
	for name, tc := range map[string]struct {
		body map[string]any
		code int
	}{
		"ONS4 follow-up before baseline": {map[string]any{"instrument": "ons4", "point": "follow_up", "ons4": map[string]int{"life_satisfaction": 5, "worthwhile": 5, "happy_yesterday": 5, "anxious_yesterday": 5}}, http.StatusConflict},
		"SWEMWBS item of 6":              {map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{1, 2, 3, 4, 6, 1, 2}}, http.StatusBadRequest},
		"ONS4 missing an answer":         {map[string]any{"instrument": "ons4", "point": "baseline", "ons4": map[string]int{"life_satisfaction": 5}}, http.StatusBadRequest},
		"unknown instrument":             {map[string]any{"instrument": "phq9", "point": "baseline"}, http.StatusBadRequest},
	} {
		if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, tc.body, &prob); code != tc.code {
			t.Errorf("%s: %d, want %d", name, code, tc.code)
		}
	}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}}, &res); code != http.StatusOK {
		t.Fatalf("SWEMWBS baseline: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+c.ID+"/outcomes", lw, map[string]any{"instrument": "swemwbs", "point": "follow_up", "items": []int{3, 3, 3, 3, 3, 3, 3}}, &res); code != http.StatusOK {
		t.Fatalf("SWEMWBS follow-up: %d", code)
	}
	p.do("POST", "/v1/referrals/"+c.ID+"/contacts", lw, map[string]any{"kind": "phone", "when": time.Now().Add(-time.Minute).Format(time.RFC3339), "duration_minutes": 20}, &res)
	var fs struct {
		Funnel struct {
			Total              int             `json:"total"`
			Stages             map[string]int  `json:"stages"`
			BySource           map[string]int  `json:"by_source"`
			TimeToTriage       struct{ N int } `json:"time_to_triage"`
			TimeToFirstContact struct{ N int } `json:"time_to_first_contact"`
			Outcomes           map[string]struct {
				N          int     `json:"n"`
				MeanChange float64 `json:"mean_change"`
			} `json:"outcome_change"`
		} `json:"funnel"`
	}
	if code, _ := p.do("GET", fmt.Sprintf("/v1/stats/funnel?min_seq=%d", res.Sequence), ops, nil, &fs); code != http.StatusOK {
		t.Fatalf("funnel: %d", code)
	}
	f := fs.Funnel
	if f.Total != 1 || f.Stages["assigned"] != 1 || f.BySource["gp_practice"] != 1 || f.TimeToTriage.N != 1 || f.TimeToFirstContact.N != 1 ||
		f.Outcomes["swemwbs"].N != 1 || f.Outcomes["swemwbs"].MeanChange != 4 {
		t.Fatalf("funnel %+v, want one assigned GP referral, triaged, contacted, SWEMWBS +4", f)
	}
	var cl struct {
		Cases []struct {
			Stage string `json:"stage"`
		} `json:"cases"`
	}
	p.do("GET", fmt.Sprintf("/v1/caseloads/%s?min_seq=%d", wk.ID, res.Sequence), lw, nil, &cl)
	if len(cl.Cases) != 1 || cl.Cases[0].Stage != "plan_agreed" {
		t.Fatalf("caseload %+v, want the case at plan_agreed", cl)
	}
}
