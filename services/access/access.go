// Package access holds pathway's need-to-know rules: which referrals a
// key may reach. The HTTP API and the dashboard's link worker workspace
// both ask it, so the two never disagree.
package access

import (
	"context"
	"errors"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
)

// LinkWorkerReaches reports whether a link worker's key may reach ref:
// the referrals of the worker it acts for (those assigned to it,
// including those it discharged, until another worker takes them) and
// those waiting on its worker's PCN's waitlist; with the team scope,
// also those assigned to the PCN's other workers. A key without a worker
// reaches none. Its error is a read error of the worker aggregates. It is
// safe for concurrent use.
func LinkWorkerReaches(ctx context.Context, store *events.Store, key keys.Key, ref *referral.Referral) (bool, error) {
	if key.Worker == "" {
		return false, nil
	}
	if ref.Worker() == key.Worker {
		return true, nil
	}
	pcn, err := PCNOf(ctx, store, key.Worker)
	if err != nil || pcn == "" {
		return false, err
	}
	if ref.Queue() == pcn {
		return true, nil
	}
	if !key.Has(keys.ScopeTeam) || ref.Worker() == "" {
		return false, nil
	}
	theirs, err := PCNOf(ctx, store, ref.Worker())
	return theirs == pcn, err
}

// PCNOf is the PCN of the link worker with id; "" when there is none.
func PCNOf(ctx context.Context, store *events.Store, id string) (string, error) {
	wk, _, err := events.Get(ctx, store, aggregate.Worker, id)
	if errors.Is(err, events.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return wk.PCN(), nil
}
