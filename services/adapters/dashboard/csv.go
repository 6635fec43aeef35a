package dashboard

import (
	"bytes"
	"encoding/csv"
	"log/slog"
	"net/http"

	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// writeCSV answers a page's table as CSV (RFC 4180, a header row first),
// named for the page. The dashboard serves its own CSV rather than
// linking to the API's (which answers CSV on every read): the API takes
// bearer keys only, and a browser signed in to the dashboard holds a
// session cookie, not a key. Cells go through edge.CSVCell, so that a
// spreadsheet runs none as a formula.
func writeCSV(w http.ResponseWriter, log *slog.Logger, name string, rows [][]string) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	for _, row := range rows {
		safe := make([]string, len(row))
		for i, c := range row {
			safe[i] = edge.CSVCell(c)
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
