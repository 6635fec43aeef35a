package oruk_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
)

// BenchmarkServicesPage reads GET /oruk/services pages from a directory of
// 500 services (copies of the standard's full service, each with its
// schedules, languages, contacts, location): the read model's search and
// the partners' stats, then each service of the page loaded whole from the
// log (warm: loaded once before) and written as HSDS. Figures in
// docs/PERFORMANCE.md.
func BenchmarkServicesPage(b *testing.B) {
	s := start(b)
	var recs []any
	for i := range 500 {
		recs = append(recs, record(b, func(m map[string]any) {
			m["id"] = fmt.Sprintf("%08d-d857-441c-9679-408f346de14b", i)
			m["name"] = fmt.Sprintf("Service %03d", i)
		}))
	}
	if rep := s.importJSON(encode(b, recs)); rep.Created != 500 {
		b.Fatalf("import: %d created", rep.Created)
	}
	for _, per := range []int{10, 50, 200} {
		b.Run(fmt.Sprintf("per_page=%d", per), func(b *testing.B) {
			path := fmt.Sprintf("/oruk/services?per_page=%d", per)
			s.with(b).ok(path, oruktest.ServiceList, true) // warm, and valid
			for b.Loop() {
				status, _ := s.with(b).get(path)
				if status != http.StatusOK {
					b.Fatalf("status %d", status)
				}
			}
		})
	}
}
