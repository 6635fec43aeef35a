package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// referFrom submits the example referral of the person with the NHS
// number from practice (also the referrer's organisation) and returns its
// id once it has reached status.
func (s *server) referFrom(refKey, practice, nhs, status string) string {
	s.t.Helper()
	body := exampleReferral()
	body["gp_practice"] = practice
	body["referrer"].(map[string]any)["organisation"] = practice
	body["person"].(map[string]any)["nhs_number"] = nhs
	var created submitted
	if code, _ := s.do("POST", "/v1/referrals", refKey, body, &created); code != http.StatusCreated {
		s.t.Fatalf("referral from %s: %d", practice, code)
	}
	admin := s.key(keys.RoleAdmin, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v view
		s.do("GET", "/v1/referrals/"+created.ID, admin, nil, &v)
		if v.Status == status {
			return created.ID
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("referral %s is %s, want %s", created.ID, v.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLinkWorkerNeedToKnow: a link worker's key reaches its worker's
// caseload and its PCN's waitlist; every other referral answers on every
// route a link worker may use exactly as an unknown referral does (404,
// the same problem) and changes nothing. The team scope widens the key to
// its whole PCN, never another; a key without a worker reaches nothing.
func TestLinkWorkerNeedToKnow(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin, ops := p.key(keys.RoleAdmin, ""), p.key(keys.RoleOps, "")
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	walkID := p.importSmall(admin).Results[0].ServiceID

	// PCN A (U12345, practice A81001): Ann has one place, then Ben one;
	// a third person waits. PCN B (U22222, practice A81002): Cat has one
	// place; a second person waits.
	ann := p.api().WorkerOf(ops, "Ann A", "U12345", "A81001", 1)
	mine := p.referFrom(refA, "A81001", "9434765005", "assigned")
	ben := p.api().WorkerOf(ops, "Ben A", "U12345", "A81001", 1)
	colleagues := p.referFrom(refA, "A81001", "9434765013", "assigned")
	waiting := p.referFrom(refA, "A81001", "9434765021", "waitlisted")
	cat := p.api().WorkerOf(ops, "Cat B", "U22222", "A81002", 1)
	otherPCN := p.referFrom(refB, "A81002", "9434765048", "assigned")
	otherWaiting := p.referFrom(refB, "A81002", "9434765056", "waitlisted")
	_ = ben

	// Cat hands her case off, so PCN B has a handoff.
	var hB struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+otherPCN+"/handoffs", p.linkWorkerKey(cat), map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}, &hB); code != http.StatusCreated {
		t.Fatalf("Cat's handoff: %d", code)
	}

	annKey := p.linkWorkerKey(ann)
	teamKey := p.linkWorkerKey(ann, keys.ScopeTeam)
	legacy := p.legacyLinkWorkerKey()
	const unknown = "01a2a6b0-0000-7000-8000-00000000dead"

	// Every referral route a link worker may use, with a body it accepts,
	// so that only need-to-know can refuse it.
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/referrals/{id}", nil},
		{"GET", "/v1/referrals/{id}/timeline", nil},
		{"GET", "/fhir/r4/ServiceRequest/{id}", nil},
		{"POST", "/v1/referrals/{id}/contacts", map[string]any{"kind": "phone", "when": past, "duration_minutes": 10}},
		{"POST", "/v1/referrals/{id}/plan", map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group"}}}},
		{"POST", "/v1/referrals/{id}/outcomes", map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}}},
		{"POST", "/v1/referrals/{id}/discharge", map[string]string{"reason": "goals_met"}},
		{"POST", "/v1/referrals/{id}/reopen", map[string]string{"reason": "asked to restart"}},
		{"POST", "/v1/referrals/{id}/handoffs", map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}},
	}
	handoffRoutes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/handoffs/{id}", nil},
		{"POST", "/v1/handoffs/{id}/cancel", map[string]string{"reason": "duplicate"}},
		{"POST", "/v1/handoffs/{id}/entered-in-error", map[string]string{"reason": "duplicate"}},
	}
	path := func(pattern, id string) string { return replaceID(pattern, id) }

	// unreachable checks that key gets for the referral (or handoff) id on
	// every route what it gets for an unknown one, and that the log does
	// not grow.
	unreachable := func(t *testing.T, key, id string, handoff bool) {
		t.Helper()
		rs := routes
		if handoff {
			rs = handoffRoutes
		}
		before := p.logLength()
		for _, rt := range rs {
			var got, want map[string]any
			code, _ := p.do(rt.method, path(rt.path, id), key, rt.body, &got)
			wantCode, _ := p.do(rt.method, path(rt.path, unknown), key, rt.body, &want)
			if code != http.StatusNotFound || wantCode != http.StatusNotFound || !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %d %v, want 404 %v as for an unknown id (%d)", rt.method, rt.path, code, got, want, wantCode)
			}
		}
		if after := p.logLength(); after != before {
			t.Errorf("refused requests grew the log from %d to %d", before, after)
		}
	}
	reads := func(t *testing.T, key, id string) {
		t.Helper()
		for _, rt := range routes[:3] {
			if code, _ := p.do(rt.method, path(rt.path, id), key, nil, nil); code != http.StatusOK {
				t.Errorf("%s %s: got %d, want 200", rt.method, rt.path, code)
			}
		}
	}

	t.Run("own caseload and PCN waitlist", func(t *testing.T) {
		reads(t, annKey, mine)
		reads(t, annKey, waiting)
		var res submitted
		if code, _ := p.do("POST", "/v1/referrals/"+mine+"/contacts", annKey, routes[3].body, &res); code != http.StatusOK || res.Status != "assigned" {
			t.Errorf("contact on her own case: %d %+v, want 200", code, res)
		}
	})
	t.Run("another PCN", func(t *testing.T) {
		unreachable(t, annKey, otherPCN, false)
		unreachable(t, annKey, otherWaiting, false)
		unreachable(t, annKey, hB.ID, true)
	})
	t.Run("own PCN, not on the caseload or waitlist", func(t *testing.T) {
		unreachable(t, annKey, colleagues, false)
	})
	t.Run("team scope", func(t *testing.T) {
		reads(t, teamKey, mine)
		reads(t, teamKey, waiting)
		reads(t, teamKey, colleagues)
		unreachable(t, teamKey, otherPCN, false)
		unreachable(t, teamKey, otherWaiting, false)
		unreachable(t, teamKey, hB.ID, true)
	})
	t.Run("key without a worker", func(t *testing.T) {
		for _, id := range []string{mine, waiting, colleagues, otherPCN} {
			unreachable(t, legacy, id, false)
		}
		unreachable(t, legacy, hB.ID, true)
	})
	t.Run("the PCN's own worker", func(t *testing.T) {
		catKey := p.linkWorkerKey(cat)
		reads(t, catKey, otherPCN)
		reads(t, catKey, otherWaiting)
		if code, _ := p.do("GET", "/v1/handoffs/"+hB.ID, catKey, nil, nil); code != http.StatusOK {
			t.Errorf("Cat's own handoff: %d, want 200", code)
		}
		unreachable(t, catKey, mine, false)
	})
}
