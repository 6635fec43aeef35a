// Package supervisor runs the background parts of a pathway process (the
// durable consumers, the projection engines, the webhook sender, the
// clocks) the one way, after watermill's Router: each part has Run(ctx),
// which returns when ctx ends, and Running(), a channel it closes once it
// is running (caught up with the log, loaded); a Supervisor runs them in
// an errgroup with one failure policy:
//
//   - an error that wraps events.ErrBroken is a broken invariant (a
//     consumer halted on an event, a projection that cannot apply the log,
//     a configuration the server refuses): the Supervisor stops every part
//     and Wait returns it;
//   - any other error is transient: the part is run again after a pause,
//     100 ms doubling to 30 s (back to 100 ms once the part has run for
//     longer than the longest pause), while the other parts go on;
//   - a part that returns nil before ctx ends is done and is not run
//     again.
//
// Stopping is bounded: once ctx ends or a part broke, Wait waits at most
// Options.StopTimeout for the parts to return.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pathway-sp/pathway/events"
	"golang.org/x/sync/errgroup"
)

// Part is a long-running part of the process.
type Part interface {
	// Run runs the part until ctx ends, then returns nil promptly. An
	// error that wraps events.ErrBroken stops the process; any other
	// error has the part run again after a pause.
	Run(ctx context.Context) error
	// Running is closed once the part is running: a view has caught up
	// with the log, a watcher has loaded what it watches. It stays closed
	// when the part is run again.
	Running() <-chan struct{}
}

// ErrStopTimeout reports parts that did not return within
// Options.StopTimeout of the Supervisor stopping.
var ErrStopTimeout = errors.New("supervisor: parts did not stop in time")

// Options configure a Supervisor. The zero value of each field picks its
// default.
type Options struct {
	// Logger gets each part's failures and restarts; nil discards.
	Logger *slog.Logger
	// Backoff is the first pause before a failed part is run again;
	// default 100 ms. It doubles with each failure, up to MaxBackoff.
	Backoff time.Duration
	// MaxBackoff is the longest pause; default 30 s. A part that ran for
	// longer than it before failing starts again from Backoff.
	MaxBackoff time.Duration
	// StopTimeout bounds how long Wait waits for the parts to return once
	// the Supervisor stops; default 10 s.
	StopTimeout time.Duration
	// Now and After are the clock: default time.Now and time.After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Supervisor runs parts under one failure policy. Its methods are safe
// for concurrent use.
type Supervisor struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	g      *errgroup.Group

	mu     sync.Mutex
	parts  []*entry
	broken error // the first part's that broke
}

type entry struct {
	name     string
	part     Part
	returned atomic.Bool
}

// New returns a Supervisor whose parts run until ctx ends or one of them
// breaks.
func New(ctx context.Context, opts Options) *Supervisor {
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	return &Supervisor{opts: opts, log: log, ctx: gctx, cancel: cancel, g: g}
}

// Go runs part p, named name in logs and readiness, under the
// Supervisor's policy. A part added once the Supervisor has stopped is
// not run.
func (s *Supervisor) Go(name string, p Part) {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	e := &entry{name: name, part: p}
	s.parts = append(s.parts, e)
	s.mu.Unlock()
	s.g.Go(func() error {
		defer e.returned.Store(true)
		return s.supervise(name, p)
	})
}

// supervise runs p until ctx ends, it is done, or it breaks.
func (s *Supervisor) supervise(name string, p Part) error {
	ctx := s.ctx
	pause := s.opts.Backoff
	for {
		started := s.opts.Now()
		err := p.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			s.log.Info("part done", "part", name)
			return nil
		case errors.Is(err, events.ErrBroken):
			s.log.Error("part broke: stopping", "part", name, "err", err)
			err = fmt.Errorf("%s: %w", name, err)
			s.mu.Lock()
			if s.broken == nil {
				s.broken = err
			}
			s.mu.Unlock()
			return err
		}
		if s.opts.Now().Sub(started) > s.opts.MaxBackoff {
			pause = s.opts.Backoff
		}
		s.log.Warn("part failed, running it again", "part", name, "retry_in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.After(pause):
		}
		pause = min(2*pause, s.opts.MaxBackoff)
	}
}

// Wait waits until ctx ends or a part breaks, then at most StopTimeout
// (on the real clock) for every part to return. As errgroup's Wait, it
// returns at once when no part runs, and the Supervisor then stops: call
// it once the first parts are added (a running part may add more). It returns the broken
// part's error (naming the part), joined with ErrStopTimeout naming the
// parts still running if some did not return in time; nil when ctx ended
// and every part returned.
func (s *Supervisor) Wait() error {
	done := make(chan error, 1)
	go func() { done <- s.g.Wait() }()
	select {
	case err := <-done:
		s.cancel()
		return err
	case <-s.ctx.Done():
	}
	t := time.NewTimer(s.opts.StopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		s.cancel()
		return err
	case <-t.C:
		s.cancel()
		s.mu.Lock()
		broken := s.broken
		s.mu.Unlock()
		return errors.Join(broken, fmt.Errorf("%w: %v within %v", ErrStopTimeout, s.returnedNot(), s.opts.StopTimeout))
	}
}

// returnedNot names the parts whose Run has not returned.
func (s *Supervisor) returnedNot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.parts {
		if !e.returned.Load() {
			out = append(out, e.name)
		}
	}
	return out
}

// Stop stops every part, as the end of ctx does; Wait then returns.
func (s *Supervisor) Stop() { s.cancel() }

// Running returns a channel closed once every part added so far has
// signalled that it is running; it is never closed if the Supervisor
// stops first.
func (s *Supervisor) Running() <-chan struct{} {
	s.mu.Lock()
	parts := slices.Clone(s.parts)
	s.mu.Unlock()
	ch := make(chan struct{})
	go func() {
		for _, e := range parts {
			select {
			case <-e.part.Running():
			case <-s.ctx.Done():
				return
			}
		}
		close(ch)
	}()
	return ch
}

// Ready returns nil when every part has signalled that it is running,
// else an error naming those that have not.
func (s *Supervisor) Ready() error {
	if waiting := s.NotRunning(); len(waiting) > 0 {
		return fmt.Errorf("starting: %v", waiting)
	}
	return nil
}

// NotRunning names the parts that have not yet signalled that they are
// running, in the order they were added.
func (s *Supervisor) NotRunning() []string {
	s.mu.Lock()
	parts := slices.Clone(s.parts)
	s.mu.Unlock()
	var out []string
	for _, e := range parts {
		select {
		case <-e.part.Running():
		default:
			out = append(out, e.name)
		}
	}
	return out
}

// Func is a part that runs a function: it is running as soon as it
// starts.
func Func(run func(ctx context.Context) error) Part {
	return &funcPart{run: run, running: make(chan struct{})}
}

type funcPart struct {
	run     func(ctx context.Context) error
	once    sync.Once
	running chan struct{}
}

func (f *funcPart) Run(ctx context.Context) error {
	f.once.Do(func() { close(f.running) })
	return f.run(ctx)
}

func (f *funcPart) Running() <-chan struct{} { return f.running }

// Every is a part that calls tick every d of the Supervisor's clock,
// first d after it starts. An error of tick is the part's: a transient
// one has it run again after the pause.
func (s *Supervisor) Every(d time.Duration, tick func(ctx context.Context) error) Part {
	return Func(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-s.opts.After(d):
			}
			if err := tick(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	})
}

// Signalled is part p with the readiness signal running, for a part whose
// own signal has another name.
func Signalled(p interface {
	Run(ctx context.Context) error
}, running <-chan struct{}) Part {
	return signalled{p, running}
}

type signalled struct {
	p interface {
		Run(ctx context.Context) error
	}
	running <-chan struct{}
}

func (s signalled) Run(ctx context.Context) error { return s.p.Run(ctx) }
func (s signalled) Running() <-chan struct{}      { return s.running }
