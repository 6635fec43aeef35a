package httpapi_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

// Controls of the hazard log (docs/SAFETY.md) proved through the API.

// TestMergeOfTwoPeopleRefused (H04): staff cannot merge the referrals of
// two people (their NHS numbers differ): the merge would close one
// person's referral. Nothing is appended and both stay open.
func TestMergeOfTwoPeopleRefused(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref, staff := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleTriage, "")
	ids := p.refer(ref, "9434765919", "4010232137")
	for _, id := range ids { // triaged and waitlisted (no worker): the log is still
		eventually(t, "the referral waitlisted", func() bool {
			var v view
			p.do("GET", "/v1/referrals/"+id, staff, nil, &v)
			return v.Status == "waitlisted"
		})
	}
	before := p.logLength()
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals/"+ids[1]+"/merge", staff, map[string]string{"into": ids[0], "reason": "looks the same"}, &prob); code != http.StatusConflict {
		t.Fatalf("merging two people: %d %+v, want 409", code, prob)
	}
	if n := p.logLength(); n != before {
		t.Errorf("the refused merge appended %d events", n-before)
	}
	for _, id := range ids {
		var v view
		p.do("GET", "/v1/referrals/"+id, staff, nil, &v)
		if !v.Active || v.Status == "merged" {
			t.Errorf("%s after the refused merge: %s, want still open", id, v.Status)
		}
	}
}

// TestEraseNeedsAValidNHSNumber (H07): erasing a person by NHS number
// refuses one whose check digit is wrong (a slip of a key), naming the
// field, before anything is looked up or erased.
func TestEraseNeedsAValidNHSNumber(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin := p.key(keys.RoleAdmin, "")
	before := p.logLength()
	var prob problem
	code, _ := p.do("POST", "/v1/people/erase", admin, map[string]string{"nhs_number": "9434765918", "ground": "subject_request", "reason": "request DP-1"}, &prob)
	if code != http.StatusBadRequest || len(prob.Errors) != 1 || prob.Errors[0].Field != "nhs_number" {
		t.Fatalf("a mistyped NHS number: %d %+v, want 400 naming nhs_number", code, prob)
	}
	if n := p.logLength(); n != before {
		t.Errorf("the refused erasure appended %d events", n-before)
	}
}

// TestMergedAwayPersonCanBeReferredAgain (H04): a merge made in error can
// be put right: the merged-away person can be referred again at once (the
// merge closed their referral, so no open episode stands in the way), and
// the survivor's history records who merged and why.
func TestMergedAwayPersonCanBeReferredAgain(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref, spoc, staff := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "X26"), p.key(keys.RoleTriage, "")
	orig := p.refer(ref, "9434765919")[0]
	self := exampleReferral()
	self["source"] = "self"
	self["referrer"] = map[string]any{"name": "Sam Example", "organisation": "X26"}
	delete(self["person"].(map[string]any), "nhs_number")
	var flagged submitted
	if code, _ := p.do("POST", "/v1/referrals", spoc, self, &flagged); code != http.StatusCreated {
		t.Fatalf("self-referral: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrals/"+flagged.ID+"/merge", staff, map[string]string{"into": orig, "reason": "same person, self-referred"}, nil); code != http.StatusOK {
		t.Fatalf("merge: %d", code)
	}
	// It was someone else after all: they are referred again.
	self["external_reference"] = "SELF-2"
	var again submitted
	if code, _ := p.do("POST", "/v1/referrals", spoc, self, &again); code != http.StatusCreated || again.ID == flagged.ID {
		t.Fatalf("referring the merged-away person again: %d %+v, want 201 with a new referral", code, again)
	}
	type timelineEvent struct {
		Type    string         `json:"type"`
		ActorID string         `json:"actor_id"`
		Details map[string]any `json:"details"`
	}
	var tl struct {
		Events []timelineEvent `json:"events"`
	}
	p.do("GET", "/v1/referrals/"+orig+"/timeline", staff, nil, &tl)
	// The merge, wherever it falls: assignment may place or waitlist the
	// survivor before or after it.
	i := slices.IndexFunc(tl.Events, func(e timelineEvent) bool { return e.Type == "ReferralMerged" })
	if i < 0 || tl.Events[i].ActorID == "" || tl.Events[i].Details["from_referral_id"] != flagged.ID {
		t.Errorf("the survivor's timeline %+v has no merge from %s by its actor", tl.Events, flagged.ID)
	}
}
