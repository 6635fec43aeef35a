package deploy_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// promql is Prometheus' PromQL parser with its default functions.
var promql = parser.NewParser(parser.Options{})

// Metrics Prometheus makes itself rather than scraping them.
var prometheusOwn = map[string]bool{"up": true}

// The metric families of one running pathway that has taken a referral,
// shared by the tests that check names against them.
var (
	servedOnce sync.Once
	served     map[string]*familyInfo
)

func servedFamilies(t *testing.T) map[string]*familyInfo {
	t.Helper()
	servedOnce.Do(func() {
		r := startPathway(t)
		r.refer(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Wait until the referral has been appended, taken by the services
		// and has reached the waitlist.
		for {
			fams := r.scrape(ctx, t)
			if f := fams["pathway_waitlist_size"]; f != nil && f.series > 0 && fams["pathway_event_append_duration_seconds"] != nil {
				served = fams
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("the referral never reached a waitlist in the metrics; families: %v", sortedKeys(fams))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if served == nil {
		t.Fatal("no metrics scraped (see the first test that tried)")
	}
	return served
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// TestAlertRules: deploy/prometheus/alerts.yml parses with Prometheus'
// own rule parser (expressions, templates, durations), has the alerts
// the operators rely on, each with a severity and a summary, and names
// only metrics a running pathway serves.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile("prometheus/alerts.yml", false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	exposed := exposedNames(servedFamilies(t))
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want a summary and a description", r.Alert)
			}
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			for _, n := range names {
				if !exposed[n] && !prometheusOwn[n] {
					t.Errorf("%s uses %s, which pathway does not serve", r.Alert, n)
				}
			}
		}
	}
	for _, want := range []string{"PathwayConsumerBehind", "PathwayProjectionBehind", "PathwayWaitlistBreachesRising",
		"PathwayWebhookDeliveriesFailing", "PathwayStreamNearLimit", "PathwayAccountStorageNearLimit", "PathwayHTTPErrors"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// grafanaVars are the dashboard's template variables, as a query sees them
// once Grafana has put their values in.
var grafanaVars = strings.NewReplacer(`$instance`, `.*`, `$queue`, `.*`, `${datasource}`, `prometheus`)

type dashboardPanel struct {
	ID      int              `json:"id"`
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestGrafanaDashboard: deploy/grafana/pathway.json is a dashboard whose
// every query parses as PromQL and names only metrics pathway serves, and
// that shows every pathway_ metric a running pathway serves.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/pathway.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string           `json:"uid"`
		Title  string           `json:"title"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("the dashboard has uid %q, title %q and %d panels, want all three", dash.UID, dash.Title, len(dash.Panels))
	}
	fams := servedFamilies(t)
	exposed := exposedNames(fams)
	shown := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				names, err := metricNames(grafanaVars.Replace(tg.Expr))
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				for _, n := range names {
					if !exposed[n] {
						t.Errorf("panel %q uses %s, which pathway does not serve", p.Title, n)
					}
					shown[n] = true
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, name := range sortedKeys(fams) {
		if !strings.HasPrefix(name, "pathway_") {
			continue
		}
		variants := []string{name, name + "_bucket", name + "_count", name + "_sum"}
		if !slices.ContainsFunc(variants, func(v string) bool { return shown[v] }) {
			t.Errorf("pathway serves %s, but no panel shows it", name)
		}
	}
}
