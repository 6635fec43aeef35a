package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// reportRow is one row of GET /v1/reports/activity.
type reportRow struct {
	Measure         string   `json:"measure"`
	Breakdown       string   `json:"breakdown"`
	Category        string   `json:"category"`
	CategoryCode    string   `json:"category_code"`
	CategoryDisplay string   `json:"category_display"`
	Score           string   `json:"score"`
	Value           int      `json:"value"`
	MeanBaseline    *float64 `json:"mean_baseline"`
	MeanFollowUp    *float64 `json:"mean_follow_up"`
	MeanChange      *float64 `json:"mean_change"`
	CodeSystem      string   `json:"code_system"`
	Code            string   `json:"code"`
	Display         string   `json:"display"`
	Note            string   `json:"note"`
}

type report struct {
	Month    string      `json:"month"`
	TimeZone string      `json:"time_zone"`
	Sequence uint64      `json:"sequence"`
	Rows     []reportRow `json:"rows"`
}

func (r report) row(measure, breakdown, category string) (reportRow, bool) {
	for _, x := range r.Rows {
		if x.Measure == measure && x.Breakdown == breakdown && x.Category == category {
			return x, true
		}
	}
	return reportRow{}, false
}

// TestActivityReport: referrals with known sources, needs, ages, sex and
// ethnicity, one declined at triage (out of area), one discharged as
// declined by the person, and an ONS4 baseline and follow-up, give the
// month's counts and codes in JSON and in CSV; a bad month is 400 naming
// month; ops may read it, a referrer may not.
func TestActivityReport(t *testing.T) {
	t.Parallel()
	month := kernel.Month(time.Now())
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	admin := p.key(keys.RoleAdmin, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	worker := p.worker(ops, "Alex Link", 5)
	lw := p.linkWorkerKey(worker)

	send := func(nhs, source, practice, dob, sex, ethnicity string, needs ...string) string {
		t.Helper()
		body := exampleReferral()
		body["source"], body["gp_practice"], body["needs"] = source, practice, needs
		person := body["person"].(map[string]any)
		person["nhs_number"], person["date_of_birth"] = nhs, dob
		if sex != "" {
			person["sex"] = sex
		}
		if ethnicity != "" {
			person["ethnicity"] = ethnicity
		}
		var s submitted
		if code, _ := p.do("POST", "/v1/referrals", ref, body, &s); code != http.StatusCreated {
			t.Fatalf("referral %s: %d", nhs, code)
		}
		return s.ID
	}
	// Ages on any day of 2026-2027: 70 (65-74), 26 or 27 (25-34), 36 or 37 (35-44).
	measured := send("9434765919", "gp_practice", "A81001", "1956-03-14", "female", "A", "loneliness", "mental_health")
	declines := send("4010232137", "spoc", "A81001", "2000-01-01", "male", "N", "debt", "bereavement")
	outOfArea := send("9000000009", "gp_practice", "Y99999", "1990-01-01", "", "", "housing")

	status := func(id, want string) {
		t.Helper()
		var v view
		apitest.Eventually(t, id+" "+want, func() bool {
			p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
			return v.Status == want
		}, func() any { return v })
	}
	status(measured, "assigned")
	status(declines, "assigned")
	status(outOfArea, "declined")

	var res submitted
	for _, o := range []map[string]any{
		{"instrument": "ons4", "point": "baseline", "ons4": map[string]int{"life_satisfaction": 4, "worthwhile": 5, "happy_yesterday": 3, "anxious_yesterday": 8}},
		{"instrument": "ons4", "point": "follow_up", "ons4": map[string]int{"life_satisfaction": 7, "worthwhile": 6, "happy_yesterday": 6, "anxious_yesterday": 5}},
	} {
		if code, _ := p.do("POST", "/v1/referrals/"+measured+"/outcomes", lw, o, &res); code != http.StatusOK {
			t.Fatalf("ONS4 %s: %d", o["point"], code)
		}
	}
	if code, _ := p.do("POST", "/v1/referrals/"+declines+"/discharge", lw, map[string]string{"reason": "declined"}, &res); code != http.StatusOK {
		t.Fatalf("discharge as declined: %d", code)
	}
	if kernel.Month(time.Now()) != month {
		t.Skip("the UK month turned during the test")
	}

	var rep report
	path := fmt.Sprintf("/v1/reports/activity?month=%s&min_seq=%d", month, p.logLength())
	if code, _ := p.do("GET", path, ops, nil, &rep); code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, code)
	}
	if rep.Month != month || rep.TimeZone != "Europe/London" {
		t.Errorf("report of %s in %s, want %s in Europe/London", rep.Month, rep.TimeZone, month)
	}
	for _, tc := range []struct {
		measure, breakdown, category string
		want                         int
		code                         string
	}{
		{"referrals_received", "total", "all", 3, "871731000000106"},
		{"referrals_received", "source", "gp_practice", 2, "871731000000106"},
		{"referrals_received", "source", "spoc", 1, "871731000000106"},
		{"referrals_received", "need", "loneliness", 1, "871731000000106"},
		{"referrals_received", "need", "housing", 1, "871731000000106"},
		{"referrals_received", "age_band", "65-74", 1, "871731000000106"},
		{"referrals_received", "age_band", "25-34", 1, "871731000000106"},
		{"referrals_received", "age_band", "35-44", 1, "871731000000106"},
		{"referrals_received", "sex", "female", 1, "871731000000106"},
		{"referrals_received", "sex", "male", 1, "871731000000106"},
		{"referrals_received", "sex", "not_recorded", 1, "871731000000106"},
		{"referrals_received", "ethnicity", "A", 1, "871731000000106"},
		{"referrals_received", "ethnicity", "N", 1, "871731000000106"},
		{"referrals_received", "ethnicity", "not_recorded", 1, "871731000000106"},
		{"declined_by_person", "total", "all", 1, "871711000000103"},
		{"declined_by_person", "source", "spoc", 1, "871711000000103"},
		{"declined_by_person", "sex", "male", 1, "871711000000103"},
		{"declined_by_person", "ethnicity", "N", 1, "871711000000103"},
		{"declined_at_triage", "total", "all", 1, ""},
		{"declined_at_triage", "need", "housing", 1, ""},
		{"declined_at_triage", "age_band", "35-44", 1, ""},
		{"declined_at_triage", "sex", "not_recorded", 1, ""},
		{"outcome_change", "instrument", "ons4", 1, ""},
	} {
		r, ok := rep.row(tc.measure, tc.breakdown, tc.category)
		if !ok || r.Value != tc.want || r.Code != tc.code {
			t.Errorf("%s by %s, %s: got %d coded %q (row found: %v), want %d coded %q", tc.measure, tc.breakdown, tc.category, r.Value, r.Code, ok, tc.want, tc.code)
		}
	}
	if r, _ := rep.row("declined_at_triage", "total", "all"); !strings.Contains(r.Note, "no SNOMED CT code") {
		t.Errorf("declined at triage says %q, want why it has no code", r.Note)
	}
	if r, _ := rep.row("referrals_received", "sex", "female"); r.CategoryCode != "2" {
		t.Errorf("female is coded %q, want the Data Dictionary's 2", r.CategoryCode)
	}
	var ons4 []string
	for _, r := range rep.Rows {
		if r.Measure == "outcome_change" {
			ons4 = append(ons4, fmt.Sprintf("%s %s %v->%v %v", r.Category, r.Score, *r.MeanBaseline, *r.MeanFollowUp, *r.MeanChange))
		}
	}
	if got, want := strings.Join(ons4, "; "), "ons4 life_satisfaction 4->7 3; ons4 worthwhile 5->6 1; ons4 happy_yesterday 3->6 3; ons4 anxious_yesterday 8->5 -3"; got != want {
		t.Errorf("outcome change:\n got %s\nwant %s", got, want)
	}

	// The same as CSV: one row per JSON row, the month on each, the codes
	// in their column.
	code, hdr, rows := getCSV(t, p.base, path, ops, "text/csv")
	if code != http.StatusOK || len(rows) != len(rep.Rows)+1 {
		t.Fatalf("as CSV: %d, %d rows, want 200 and %d", code, len(rows), len(rep.Rows)+1)
	}
	if d := hdr.Get("Content-Disposition"); !strings.Contains(d, `filename="reports-activity.csv"`) {
		t.Errorf("Content-Disposition %q", d)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, c := range []string{"month", "time_zone", "from", "to", "as_of", "measure", "breakdown", "category", "category_code", "value", "mean_change", "code_system", "code", "display"} {
		if _, ok := col[c]; !ok {
			t.Errorf("CSV columns %v lack %s", rows[0], c)
		}
	}
	found := false
	for _, r := range rows[1:] {
		if r[col["month"]] != month {
			t.Errorf("a CSV row of month %q", r[col["month"]])
		}
		if r[col["measure"]] == "declined_by_person" && r[col["breakdown"]] == "total" {
			found = r[col["value"]] == "1" && r[col["code_system"]] == "http://snomed.info/sct" && r[col["code"]] == "871711000000103" && r[col["display"]] == "Social prescribing declined"
		}
	}
	if !found {
		t.Errorf("CSV has no declined_by_person total of 1 coded SNOMED CT 871711000000103:\n%v", rows)
	}

	// Another month is empty but valid; a bad month is 400 naming month.
	var empty report
	if code, _ := p.do("GET", "/v1/reports/activity?month=2099-01", admin, nil, &empty); code != http.StatusOK || empty.Month != "2099-01" || len(empty.Rows) != 0 || empty.Rows == nil {
		t.Errorf("a month in the future: %d %+v, want 200 with no rows", code, empty)
	}
	for _, bad := range []string{"?month=2026-13", "?month=2026-1", "?month=November", ""} {
		var prob problem
		if code, _ := p.do("GET", "/v1/reports/activity"+bad, ops, nil, &prob); code != http.StatusBadRequest || len(prob.Errors) != 1 || prob.Errors[0].Field != "month" {
			t.Errorf("GET /v1/reports/activity%s: %d %+v, want 400 naming month", bad, code, prob)
		}
	}
	if code, _ := p.do("GET", path, ref, nil, nil); code != http.StatusForbidden {
		t.Errorf("a referrer: %d, want 403", code)
	}
	if code, _ := p.do("GET", path, lw, nil, nil); code != http.StatusForbidden {
		t.Errorf("a link worker: %d, want 403", code)
	}
}

// TestSexAndEthnicityAtIntake: the new person fields are validated at the
// edge with the allowed values listed, shown back in the personal view,
// and not in the pseudonymised one.
func TestSexAndEthnicityAtIntake(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	ops := p.key(keys.RoleOps, "")
	body := exampleReferral()
	person := body["person"].(map[string]any)
	person["sex"], person["ethnicity"] = "woman", "W"
	var prob problem
	if code, _ := p.do("POST", "/v1/referrals", ref, body, &prob); code != http.StatusBadRequest || len(prob.Errors) != 2 {
		t.Fatalf("bad sex and ethnicity: %d %+v, want 400 with both fields", code, prob)
	}
	for i, want := range []struct{ field, lists string }{
		{"person.sex", "male, female, indeterminate, not_known"},
		{"person.ethnicity", "A, B, C, D, E, F, G, H, J, K, L, M, N, P, R, S, Z, 99"},
	} {
		if e := prob.Errors[i]; e.Field != want.field || !strings.Contains(e.Reason, want.lists) {
			t.Errorf("error %d: %+v, want %s listing %s", i, e, want.field, want.lists)
		}
	}
	person["sex"], person["ethnicity"] = "not_known", "99"
	var s submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, body, &s); code != http.StatusCreated {
		t.Fatalf("valid sex and ethnicity: %d", code)
	}
	var full struct {
		Referral struct {
			Person map[string]any `json:"person"`
		} `json:"referral"`
	}
	p.do("GET", "/v1/referrals/"+s.ID, ref, nil, &full)
	if full.Referral.Person["sex"] != "not_known" || full.Referral.Person["ethnicity"] != "99" {
		t.Errorf("the referrer reads the person as %v, want sex not_known and ethnicity 99", full.Referral.Person)
	}
	full.Referral.Person = nil
	p.do("GET", "/v1/referrals/"+s.ID, ops, nil, &full)
	if _, ok := full.Referral.Person["sex"]; ok || full.Referral.Person["ethnicity"] != nil {
		t.Errorf("the pseudonymised view shows %v, want no sex or ethnicity", full.Referral.Person)
	}
}

// TestDemandReport: a PCN with one link worker of one place takes three
// referrals (one on the caseload, two waiting), then a discharge frees
// the place and the next takes it: this week shows 3 in, 1 freed, a net
// change of 2, one waiting and one on the caseload, in JSON and CSV; a
// practice filter leaves the PCN's counts out; bad filters are 400
// naming each field; a referrer gets 403.
func TestDemandReport(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	worker := p.worker(ops, "Alex Link", 1)
	lw := p.linkWorkerKey(worker)
	week := demand.WeekOf(time.Now())
	ids := p.refer(ref, "9434765919", "4010232137", "9000000009")
	status := func(id, want string) {
		t.Helper()
		var v view
		apitest.Eventually(t, id+" "+want, func() bool {
			p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
			return v.Status == want
		}, func() any { return v })
	}
	status(ids[0], "assigned")
	status(ids[1], "waitlisted")
	status(ids[2], "waitlisted")
	var res submitted
	if code, _ := p.do("POST", "/v1/referrals/"+ids[0]+"/discharge", lw, map[string]string{"reason": "goals_met"}, &res); code != http.StatusOK {
		t.Fatalf("discharge: %d", code)
	}
	status(ids[1], "assigned")
	if demand.WeekOf(time.Now()) != week {
		t.Skip("the UK week turned during the test")
	}

	type row struct {
		PCN          string `json:"pcn"`
		WeekStarting string `json:"week_starting"`
		In           int    `json:"referrals_in"`
		Freed        int    `json:"places_freed"`
		LeftWaitlist int    `json:"left_waitlist"`
		Net          int    `json:"net_change"`
	}
	var rep struct {
		From, To string
		PCNs     []struct {
			PCN         string `json:"pcn"`
			Waiting     int    `json:"waiting_now"`
			OnCaseloads int    `json:"on_caseloads_now"`
			LinkWorkers int    `json:"link_workers"`
			NeededLow   int    `json:"link_workers_needed_low"`
			NeededHigh  int    `json:"link_workers_needed_high"`
		} `json:"pcns"`
		Rows      []row  `json:"rows"`
		HowNeeded string `json:"how_needed"`
	}
	path := fmt.Sprintf("/v1/reports/demand?pcn=U12345&min_seq=%d", p.logLength())
	if code, _ := p.do("GET", path, ops, nil, &rep); code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, code)
	}
	if len(rep.Rows) != demand.DefaultWeeks || len(rep.PCNs) != 1 {
		t.Fatalf("%d rows and %d PCNs, want %d weeks of one PCN: %+v", len(rep.Rows), len(rep.PCNs), demand.DefaultWeeks, rep)
	}
	if got, want := rep.Rows[len(rep.Rows)-1], (row{PCN: "U12345", WeekStarting: week, In: 3, Freed: 1, Net: 2}); got != want {
		t.Errorf("this week: got %+v, want %+v", got, want)
	}
	if s := rep.PCNs[0]; s.PCN != "U12345" || s.Waiting != 1 || s.OnCaseloads != 1 || s.LinkWorkers != 1 || s.NeededLow != 1 || s.NeededHigh != 1 {
		t.Errorf("the PCN now: %+v, want 1 waiting, 1 on a caseload, 1 link worker, 1 needed", s)
	}
	if !strings.Contains(rep.HowNeeded, "wait target") {
		t.Errorf("how_needed %q, want how the figure is computed", rep.HowNeeded)
	}

	// Another practice's referrals: none of these.
	if code, _ := p.do("GET", "/v1/reports/demand?pcn=U12345&practice=B82002", ops, nil, &rep); code != http.StatusOK || rep.Rows[len(rep.Rows)-1].In != 0 {
		t.Errorf("practice B82002: %d, this week %+v, want 200 and nothing in", code, rep.Rows[len(rep.Rows)-1])
	}

	// As CSV: the weekly rows.
	code, _, rows := getCSV(t, p.base, "/v1/reports/demand?pcn=U12345", ops, "text/csv")
	if code != http.StatusOK || len(rows) != demand.DefaultWeeks+1 {
		t.Fatalf("as CSV: %d, %d rows, want 200 and %d", code, len(rows), demand.DefaultWeeks+1)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	last := rows[len(rows)-1]
	if last[col["week_starting"]] != week || last[col["referrals_in"]] != "3" || last[col["places_freed"]] != "1" || last[col["net_change"]] != "2" {
		t.Errorf("CSV header %v, this week %v, want 3 in, 1 freed, net 2", rows[0], last)
	}

	for _, c := range []struct {
		query  string
		fields []string
	}{
		{"pcn=riverside", []string{"pcn"}},
		{"practice=a81001&from=2026-13-01", []string{"practice", "from"}},
		{"from=2026-11-30&to=2026-11-01", []string{"from"}},
		{"from=2020-01-01&to=2026-11-01", []string{"from"}},
	} {
		var pr problem
		code, _ := p.do("GET", "/v1/reports/demand?"+c.query, ops, nil, &pr)
		var got []string
		for _, e := range pr.Errors {
			got = append(got, e.Field)
		}
		if code != http.StatusBadRequest || strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Errorf("?%s: %d naming %v, want 400 naming %v", c.query, code, got, c.fields)
		}
	}
	if code, _ := p.do("GET", "/v1/reports/demand", ref, nil, nil); code != http.StatusForbidden {
		t.Errorf("a referrer: %d, want 403", code)
	}
}

// TestFunnelFilters: GET /v1/stats/funnel counts only the referrals of
// the PCN, the practice and the UK dates received asked for, in JSON and
// CSV; bad filters are 400 naming each field.
func TestFunnelFilters(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	p.worker(ops, "Alex Link", 5)
	today := time.Now().In(kernel.UKTime())
	ids := p.refer(ref, "9434765919", "4010232137")
	for _, id := range ids {
		var v view
		apitest.Eventually(t, id+" assigned", func() bool {
			p.do("GET", "/v1/referrals/"+id, ops, nil, &v)
			return v.Status == "assigned"
		}, func() any { return v })
	}
	if time.Now().In(kernel.UKTime()).Format("2006-01-02") != today.Format("2006-01-02") {
		t.Skip("the UK day turned during the test")
	}
	for _, c := range []struct {
		query string
		want  int
	}{
		{"", 2}, {"pcn=U12345", 2}, {"pcn=U54321", 0}, {"practice=A81001", 2}, {"practice=B82002", 0},
		{"from=" + today.Format("2006-01-02") + "&to=" + today.Format("2006-01-02"), 2},
		{"from=" + today.AddDate(0, 0, 1).Format("2006-01-02"), 0},
		{"to=" + today.AddDate(0, 0, -1).Format("2006-01-02"), 0},
	} {
		var fs struct {
			Funnel struct {
				Total int `json:"total"`
			} `json:"funnel"`
		}
		if code, _ := p.do("GET", "/v1/stats/funnel?"+c.query, ops, nil, &fs); code != http.StatusOK || fs.Funnel.Total != c.want {
			t.Errorf("?%s: %d, %d referrals, want 200 and %d", c.query, code, fs.Funnel.Total, c.want)
		}
	}
	code, _, rows := getCSV(t, p.base, "/v1/stats/funnel?practice=B82002", ops, "text/csv")
	if code != http.StatusOK || len(rows) != 2 {
		t.Fatalf("as CSV: %d, %d rows, want 200 and a header and one row", code, len(rows))
	}
	col := slices.Index(rows[0], "funnel.total")
	if col < 0 || rows[1][col] != "0" || !slices.Contains(rows[0], "filter.practice") {
		t.Errorf("the CSV %v, want funnel.total 0 and the filter's practice", rows)
	}
	for _, c := range []struct {
		query  string
		fields []string
	}{
		{"pcn=riverside&practice=A8", []string{"pcn", "practice"}},
		{"from=29/11/2026", []string{"from"}},
		{"from=2026-11-30&to=2026-11-01", []string{"from"}},
	} {
		var pr problem
		code, _ := p.do("GET", "/v1/stats/funnel?"+c.query, ops, nil, &pr)
		var got []string
		for _, e := range pr.Errors {
			got = append(got, e.Field)
		}
		if code != http.StatusBadRequest || strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Errorf("?%s: %d naming %v, want 400 naming %v", c.query, code, got, c.fields)
		}
	}
}
