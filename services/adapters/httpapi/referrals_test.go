package httpapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestReferrerSeesOnlyItsOwn: another organisation's referral is 404 on
// every referral route a referrer may call, as an unknown one is.
func TestReferrerSeesOnlyItsOwn(t *testing.T) {
	t.Parallel()
	p := start(t)
	a := p.key(keys.RoleReferrer, "A81001")
	b := p.key(keys.RoleReferrer, "B82002")
	var created submitted
	p.do("POST", "/v1/referrals", a, exampleReferral(), &created)
	if code, _ := p.do("GET", "/v1/referrals/"+created.ID, b, nil, nil); code != http.StatusNotFound {
		t.Fatalf("other organisation's GET: %d, want 404", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/cancel", b, map[string]string{"reason": "revoked"}, nil); code != http.StatusNotFound {
		t.Fatalf("other organisation's cancel: %d, want 404", code)
	}
	for _, path := range []string{"/v1/referrals/{id}/timeline", "/fhir/r4/ServiceRequest/{id}"} {
		var got, unknown map[string]any
		code, _ := p.do("GET", replaceID(path, created.ID), b, nil, &got)
		p.do("GET", replaceID(path, "00000000-0000-7000-8000-000000000000"), b, nil, &unknown)
		if code != http.StatusNotFound || !reflect.DeepEqual(got, unknown) {
			t.Fatalf("other organisation's GET %s: %d %v, want 404 as for an unknown referral", path, code, got)
		}
	}
	if code, _ := p.do("GET", "/v1/referrals/00000000-0000-7000-8000-000000000000", a, nil, nil); code != http.StatusNotFound {
		t.Fatalf("unknown referral: %d, want 404", code)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals", b, exampleReferral(), &prob); code != http.StatusBadRequest || len(prob.Errors) != 1 || prob.Errors[0].Field != "referrer.organisation" {
		t.Fatalf("submitting for another organisation: %d %+v, want 400 on referrer.organisation", code, prob)
	}
}

// TestCancelAndRefer: cancel only while active; a cancelled referral
// frees the person for a new one; cancelling twice is 409.
func TestCancelAndRefer(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	var created submitted
	p.do("POST", "/v1/referrals", ref, exampleReferral(), &created)
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/cancel", ref, map[string]string{"reason": "withdrawn"}, &prob); code != http.StatusBadRequest || prob.Errors[0].Field != "reason" {
		t.Fatalf("bad reason: %d %+v, want 400 on reason", code, prob)
	}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/cancel", ref, map[string]string{"reason": "revoked", "note": "moved away"}, &res); code != http.StatusOK || res.Status != "cancelled" {
		t.Fatalf("cancel: %d %+v, want 200 cancelled", code, res)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+created.ID+"/cancel", ref, map[string]string{"reason": "revoked"}, &prob); code != http.StatusConflict {
		t.Fatalf("second cancel: %d, want 409", code)
	}
	var v view
	p.do("GET", "/v1/referrals/"+created.ID, ref, nil, &v)
	if v.Status != "cancelled" || v.Active {
		t.Fatalf("after cancel: %+v", v)
	}
	// Re-referral is revoke then new.
	var again submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, exampleReferral(), &again); code != http.StatusCreated || again.ID == created.ID {
		t.Fatalf("new referral after cancel: %d %+v, want 201 with a new id", code, again)
	}
}

// TestSelfReferralDuplicateAndMerge: a self-referral without an NHS number
// that matches an open referral is flagged, and staff can merge it.
func TestSelfReferralDuplicateAndMerge(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	spoc := p.key(keys.RoleReferrer, "X26")
	staff := p.key(keys.RoleTriage, "")
	var orig submitted
	p.do("POST", "/v1/referrals", ref, exampleReferral(), &orig)

	self := exampleReferral()
	self["source"] = "self"
	self["referrer"] = map[string]any{"name": "Sam Example", "organisation": "X26"}
	person := self["person"].(map[string]any)
	delete(person, "nhs_number")
	person["postcode"] = "ts13ba" // same postcode, written differently
	var flagged struct {
		submitted
		PossibleDuplicateOf string `json:"possible_duplicate_of"`
	}
	code, _ := p.do("POST", "/v1/referrals", spoc, self, &flagged)
	if code != http.StatusCreated || flagged.PossibleDuplicateOf != "" {
		t.Fatalf("self-referral: %d %+v, want 201 that names no other organisation's referral", code, flagged)
	}
	// The SPOC's own read names nothing of A81001's referral either;
	// triage staff see which referral it may duplicate.
	if p.do("GET", "/v1/referrals/"+flagged.ID, spoc, nil, &flagged); flagged.PossibleDuplicateOf != "" {
		t.Fatalf("the SPOC's read names %s, another organisation's referral", flagged.PossibleDuplicateOf)
	}
	if p.do("GET", "/v1/referrals/"+flagged.ID, staff, nil, &flagged); flagged.PossibleDuplicateOf != orig.ID {
		t.Fatalf("triage staff read %+v, want it flagged as a duplicate of %s", flagged, orig.ID)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+flagged.ID+"/merge", staff, map[string]string{"into": orig.ID}, &prob); code != http.StatusBadRequest {
		t.Fatalf("merge without a reason: %d, want 400", code)
	}
	var merged submitted
	if code, _ := p.do("POST", "/v1/referrals/"+flagged.ID+"/merge", staff, map[string]string{"into": orig.ID, "reason": "same person, self-referred"}, &merged); code != http.StatusOK || merged.Status != "merged" {
		t.Fatalf("merge: %d %+v, want 200 merged", code, merged)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+flagged.ID+"/merge", staff, map[string]string{"into": orig.ID, "reason": "again"}, &prob); code != http.StatusConflict {
		t.Fatalf("merging again: %d, want 409", code)
	}
	var survivor view
	p.do("GET", "/v1/referrals/"+orig.ID, staff, nil, &survivor)
	// The merge is in the survivor's history, wherever it falls:
	// assignment may waitlist the survivor after it.
	mergedIn := false
	for _, h := range survivor.History {
		mergedIn = mergedIn || h.Type == "ReferralMerged"
	}
	if !mergedIn {
		t.Fatalf("survivor's history %+v has no ReferralMerged", survivor.History)
	}
}

// TestRequestLimits: unknown fields, malformed JSON, oversized bodies and
// wrong types are 4xx problems and leave nothing in the log.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	before := p.logLength()
	withUnknown := exampleReferral()
	withUnknown["favourite_colour"] = "green"
	for name, tc := range map[string]struct {
		body any
		code int
	}{
		"unknown field":       {withUnknown, http.StatusBadRequest},
		"malformed JSON":      {`{"source": "gp_practice",`, http.StatusBadRequest},
		"wrong type":          {`{"needs": "loneliness"}`, http.StatusBadRequest},
		"empty body":          {"", http.StatusBadRequest},
		"two objects":         {`{} {}`, http.StatusBadRequest},
		"oversized":           {`{"what_matters": "` + strings.Repeat("x", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
		"many errors at once": {`{}`, http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			var prob problem
			code, hdr := p.do("POST", "/v1/referrals", ref, tc.body, &prob)
			if code != tc.code || hdr.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s, want %d problem+json", code, hdr.Get("Content-Type"), tc.code)
			}
			if name == "many errors at once" && len(prob.Errors) < 8 {
				t.Fatalf("empty referral reported %d errors, want every missing field", len(prob.Errors))
			}
		})
	}
	if after := p.logLength(); after != before {
		t.Fatalf("rejected requests grew the log from %d to %d", before, after)
	}
}

// TestManualTriageQueueAndOverride: referrals the rules cannot decide wait
// in the queue, oldest first; staff decide them; an automatic decision can
// be overridden with a reason, recorded as an override.
func TestManualTriageQueueAndOverride(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	staff := p.key(keys.RoleTriage, "")

	// A safeguarding concern outside the area: the rules would decline,
	// which is never automatic with a concern, so it waits for a person.
	sg := exampleReferral()
	sg["gp_practice"] = "Y99999"
	sg["safeguarding"] = map[string]any{"concern": true, "details": "lives alone, recent falls, possible neglect"}
	var queued submitted
	p.do("POST", "/v1/referrals", ref, sg, &queued)
	var q struct {
		Items []struct {
			ID                    string `json:"id"`
			Priority              string `json:"priority"`
			SafeguardingEscalated bool   `json:"safeguarding_escalated"`
		} `json:"items"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(q.Items) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		p.do("GET", "/v1/triage/queue", staff, nil, &q)
	}
	if len(q.Items) != 1 || q.Items[0].ID != queued.ID || q.Items[0].Priority != "urgent" || !q.Items[0].SafeguardingEscalated {
		t.Fatalf("triage queue: %+v, want the safeguarding referral at urgent", q.Items)
	}
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+queued.ID+"/triage", staff, map[string]string{"decision": "redirect", "destination": "Adult social care safeguarding team", "reason": "safeguarding referral"}, &res); code != http.StatusOK || res.Status != "redirected" {
		t.Fatalf("staff triage: %d %+v", code, res)
	}
	p.do("GET", "/v1/triage/queue", staff, nil, &q)
	if len(q.Items) != 0 {
		t.Fatalf("queue after triage: %+v, want empty", q.Items)
	}

	// Override an automatic decline (out of area) with a reason.
	other := exampleReferral()
	other["person"].(map[string]any)["nhs_number"] = "4010232137"
	other["gp_practice"] = "Y99999"
	var declined submitted
	p.do("POST", "/v1/referrals", ref, other, &declined)
	var v view
	deadline = time.Now().Add(5 * time.Second)
	for v.Status != "declined" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		p.do("GET", "/v1/referrals/"+declined.ID, staff, nil, &v)
	}
	if v.Status != "declined" {
		t.Fatalf("out-of-area referral: %s, want declined by the rules", v.Status)
	}
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+declined.ID+"/triage", staff, map[string]string{"decision": "accept"}, &prob); code != http.StatusBadRequest {
		t.Fatalf("override without a reason: %d, want 400", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+declined.ID+"/triage", staff, map[string]string{"decision": "accept", "reason": "moved into the area last week"}, &res); code != http.StatusOK || (res.Status != "accepted" && res.Status != "waitlisted") {
		// Assignment may already have put the accepted referral on the
		// (unmatched) waitlist by the time the answer is read.
		t.Fatalf("override: %d %+v, want 200 accepted", code, res)
	}
	var after struct {
		Triage struct {
			Override bool   `json:"override"`
			RuleID   string `json:"rule_id"`
		} `json:"triage"`
	}
	p.do("GET", "/v1/referrals/"+declined.ID, staff, nil, &after)
	if !after.Triage.Override || after.Triage.RuleID != "" {
		t.Fatalf("after override: %+v, want an override by staff", after.Triage)
	}
}
