// Package assignment gives accepted referrals to link workers. A referral
// goes to a worker who covers the person's practice and has a place on
// their caseload (a language match first, then the least loaded); when no
// worker has a place, it waits on its queue's waitlist (the PCN), urgent
// first. When a place frees (a discharge, a cancel, a raised capacity, a
// worker's return) the head of the waitlist is assigned.
//
// Every assignment is one atomic command on two aggregates, each at the
// version it was decided from: the worker's WorkerCaseAssigned and the
// referral's ReferralAssigned. So a worker's caseload never exceeds their
// capacity, however many assignment services run.
package assignment

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"github.com/pathway-sp/pathway/services/supervisor"
	"google.golang.org/protobuf/proto"
)

// ConsumerName is the assignment service's durable consumer.
const ConsumerName = "assignment"

// ViewName is the name (and checkpoint) of the view of the service that
// runs ConsumerName.
const ViewName = ConsumerName + "-view"

// Service runs assignment. Create it with New and call Run.
type Service struct {
	store    *events.Store
	view     *View
	engine   *projections.Engine
	now      func() time.Time
	log      *slog.Logger
	consumer string
	// lastTick is when Tick last looked for absences that ended.
	lastTick time.Time
	tickMu   sync.Mutex
}

// TickEvery is how often Run looks for absences that have ended.
const TickEvery = time.Minute

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger gets ids and sequences, never personal data; nil discards.
	Logger *slog.Logger
	// Consumer names the durable consumer: ConsumerName unless several
	// services must each see every event, as in tests. The view's
	// checkpoint is named after it.
	Consumer string
	// Checkpoints holds the view's checkpoints (projections.OpenCheckpoints);
	// nil: the view is built from the start of the log on every start.
	Checkpoints jetstream.ObjectStore
}

// New returns an assignment service on store.
func New(store *events.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Consumer == "" {
		opts.Consumer = ConsumerName
	}
	log := opts.Logger.With("service", "assignment")
	view := NewView(opts.Consumer + "-view")
	return &Service{store: store, view: view, now: opts.Now, log: log, consumer: opts.Consumer,
		engine: projections.NewEngine(store, opts.Checkpoints, view, projections.Options{Logger: log})}
}

// View returns the service's view of the roster and waitlists.
func (s *Service) View() *View { return s.view }

// ViewEngine returns the engine that keeps the view, for readiness.
func (s *Service) ViewEngine() *projections.Engine { return s.engine }

var actor = &pathwayv1.Actor{Id: "assignment", Role: pathwayv1.Role_ROLE_SYSTEM}

// Run runs the service's parts (Start) under a supervisor of its own
// until ctx ends or one of them breaks.
func (s *Service) Run(ctx context.Context) error {
	sup := supervisor.New(ctx, supervisor.Options{Logger: s.log})
	s.Start(sup)
	return sup.Wait()
}

// Start runs the service's parts under sup: its view (named after it,
// ViewName by default), the durable consumer (Options.Consumer) that
// places and releases, and the tick that fills the waitlists of workers
// back from an absence, every TickEvery.
func (s *Service) Start(sup *supervisor.Supervisor) {
	s.tickMu.Lock()
	s.lastTick = s.now()
	s.tickMu.Unlock()
	sup.Go(s.view.Name(), s.engine)
	sup.Go(s.consumer, supervisor.Func(s.consume))
	sup.Go(s.consumer+"-tick", sup.Every(TickEvery, s.Tick))
}

// Running is closed once the service's view has caught up with the log
// since it started.
func (s *Service) Running() <-chan struct{} { return s.engine.Running() }

// consume runs the durable consumer until ctx ends.
func (s *Service) consume(ctx context.Context) error {
	return s.store.Consume(ctx, events.Consumer{
		Name:     s.consumer,
		Subjects: []string{events.TypeSubject(referral.AggregateType), events.TypeSubject(worker.AggregateType)},
		Types: []string{
			events.TypeOf(&pathwayv1.ReferralTriaged{}), events.TypeOf(&pathwayv1.ReferralReopened{}),
			events.TypeOf(&pathwayv1.ReferralDischarged{}), events.TypeOf(&pathwayv1.ReferralCancelled{}),
			events.TypeOf(&pathwayv1.ReferralMerged{}), events.TypeOf(&pathwayv1.WorkerRegistered{}),
			events.TypeOf(&pathwayv1.WorkerCapacityChanged{}), events.TypeOf(&pathwayv1.WorkerAvailabilityChanged{}),
			events.TypeOf(&pathwayv1.WorkerCaseReleased{}),
		},
		OnBadData: events.Park,
		Logger:    s.log,
	}, s.handle)
}

func (s *Service) handle(ctx context.Context, rec events.Record) error {
	if err := s.engine.WaitFor(ctx, rec.Sequence); err != nil {
		return err
	}
	switch p := rec.Payload.(type) {
	case *pathwayv1.ReferralTriaged:
		if p.GetDecision() == pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT {
			return s.place(ctx, rec.Aggregate.ID, rec.Sequence)
		}
	case *pathwayv1.ReferralReopened:
		return s.place(ctx, rec.Aggregate.ID, rec.Sequence)
	case *pathwayv1.ReferralDischarged, *pathwayv1.ReferralCancelled, *pathwayv1.ReferralMerged:
		return s.release(ctx, rec)
	case *pathwayv1.WorkerRegistered:
		if err := s.requeueUnmatched(ctx, p.GetPcn(), p.GetPractices(), rec.Sequence); err != nil {
			return err
		}
		return s.fill(ctx, p.GetPcn(), rec.Sequence)
	case *pathwayv1.WorkerCapacityChanged, *pathwayv1.WorkerAvailabilityChanged, *pathwayv1.WorkerCaseReleased:
		return s.fill(ctx, s.view.PCNOf(rec.Aggregate.ID), rec.Sequence)
	}
	return nil
}

// Tick fills the waitlists of PCNs with a worker whose absence ended
// since the last tick: an absence with an end date frees places when it
// ends, with no event to announce it. Run calls it every TickEvery.
func (s *Service) Tick(ctx context.Context) error {
	s.tickMu.Lock()
	from, to := s.lastTick, s.now()
	s.lastTick = to
	s.tickMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	for _, pcn := range s.view.ReturnedBetween(from, to) {
		if err := s.fill(ctx, pcn, uint64(to.UnixNano())); err != nil {
			return err
		}
	}
	return nil
}

// place assigns an accepted referral, or puts it on its queue's waitlist.
// cause is the sequence of the event that asked for it: with the referral
// it keys the command, so a redelivery decides nothing twice.
func (s *Service) place(ctx context.Context, id string, cause uint64) error {
	cmd := events.Command{Actor: actor, IdempotencyKey: "place\x00" + id + "\x00" + strconv.FormatUint(cause, 10)}
	outcome := ""
	_, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		outcome = ""
		ref, err := events.Load(tx, aggregate.Referral, id)
		if err != nil {
			return err
		}
		if ref.Status() != referral.StatusAccepted {
			return nil // already placed, or no longer waiting
		}
		if ok, err := s.assign(tx, ref, 0); err != nil || ok {
			outcome = "assigned"
			return err
		}
		queue := s.view.QueueFor(ref.Received().GetGpPractice())
		tx.Emit(aggregate.Referral.Aggregate(id), &pathwayv1.ReferralWaitlisted{Queue: queue, Priority: ref.Priority(), Reason: "no link worker with a place"})
		outcome = "waitlisted"
		return nil
	})
	if err == nil && outcome != "" {
		s.log.Info("referral "+outcome, "seq", cause)
	}
	return err
}

// assign offers the referral to each candidate worker in turn and records
// the assignment with the first who has a place: the worker's
// WorkerCaseAssigned and the referral's ReferralAssigned, in one command.
func (s *Service) assign(tx *events.Tx, ref *referral.Referral, position int) (bool, error) {
	for _, wid := range s.view.Candidates(ref.Received().GetGpPractice(), ref.Received().GetPerson().GetLanguage(), s.now()) {
		w, err := events.Load(tx, aggregate.Worker, wid)
		if err != nil {
			return false, err
		}
		wevs, err := w.AssignCase(ref.ID(), s.now())
		if err != nil {
			continue // full or away since the view saw it
		}
		tx.Emit(aggregate.Worker.Aggregate(wid), wevs...)
		tx.Emit(aggregate.Referral.Aggregate(ref.ID()), &pathwayv1.ReferralAssigned{WorkerId: wid, Queue: w.PCN(), Reason: "automatic", FromWaitlistPosition: uint32(position)})
		return true, nil
	}
	return false, nil
}

// fill assigns from the head of a queue's waitlist while workers have
// places. cause keys its commands, as with place.
func (s *Service) fill(ctx context.Context, queue string, cause uint64) error {
	if queue == "" {
		return nil
	}
	for guard := 0; guard < 1000; guard++ {
		head, ok := s.view.Head(queue)
		if !ok {
			return nil
		}
		cmd := events.Command{Actor: actor, IdempotencyKey: "fill\x00" + head + "\x00" + strconv.FormatUint(cause, 10)}
		full := false
		_, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
			full = false
			ref, err := events.Load(tx, aggregate.Referral, head)
			if err != nil {
				return err
			}
			if ref.Status() != referral.StatusWaitlisted {
				return nil // the view is behind
			}
			assigned, err := s.assign(tx, ref, 1)
			full = !assigned
			return err
		})
		if err != nil {
			return err
		}
		if full {
			return nil // no place for the head: none for those behind it
		}
		if err := s.catchUp(ctx); err != nil {
			return err
		}
	}
	return nil
}

// requeueUnmatched moves referrals waiting on the unmatched queue whose
// practice a newly registered worker covers onto that worker's PCN queue,
// keeping their place in time; fill then assigns them if there is room.
func (s *Service) requeueUnmatched(ctx context.Context, pcn string, practices []string, cause uint64) error {
	for _, id := range s.view.Waitlist(Unmatched) {
		cmd := events.Command{Actor: actor, IdempotencyKey: "requeue\x00" + id + "\x00" + strconv.FormatUint(cause, 10)}
		_, err := events.Do(ctx, s.store, aggregate.Referral, id, cmd, func(ref *referral.Referral) ([]proto.Message, error) {
			if ref.Status() != referral.StatusWaitlisted || !slices.Contains(practices, ref.Received().GetGpPractice()) {
				return nil, nil
			}
			return []proto.Message{&pathwayv1.ReferralWaitlisted{Queue: pcn, Priority: ref.Priority(), Reason: "a PCN now covers the practice"}}, nil
		})
		if err != nil {
			return err
		}
	}
	return s.catchUp(ctx)
}

// catchUp waits until the view has applied the whole log as it is now.
func (s *Service) catchUp(ctx context.Context) error {
	last, err := s.store.LastSequence(ctx)
	if err != nil {
		return err
	}
	return s.engine.WaitFor(ctx, last)
}

// release frees the worker's place of a referral that left the caseload,
// then fills the worker's queue.
func (s *Service) release(ctx context.Context, rec events.Record) error {
	ref, _, err := events.Get(ctx, s.store, aggregate.Referral, rec.Aggregate.ID)
	if err != nil {
		return err
	}
	wid := ref.Worker()
	if wid == "" {
		return nil
	}
	cmd := events.Command{Actor: actor, IdempotencyKey: "release\x00" + strconv.FormatUint(rec.Sequence, 10)}
	if _, err := events.Do(ctx, s.store, aggregate.Worker, wid, cmd, func(w *worker.Worker) ([]proto.Message, error) {
		return w.ReleaseCase(ref.ID(), "referral "+string(ref.Status())), nil
	}); err != nil {
		return err
	}
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	return s.fill(ctx, s.view.PCNOf(wid), rec.Sequence)
}
