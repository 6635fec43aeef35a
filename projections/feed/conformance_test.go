package feed_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/projections/feed"
)

// TestConformance runs the read-model conformance suite on the referrers'
// feed, comparing every organisation's pages and every referral.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New: func() projections.Projection { return feed.New() },
		View: func(p projections.Projection) any {
			v := p.(*feed.View)
			all := v.Page(feed.Query{Limit: 1 << 30})
			byOrg := map[string]feed.Page{}
			for _, r := range all.Referrals {
				if _, ok := byOrg[r.Organisation]; !ok {
					byOrg[r.Organisation] = v.Page(feed.Query{Organisation: r.Organisation, Limit: 1 << 30})
				}
			}
			return map[string]any{"all": all, "organisations": byOrg}
		},
	})
}
