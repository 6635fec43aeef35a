package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"
)

// TestPartnerIsolation is the isolation matrix: partner A's key against
// each of partner B's resources gets exactly what a missing resource
// gets, and A's lists never show B's.
func TestPartnerIsolation(t *testing.T) {
	t.Parallel()
	p := startLoopbackWebhooks(t)
	k := p.vcseKeys()
	ops, ref, partnerA, partnerB := k.ops, k.ref, k.partnerA, k.partnerB
	debtID := p.importSmall(k.admin).Results[1].ServiceID // partner B's service

	// Partner B has a handoff, a webhook and a delivery.
	rcB := newReceiver(t, "partner-b-secret-000001")
	var hookB struct{ ID string }
	p.do("POST", "/v1/partner/webhooks", partnerB, map[string]string{"url": rcB.URL(), "secret": rcB.Secret()}, &hookB)
	refID, lw := p.assignedReferral(ref, ops, "9434765919")
	var h struct{ ID string }
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, map[string]any{"service_id": debtID, "shared_fields": []string{"given_name"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff to B: %d", code)
	}
	var deliveries struct {
		Deliveries []struct{ ID string }
	}
	eventually(t, "partner B's delivery", func() bool {
		p.do("GET", "/v1/partner/webhooks/deliveries", partnerB, nil, &deliveries)
		return len(deliveries.Deliveries) == 1
	})
	deliveryB := deliveries.Deliveries[0].ID

	missing := "01a2a6b0-0000-7000-8000-00000000dead"
	matrix := []struct {
		name, method, path, missingPath string
		body                            any
	}{
		{"read handoff", "GET", "/v1/partner/handoffs/" + h.ID, "/v1/partner/handoffs/" + missing, nil},
		{"accept", "POST", "/v1/partner/handoffs/" + h.ID + "/accept", "/v1/partner/handoffs/" + missing + "/accept", nil},
		{"reject", "POST", "/v1/partner/handoffs/" + h.ID + "/reject", "/v1/partner/handoffs/" + missing + "/reject", map[string]string{"reason": "no-capacity"}},
		{"start", "POST", "/v1/partner/handoffs/" + h.ID + "/start", "/v1/partner/handoffs/" + missing + "/start", nil},
		{"hold", "POST", "/v1/partner/handoffs/" + h.ID + "/hold", "/v1/partner/handoffs/" + missing + "/hold", map[string]string{"reason": "OTH"}},
		{"complete", "POST", "/v1/partner/handoffs/" + h.ID + "/complete", "/v1/partner/handoffs/" + missing + "/complete", map[string]string{"outcome": "other"}},
		{"fail", "POST", "/v1/partner/handoffs/" + h.ID + "/fail", "/v1/partner/handoffs/" + missing + "/fail", map[string]string{"reason": "FC"}},
		{"capacity", "PUT", "/v1/partner/services/" + debtID + "/capacity", "/v1/partner/services/" + missing + "/capacity", map[string]string{"status": "no-capacity"}},
		{"delete webhook", "DELETE", "/v1/partner/webhooks/" + hookB.ID, "/v1/partner/webhooks/000000000000", nil},
		{"redeliver", "POST", "/v1/partner/webhooks/deliveries/" + deliveryB + "/redeliver", "/v1/partner/webhooks/deliveries/" + missing + "/redeliver", nil},
	}
	before := p.settledLogLength()
	for _, m := range matrix {
		t.Run(m.name, func(t *testing.T) {
			var got, want problem
			code, _ := p.do(m.method, m.path, partnerA, m.body, &got)
			wantCode, _ := p.do(m.method, m.missingPath, partnerA, m.body, &want)
			if code != http.StatusNotFound || wantCode != http.StatusNotFound {
				t.Fatalf("partner A %s %s: %d (missing resource: %d), want 404 for both", m.method, m.path, code, wantCode)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("B's resource answers %+v, a missing one %+v: the difference leaks existence", got, want)
			}
		})
	}
	if n := p.logLength(); n != before {
		t.Errorf("the refused requests appended %d events", n-before)
	}
	// A's lists show nothing of B's.
	var inbox, services, hooks, dels struct {
		Handoffs []any
		Services []struct {
			PartnerID string `json:"partner_id"`
		}
		Webhooks   []any
		Deliveries []any
	}
	p.do("GET", "/v1/partner/handoffs", partnerA, nil, &inbox)
	p.do("GET", "/v1/partner/services", partnerA, nil, &services)
	p.do("GET", "/v1/partner/webhooks", partnerA, nil, &hooks)
	p.do("GET", "/v1/partner/webhooks/deliveries", partnerA, nil, &dels)
	if len(inbox.Handoffs) != 0 || len(hooks.Webhooks) != 0 || len(dels.Deliveries) != 0 {
		t.Errorf("partner A sees B's handoffs %v, webhooks %v or deliveries %v", inbox.Handoffs, hooks.Webhooks, dels.Deliveries)
	}
	if len(services.Services) != 1 || services.Services[0].PartnerID != "org-a" {
		t.Errorf("partner A's services: %+v, want only its own", services.Services)
	}
	// B still has everything, untouched.
	var hb struct{ Status string }
	p.do("GET", "/v1/partner/handoffs/"+h.ID, partnerB, nil, &hb)
	if hb.Status != "requested" {
		t.Errorf("B's handoff is %q after A's attempts, want requested", hb.Status)
	}
	// Staff endpoints are closed to partners (403), so no referral leaks.
	if code, _ := p.do("GET", "/v1/referrals/"+refID, partnerB, nil, nil); code != http.StatusForbidden {
		t.Errorf("partner reading a referral: %d, want 403", code)
	}
}
