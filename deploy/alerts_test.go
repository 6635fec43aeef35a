package deploy_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestAlertsFire: each alert the issue asks for fires on the series of
// the trouble it names, and stays quiet on a healthy pathway's, evaluated
// by Prometheus' own query engine over series loaded as promtool's rule
// tests load them (one sample a minute).
func TestAlertsFire(t *testing.T) {
	groups, errs := rulefmt.ParseFile("prometheus/alerts.yml", false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	exprs := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	for _, c := range []struct {
		alert, trouble, healthy string
	}{
		{"PathwayConsumerBehind",
			`pathway_consumer_lag_seconds{consumer="triage"} 0+60x90`,
			`pathway_consumer_lag_seconds{consumer="triage"} 0x90`},
		{"PathwayProjectionBehind",
			`pathway_projection_lag_seconds{projection="waitlists"} 0+60x90`,
			`pathway_projection_lag_seconds{projection="waitlists"} 2x90`},
		{"PathwayWaitlistBreachesRising",
			`pathway_waitlist_breaches{queue="U10002"} 0+1x90`,
			`pathway_waitlist_breaches{queue="U10002"} 3x90`},
		{"PathwayWebhookDeliveriesFailing",
			`pathway_webhook_deliveries{state="failed"} 0x80 1 2 3 4 5 6 7 8 9 10`,
			`pathway_webhook_deliveries{state="failed"} 2x90`},
		{"PathwayStreamNearLimit",
			"pathway_stream_bytes{stream=\"PATHWAY\"} 900x90\npathway_stream_max_bytes{stream=\"PATHWAY\"} 1000x90\npathway_stream_messages{stream=\"PATHWAY\"} 10x90\npathway_stream_max_messages{stream=\"PATHWAY\"} -1x90",
			"pathway_stream_bytes{stream=\"PATHWAY\"} 900x90\npathway_stream_max_bytes{stream=\"PATHWAY\"} -1x90\npathway_stream_messages{stream=\"PATHWAY\"} 10x90\npathway_stream_max_messages{stream=\"PATHWAY\"} -1x90"},
		{"PathwayAccountStorageNearLimit",
			"pathway_jetstream_account_storage_bytes 850x90\npathway_jetstream_account_max_storage_bytes 1000x90",
			"pathway_jetstream_account_storage_bytes 850x90\npathway_jetstream_account_max_storage_bytes -1x90"},
		{"PathwayHTTPErrors",
			"pathway_http_requests_total{route=\"POST /v1/referrals\",code=\"201\"} 0+10x90\npathway_http_requests_total{route=\"POST /v1/referrals\",code=\"503\"} 0+5x90\npathway_http_requests_total{route=\"GET /readyz\",code=\"503\"} 0+100x90",
			"pathway_http_requests_total{route=\"POST /v1/referrals\",code=\"201\"} 0+10x90\npathway_http_requests_total{route=\"GET /readyz\",code=\"503\"} 0+100x90"},
	} {
		t.Run(c.alert, func(t *testing.T) {
			expr, ok := exprs[c.alert]
			if !ok {
				t.Fatalf("no alert %s", c.alert)
			}
			if n := fires(t, expr, c.trouble); n == 0 {
				t.Errorf("%s does not fire on\n%s", c.alert, c.trouble)
			}
			if n := fires(t, expr, c.healthy); n != 0 {
				t.Errorf("%s fires %d times on the healthy\n%s", c.alert, n, c.healthy)
			}
		})
	}
}

// fires returns how many series expr gives at 90 minutes over series, the
// alert's condition (its "for" aside).
func fires(t *testing.T, expr, series string) int {
	t.Helper()
	st := promqltest.LoadedStorage(t, "load 1m\n"+indent(series))
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	q, err := eng.NewInstantQuery(context.Background(), st, nil, expr, time.Unix(0, 0).Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	v, err := res.Vector()
	if err != nil {
		t.Fatal(err)
	}
	return len(v)
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
