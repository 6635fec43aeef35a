package httpapi

import (
	"context"
	"errors"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
)

// Need-to-know: which referrals a key reaches. The route table says what
// a role may do; these rules say to which referrals. A referral a key may
// not reach answers exactly as a missing one (404), so its existence does
// not leak.
//
//   - A referrer reaches the referrals its own organisation made.
//   - A link worker's key reaches the referrals of the worker it acts for
//     (those assigned to it, including those it discharged, until another
//     worker takes them) and those waiting on its PCN's waitlist; with the
//     team scope, every referral of its PCN: also those assigned to the
//     PCN's other workers. A key without a worker (made before keys named
//     workers) reaches none.
//   - Other staff reach every referral.

// visible reports whether key may reach ref. Its error is a read error.
func (a *api) visible(ctx context.Context, key keys.Key, ref *referral.Referral) (bool, error) {
	switch key.Role {
	case keys.RoleReferrer:
		return ref.Received().GetReferrer().GetOrganisation() == key.Organisation, nil
	case keys.RoleLinkWorker:
		return a.linkWorkerReaches(ctx, key, ref)
	}
	return true, nil
}

// linkWorkerReaches reports whether a link worker's key may reach ref.
func (a *api) linkWorkerReaches(ctx context.Context, key keys.Key, ref *referral.Referral) (bool, error) {
	if key.Worker == "" {
		return false, nil
	}
	if ref.Worker() == key.Worker {
		return true, nil
	}
	pcn, err := a.pcnOf(ctx, key.Worker)
	if err != nil || pcn == "" {
		return false, err
	}
	if ref.Queue() == pcn {
		return true, nil
	}
	if !key.Has(keys.ScopeTeam) || ref.Worker() == "" {
		return false, nil
	}
	theirs, err := a.pcnOf(ctx, ref.Worker())
	return theirs == pcn, err
}

// pcnOf is the PCN of the link worker with id; "" when there is none.
func (a *api) pcnOf(ctx context.Context, id string) (string, error) {
	wk, _, err := events.Get(ctx, a.store, aggregate.Worker, id)
	if errors.Is(err, events.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return wk.PCN(), nil
}
