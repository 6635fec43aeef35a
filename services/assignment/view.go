package assignment

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/worker"
)

// Unmatched is the queue of referrals from practices that no PCN's link
// workers cover (referral.Unmatched).
const Unmatched = referral.Unmatched

// View is the assignment service's picture of the roster and the
// waitlists, built from the log: a projection the service runs on the
// projection engine, checkpointed, so a restart resumes from its last
// checkpoint instead of reading the log from the start. Decisions taken
// from it are checked against the aggregates' versions when appended, so
// a stale view can cost a retry but never a wrong assignment. It keeps only
// open referrals and indexes each queue's waitlist, so an event costs the
// same however long the log. It is safe for concurrent use.
type View struct {
	name    string
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

// NewView returns an empty view; name names its checkpoint.
func NewView(name string) *View {
	v := &View{name: name}
	v.Reset()
	return v
}

// Name is the view's name, as a projection.
func (v *View) Name() string { return v.name }

// Subject is the whole log: the view needs referral and worker events.
func (v *View) Subject() string { return events.AllSubjects }

// EventTypes are the event types the view applies.
func (v *View) EventTypes() []string {
	return events.TypesOf(append(referral.StatusEvents(), &pathwayv1.SafeguardingEscalated{},
		&pathwayv1.WorkerRegistered{}, &pathwayv1.WorkerCapacityChanged{}, &pathwayv1.WorkerAvailabilityChanged{},
		&pathwayv1.WorkerDeactivated{}, &pathwayv1.WorkerCaseAssigned{}, &pathwayv1.WorkerCaseReleased{})...)
}

// Reset empties the view.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.workers, v.refs, v.queues = map[string]*worker.Worker{}, map[string]*entry{}, map[string]map[string]*entry{}
}

type viewSnapshot struct {
	Workers []worker.State `json:"workers"`
	Refs    []entryState   `json:"referrals"`
}

type entryState struct {
	ID        string             `json:"id"`
	Status    referral.Status    `json:"status"`
	Priority  pathwayv1.Priority `json:"priority"`
	Queue     string             `json:"queue"`
	WaitingAt time.Time          `json:"waiting_at"`
}

// Snapshot writes the view for a checkpoint.
func (v *View) Snapshot(w io.Writer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var s viewSnapshot
	for _, wk := range v.workers {
		s.Workers = append(s.Workers, wk.State())
	}
	for _, e := range v.refs {
		s.Refs = append(s.Refs, entryState{ID: e.id, Status: e.status, Priority: e.priority, Queue: e.queue, WaitingAt: e.waitingAt})
	}
	return json.NewEncoder(w).Encode(s)
}

// Restore reads a checkpoint written by Snapshot.
func (v *View) Restore(r io.Reader) error {
	var s viewSnapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return err
	}
	v.Reset()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ws := range s.Workers {
		v.workers[ws.ID] = worker.FromState(ws)
	}
	for _, es := range s.Refs {
		e := &entry{id: es.ID, status: es.Status, priority: es.Priority, queue: es.Queue, waitingAt: es.WaitingAt}
		v.refs[e.id] = e
		v.index(e, "", "")
	}
	return nil
}

// Apply applies one event of the types the view declares; it ignores the
// others, as a typed replay skips them.
func (v *View) Apply(rec events.Record) error {
	if viewTypes[events.TypeOf(rec.Payload)] {
		v.apply(rec)
	}
	return nil
}

// viewTypes is the set of EventTypes.
var viewTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range (&View{}).EventTypes() {
		m[t] = true
	}
	return m
}()

func (v *View) apply(rec events.Record) {
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
		w.Apply(kernel.Change{Sequence: rec.Sequence, Payload: rec.Payload})
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
	if !e.status.Active() {
		delete(v.refs, e.id) // closed, or an event of a referral closed before
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
