package httpapi_test

import (
	"fmt"
	"github.com/google/uuid"
	"net/http"
	"testing"
)

// TestHandoffRules covers the link worker's side through the API: consent,
// shared fields, the capacity warning, illegal moves, reasons.
func TestHandoffRules(t *testing.T) {
	t.Parallel()
	p := start(t)
	k := p.vcseKeys()
	ops, ref, partnerA := k.ops, k.ref, k.partnerA
	walkID := p.importSmall(k.admin).Results[0].ServiceID
	refID, lw := p.assignedReferral(ref, ops, "9434765919")

	var pr problem
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, map[string]any{"service_id": walkID, "shared_fields": []string{"shoe_size"}}, &pr); code != http.StatusBadRequest || len(pr.Errors) != 2 {
		t.Errorf("no consent, unknown field: %d %+v, want 400 naming both", code, pr)
	}
	before := p.logLength()

	// By default a partner cannot point pathway at this network.
	for _, u := range []string{"http://127.0.0.1:4222/", "https://10.1.2.3:8443/admin", "https://169.254.169.254/latest"} {
		if code, _ := p.do("POST", "/v1/partner/webhooks", partnerA, map[string]string{"url": u, "secret": "a-long-shared-secret-0001"}, &pr); code != http.StatusBadRequest {
			t.Errorf("webhook to %s: %d, want 400", u, code)
		}
	}

	// Partner A signals no capacity: a handoff warns and needs a confirm.
	if code, _ := p.do("PUT", "/v1/partner/services/"+walkID+"/capacity", partnerA, map[string]string{"status": "no-capacity", "note": "full until spring"}, nil); code != http.StatusOK {
		t.Fatalf("capacity: %d", code)
	}
	body := map[string]any{"service_id": walkID, "shared_fields": []string{"given_name", "needs"}, "consent": true}
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, body, &pr); code != http.StatusConflict || pr.Type != "https://pathway.example/problems/capacity-warning" {
		t.Errorf("handoff to a full service: %d %+v, want 409 capacity-warning", code, pr)
	}
	if n := p.logLength(); n != before+1 {
		t.Errorf("the log grew by %d, want 1 (the capacity change only)", n-before)
	}
	body["confirm"] = true
	var h struct{ ID, Status string }
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, body, &h); code != http.StatusCreated {
		t.Fatalf("confirmed handoff: %d", code)
	}
	// The partner reads the needs shared as words, as the API takes them.
	var seen struct{ Shared map[string]any }
	if p.do("GET", "/v1/partner/handoffs/"+h.ID, partnerA, nil, &seen); fmt.Sprint(seen.Shared["needs"]) != "[loneliness mental_health]" {
		t.Errorf("the partner sees needs %v, want [loneliness mental_health]", seen.Shared["needs"])
	}

	// Reasons are codes; a capacity signal is not changed by an update.
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/reject", partnerA, map[string]string{"reason": "we are busy"}, &pr); code != http.StatusBadRequest {
		t.Errorf("reject with a free-text reason: %d, want 400 listing the codes", code)
	}
	if code, _ := p.do("PUT", "/v1/directory/services/"+walkID, k.admin, map[string]any{"partner_id": "org-a", "name": "Walks", "needs": []string{"loneliness"}, "capacity_status": "capacity"}, &pr); code != http.StatusBadRequest {
		t.Errorf("update with a capacity status: %d, want 400", code)
	}
	// An Idempotency-Key belongs to its endpoint: the same key on another
	// action is another command, not a retry of the first.
	var second struct{ ID, Status string }
	p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, body, &second, "Idempotency-Key", "k-1")
	var cancelled struct{ Status string }
	if code, _ := p.do("POST", "/v1/handoffs/"+second.ID+"/cancel", lw, map[string]string{"reason": "duplicate"}, &cancelled, "Idempotency-Key", "k-1"); code != http.StatusOK || cancelled.Status != "cancelled" {
		t.Errorf("cancel with the request's key: %d %+v, want 200 cancelled", code, cancelled)
	}

	// A reason is required to reject; complete before accept is 409.
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/reject", partnerA, map[string]string{}, &pr); code != http.StatusBadRequest {
		t.Errorf("reject without reason: %d, want 400", code)
	}
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/start", partnerA, nil, &pr); code != http.StatusConflict || pr.Type != "https://pathway.example/problems/conflict" {
		t.Errorf("start a requested handoff: %d %+v, want 409 problem", code, pr)
	}
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/reject", partnerA, map[string]string{"reason": "no-capacity"}, nil); code != http.StatusOK {
		t.Errorf("reject: %d", code)
	}
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/accept", partnerA, nil, nil); code != http.StatusConflict {
		t.Errorf("accept a rejected handoff: %d, want 409", code)
	}
	// Staff see the rejection and its reason.
	var staff struct {
		Status, Reason string
		ReferralID     string `json:"referral_id"`
	}
	p.do("GET", "/v1/handoffs/"+h.ID, lw, nil, &staff)
	if staff.Status != "rejected" || staff.Reason != "no-capacity" || staff.ReferralID != refID {
		t.Errorf("staff view: %+v", staff)
	}
	// A referral not on a caseload cannot be handed off: here the worker's
	// case once, cancelled since (the worker reaches only its own cases).
	other := p.refer(ref, "9876543210")[0]
	eventually(t, "the second referral assigned", func() bool {
		var v view
		p.do("GET", "/v1/referrals/"+other, ops, nil, &v)
		return v.Status == "assigned"
	})
	p.do("POST", "/v1/referrals/"+other+"/cancel", ref, map[string]string{"reason": "revoked"}, nil)
	if code, _ := p.do("POST", "/v1/referrals/"+other+"/handoffs", lw, body, nil); code != http.StatusConflict {
		t.Errorf("handoff of a cancelled referral: %d, want 409", code)
	}
}

// TestRetireAndReinstateService: an admin takes a service out of the
// directory through the API (a bad status or an unknown service is said
// so, another role is refused); a handoff to it is then refused and the
// directory shows it retired; retiring it again writes nothing; once
// reinstated it takes handoffs again.
func TestRetireAndReinstateService(t *testing.T) {
	t.Parallel()
	p := start(t)
	k := p.vcseKeys()
	walkID := p.importSmall(k.admin).Results[0].ServiceID
	refID, lw := p.assignedReferral(k.ref, k.ops, "9434765919")
	retire := "/v1/directory/services/" + walkID + "/retire"

	var pr problem
	if code, _ := p.do("POST", retire, k.ops, map[string]string{"status": "inactive"}, &pr); code != http.StatusForbidden {
		t.Errorf("retire with an ops key: %d, want 403", code)
	}
	if code, _ := p.do("POST", retire, k.admin, map[string]string{"status": "closed"}, &pr); code != http.StatusBadRequest || len(pr.Errors) != 1 || pr.Errors[0].Field != "status" {
		t.Errorf("retire as closed: %d %+v, want 400 naming status", code, pr)
	}
	if code, _ := p.do("POST", "/v1/directory/services/"+uuid.NewString()+"/retire", k.admin, map[string]string{"status": "inactive"}, &pr); code != http.StatusNotFound {
		t.Errorf("retire an unknown service: %d, want 404", code)
	}
	var done struct {
		ID, Retired string
		Sequence    uint64
	}
	if code, _ := p.do("POST", retire, k.admin, map[string]string{"status": "inactive", "reason": "The group stopped meeting"}, &done); code != http.StatusOK || done.Retired != "inactive" || done.ID != walkID {
		t.Fatalf("retire: %d %+v, want 200 inactive", code, done)
	}
	before := p.settledLogLength()
	var again struct{ Sequence uint64 }
	if code, _ := p.do("POST", retire, k.admin, map[string]string{"status": "inactive"}, &again); code != http.StatusOK || p.settledLogLength() != before {
		t.Errorf("retire again: %d, the log grew by %d, want 200 and nothing written", code, p.settledLogLength()-before)
	}

	body := map[string]any{"service_id": walkID, "shared_fields": []string{"given_name", "needs"}, "consent": true}
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, body, &pr); code != http.StatusConflict {
		t.Errorf("handoff to a retired service: %d %+v, want 409", code, pr)
	}
	var one struct{ Service struct{ Retired string } }
	if p.do("GET", fmt.Sprintf("/v1/directory/services/%s?min_seq=%d", walkID, done.Sequence), k.ops, nil, &one); one.Service.Retired != "inactive" {
		t.Errorf("the directory shows the service retired %q, want inactive", one.Service.Retired)
	}

	var back struct{ Retired string }
	if code, _ := p.do("POST", "/v1/directory/services/"+walkID+"/reinstate", k.admin, nil, &back); code != http.StatusOK {
		t.Fatalf("reinstate with no body: %d", code)
	}
	var h struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, body, &h); code != http.StatusCreated {
		t.Errorf("handoff once reinstated: %d, want 201", code)
	}
}
