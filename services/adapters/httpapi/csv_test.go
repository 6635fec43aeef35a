package httpapi_test

import (
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// getCSV reads path as CSV with Accept: text/csv, and returns the status,
// the headers and the rows (header row first).
func getCSV(t *testing.T, base, path, key string, accept string) (int, http.Header, [][]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		return resp.StatusCode, resp.Header, nil
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("%s: not CSV: %v\n%s", path, err, body)
	}
	return resp.StatusCode, resp.Header, rows
}

// TestReadsExportAsCSV: a manager exports the waitlist and the caseloads
// as CSV: one row per person waiting or per worker, every field a column,
// the whole list without paging; a bad request still gets its problem.
func TestReadsExportAsCSV(t *testing.T) {
	t.Parallel()
	p := start(t)
	ops := p.key(keys.RoleOps, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	api := p.api()
	api.Worker(ops, "Alex Worker", 1)
	api.Refer(ref, "9000000009", "9000000017", "9000000025")
	var wl struct{ Entries []any }
	apitest.Eventually(t, "two people waiting", func() bool {
		p.do("GET", "/v1/waitlists/U12345", ops, nil, &wl)
		return len(wl.Entries) == 2
	}, func() any { return wl })

	code, hdr, rows := getCSV(t, p.base, "/v1/waitlists/U12345?limit=500", ops, "text/csv")
	if code != http.StatusOK || len(rows) != 3 {
		t.Fatalf("waitlist as CSV: %d, %d rows %v, want 200 with a header and 2 rows", code, len(rows), rows)
	}
	if d := hdr.Get("Content-Disposition"); !strings.Contains(d, `filename="waitlists-U12345.csv"`) {
		t.Errorf("Content-Disposition %q, want the file named after the waitlist", d)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, want := range []string{"queue", "as_of", "position", "id", "priority", "since", "summary.size", "waited.days"} {
		if _, ok := col[want]; !ok {
			t.Errorf("waitlist CSV columns %v lack %q", rows[0], want)
		}
	}
	if _, ok := col["limit"]; ok {
		t.Errorf("waitlist CSV columns %v include the paging", rows[0])
	}
	if rows[1][col["position"]] != "1" || rows[2][col["position"]] != "2" || rows[1][col["queue"]] != "U12345" {
		t.Errorf("waitlist rows %v, want positions 1 and 2 of U12345", rows[1:])
	}

	// ?format=csv serves a browser link; the caseloads are one row a worker.
	code, _, rows = getCSV(t, p.base, "/v1/caseloads?format=csv", ops, "")
	if code != http.StatusOK || len(rows) != 2 || !strings.Contains(strings.Join(rows[1], ","), "Alex Worker") {
		t.Errorf("caseloads as CSV: %d %v, want the one worker", code, rows)
	}
	// JSON stays the default; a problem stays a problem.
	if code, hdr, _ := getCSV(t, p.base, "/v1/caseloads", ops, "application/json, text/csv;q=0.5"); code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("JSON first in Accept: %d %s, want JSON", code, hdr.Get("Content-Type"))
	}
	if code, hdr, _ := getCSV(t, p.base, "/v1/waitlists?limit=0", ops, "text/csv"); code != http.StatusBadRequest || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
		t.Errorf("a bad limit as CSV: %d %s, want the 400 problem", code, hdr.Get("Content-Type"))
	}
}
