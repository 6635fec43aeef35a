package assignment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/referral"
	"github.com/pathway-sp/pathway/services/worker"
	"google.golang.org/protobuf/proto"
)

// Assign gives a referral to a worker by hand, with a reason: an accepted
// or waitlisted referral is assigned; an assigned one is reassigned, its
// place on the old caseload freed in the same atomic command. The worker
// must have a place: capacity holds for staff too. Errors:
// events.ErrNotFound, referral.ErrConflict, worker.ErrConflict,
// referral.ErrInvalid.
func Assign(ctx context.Context, store *events.Store, refID, workerID, reason string, cmd intake.Command, now time.Time) (uint64, error) {
	if reason == "" {
		return 0, fmt.Errorf("%w: a reason is required", referral.ErrInvalid)
	}
	for attempt := 0; attempt < 5; attempt++ {
		ref, err := intake.Load(ctx, store, refID)
		if err != nil {
			return 0, err
		}
		to, err := LoadWorker(ctx, store, workerID)
		if errors.Is(err, events.ErrNotFound) {
			return 0, fmt.Errorf("%w: no such link worker", referral.ErrInvalid)
		}
		if err != nil {
			return 0, err
		}
		if ref.Worker() == workerID && ref.Status() == referral.StatusAssigned {
			return 0, fmt.Errorf("%w: the referral is already with this worker", referral.ErrConflict)
		}
		assignEvs, err := to.AssignCase(refID, now)
		if err != nil {
			return 0, err
		}
		changes := []events.Change{{Aggregate: workerAgg(workerID), Expected: to.Version(), Events: toCmdEvents(assignEvs, cmd)}}
		var refEv proto.Message
		switch ref.Status() {
		case referral.StatusAccepted, referral.StatusWaitlisted:
			refEv = &pathwayv1.ReferralAssigned{WorkerId: workerID, Queue: to.PCN(), Manual: true, Reason: reason}
		case referral.StatusAssigned:
			from, err := LoadWorker(ctx, store, ref.Worker())
			if err != nil {
				return 0, err
			}
			if rel := from.ReleaseCase(refID, "reassigned: "+reason); len(rel) > 0 {
				changes = append(changes, events.Change{Aggregate: workerAgg(from.ID()), Expected: from.Version(), Events: toCmdEvents(rel, cmd)})
			}
			refEv = &pathwayv1.ReferralReassigned{FromWorkerId: ref.Worker(), ToWorkerId: workerID, Reason: reason}
		default:
			return 0, fmt.Errorf("%w: only an accepted, waitlisted or assigned referral can be assigned; this one is %s", referral.ErrConflict, ref.Status())
		}
		changes = append(changes, events.Change{Aggregate: events.Aggregate{Type: referral.AggregateType, ID: refID}, Expected: ref.Version(),
			Events: toCmdEvents([]proto.Message{refEv}, cmd)})
		seq, err := store.AppendAll(ctx, changes...)
		if errors.Is(err, events.ErrConcurrency) {
			continue
		}
		return seq, err
	}
	return 0, fmt.Errorf("assign %s: %w", refID, events.ErrConcurrency)
}

func workerAgg(id string) events.Aggregate {
	return events.Aggregate{Type: worker.AggregateType, ID: id}
}

func toCmdEvents(ps []proto.Message, cmd intake.Command) []events.Event {
	out := make([]events.Event, len(ps))
	for i, p := range ps {
		out[i] = events.Event{Payload: p, Actor: cmd.Actor, CorrelationID: cmd.CorrelationID, IdempotencyKey: cmd.IdempotencyKey}
	}
	return out
}

// LoadWorker reads a link worker from the log. Errors: events.ErrNotFound.
func LoadWorker(ctx context.Context, store *events.Store, id string) (*worker.Worker, error) {
	recs, _, err := store.Load(ctx, workerAgg(id))
	if err != nil {
		return nil, err
	}
	w := worker.Replay(id, nil)
	for _, r := range recs {
		w.Apply(r.Sequence, r.Payload)
	}
	return w, nil
}
