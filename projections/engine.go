// Package projections builds read models from the event log. An Engine
// runs one projection: it applies the log's events in order, stores a
// checkpoint (the state and the last applied sequence) so a restart
// resumes instead of replaying everything, answers read-your-writes waits
// (WaitFor, behind ?min_seq=N), and can rebuild from sequence 1 or replay
// a fresh copy up to a sequence (AsOf, behind ?as_of_seq=N). A rebuild
// gives exactly the state incremental application gives, provided the
// projection's Apply is deterministic (it must use the event's recorded
// time, never the clock).
package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
)

// Projection is a read model. Its methods are called by one engine, never
// concurrently with each other; readers go through Engine.Read.
type Projection interface {
	// Name identifies the projection and its checkpoint, e.g. "waitlists".
	Name() string
	// Subject filters the events it needs, e.g. events.AllSubjects.
	Subject() string
	// Apply applies one event. It must be deterministic.
	Apply(rec events.Record) error
	// Snapshot encodes the state for a checkpoint; Restore decodes it into
	// a reset projection.
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
	// Reset empties the state.
	Reset()
}

// Versioned is implemented by a projection whose state's meaning has
// changed since its first release: Version is raised whenever a change of
// its code makes a checkpoint written before wrong (a new field filled
// from events, another rule, another day boundary). The engine writes
// the version into each checkpoint, and a checkpoint of another version
// (one written before Version existed counts as 0) is set aside: the
// projection replays the log, as `pathway rebuild` would.
type Versioned interface {
	Version() int
}

// versionOf is p's Version, 0 when it has none.
func versionOf(p Projection) uint32 {
	if v, ok := p.(Versioned); ok {
		return uint32(v.Version())
	}
	return 0
}

// checkpointMagic opens a checkpoint that carries its projection's
// version (then the version, 4 bytes, and the sequence, 8). A checkpoint
// without it opens with the sequence, which is never this large.
const checkpointMagic uint64 = 0xFFFF_FFFF_FFFF_FF01

func writeCheckpointHeader(buf *bytes.Buffer, version uint32, seq uint64) {
	_ = binary.Write(buf, binary.BigEndian, checkpointMagic)
	_ = binary.Write(buf, binary.BigEndian, version)
	_ = binary.Write(buf, binary.BigEndian, seq)
}

// EncodeCheckpoint returns a checkpoint of a projection of version at
// sequence seq whose Snapshot wrote state.
func EncodeCheckpoint(version uint32, seq uint64, state []byte) []byte {
	var buf bytes.Buffer
	writeCheckpointHeader(&buf, version, seq)
	buf.Write(state)
	return buf.Bytes()
}

// DecodeCheckpoint splits a checkpoint into the version of its projection
// (0 for one written before versions), the sequence it reflects the log
// up to, and the state its Snapshot wrote.
func DecodeCheckpoint(data []byte) (version uint32, seq uint64, state []byte, err error) {
	if len(data) < 8 {
		return 0, 0, nil, errors.New("checkpoint too short")
	}
	if seq = binary.BigEndian.Uint64(data); seq != checkpointMagic {
		return 0, seq, data[8:], nil
	}
	if len(data) < 20 {
		return 0, 0, nil, errors.New("checkpoint too short")
	}
	return binary.BigEndian.Uint32(data[8:]), binary.BigEndian.Uint64(data[12:]), data[20:], nil
}

// Typed is implemented by a projection whose Apply uses only some event
// types (full protobuf names, see events.TypesOf) and ignores every other.
// A replay (Replay, Rebuild) then decodes only those types and
// applies only them, which gives the same state faster: the type is in
// each message's header, so the others are skipped undecoded.
type Typed interface {
	EventTypes() []string
}

// Personal is implemented by a projection that reads the sealed (personal)
// fields of events: the engine gives it events with them opened, which
// needs the log's data keys and costs a decryption per event. Every other
// projection sees only the fields kept in clear, so its state, and its
// checkpoints on disk, cannot hold personal data. A projection that is
// Personal must keep no more of them than it shows (initials, say), and
// drop them when a referral is erased (pathway.v1.ReferralErased).
type Personal interface {
	Personal() bool
}

// opens reports whether p reads sealed fields.
func opens(p Projection) bool {
	o, ok := p.(Personal)
	return ok && o.Personal()
}

// CheckpointBucket is the JetStream object store bucket of checkpoints.
const CheckpointBucket = "PATHWAY_CHECKPOINTS"

// ErrTimeout reports that a projection did not reach a sequence in time.
var ErrTimeout = errors.New("projections: not caught up in time")

// checkpointBudget bounds the time an engine spends writing checkpoints:
// after a checkpoint that took d, the next comes no sooner than
// checkpointBudget×d later (at most 1% of its time).
const checkpointBudget = 100

// Options configure an Engine.
type Options struct {
	// CheckpointEvery is how many applied events trigger a checkpoint;
	// default 10,000. A checkpoint is also written when the engine stops
	// and after CheckpointInterval of activity. Either way, a checkpoint
	// comes no sooner after the last than checkpointBudget times what the
	// last one took: a checkpoint writes the whole state, so on a large
	// one (a view of a long log) checkpoints come less often instead of
	// taking the engine's time and the process's CPU from the events.
	CheckpointEvery int
	// CheckpointInterval bounds the time between checkpoints while events
	// arrive; default 30s.
	CheckpointInterval time.Duration
	// Logger gets sequences and errors, never payloads; nil discards.
	Logger *slog.Logger
}

// Engine runs one projection. Read, WaitFor and Applied are safe for
// concurrent use with Run.
type Engine struct {
	store *events.Store
	obj   jetstream.ObjectStore
	p     Projection
	opts  Options
	log   *slog.Logger

	mu      sync.RWMutex
	applied uint64
	changed chan struct{}
	live    bool // caught up with the log once, now following it
	// running is closed when live first turns true.
	running chan struct{}
}

// OpenCheckpoints opens (creating when missing) the checkpoint bucket.
func OpenCheckpoints(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.ObjectStore, error) {
	obj, err := js.ObjectStore(ctx, CheckpointBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obj, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      CheckpointBucket,
			Description: "pathway projection checkpoints",
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoints: %w", err)
	}
	return obj, nil
}

// NewEngine returns an engine for p; obj holds its checkpoints (nil: no
// checkpoints, every start replays).
func NewEngine(store *events.Store, obj jetstream.ObjectStore, p Projection, opts Options) *Engine {
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = 10_000
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{store: store, obj: obj, p: p, opts: opts, log: log.With("projection", p.Name()), changed: make(chan struct{}), running: make(chan struct{})}
}

// RunTicking runs the engine as Run does and calls tick every d, the
// first time at once, until ctx ends: for a service that decides from the
// view on a clock (the alerts, the retention sweep), whose tick waits for
// the view itself. A tick's error is handed to failed (logged, say) and the
// next tick comes as planned. It returns Run's error, nil when ctx ends.
func (e *Engine) RunTicking(ctx context.Context, d time.Duration, tick func(ctx context.Context) error, failed func(error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case err := <-done:
			return err
		case <-t.C:
			if err := tick(ctx); err != nil && ctx.Err() == nil {
				failed(err)
			}
			t.Reset(d)
		}
	}
}

// Run restores the last checkpoint, then applies the log from there on,
// live, until ctx ends (it then returns nil); it writes a checkpoint on
// the way out. It rides out a read or subscription that fails, resuming
// after what it applied. It returns an error when the checkpoint cannot be
// read (a transient failure: run it again) and, wrapping
// events.ErrBroken, when the projection fails to apply an event (running
// it again would fail on the same event).
func (e *Engine) Run(ctx context.Context) error {
	if err := e.restore(ctx); err != nil {
		return err
	}
	sinceCheckpoint := 0
	lastCheckpoint := time.Now()
	var lastCost time.Duration // what the last checkpoint took
	defer func() {
		if sinceCheckpoint > 0 {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.checkpoint(sctx); err != nil {
				e.log.Warn("final checkpoint failed", "err", err)
			}
		}
	}()
	// handle applies one record; false ends the pass (the read or the
	// subscription failed; the next pass resumes after the last applied).
	handle := func(rec events.Record, err error, what string) (bool, error) {
		if err != nil {
			var de *events.DecodeError
			if !errors.As(err, &de) {
				if ctx.Err() == nil {
					e.log.Warn(what+" ended, resuming", "err", err)
				}
				return false, nil
			}
			e.log.Error("skipped an undecodable event", "seq", de.Sequence, "err", err)
		}
		if err := e.apply(rec); err != nil {
			return false, err
		}
		sinceCheckpoint++
		since := time.Since(lastCheckpoint)
		if (sinceCheckpoint >= e.opts.CheckpointEvery || since >= e.opts.CheckpointInterval) && since >= checkpointBudget*lastCost {
			start := time.Now()
			if err := e.checkpoint(ctx); err != nil {
				e.log.Warn("checkpoint failed", "err", err)
			} else {
				sinceCheckpoint, lastCheckpoint, lastCost = 0, time.Now(), time.Since(start)
			}
		}
		return true, nil
	}
	for ctx.Err() == nil {
		// Catch up with a read, as a rebuild does (several times faster
		// than a consumer filtered on a wildcard, and it skips the types a
		// Typed projection does not use), then follow the log live.
		end, err := e.store.LastSequence(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("catch-up read: the log's end unknown, resuming", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		opts := events.ReadOptions{From: e.Applied() + 1, To: end, Subject: e.p.Subject(), Open: opens(e.p)}
		if t, ok := e.p.(Typed); ok {
			opts.Types = t.EventTypes()
		}
		live := true
		for rec, err := range e.store.ReadWith(ctx, opts) {
			ok, err := handle(rec, err, "catch-up read")
			if err != nil {
				return err
			}
			if !ok {
				live = false
				break
			}
		}
		// Read through end: a projection whose subject had nothing more
		// reflects the log up to end, so its next start reads from there,
		// not from its last event (which may be the start of the log).
		if live && ctx.Err() == nil && e.advance(end) {
			sinceCheckpoint++
		}
		if live && ctx.Err() == nil {
			e.mu.Lock()
			if !e.live {
				e.live = true
				close(e.running)
			}
			e.mu.Unlock()
			// Positions: the engine's position follows the log past
			// events on other subjects (where the store's shared tail
			// serves the subscription), so WaitFor seldom needs to look
			// up the next event on its subject.
			opts.From, opts.To, opts.Positions = e.Applied()+1, 0, true
			for rec, err := range e.store.SubscribeWith(ctx, opts) {
				ok, err := handle(rec, err, "subscription")
				if err != nil {
					return err
				}
				if !ok {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// apply applies one record (an undecodable one only moves the position).
func (e *Engine) apply(rec events.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec.Payload != nil {
		if err := e.p.Apply(rec); err != nil {
			return fmt.Errorf("%w: projection %s at sequence %d: %w", events.ErrBroken, e.p.Name(), rec.Sequence, err)
		}
	}
	e.movedTo(rec.Sequence)
	return nil
}

// advance records that the projection reflects the log up to seq, where
// nothing on its subject came since what it applied. It reports whether
// the position moved.
func (e *Engine) advance(seq uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if seq <= e.applied {
		return false
	}
	e.movedTo(seq)
	return true
}

// movedTo records that the projection reflects the log up to seq and wakes
// those waiting for it. e.mu must be held.
func (e *Engine) movedTo(seq uint64) {
	e.applied = seq
	close(e.changed)
	e.changed = make(chan struct{})
}

// Applied returns the last sequence applied.
func (e *Engine) Applied() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.applied
}

// Live reports whether the engine has caught up with the log since it
// started (restored its checkpoint and read to the end of the log as it
// was) and now follows it as events come.
func (e *Engine) Live() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.live
}

// Running is closed once the engine has caught up with the log since it
// started, as Live turns true: the signal that the projection can be
// decided from. It stays closed if Run is called again.
func (e *Engine) Running() <-chan struct{} { return e.running }

// Name is the projection's name.
func (e *Engine) Name() string { return e.p.Name() }

// Behind returns how many events of its subject the projection has still
// to apply to reach the end of the log as it is now (an estimate while
// the log grows).
func (e *Engine) Behind(ctx context.Context) (uint64, error) {
	last, err := e.lastOnSubject(ctx)
	if err != nil {
		return 0, err
	}
	if applied := e.Applied(); last > applied {
		return last - applied, nil
	}
	return 0, nil
}

// lastOnSubject is the sequence of the log's last event on the
// projection's subject.
func (e *Engine) lastOnSubject(ctx context.Context) (uint64, error) {
	if e.p.Subject() == events.AllSubjects || e.p.Subject() == "" {
		return e.store.LastSequence(ctx)
	}
	return e.store.LastSequenceOn(ctx, e.p.Subject())
}

// Read calls fn with the projection, under a read lock, and the sequence
// it reflects.
func (e *Engine) Read(fn func(p Projection, applied uint64)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.p, e.applied)
}

// WaitFor waits until the projection reflects the log up to seq, or ctx
// ends (ErrTimeout). A sequence not yet written is waited for. A filtered
// projection never sees events outside its subject, so it reflects seq
// once it has applied the last event on its subject at or below seq.
func (e *Engine) WaitFor(ctx context.Context, seq uint64) error {
	timeout := func() error {
		return fmt.Errorf("%w: %s at %d, want %d", ErrTimeout, e.p.Name(), e.Applied(), seq)
	}
	e.mu.RLock()
	applied := e.applied
	e.mu.RUnlock()
	if applied >= seq {
		return nil
	}
	// A sequence not yet in the log: wait for the log to get there.
	for {
		last, err := e.store.LastSequence(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return timeout()
			}
			return err
		}
		if last >= seq {
			break
		}
		select {
		case <-ctx.Done():
			return timeout()
		case <-time.After(50 * time.Millisecond):
		}
	}
	filtered := e.p.Subject() != events.AllSubjects && e.p.Subject() != ""
	for {
		e.mu.RLock()
		applied, changed := e.applied, e.changed
		e.mu.RUnlock()
		if applied >= seq {
			return nil
		}
		if filtered {
			// Nothing on the subject between what it applied and seq: it
			// reflects seq already.
			next, err := e.store.NextSequenceOn(ctx, e.p.Subject(), applied+1)
			if err != nil {
				if ctx.Err() != nil {
					return timeout()
				}
				return err
			}
			if next == 0 || next > seq {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return timeout()
		case <-changed:
		}
	}
}

// checkpoint writes the state and position.
func (e *Engine) checkpoint(ctx context.Context) error {
	if e.obj == nil {
		return nil
	}
	var buf bytes.Buffer
	e.mu.RLock()
	writeCheckpointHeader(&buf, versionOf(e.p), e.applied)
	err := e.p.Snapshot(&buf)
	e.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", e.p.Name(), err)
	}
	if _, err := e.obj.PutBytes(ctx, e.p.Name(), buf.Bytes()); err != nil {
		return fmt.Errorf("checkpoint %s: %w", e.p.Name(), err)
	}
	return nil
}

// restore loads the checkpoint, if there is one.
func (e *Engine) restore(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.p.Reset()
	e.applied = 0
	if e.obj == nil {
		return nil
	}
	data, err := e.obj.GetBytes(ctx, e.p.Name())
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint %s: %w", e.p.Name(), err)
	}
	version, seq, state, err := DecodeCheckpoint(data)
	if want := versionOf(e.p); err == nil && version != want {
		e.log.Warn("checkpoint of another version of the read model, replaying from the start", "checkpoint_version", version, "version", want)
		return nil
	}
	if err == nil {
		err = e.p.Restore(bytes.NewReader(state))
	}
	if err != nil {
		// A checkpoint this build cannot read is not fatal: replay.
		e.log.Warn("checkpoint unreadable, replaying from the start", "err", err)
		e.p.Reset()
		return nil
	}
	e.applied = seq
	e.log.Info("resumed from checkpoint", "seq", seq)
	return nil
}

// Progress reports a long replay: done of total events read.
type Progress func(done, total uint64)

// Replay resets p and applies the log to it from sequence 1 up to upTo (0
// for the end of the log at the time of the call). It returns the last
// sequence read.
func Replay(ctx context.Context, store *events.Store, p Projection, upTo uint64, progress Progress) (uint64, error) {
	p.Reset()
	last, err := store.LastSequence(ctx)
	if err != nil {
		return 0, err
	}
	if upTo == 0 || upTo > last {
		upTo = last
	}
	opts := events.ReadOptions{From: 1, To: upTo, Subject: p.Subject(), Open: opens(p)}
	if t, ok := p.(Typed); ok {
		opts.Types = t.EventTypes()
	}
	var seq uint64
	n := 0
	for rec, err := range store.ReadWith(ctx, opts) {
		var de *events.DecodeError
		if err != nil && !errors.As(err, &de) {
			return seq, err
		}
		// A record without a payload is of a type p does not use.
		if err == nil && rec.Payload != nil {
			if err := p.Apply(rec); err != nil {
				return seq, fmt.Errorf("projection %s at sequence %d: %w", p.Name(), rec.Sequence, err)
			}
		}
		seq = rec.Sequence
		if n++; progress != nil && n%1024 == 0 {
			progress(seq, upTo)
		}
	}
	if progress != nil {
		progress(upTo, upTo)
	}
	return upTo, nil
}

// Rebuild replays the whole log into the engine's projection, replacing
// its state and checkpoint. Do not call it while Run is running on the
// same engine.
func (e *Engine) Rebuild(ctx context.Context, progress Progress) (uint64, error) {
	e.mu.Lock()
	seq, err := Replay(ctx, e.store, e.p, 0, progress)
	if err == nil {
		e.applied = seq
	}
	e.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return seq, e.checkpoint(ctx)
}

// ErrBehind reports a projection that has not caught up with the log
// since it started.
var ErrBehind = errors.New("projections: catching up with the log")

// Ready returns nil when every engine has caught up with the log since it
// started (its Running signal), else an error wrapping ErrBehind that
// names the first behind and by how many events.
func Ready(ctx context.Context, engines ...*Engine) error {
	for _, e := range engines {
		select {
		case <-e.Running():
			continue
		default:
		}
		n, err := e.Behind(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s (%v)", ErrBehind, e.Name(), err)
		}
		return fmt.Errorf("%w: %s is %d events behind", ErrBehind, e.Name(), n)
	}
	return nil
}
