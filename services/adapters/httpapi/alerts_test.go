package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
)

// testClock is an injected clock that stands still until moved.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startAlerts starts the API with intake and the alerts view on a log
// whose store and API share an injected clock; nothing triages, so a
// referral waits for triage until the test moves it on.
func startAlerts(t *testing.T, clk *testClock) *server {
	t.Helper()
	lg := eventstest.Start(t, false)
	store := events.New(lg.JS, events.Options{Now: clk.Now, Keys: lg.Keys})
	lg.Store = store
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ks, err := keys.Open(ctx, lg.JS, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := ks.Authenticator()
	go auth.Run(ctx)
	<-auth.Loaded()
	people, err := intake.OpenPersonKeyer(ctx, lg.JS, 1, eventstest.Master())
	if err != nil {
		t.Fatal(err)
	}
	engine := func(p projections.Projection) *projections.Engine {
		e := projections.NewEngine(store, nil, p, projections.Options{})
		go e.Run(ctx)
		return e
	}
	h := httpapi.New(httpapi.Config{Auth: auth,
		Referrals: httpapi.Referrals{Store: store, Intake: intake.New(store, people, intake.Options{Now: clk.Now}), TriageQueue: engine(intake.NewIndex()), Now: clk.Now},
		Reads:     httpapi.ReadModels{Alerts: engine(alerts.NewView()), AlertAfter: 4 * time.Hour, ReadTimeout: 2 * time.Second},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{t: t, base: srv.URL, log: lg, keys: ks, auth: auth, logs: &syncBuffer{}}
}

type alertList struct {
	Sequence  uint64 `json:"sequence"`
	Watched   int    `json:"watched"`
	Total     int    `json:"total"`
	Threshold struct {
		Text string `json:"text"`
	} `json:"threshold"`
	Alerts []struct {
		ReferralID   string    `json:"referral_id"`
		Priority     string    `json:"priority"`
		Safeguarding bool      `json:"safeguarding"`
		Status       string    `json:"status"`
		Untriaged    bool      `json:"untriaged"`
		WaitingSince time.Time `json:"waiting_since"`
		Waited       struct {
			Text string `json:"text"`
		} `json:"waited"`
		Link string `json:"link"`
	} `json:"alerts"`
}

// TestAlertsEndpoint: GET /v1/alerts lists, for ops and admins only, the
// urgent and safeguarding referrals waiting beyond the threshold, with
// their wait and no personal data, measured at the API's clock; as of an
// earlier sequence it shows the past.
func TestAlertsEndpoint(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	p := startAlerts(t, clk)
	ref, ops, admin := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, ""), p.key(keys.RoleAdmin, "")
	submit := func(nhs, urgency string, concern bool) submitted {
		t.Helper()
		body := exampleReferral()
		body["person"].(map[string]any)["nhs_number"] = nhs
		body["urgency"] = urgency
		if concern {
			body["safeguarding"] = map[string]any{"concern": true, "details": "lives alone, recent falls"}
		}
		var s submitted
		if code, _ := p.do("POST", "/v1/referrals", ref, body, &s); code != http.StatusCreated {
			t.Fatalf("submit: %d", code)
		}
		return s
	}
	urgent := submit("9434765919", "urgent", false)
	clk.Add(time.Hour)
	concern := submit("4010232137", "routine", true)
	routine := submit("9876543210", "routine", false)

	list := func(key, query string) (int, alertList) {
		t.Helper()
		var l alertList
		code, _ := p.do("GET", "/v1/alerts?min_seq="+fmt.Sprint(routine.Sequence)+query, key, nil, &l)
		return code, l
	}
	clk.Add(3 * time.Hour) // the urgent one has waited 4 hours, the concern 3
	code, l := list(ops, "")
	if code != http.StatusOK || l.Total != 1 || l.Watched != 2 || l.Alerts[0].ReferralID != urgent.ID || !l.Alerts[0].Untriaged ||
		l.Alerts[0].Priority != "urgent" || l.Alerts[0].Waited.Text != "4h0m0s" || l.Alerts[0].Link != "/v1/referrals/"+urgent.ID || l.Threshold.Text != "4h0m0s" {
		t.Fatalf("at 4 hours: %d %+v; want the urgent referral alone, waited 4h, of 2 watched", code, l)
	}
	clk.Add(time.Hour)
	code, l = list(admin, "")
	if code != http.StatusOK || l.Total != 2 || l.Alerts[0].ReferralID != concern.ID || !l.Alerts[0].Safeguarding || l.Alerts[0].Priority != "urgent" || l.Alerts[1].ReferralID != urgent.ID {
		t.Fatalf("at 5 hours: %d %+v; want the safeguarding referral first, then the urgent one", code, l)
	}
	var raw map[string]any
	_, hdr := p.do("GET", "/v1/alerts", ops, nil, &raw)
	if b := fmt.Sprint(raw); strings.Contains(b, "9434765919") || strings.Contains(b, "Sam") || strings.Contains(b, "TS1") || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("the alerts carry personal data or may be cached: %s", b)
	}
	// As of the log before the concern was raised, measured then, only
	// the urgent referral was there, and it had waited an hour.
	code, l = list(ops, "&as_of_seq="+fmt.Sprint(urgent.Sequence))
	if code != http.StatusOK || l.Total != 0 || l.Watched != 1 || l.Sequence != urgent.Sequence {
		t.Fatalf("as of sequence %d: %d %+v; want none over the threshold, one watched", urgent.Sequence, code, l)
	}
	for _, key := range []string{ref, p.linkWorkerKey(uuid.NewString()), p.key(keys.RoleTriage, "")} {
		if code, _ := p.do("GET", "/v1/alerts", key, nil, nil); code != http.StatusForbidden {
			t.Errorf("another role: %d, want 403", code)
		}
	}
}
