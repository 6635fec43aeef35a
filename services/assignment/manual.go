package assignment

import (
	"context"
	"fmt"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// Assign gives a referral to a worker by hand, with a reason: an accepted
// or waitlisted referral is assigned; an assigned one is reassigned, its
// place on the old caseload freed in the same atomic command. The worker
// must have a place: capacity holds for staff too. Errors:
// events.ErrNotFound, referral.ErrConflict, worker.ErrConflict,
// referral.ErrInvalid.
func Assign(ctx context.Context, store *events.Store, refID, workerID, reason string, cmd events.Command, now time.Time) (uint64, error) {
	if reason == "" {
		return 0, referral.ErrInvalid.Errorf("a reason is required")
	}
	if errs := kernel.Prose("reason", reason); errs != nil {
		return 0, referral.ErrInvalid.WithFields(errs...)
	}
	return store.Execute(ctx, cmd, func(tx *events.Tx) error {
		ref, err := events.Load(tx, aggregate.Referral, refID)
		if err != nil {
			return err
		}
		if !ref.Exists() {
			return fmt.Errorf("referral %s: %w", refID, events.ErrNotFound)
		}
		to, err := events.Load(tx, aggregate.Worker, workerID)
		if err != nil {
			return err
		}
		if !to.Registered() {
			return referral.ErrInvalid.Errorf("no such link worker")
		}
		if ref.Worker() == workerID && ref.Status() == referral.StatusAssigned {
			return referral.ErrConflict.Errorf("the referral is already with this worker")
		}
		assignEvs, err := to.AssignCase(refID, now)
		if err != nil {
			return err
		}
		tx.Emit(aggregate.Worker.Aggregate(workerID), assignEvs...)
		var refEv proto.Message
		switch ref.Status() {
		case referral.StatusAccepted, referral.StatusWaitlisted:
			refEv = &pathwayv1.ReferralAssigned{WorkerId: workerID, Queue: to.PCN(), Manual: true, Reason: reason}
		case referral.StatusAssigned:
			from, err := events.Load(tx, aggregate.Worker, ref.Worker())
			if err != nil {
				return err
			}
			tx.Emit(aggregate.Worker.Aggregate(from.ID()), from.ReleaseCase(refID, "reassigned: "+reason)...)
			refEv = &pathwayv1.ReferralReassigned{FromWorkerId: ref.Worker(), ToWorkerId: workerID, Reason: reason}
		default:
			return referral.ErrConflict.Errorf("only an accepted, waitlisted or assigned referral can be assigned; this one is %s", ref.Status())
		}
		tx.Emit(aggregate.Referral.Aggregate(refID), refEv)
		return nil
	})
}
