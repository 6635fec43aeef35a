package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// Command is the metadata of one command: who asked for it, its
// idempotency key, and the request and cause it belongs to. Every event
// the command appends carries it.
type Command struct {
	// Actor is who asked.
	Actor *pathwayv1.Actor
	// IdempotencyKey identifies the command: a command run again with the
	// same key appends nothing and answers with the original sequence,
	// however late it comes. Empty: no such protection.
	IdempotencyKey string
	// CorrelationID ties the events to the request (X-Request-ID).
	CorrelationID string
	// CausationID names the event or command that caused this one.
	CausationID string
}

// Events turns payloads into the events of the command.
func (c Command) Events(payloads ...proto.Message) []Event {
	out := make([]Event, len(payloads))
	for i, p := range payloads {
		out[i] = Event{Payload: p, Actor: c.Actor, CorrelationID: c.CorrelationID, CausationID: c.CausationID, IdempotencyKey: c.IdempotencyKey}
	}
	return out
}

// Kind tells the command mechanism how to build the state of one type of
// aggregate from its events.
type Kind[S any] struct {
	// Type is the aggregate type, e.g. "referral".
	Type string
	// New returns the state of an aggregate that has no events yet.
	New func(id string) S
	// Apply applies one event to the state, in log order.
	Apply func(state S, rec Record)
	// Clone, when set, copies a state so that applying events to the copy
	// leaves the original as it was. The store then keeps the states of
	// this kind between loads (a snapshot in memory) and applies only the
	// events since: for aggregates with long histories, such as a link
	// worker's caseload.
	Clone func(S) S
}

// Aggregate names the aggregate of this kind with id.
func (k Kind[S]) Aggregate(id string) Aggregate { return Aggregate{Type: k.Type, ID: id} }

// Get loads the aggregate of kind k with id and returns its state and
// version. Errors: ErrNotFound when it has no events, and those of
// Store.Load.
func Get[S any](ctx context.Context, s *Store, k Kind[S], id string) (S, uint64, error) {
	var zero S
	agg := k.Aggregate(id)
	if err := agg.Validate(); err != nil {
		return zero, 0, err
	}
	st, version, _, err := loadState(ctx, s, k, id, "")
	if err != nil {
		return zero, 0, fmt.Errorf("load %s: %w", agg, err)
	}
	if version == 0 {
		return zero, 0, fmt.Errorf("load %s: %w", agg, ErrNotFound)
	}
	return st, version, nil
}

func (k Kind[S]) fold(id string, recs []Record) S {
	st := k.New(id)
	for _, r := range recs {
		k.Apply(st, r)
	}
	return st
}

// Do runs a command on one aggregate: it loads the aggregate of kind k,
// asks decide for the events, and appends them at the version it loaded,
// deciding again from the new state when another writer came in between.
// decide sees the state of an aggregate with no events when there is none
// (a create). It returns the sequence of the last event appended; when
// decide returns no events, the version it decided from.
//
// A command whose idempotency key the aggregate already carries is not
// decided again: Do returns the sequence of the original. Errors: decide's
// error as it is, ErrConcurrency when contention outlasts the retries, and
// those of Store.Load and Store.Append.
func Do[S any](ctx context.Context, s *Store, k Kind[S], id string, cmd Command, decide func(S) ([]proto.Message, error)) (uint64, error) {
	return s.Execute(ctx, cmd, func(tx *Tx) error {
		st, err := Load(tx, k, id)
		if err != nil {
			return err
		}
		evs, err := decide(st)
		if err != nil {
			return err
		}
		tx.Emit(k.Aggregate(id), evs...)
		return nil
	})
}

// Tx is one attempt at a command: the aggregates it loaded with their
// versions, and the events it decided for them. Execute creates it; it is
// not safe for concurrent use.
type Tx struct {
	ctx     context.Context
	store   *Store
	keyHash string
	read    map[Aggregate]uint64
	emitted map[Aggregate][]proto.Message
	order   []Aggregate // in the order of their first Emit
	// anyVersion are the aggregates emitted to with EmitAnyVersion.
	anyVersion []Aggregate
	// lost: an earlier attempt's append got no answer from the log.
	lost bool
	// inTurn: the changes are appended one by one, not as one batch.
	inTurn bool
	err    error
}

// InTurn has the command's changes appended one after the other, each on
// its own at its version, in the order of their first Emit, instead of as
// one atomic batch: a single append costs the log far less than a batch
// (see docs/PERFORMANCE.md). The command must then be safe when only its
// first changes made it: a later attempt finds them carrying its key (Load
// returns the state with a *Retry) and must go on with the rest. Intake's
// create is such a command: the person's claim first, the referral last.
func (tx *Tx) InTurn() { tx.inTurn = true }

// Context is the command's context, for what a decide function asks
// besides Load (a view, say).
func (tx *Tx) Context() context.Context { return tx.ctx }

// MayHaveAppended reports whether an earlier attempt of this command sent
// its append and got no answer (the log was electing a leader): what this
// attempt finds of the command in the log (a *Retry, an aggregate already
// created) may then be its own doing rather than an earlier command's.
func (tx *Tx) MayHaveAppended() bool { return tx.lost }

// Retry is the error Load returns when the aggregate already carries the
// command's idempotency key: the command was carried out before, and
// Execute answers with the original sequence. A decide function that must
// tell a retry apart (to answer as the original did) can look for it with
// errors.As.
type Retry struct {
	// Sequence is the aggregate's last event of the original command.
	Sequence uint64
	// Type is that event's type.
	Type string
}

func (r *Retry) Error() string {
	return fmt.Sprintf("command already appended at sequence %d", r.Sequence)
}

// Load loads the aggregate of kind k with id within the command, and
// returns its state (that of an aggregate with no events when it has
// none). The command's events to it are appended at the version loaded.
// When the aggregate already carries the command's idempotency key, Load
// returns the state as it is now with a *Retry error, which the decide
// function must return as it is (or wrapped): Execute then answers with
// the original sequence. Errors: those of Store.Load but ErrNotFound.
func Load[S any](tx *Tx, k Kind[S], id string) (S, error) {
	var zero S
	agg := k.Aggregate(id)
	if err := agg.Validate(); err != nil {
		return zero, err
	}
	st, version, retry, err := loadState(tx.ctx, tx.store, k, id, tx.keyHash)
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", agg, err)
	}
	if retry != nil {
		return st, retry
	}
	if prev, ok := tx.read[agg]; !ok {
		tx.read[agg] = version
	} else if prev != version {
		// Loaded twice in one attempt and it moved: decide again.
		tx.err = ErrConcurrency
	}
	return st, nil
}

// Emit records events for an aggregate loaded in this command (with Load),
// to be appended at the version loaded. The command's events are appended
// in the order of the aggregates' first Emit. Emitting to an aggregate
// that was not loaded makes the command fail with ErrInvalid.
func (tx *Tx) Emit(agg Aggregate, payloads ...proto.Message) {
	if len(payloads) == 0 {
		return
	}
	if _, ok := tx.read[agg]; !ok {
		tx.err = invalidf("command emits to %s without loading it", agg)
		return
	}
	if _, ok := tx.emitted[agg]; !ok {
		tx.order = append(tx.order, agg)
	}
	tx.emitted[agg] = append(tx.emitted[agg], payloads...)
}

// EmitAnyVersion records events for an aggregate whatever its version
// (AnyVersion): for facts that hold whatever the aggregate's state, such
// as a hint others may read, where a version check would only make
// unrelated commands contend. The aggregate need not be loaded.
func (tx *Tx) EmitAnyVersion(agg Aggregate, payloads ...proto.Message) {
	if len(payloads) == 0 {
		return
	}
	if _, ok := tx.read[agg]; ok {
		tx.err = invalidf("command emits to %s both at its version and at any version", agg)
		return
	}
	if _, ok := tx.emitted[agg]; !ok {
		tx.order = append(tx.order, agg)
		tx.anyVersion = append(tx.anyVersion, agg)
	}
	tx.emitted[agg] = append(tx.emitted[agg], payloads...)
}

// commandAttempts bounds how often Execute decides again after a conflict.
const commandAttempts = 10

// Execute runs a command that may span aggregates. decide loads what it
// needs with Load and records events with Emit; Execute then appends them
// all or none, each aggregate at the version it was loaded at, and runs
// decide again from the new state when any of them moved. It returns the
// sequence of the last event appended (when decide emits nothing, the
// highest version it loaded).
//
// With an idempotency key, a command that any aggregate it loads already
// carries is not carried out again: Execute answers with the original
// sequence, however long ago it was appended. A command without one gets
// a key of its own, so Execute's own retries after an append whose answer
// was lost never append twice. While the log is electing a leader
// (ErrUnavailable) it waits and tries again, up to about five seconds.
// Errors: decide's error as it is, ErrConcurrency when contention outlasts
// the retries, ErrUnavailable when the log did not answer in time, and
// those of Store.Load and Store.AppendAll.
func (s *Store) Execute(ctx context.Context, cmd Command, decide func(tx *Tx) error) (uint64, error) {
	if cmd.IdempotencyKey == "" {
		// A key of its own, so that trying again after an append whose
		// answer was lost (an election) finds the append instead of
		// making it twice.
		id, err := s.newID()
		if err != nil {
			return 0, err
		}
		cmd.IdempotencyKey = "command\x00" + id.String()
	}
	keyHash := hashKey(cmd.IdempotencyKey)
	unavailable, lost := 0, false
	for attempt := 0; attempt < commandAttempts; attempt++ {
		if unavailable > 0 {
			// The log is electing a leader: give it time, but not much
			// more than it takes (the write stall on a leader loss).
			d := min(50*time.Millisecond<<min(unavailable, 5), 250*time.Millisecond)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(d):
			}
		} else if attempt > 1 {
			// Spread out writers that keep colliding.
			d := time.Duration(rand.IntN(1<<min(attempt, 6))) * time.Millisecond
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(d):
			}
		}
		tx := &Tx{ctx: ctx, store: s, keyHash: keyHash, read: map[Aggregate]uint64{}, emitted: map[Aggregate][]proto.Message{}, lost: lost}
		err := decide(tx)
		var r *Retry
		if errors.As(err, &r) {
			return r.Sequence, nil
		}
		if err == nil {
			err = tx.err
		}
		if errors.Is(err, ErrConcurrency) {
			continue
		}
		if errors.Is(err, ErrUnavailable) {
			unavailable++
			continue
		}
		if err != nil {
			return 0, err
		}
		if len(tx.order) == 0 {
			var highest uint64
			for _, v := range tx.read {
				highest = max(highest, v)
			}
			return highest, nil
		}
		changes := make([]Change, len(tx.order))
		for i, agg := range tx.order {
			expected := tx.read[agg]
			if slices.Contains(tx.anyVersion, agg) {
				expected = AnyVersion
			}
			changes[i] = Change{Aggregate: agg, Expected: expected, Events: cmd.Events(tx.emitted[agg]...)}
		}
		var seq uint64
		switch {
		case len(changes) == 1:
			seq, err = s.Append(ctx, changes[0].Aggregate, changes[0].Expected, changes[0].Events...)
		case tx.inTurn:
			for _, c := range changes {
				if c.Expected == AnyVersion {
					seq, err = s.appendUnchecked(ctx, c.Aggregate, c.Events)
				} else {
					seq, err = s.Append(ctx, c.Aggregate, c.Expected, c.Events...)
				}
				if err != nil {
					break
				}
			}
		default:
			seq, err = s.AppendAll(ctx, changes...)
		}
		if errors.Is(err, ErrConcurrency) {
			continue
		}
		if errors.Is(err, ErrUnavailable) {
			unavailable++
			lost = true
			continue
		}
		return seq, err
	}
	if unavailable > 0 {
		return 0, fmt.Errorf("command: %w: the log did not answer in time, try again", ErrUnavailable)
	}
	return 0, fmt.Errorf("command: %w: the aggregates kept changing, try again", ErrConcurrency)
}
