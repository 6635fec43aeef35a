package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// The directory, handoff and partner fixtures: a small HSDS file, keys of
// each role, a referral on a caseload, and a webhook receiver.

// smallHSDS is an Open Referral UK page with two partners, each running one
// service, and one record that cannot be imported.
const smallHSDS = `{"total_items": 3, "page_number": 1, "contents": [
  {"id": "svc-walk-1", "name": "Tees Valley Walking Group", "description": "Weekly led walks for all abilities",
   "organization": {"id": "org-a", "name": "Tees Walkers CIO", "email": "hello@teeswalkers.example", "website": "https://teeswalkers.example"},
   "attributes": [{"taxonomy_term": {"name": "Physical activity"}}, {"taxonomy_term": {"name": "Social isolation"}}],
   "minimum_age": 18, "service_areas": [{"name": "TS1"}, {"name": "TS5"}],
   "service_at_locations": [{"location": {"name": "Albert Park gates", "latitude": 54.56, "longitude": -1.24,
     "addresses": [{"address_1": "Linthorpe Road", "city": "Middlesbrough", "postal_code": "TS1 3LB"}]}}]},
  {"id": "svc-debt-1", "name": "Money Advice Drop-in", "description": "Free debt and benefits advice",
   "organization": {"id": "org-b", "name": "Middlesbrough Advice Centre"},
   "attributes": [{"taxonomy_term": {"name": "Debt advice"}}, {"taxonomy_term": {"name": "Welfare benefits"}}]},
  {"id": "svc-broken", "name": "No organisation here"}
]}`

// receiver is a webhook endpoint on loopback that records what it got.
type receiver struct {
	mu     sync.Mutex
	secret string
	got    []webhooks.Payload
	bad    int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := webhooks.Verify(rc.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			rc.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p webhooks.Payload
		_ = json.Unmarshal(body, &p)
		if p.DeliveryID != r.Header.Get(webhooks.HeaderDeliveryID) {
			rc.bad++
		}
		rc.got = append(rc.got, p)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) payloads() []webhooks.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhooks.Payload(nil), rc.got...)
}

// eventually retries check until it passes or 10 s pass.
func eventually(t *testing.T, what string, check func() bool, show ...func() any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			var seen []any
			for _, s := range show {
				seen = append(seen, s())
			}
			t.Fatalf("%s: not seen within 10s %v", what, seen)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// assignedReferral registers a worker with a place and sends a referral
// that is assigned to them; it returns the referral id.
func (p *server) assignedReferral(refKey, opsKey, nhs string) string {
	p.t.Helper()
	p.worker(opsKey, "Alex Link", 5)
	id := p.refer(refKey, nhs)[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v view
		p.do("GET", "/v1/referrals/"+id, opsKey, nil, &v)
		if v.Status == "assigned" {
			return id
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("referral %s not assigned within 10s (status %q)", id, v.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type importReport struct {
	Created, Updated, Unchanged, Skipped int
	Partners                             int `json:"partners_created"`
	Results                              []struct {
		HSDSID    string `json:"hsds_id"`
		ServiceID string `json:"service_id"`
		Action    string `json:"action"`
		Reason    string `json:"reason"`
	}
	Sequence uint64
}

// vcseKeys are one key of each role the VCSE tests use; the partners are
// org-a and org-b of smallHSDS.
type vcseKeys struct{ admin, ops, lw, ref, partnerA, partnerB string }

func (p *server) vcseKeys() vcseKeys {
	p.t.Helper()
	return vcseKeys{admin: p.key(keys.RoleAdmin, ""), ops: p.key(keys.RoleOps, ""), lw: p.key(keys.RoleLinkWorker, ""),
		ref: p.key(keys.RoleReferrer, "A81001"), partnerA: p.key(keys.RolePartner, "org-a"), partnerB: p.key(keys.RolePartner, "org-b")}
}

// importSmall imports smallHSDS through the API.
func (p *server) importSmall(admin string) importReport {
	p.t.Helper()
	var rep importReport
	if code, _ := p.do("POST", "/v1/directory/import", admin, smallHSDS, &rep); code != http.StatusOK {
		p.t.Fatalf("import: %d %+v", code, rep)
	}
	return rep
}
