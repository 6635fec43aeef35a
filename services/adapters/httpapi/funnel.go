package httpapi

import (
	"net/http"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/funnel"
)

// funnelStats handles GET /v1/stats/funnel.
func (a *api) funnelStats(w http.ResponseWriter, r *http.Request) {
	a.readView(w, r, a.reads.Funnel, func() projections.Projection { return funnel.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		return map[string]any{"sequence": seq, "as_of": now, "funnel": p.(*funnel.Funnel).Compute()}
	})
}
