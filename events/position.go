package events

import (
	"context"
	"sync"
)

// Position tracks how far a reader of the log (a projection, a service's
// view) has applied it, and lets others wait for a sequence. The zero
// value is ready to use; it is safe for concurrent use.
type Position struct {
	mu      sync.Mutex
	applied uint64
	changed chan struct{}
}

func (p *Position) wake() chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// Advance records that everything up to seq has been applied and wakes
// the waiters. A lower seq is ignored.
func (p *Position) Advance(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq <= p.applied {
		return
	}
	p.applied = seq
	close(p.wake())
	p.changed = make(chan struct{})
}

// Reset sets the position back, e.g. before a replay.
func (p *Position) Reset(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied = seq
}

// Applied returns the last sequence applied.
func (p *Position) Applied() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// WaitFor waits until seq has been applied, or returns ctx's error.
func (p *Position) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		applied, changed := p.applied, p.wake()
		p.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
