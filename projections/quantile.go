package projections

import (
	"math"
	"slices"
	"time"
)

// Quantile returns the nearest-rank q-quantile (0 < q <= 1) of ds, which it
// sorts in place; 0 for none. Read models use it for the p50 and p90 of
// waits and response times.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
