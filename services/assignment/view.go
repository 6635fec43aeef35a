package assignment

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/referral"
	"github.com/pathway-sp/pathway/services/worker"
)

// Unmatched is the queue of referrals from practices that no PCN's link
// workers cover: they wait there, visible, for staff.
const Unmatched = "unmatched"

// View is the assignment service's picture of the roster and the
// waitlists, built from the log. Decisions taken from it are checked
// against the aggregates' versions when appended, so a stale view can
// cost a retry but never a wrong assignment. It is safe for concurrent use.
type View struct {
	events.Position
	mu      sync.Mutex
	workers map[string]*worker.Worker
	refs    map[string]*entry            // open referrals only
	queues  map[string]map[string]*entry // queue -> waitlisted referrals
}

type entry struct {
	id        string
	status    referral.Status
	priority  pathwayv1.Priority
	queue     string
	waitingAt time.Time
}

// NewView returns an empty view.
func NewView() *View {
	return &View{workers: map[string]*worker.Worker{}, refs: map[string]*entry{}, queues: map[string]map[string]*entry{}}
}

// Run follows the log from the start until ctx ends.
func (v *View) Run(ctx context.Context, store *events.Store, log *slog.Logger) error {
	for ctx.Err() == nil {
		for rec, err := range store.Subscribe(ctx, v.Applied()+1, events.AllSubjects) {
			if err != nil {
				var de *events.DecodeError
				if !errors.As(err, &de) {
					log.Warn("assignment view subscription ended, resuming", "err", err)
					break
				}
			}
			v.apply(rec)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

func (v *View) apply(rec events.Record) {
	defer v.Advance(rec.Sequence)
	v.mu.Lock()
	defer v.mu.Unlock()
	if rec.Payload == nil {
		return
	}
	id := rec.Aggregate.ID
	switch rec.Aggregate.Type {
	case worker.AggregateType:
		w := v.workers[id]
		if w == nil {
			w = worker.Replay(id, nil)
			v.workers[id] = w
		}
		w.Apply(referral.Change{Sequence: rec.Sequence, Payload: rec.Payload})
	case referral.AggregateType:
		e := v.refs[id]
		if e == nil {
			e = &entry{id: id}
			v.refs[id] = e
		}
		prev, prevQueue := e.status, e.queue
		e.status = referral.StatusAfter(e.status, rec.Payload)
		defer v.index(e, prev, prevQueue)
		switch p := rec.Payload.(type) {
		case *pathwayv1.ReferralReceived:
			e.priority = p.GetUrgency()
		case *pathwayv1.SafeguardingEscalated:
			e.priority = pathwayv1.Priority_PRIORITY_URGENT
		case *pathwayv1.ReferralTriaged:
			if p.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
				e.priority = p.GetPriority()
			}
		case *pathwayv1.ReferralWaitlisted:
			if prev != referral.StatusWaitlisted { // a re-queue keeps its place in time
				e.waitingAt = rec.Envelope.GetRecordedAt().AsTime()
			}
			e.queue = p.GetQueue()
			if p.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
				e.priority = p.GetPriority()
			}
		}
	}
}

// index keeps the queues and the open referrals in step with e, which was
// in status prev on queue prevQueue before the event.
func (v *View) index(e *entry, prev referral.Status, prevQueue string) {
	if prev == referral.StatusWaitlisted && (e.status != referral.StatusWaitlisted || e.queue != prevQueue) {
		delete(v.queues[prevQueue], e.id)
		if len(v.queues[prevQueue]) == 0 {
			delete(v.queues, prevQueue)
		}
	}
	if e.status == referral.StatusWaitlisted {
		q := v.queues[e.queue]
		if q == nil {
			q = map[string]*entry{}
			v.queues[e.queue] = q
		}
		q[e.id] = e
	}
	if e.status != "" && !e.status.Active() {
		delete(v.refs, e.id)
	}
}

// before reports whether a comes before b on a waitlist: by priority
// (urgent first), then by time waiting, then by id.
func before(a, b *entry) int {
	if a.priority != b.priority {
		return int(a.priority) - int(b.priority)
	}
	if c := a.waitingAt.Compare(b.waitingAt); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// Head returns the referral at the head of a queue's waitlist.
func (v *View) Head(queue string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var head *entry
	for _, e := range v.queues[queue] {
		if head == nil || before(e, head) < 0 {
			head = e
		}
	}
	if head == nil {
		return "", false
	}
	return head.id, true
}

// QueueFor returns the queue of a practice: the PCN whose active workers
// cover it (the lowest PCN code if several do), or Unmatched.
func (v *View) QueueFor(practice string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	queue := ""
	for _, w := range v.workers {
		if w.Active() && w.Covers(practice) && (queue == "" || w.PCN() < queue) {
			queue = w.PCN()
		}
	}
	if queue == "" {
		return Unmatched
	}
	return queue
}

// Candidates returns the workers who cover the practice and have a place
// at t: a language match first, then the least loaded, then by id.
func (v *View) Candidates(practice, language string, t time.Time) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ws []*worker.Worker
	for _, w := range v.workers {
		if w.Covers(practice) && w.HasPlace(t) {
			ws = append(ws, w)
		}
	}
	speaks := func(w *worker.Worker) int {
		if language != "" && slices.Contains(w.Languages(), language) {
			return 0
		}
		return 1
	}
	slices.SortFunc(ws, func(a, b *worker.Worker) int {
		if c := speaks(a) - speaks(b); c != 0 {
			return c
		}
		if a.Load() != b.Load() {
			if a.Load() < b.Load() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID(), b.ID())
	})
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID()
	}
	return out
}

// Waitlist returns the referrals waiting on a queue in order: by priority
// (urgent first), then by time waiting, then by id.
func (v *View) Waitlist(queue string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	es := slices.Collect(maps.Values(v.queues[queue]))
	slices.SortFunc(es, before)
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// ReturnedBetween returns the PCNs of workers whose absence ended after
// from and at or before to.
func (v *View) ReturnedBetween(from, to time.Time) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, w := range v.workers {
		if u := w.AbsentUntil(); !u.IsZero() && u.After(from) && !u.After(to) && !slices.Contains(out, w.PCN()) {
			out = append(out, w.PCN())
		}
	}
	return out
}

// PCNOf returns the PCN of a worker.
func (v *View) PCNOf(workerID string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if w := v.workers[workerID]; w != nil {
		return w.PCN()
	}
	return ""
}
