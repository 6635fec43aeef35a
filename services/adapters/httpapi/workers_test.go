package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestAssignmentThroughTheAPI: two workers with capacity 2 in one PCN
// and six eligible referrals from its practices: four are assigned, two
// wait with the urgent one first; a raised capacity assigns the head.
func TestAssignmentThroughTheAPI(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	var prob problem
	if code, _ := p.do("POST", "/v1/workers", ops, map[string]any{"name": "", "pcn": "A81001", "practices": []string{"x"}}, &prob); code != http.StatusBadRequest || len(prob.Errors) < 4 {
		t.Fatalf("invalid worker: %d %+v, want 400 with name, pcn, practices[0] and capacity", code, prob)
	}
	var w1, w2 struct {
		ID       string `json:"id"`
		Sequence uint64 `json:"sequence"`
		Caseload int    `json:"caseload"`
	}
	for _, w := range []*struct {
		ID       string `json:"id"`
		Sequence uint64 `json:"sequence"`
		Caseload int    `json:"caseload"`
	}{&w1, &w2} {
		if code, _ := p.do("POST", "/v1/workers", ops, map[string]any{"name": "Alex Link", "pcn": "U12345", "practices": []string{"A81001", "A81002"}, "capacity": 2, "languages": []string{"en", "pl"}}, w); code != http.StatusCreated || w.ID == "" || w.Sequence == 0 {
			t.Fatalf("register worker: %d %+v", code, w)
		}
	}
	nhs := []string{"9434765919", "4010232137", "9876543210", "1234567881", "2345678909", "3456789017"}
	var ids []string
	for i, n := range nhs {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		if i == 5 {
			body["urgency"] = "urgent"
			body["needs"] = []string{"loneliness"} // urgent mental health would be redirected
		}
		var created submitted
		if code, _ := p.do("POST", "/v1/referrals", ref, body, &created); code != http.StatusCreated {
			t.Fatalf("referral %d: %d", i, code)
		}
		ids = append(ids, created.ID)
	}
	statuses := func() map[string][]string {
		out := map[string][]string{}
		for _, id := range ids {
			var v view
			p.do("GET", "/v1/referrals/"+id, ref, nil, &v)
			out[v.Status] = append(out[v.Status], id)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	var st map[string][]string
	for {
		st = statuses()
		if len(st["assigned"])+len(st["waitlisted"]) == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st["assigned"]) != 4 || len(st["waitlisted"]) != 2 {
		t.Fatalf("statuses %v, want 4 assigned and 2 waitlisted", st)
	}
	// The waitlist read model, read after the last write.
	before := p.logLength()
	type wlView struct {
		Sequence uint64 `json:"sequence"`
		Summary  struct {
			Size       int            `json:"size"`
			ByPriority map[string]int `json:"by_priority"`
		} `json:"summary"`
		Entries []struct {
			Position int    `json:"position"`
			ID       string `json:"id"`
			Priority string `json:"priority"`
		} `json:"entries"`
	}
	var wl wlView
	if code, _ := p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?min_seq=%d", before), ops, nil, &wl); code != http.StatusOK {
		t.Fatalf("GET waitlist: %d", code)
	}
	if wl.Summary.Size != 2 || wl.Summary.ByPriority["urgent"] != 1 || len(wl.Entries) != 2 || wl.Entries[0].ID != ids[5] || wl.Entries[0].Position != 1 {
		t.Fatalf("waitlist %+v, want 2 entries with the urgent %s first", wl, ids[5])
	}
	var all struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	p.do("GET", fmt.Sprintf("/v1/waitlists?min_seq=%d", before), ops, nil, &all)
	if len(all.Queues) != 1 || all.Queues[0].Queue != "U12345" || all.Queues[0].Size != 2 {
		t.Fatalf("waitlists %+v", all)
	}
	if code, hdr := p.do("GET", fmt.Sprintf("/v1/waitlists?min_seq=%d", before+1000), ops, nil, nil); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("min_seq beyond the log: %d, want 503 with Retry-After", code)
	}
	// Raise one worker's capacity: the urgent referral, head of the
	// waitlist, is assigned; the routine one still waits.
	if code, _ := p.do("PATCH", "/v1/workers/"+w1.ID, ops, map[string]any{"capacity": 3, "reason": "extra sessions"}, &w1); code != http.StatusOK {
		t.Fatalf("raise capacity: %d", code)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		st = statuses()
		if len(st["assigned"]) == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st["waitlisted"]) != 1 || st["waitlisted"][0] == ids[5] {
		t.Fatalf("after raising capacity: %v, want the urgent referral %s assigned first", st, ids[5])
	}
	// Live, one waits; as of the earlier sequence, two did.
	var live, earlier wlView
	p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?min_seq=%d", p.logLength()), ops, nil, &live)
	p.do("GET", fmt.Sprintf("/v1/waitlists/U12345?as_of_seq=%d", before), ops, nil, &earlier)
	if live.Summary.Size != 1 || earlier.Summary.Size != 2 || earlier.Sequence != before {
		t.Fatalf("live %+v, as of %d %+v; want 1 and 2", live.Summary, before, earlier)
	}
	if code, _ := p.do("PATCH", "/v1/workers/"+w2.ID, ops, map[string]any{"returned": true}, &prob); code != http.StatusConflict {
		t.Fatalf("returning a worker who is not absent: %d, want 409", code)
	}
}

// TestManualAssignAndReassign: staff assign only where there is a place,
// and a reassignment moves the case between caseloads in one step.
func TestManualAssignAndReassign(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	type wk struct {
		ID       string `json:"id"`
		Caseload int    `json:"caseload"`
	}
	var w1, w2 wk
	p.do("POST", "/v1/workers", ops, map[string]any{"name": "One", "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 1}, &w1)
	p.do("POST", "/v1/workers", ops, map[string]any{"name": "Two", "pcn": "U12345", "practices": []string{"A81001"}, "capacity": 1}, &w2)
	var ids []string
	for _, n := range []string{"9434765919", "4010232137", "9876543210"} {
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		var c submitted
		p.do("POST", "/v1/referrals", ref, body, &c)
		ids = append(ids, c.ID)
	}
	statusOf := func(id string) (string, string) {
		var v struct {
			Status string `json:"status"`
		}
		p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
		var tl struct {
			Events []struct {
				Details map[string]any `json:"details"`
			} `json:"events"`
		}
		p.do("GET", "/v1/referrals/"+id+"/timeline", ops, nil, &tl)
		w := ""
		for _, e := range tl.Events {
			if id, ok := e.Details["worker_id"].(string); ok {
				w = id
			}
			if id, ok := e.Details["to_worker_id"].(string); ok {
				w = id
			}
		}
		return v.Status, w
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := statusOf(ids[2])
		if s == "waitlisted" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, onW1 := statusOf(ids[0])
	other := w2.ID
	if onW1 == w2.ID {
		other = w1.ID
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+ids[2]+"/assign", ops, map[string]string{"worker_id": other, "reason": "urgent need"}, &prob); code != http.StatusConflict {
		t.Fatalf("assign to a full worker: %d %+v, want 409", code, prob)
	}
	// Make room on one worker, then move a case there by hand.
	p.do("PATCH", "/v1/workers/"+other, ops, map[string]any{"capacity": 3}, nil)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, w := statusOf(ids[2])
		if (s == "assigned" && w == other) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/assign", ops, map[string]string{"worker_id": other, "reason": "continuity with family"}, &res); code != http.StatusOK || res.Status != "assigned" {
		t.Fatalf("reassign: %d %+v", code, res)
	}
	var a, b wk
	p.do("GET", "/v1/workers/"+onW1, ops, nil, &a)
	p.do("GET", "/v1/workers/"+other, ops, nil, &b)
	if a.Caseload != 0 || b.Caseload != 3 {
		t.Fatalf("caseloads after reassign: %d and %d, want 0 and 3", a.Caseload, b.Caseload)
	}
	if _, w := statusOf(ids[0]); w != other {
		t.Fatalf("reassigned referral is with %s, want %s", w, other)
	}
}
