package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// aheadClock is the real clock moved on by a test: the alerts' clock,
// while the log records real times.
type aheadClock struct {
	mu    sync.Mutex
	ahead time.Duration
}

func (c *aheadClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.ahead)
}
func (c *aheadClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ahead += d
}

// TestUrgentReferralWaitingRaisesAlert: pathway serve with --alert-after
// 4h and an operations webhook. An urgent referral from a practice no PCN
// covers waits on the unmatched queue; four hours on (by the alerts'
// clock) it is listed by GET /v1/alerts and sent once, signed, to the
// operations webhook, with no personal data; once a link worker covering
// the practice is registered and takes it, the alert clears.
func TestUrgentReferralWaitingRaisesAlert(t *testing.T) {
	const secret = "operations-alerts-secret-1"
	var mu sync.Mutex
	var notices []alerts.Notice
	var bodies []string
	bad := 0
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var p webhooks.OpsPayload
		var n alerts.Notice
		if webhooks.Verify(secret, r.Header, body, time.Now(), time.Minute) != nil || json.Unmarshal(body, &p) != nil || json.Unmarshal(p.Data, &n) != nil || p.Type != alerts.EventType {
			bad++
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		notices, bodies = append(notices, n), append(bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	received := func() ([]alerts.Notice, int) {
		mu.Lock()
		defer mu.Unlock()
		return append([]alerts.Notice(nil), notices...), bad
	}

	clk := &aheadClock{}
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen, cfg.WebhookAllowPrivate = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", true
	cfg.AlertAfter, cfg.OpsWebhook, cfg.opsSecret = 4*time.Hour, rc.URL+"/pathway-alerts", secret
	cfg.alertEvery, cfg.alertNow = 20*time.Millisecond, clk.Now
	p := startPathwayWith(t, cfg)
	ref, ops := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, "")

	body := exampleReferral()
	body["urgency"] = "urgent"
	body["needs"] = []string{"loneliness"} // urgent mental health would be redirected
	var sub submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, body, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	eventually(t, "the referral waitlisted on unmatched", func() bool {
		var v view
		p.do("GET", "/v1/referrals/"+sub.ID, ops, nil, &v)
		return v.Status == "waitlisted"
	})
	type list struct {
		Total, Watched int
		Alerts         []struct {
			ReferralID string `json:"referral_id"`
			Queue      string
			Priority   string
		}
	}
	var l list
	p.do("GET", fmt.Sprintf("/v1/alerts?min_seq=%d", p.logLength()), ops, nil, &l)
	if l.Total != 0 || l.Watched != 1 {
		t.Fatalf("just received: %+v, want none over the threshold and one watched", l)
	}

	clk.Add(4*time.Hour + time.Minute)
	eventually(t, "the alert sent to the operations webhook", func() bool { n, _ := received(); return len(n) > 0 })
	p.do("GET", "/v1/alerts", ops, nil, &l)
	if l.Total != 1 || l.Alerts[0].ReferralID != sub.ID || l.Alerts[0].Queue != "unmatched" || l.Alerts[0].Priority != "urgent" {
		t.Fatalf("four hours on: %+v, want the urgent referral on unmatched", l)
	}
	n, badSigs := received()
	if len(n) != 1 || n[0].ReferralID != sub.ID || n[0].Queue != "unmatched" || n[0].WaitedSeconds < 4*3600 || n[0].ThresholdSeconds != 4*3600 || badSigs != 0 {
		t.Fatalf("notices %+v (%d badly signed), want one for %s", n, badSigs, sub.ID)
	}
	for _, personal := range []string{"9434765919", "Sam", "Example", "TS1 3BA", "07700900123"} {
		if strings.Contains(bodies[0], personal) {
			t.Errorf("the notice carries %q: %s", personal, bodies[0])
		}
	}
	if !strings.Contains(p.logs.String(), "urgent or safeguarding referral waiting") || strings.Contains(p.logs.String(), "9434765919") {
		t.Error("the alert is not logged, or the log carries the NHS number")
	}

	// A link worker covering the practice takes it: the alert clears,
	// and the webhook got it once in all.
	p.worker(ops, "Alex Link", 5)
	eventually(t, "the alert cleared", func() bool {
		var l list
		p.do("GET", "/v1/alerts", ops, nil, &l)
		return l.Total == 0 && l.Watched == 0
	})
	if n, _ := received(); len(n) != 1 {
		t.Errorf("%d notices, want the alert sent once", len(n))
	}
}

// TestAlertSettings: the alert threshold and the operations webhook are
// checked before anything starts; the webhook's secret comes from the
// environment only.
func TestAlertSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error; "" for none
	}{
		{"defaults", nil, nil, ""},
		{"threshold from the environment", nil, map[string]string{"PATHWAY_ALERT_AFTER": "2h"}, ""},
		{"threshold too short", []string{"--alert-after", "30s"}, nil, "--alert-after must be at least 1m"},
		{"webhook without its secret", []string{"--ops-webhook", "https://alerts.example.org/pathway"}, nil, opsSecretEnv},
		{"secret without a webhook", nil, map[string]string{opsSecretEnv: "operations-alerts-secret-1"}, "--ops-webhook is not"},
		{"short secret", []string{"--ops-webhook", "https://alerts.example.org/pathway"}, map[string]string{opsSecretEnv: "short"}, "16 to 256"},
		{"webhook on loopback", []string{"--ops-webhook", "http://127.0.0.1:9000/hook"}, map[string]string{opsSecretEnv: "operations-alerts-secret-1"}, "--ops-webhook"},
		{"on loopback, allowed", []string{"--ops-webhook", "http://127.0.0.1:9000/hook", "--webhook-allow-private"}, map[string]string{opsSecretEnv: "operations-alerts-secret-1"}, ""},
		{"public webhook", nil, map[string]string{"PATHWAY_OPS_WEBHOOK": "https://alerts.example.org/pathway", opsSecretEnv: "operations-alerts-secret-1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, cfg := serveFlags(func(k string) string { return tc.env[k] }, io.Discard)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
			if tc.name == "threshold from the environment" && cfg.AlertAfter != 2*time.Hour {
				t.Errorf("threshold %v, want 2h from PATHWAY_ALERT_AFTER", cfg.AlertAfter)
			}
			if tc.name == "defaults" && (cfg.AlertAfter != alerts.DefaultAfter || cfg.OpsWebhook != "") {
				t.Errorf("defaults: %v %q, want %v and no webhook", cfg.AlertAfter, cfg.OpsWebhook, alerts.DefaultAfter)
			}
		})
	}
}
