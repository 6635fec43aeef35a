package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// referrerHook is a referring organisation's webhook receiver on
// loopback. It checks each delivery as a receiver would, by hand: the
// HMAC-SHA256 of the timestamp, a dot and the raw body under the shared
// secret, compared in constant time, and a timestamp within five minutes.
type referrerHook struct {
	secret string
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	bad    []string
}

func newReferrerHook(t *testing.T, secret string) *referrerHook {
	h := &referrerHook{secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		ts := r.Header.Get("Pathway-Timestamp")
		mac := hmac.New(sha256.New, []byte(h.secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := "v1=" + hex.EncodeToString(mac.Sum(nil))
		sec, err := strconv.ParseInt(ts, 10, 64)
		var p struct {
			DeliveryID string `json:"delivery_id"`
		}
		_ = json.Unmarshal(body, &p)
		switch {
		case !hmac.Equal([]byte(want), []byte(r.Header.Get("Pathway-Signature"))):
			h.bad = append(h.bad, "signature does not match")
		case err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
			h.bad = append(h.bad, "timestamp "+ts)
		case p.DeliveryID == "" || p.DeliveryID != r.Header.Get("Pathway-Delivery-Id"):
			h.bad = append(h.bad, "delivery id")
		default:
			h.bodies = append(h.bodies, body)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Error(w, "refused", http.StatusUnauthorized)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// statusChange is a referrer's delivery payload.
type statusChange struct {
	Type              string    `json:"type"`
	ReferralID        string    `json:"referral_id"`
	ExternalReference string    `json:"external_reference"`
	Status            string    `json:"status"`
	Stage             string    `json:"stage"`
	Reason            string    `json:"reason"`
	Version           uint64    `json:"version"`
	Sequence          uint64    `json:"sequence"`
	OccurredAt        time.Time `json:"occurred_at"`
}

// got returns the deliveries received with a good signature, raw and
// decoded.
func (h *referrerHook) got() ([][]byte, []statusChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []statusChange
	for _, b := range h.bodies {
		var c statusChange
		_ = json.Unmarshal(b, &c)
		out = append(out, c)
	}
	return append([][]byte(nil), h.bodies...), out
}

// TestReferrerWebhookGetsStatusChanges: a referring organisation's
// webhook receives each status change of its own referrals, signed, with
// no personal data, among them the assignment; another organisation's
// webhook receives none of them, and a partner whose organisation id is
// the same ODS code sees nothing of them.
func TestReferrerWebhookGetsStatusChanges(t *testing.T) {
	t.Parallel()
	p := startLoopbackWebhooks(t)
	ops := p.key(keys.RoleOps, "")
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	hookA, hookB := newReferrerHook(t, "referrer-a-secret-00001"), newReferrerHook(t, "referrer-b-secret-00001")
	for key, h := range map[string]*referrerHook{refA: hookA, refB: hookB} {
		var ep struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		if code, _ := p.do("POST", "/v1/referrer/webhooks", key, map[string]string{"url": h.srv.URL, "secret": h.secret}, &ep); code != http.StatusCreated || ep.ID == "" || ep.Secret != "" {
			t.Fatalf("register a referrer's webhook: %d %+v", code, ep)
		}
	}
	var listed struct {
		Webhooks []struct {
			URL string `json:"url"`
		} `json:"webhooks"`
	}
	if p.do("GET", "/v1/referrer/webhooks", refA, nil, &listed); len(listed.Webhooks) != 1 || listed.Webhooks[0].URL != hookA.srv.URL {
		t.Fatalf("A81001's webhooks: %+v", listed)
	}

	id, _ := p.api().AssignedReferral(refA, ops, "9434765099")
	var changes []statusChange
	var bodies [][]byte
	apitest.Eventually(t, "the assignment delivered to A81001's webhook", func() bool {
		bodies, changes = hookA.got()
		for _, c := range changes {
			if c.Type == "referral.assigned" {
				return true
			}
		}
		return false
	}, func() any { return changes })
	var types []string
	for _, c := range changes {
		types = append(types, c.Type)
		if c.ReferralID != id || c.Version == 0 || c.Version != c.Sequence || c.OccurredAt.IsZero() {
			t.Errorf("delivery %+v: want referral %s with its version and time", c, id)
		}
	}
	if strings.Join(types, ",") != "referral.received,referral.triaged,referral.assigned" {
		t.Errorf("deliveries %v, want received, triaged, assigned in order", types)
	}
	last := changes[len(changes)-1]
	if last.Stage != "assigned" || last.Status != "active" {
		t.Errorf("assignment delivered as stage %q status %q, want assigned, active", last.Stage, last.Status)
	}
	for _, b := range bodies {
		for _, personal := range []string{"9434765099", "Sam", "Example", "07700900123", "TS1", "1956", "Wants to"} {
			if strings.Contains(string(b), personal) {
				t.Errorf("a delivery holds personal data %q: %s", personal, b)
			}
		}
	}

	// A cancellation carries its coded reason.
	if code, _ := p.do("POST", "/v1/referrals/"+id+"/cancel", refA, map[string]string{"reason": "revoked", "note": "Sam moved"}, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	apitest.Eventually(t, "the cancellation delivered", func() bool {
		bodies, changes = hookA.got()
		c := changes[len(changes)-1]
		return c.Type == "referral.cancelled" && c.Stage == "cancelled" && c.Status == "revoked" && c.Reason == "revoked"
	}, func() any { return changes })
	if strings.Contains(string(bodies[len(bodies)-1]), "moved") {
		t.Errorf("the cancellation's delivery holds the note: %s", bodies[len(bodies)-1])
	}

	var ds struct {
		Deliveries []struct {
			ReferralID string `json:"referral_id"`
			Status     string `json:"status"`
		} `json:"deliveries"`
	}
	p.do("GET", "/v1/referrer/webhooks/deliveries", refA, nil, &ds)
	if len(ds.Deliveries) != 4 || ds.Deliveries[0].ReferralID != id {
		t.Errorf("A81001's deliveries: %+v, want 4 of %s", ds.Deliveries, id)
	}
	if _, got := hookB.got(); len(got) != 0 {
		t.Errorf("A81002's webhook got A81001's status changes: %+v", got)
	}
	if p.do("GET", "/v1/referrer/webhooks/deliveries", refB, nil, &ds); len(ds.Deliveries) != 0 {
		t.Errorf("A81002 lists A81001's deliveries: %+v", ds.Deliveries)
	}
	partner := p.key(keys.RolePartner, "A81001")
	if p.do("GET", "/v1/partner/webhooks/deliveries", partner, nil, &ds); len(ds.Deliveries) != 0 {
		t.Errorf("a partner named A81001 lists the referrer's deliveries: %+v", ds.Deliveries)
	}
	if p.do("GET", "/v1/partner/webhooks", partner, nil, &listed); len(listed.Webhooks) != 0 {
		t.Errorf("a partner named A81001 lists the referrer's webhooks: %+v", listed)
	}
	hookA.mu.Lock()
	if len(hookA.bad) > 0 {
		t.Errorf("refused deliveries: %v", hookA.bad)
	}
	hookA.mu.Unlock()
}
