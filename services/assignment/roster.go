package assignment

import (
	"context"
	"fmt"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"google.golang.org/protobuf/proto"
)

// Register adds link worker id to the roster. A retry with the command's
// idempotency key answers with the original sequence. Errors:
// worker.ErrInvalid (every invalid field, one a line), worker.ErrConflict
// when id is registered already, or a storage error.
func Register(ctx context.Context, store *events.Store, id string, reg *pathwayv1.WorkerRegistered, cmd events.Command) (uint64, error) {
	evs, err := worker.Register(reg)
	if err != nil {
		return 0, err
	}
	return events.Do(ctx, store, aggregate.Worker, id, cmd, func(w *worker.Worker) ([]proto.Message, error) {
		if w.Registered() {
			return nil, worker.ErrConflict.Errorf("link worker %s is registered already", id)
		}
		return evs, nil
	})
}

// WorkerChange is a change to a link worker: a new capacity, an absence
// (from, and until when known), a return, or deactivation, with a reason.
type WorkerChange struct {
	Capacity    *uint32
	AbsentFrom  *time.Time
	AbsentUntil *time.Time
	Returned    bool
	Deactivate  bool
	Reason      string
}

// Change applies a change to link worker id. Errors: events.ErrNotFound,
// worker.ErrInvalid, worker.ErrConflict, or a storage error.
func Change(ctx context.Context, store *events.Store, id string, c WorkerChange, cmd events.Command) (uint64, error) {
	return events.Do(ctx, store, aggregate.Worker, id, cmd, func(w *worker.Worker) ([]proto.Message, error) {
		if !w.Registered() {
			return nil, fmt.Errorf("link worker %s: %w", id, events.ErrNotFound)
		}
		if c.Deactivate {
			return w.Deactivate(c.Reason)
		}
		var evs []proto.Message
		add := func(ps []proto.Message, err error) error {
			evs = append(evs, ps...)
			return err
		}
		if c.Capacity != nil {
			if err := add(w.ChangeCapacity(*c.Capacity, c.Reason)); err != nil {
				return nil, err
			}
		}
		if c.AbsentFrom != nil {
			var until time.Time
			if c.AbsentUntil != nil {
				until = *c.AbsentUntil
			}
			if err := add(w.Absent(*c.AbsentFrom, until, c.Reason)); err != nil {
				return nil, err
			}
		}
		if c.Returned {
			if err := add(w.Return(c.Reason)); err != nil {
				return nil, err
			}
		}
		return evs, nil
	})
}
