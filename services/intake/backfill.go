package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// backfilledKey marks in PersonKeyBucket that every open episode of the
// log has been recorded on its person aggregates.
const backfilledKey = "person-episodes-backfilled"

// Backfill records on the person aggregates the open episodes of a log
// written before they existed, once per log: it reads the referral events,
// and for each referral still open and not yet recorded appends
// PersonEpisodeOpened to the person of its NHS number and to that of its
// name, date of birth and postcode (idempotently, so an interrupted
// backfill is simply run again).
// It returns at once on a log already backfilled, and on a new log it
// reads nothing. Run it before taking referrals.
func (s *Service) Backfill(ctx context.Context, js jetstream.JetStream, log *slog.Logger) error {
	kv, err := js.KeyValue(ctx, PersonKeyBucket)
	if err != nil {
		return fmt.Errorf("backfill person episodes: %w", err)
	}
	if _, err := kv.Get(ctx, backfilledKey); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("backfill person episodes: %w", err)
	}
	type open struct {
		status referral.Status
		person *pathwayv1.Person
	}
	refs := map[string]*open{}
	for rec, err := range s.store.ReadWith(ctx, events.ReadOptions{From: 1, Subject: events.TypeSubject(referral.AggregateType), Open: true}) {
		var de *events.DecodeError
		if errors.As(err, &de) {
			continue
		}
		if err != nil {
			return fmt.Errorf("backfill person episodes: %w", err)
		}
		o := refs[rec.Aggregate.ID]
		if o == nil {
			o = &open{}
			refs[rec.Aggregate.ID] = o
		}
		if e, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok {
			o.person = e.GetPerson()
		}
		o.status = referral.StatusAfter(o.status, rec.Payload)
	}
	n := 0
	for id, o := range refs {
		if !o.status.Active() || o.person == nil {
			continue
		}
		cmd := events.Command{Actor: &pathwayv1.Actor{Id: "intake", Role: pathwayv1.Role_ROLE_SYSTEM}, IdempotencyKey: "backfill\x00" + id}
		if _, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
			record := func(pid string) error {
				who, err := events.Load(tx, aggregate.Person, pid)
				if err != nil || slices.Contains(who.Referrals(), id) {
					return err // recorded already
				}
				tx.Emit(aggregate.Person.Aggregate(pid), &pathwayv1.PersonEpisodeOpened{ReferralId: id})
				return nil
			}
			if nhs := o.person.GetNhsNumber(); nhs != "" {
				if err := record(s.people.ByNHS(nhs)); err != nil {
					return err
				}
			}
			if mid := s.people.ByMatch(o.person.GetGivenName(), o.person.GetFamilyName(), o.person.GetDateOfBirth(), o.person.GetPostcode()); mid != "" {
				return record(mid)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("backfill person episodes: referral %s: %w", id, err)
		}
		n++
	}
	if _, err := kv.Put(ctx, backfilledKey, []byte("1")); err != nil {
		return fmt.Errorf("backfill person episodes: %w", err)
	}
	if n > 0 {
		log.Info("recorded open episodes on person aggregates", "episodes", n)
	}
	return nil
}
