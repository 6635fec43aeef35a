package erasure

import (
	"context"
	"fmt"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Reapply destroys the data keys of every erasure recorded in the log on
// store: each erased referral's and its handoffs'. A log restored from a
// backup needs it: the copy of the keys may have been taken while an
// erasure was between its event and its keys, or an erasure may have been
// interrupted there before the backup; either way the log says the person
// was erased, and after Reapply no key of theirs is left. Keys already
// destroyed stay so. It returns how many erasures it found and how many
// keys it destroyed (or found destroyed). Errors: the log's and the key
// bucket's.
func Reapply(ctx context.Context, store *events.Store, keys Destroyer) (erasures, destroyed int, err error) {
	typ := events.TypeOf(&pathwayv1.ReferralErased{})
	opts := events.ReadOptions{Subject: events.TypeSubject(referral.AggregateType), Types: []string{typ}}
	for r, err := range store.ReadWith(ctx, opts) {
		if err != nil {
			return erasures, destroyed, fmt.Errorf("erasure: read the log: %w", err)
		}
		e, ok := r.Payload.(*pathwayv1.ReferralErased)
		if !ok {
			continue
		}
		erasures++
		for _, agg := range append([]events.Aggregate{r.Aggregate}, handoffAggs(e.GetHandoffIds())...) {
			if err := destroyKeys(ctx, store, keys, agg); err != nil {
				return erasures, destroyed, fmt.Errorf("erasure: destroy the keys of erased %s: %w", agg, err)
			}
			destroyed++
		}
	}
	return erasures, destroyed, nil
}
