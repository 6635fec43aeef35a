// Package apitest drives pathway's HTTP API in tests: requests with a
// bearer key, the example referral, a link worker and a referral on their
// caseload, the directory fixture and its import, a webhook receiver on
// loopback, and the shapes of the answers the tests read. It is for tests
// only: the binary's tests and the adapter's own both use it.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/fhir/fhirtest"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// Client sends requests to a pathway HTTP API at Base, failing TB on a
// transport error or an answer that is not the JSON asked for.
type Client struct {
	TB   testing.TB
	Base string
	// HTTP sends the requests; nil is http.DefaultClient. A test of HTTPS
	// gives one that trusts its certificate.
	HTTP *http.Client
}

// Do sends a request with the bearer key (none when empty), the body as
// JSON (a string or []byte as it is) with Content-Type application/json,
// and the headers given as name, value pairs (which may replace it), and decodes the answer into out when not nil. It returns the
// status and the headers.
func (c Client) Do(method, path, key string, body any, out any, headers ...string) (int, http.Header) {
	c.TB.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		c.TB.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		c.TB.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/fhir+json") {
		// Every FHIR answer a test sees is checked against R4.
		fhirtest.Validate(c.TB, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.TB.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// Worker registers a link worker of PCN U12345 covering A81001 and
// returns its id.
func (c Client) Worker(opsKey, name string, capacity int) string {
	c.TB.Helper()
	return c.WorkerOf(opsKey, name, "U12345", "A81001", capacity)
}

// WorkerOf registers a link worker of pcn covering practice and returns
// its id.
func (c Client) WorkerOf(opsKey, name, pcn, practice string, capacity int) string {
	c.TB.Helper()
	var w struct {
		ID string `json:"id"`
	}
	if code, _ := c.Do("POST", "/v1/workers", opsKey, map[string]any{"name": name, "pcn": pcn, "practices": []string{practice}, "capacity": capacity}, &w); code != http.StatusCreated {
		c.TB.Fatalf("register worker: %d", code)
	}
	return w.ID
}

// Refer submits the example referral once per NHS number, in order, and
// returns the ids.
func (c Client) Refer(refKey string, nhs ...string) []string {
	c.TB.Helper()
	var ids []string
	for _, n := range nhs {
		body := ExampleReferral()
		body["person"].(map[string]any)["nhs_number"] = n
		var s Submitted
		if code, _ := c.Do("POST", "/v1/referrals", refKey, body, &s); code != http.StatusCreated {
			c.TB.Fatalf("referral for %s: %d", n, code)
		}
		ids = append(ids, s.ID)
	}
	return ids
}

// AssignedReferral registers a worker with a place and sends a referral
// that is assigned to them; it returns the referral's id and the worker's.
func (c Client) AssignedReferral(refKey, opsKey, nhs string) (referralID, workerID string) {
	c.TB.Helper()
	workerID = c.Worker(opsKey, "Alex Link", 5)
	id := c.Refer(refKey, nhs)[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v View
		c.Do("GET", "/v1/referrals/"+id, opsKey, nil, &v)
		if v.Status == "assigned" {
			return id, workerID
		}
		if time.Now().After(deadline) {
			c.TB.Fatalf("referral %s not assigned within 10s (status %q)", id, v.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ImportSmall imports SmallHSDS through the API.
func (c Client) ImportSmall(admin string) ImportReport {
	c.TB.Helper()
	var rep ImportReport
	if code, _ := c.Do("POST", "/v1/directory/import", admin, SmallHSDS, &rep); code != http.StatusOK {
		c.TB.Fatalf("import: %d %+v", code, rep)
	}
	return rep
}

// ExampleReferral is a valid JSON referral of Sam Example from practice
// A81001, a fresh map each call.
func ExampleReferral() map[string]any {
	return map[string]any{
		"source":   "gp_practice",
		"referrer": map[string]any{"name": "Dr A Example", "role": "GP", "organisation": "A81001"},
		"person": map[string]any{
			"nhs_number": "9434765919", "given_name": "Sam", "family_name": "Example",
			"date_of_birth": "1956-03-14", "postcode": "TS1 3BA", "phone": "07700900123",
			"preferred_contact": "phone", "language": "en", "interpreter_needed": false,
		},
		"gp_practice":  "A81001",
		"needs":        []string{"loneliness", "mental_health"},
		"what_matters": "Wants to get out of the house and meet people again",
		"urgency":      "routine",
		"safeguarding": map[string]any{"concern": false},
		"consent":      map[string]any{"given": true, "recorded_by": "Dr A Example", "recorded_at": "2026-11-20T10:00:00Z"},
	}
}

// Problem is an RFC 9457 answer.
type Problem struct {
	Type         string `json:"type"`
	Title        string `json:"title"`
	Status       int    `json:"status"`
	Detail       string `json:"detail"`
	OpenReferral string `json:"open_referral"`
	Errors       []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

// Submitted is the answer to a submitted referral.
type Submitted struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Sequence uint64 `json:"sequence"`
}

// View is a referral as GET /v1/referrals/{id} shows it.
type View struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Active bool   `json:"active"`
	Triage *struct {
		Decision     string `json:"decision"`
		RuleID       string `json:"rule_id"`
		RulesVersion string `json:"rules_version"`
	} `json:"triage"`
	Referral struct {
		Person struct {
			NHSNumber string `json:"nhs_number"`
			Postcode  string `json:"postcode"`
		} `json:"person"`
	} `json:"referral"`
	History []struct {
		Type string `json:"type"`
	} `json:"history"`
}

// TestIntakeMustShow walks the "must show" list through the real
// HTTP server on a fresh data directory.
// ImportReport is the answer to a directory import.
type ImportReport struct {
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

// SmallHSDS is an Open Referral UK page with two partners, each running one
// service, and one record that cannot be imported.
const SmallHSDS = `{"total_items": 3, "page_number": 1, "contents": [
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

// Receiver is a webhook endpoint on loopback that records what it got.
type Receiver struct {
	mu     sync.Mutex
	secret string
	got    []webhooks.Payload
	bad    int
	srv    *httptest.Server
}

// NewReceiver starts a Receiver checking signatures with secret; it stops
// when the test ends.
func NewReceiver(t *testing.T, secret string) *Receiver {
	rc := &Receiver{secret: secret}
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

// Payloads returns the deliveries received with a good signature.
func (rc *Receiver) Payloads() []webhooks.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhooks.Payload(nil), rc.got...)
}

// Eventually retries check until it passes or 10 s pass.
func Eventually(t *testing.T, what string, check func() bool, show ...func() any) {
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

// URL is where the receiver listens.
func (rc *Receiver) URL() string { return rc.srv.URL }

// Secret is the secret the receiver checks signatures with.
func (rc *Receiver) Secret() string { return rc.secret }

// Bad counts the deliveries refused: a bad signature, or a delivery id
// that does not match the payload's.
func (rc *Receiver) Bad() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bad
}
