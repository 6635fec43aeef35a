package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// ReferralsOfNHSNumber returns the referrals that opened an episode for
// the person with NHS number nhs, oldest first: the person aggregate that
// guards one open episode per person, whose id is a keyed hash of the
// number (person.Keyer.ByNHS). It is the index a search by NHS number
// uses, so no read model holds the number, even hashed. A claim whose
// referral never reached the log is listed too: callers keep only the
// referrals they find. An invalid number has none. Errors: a storage
// error.
func (s *Service) ReferralsOfNHSNumber(ctx context.Context, nhs string) ([]string, error) {
	nhs = referral.NormaliseNHSNumber(nhs)
	if !referral.ValidNHSNumber(nhs) {
		return nil, nil
	}
	p, _, err := events.Get(ctx, s.store, aggregate.Person, s.people.ByNHS(nhs))
	if errors.Is(err, events.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("referrals of an NHS number: %w", err)
	}
	return p.Referrals(), nil
}
