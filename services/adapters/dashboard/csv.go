package dashboard

import (
	"bytes"
	"encoding/csv"
	"log/slog"
	"net/http"
	"strings"
)

// writeCSV answers a page's table as CSV (RFC 4180, a header row first),
// named for the page. The dashboard serves its own CSV rather than
// linking to the API's (which answers CSV on every read): the API takes
// bearer keys only, and a browser signed in to the dashboard holds a
// session cookie, not a key. A cell that a spreadsheet would run as a
// formula (=, +, -, @) is prefixed with an apostrophe.
func writeCSV(w http.ResponseWriter, log *slog.Logger, name string, rows [][]string) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	for _, row := range rows {
		safe := make([]string, len(row))
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				c = "'" + c
			}
			safe[i] = c
		}
		if err := cw.Write(safe); err != nil {
			log.Error("dashboard csv", "page", name, "err", err)
			http.Error(w, "cannot write this table", http.StatusInternalServerError)
			return
		}
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
