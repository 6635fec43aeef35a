package alerts

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// ViewName is the name (and checkpoint) of the view of waiting referrals.
const ViewName = "referral-alerts"

// View knows, for every open referral, whether it waits for someone to
// pick it up (referral.Status.Waiting) and since when, its priority
// (referral.PriorityAfter), whether a safeguarding concern was raised, its
// practice and, while waitlisted, its queue; and, for a closed referral
// that was urgent or raised a concern, those two facts, in case it is
// reopened. It is a projection on the engine, typed and checkpointed, of
// the referral events' clear fields only (codes, ids, times): it holds no
// personal data. It uses recorded times, never the clock; the clock comes
// in only when Overdue is asked. It is safe for concurrent use.
//
// A referral's wait starts when it comes to wait (received, returned to a
// waitlist after a link worker had it, reopened) and goes on through
// triage and the waitlists (a move between queues keeps it), until a link
// worker is assigned or it closes.
type View struct {
	mu   sync.Mutex
	refs map[string]*entry
}

// entry is what the view keeps of one referral.
type entry struct {
	Status       referral.Status    `json:"status"`
	Priority     pathwayv1.Priority `json:"priority"`
	Safeguarding bool               `json:"safeguarding,omitempty"`
	Practice     string             `json:"practice,omitempty"`
	Queue        string             `json:"queue,omitempty"`
	// Since is when it began to wait; zero while it does not.
	Since time.Time `json:"since,omitzero"`
}

// flagged reports whether the referral is urgent or raised a safeguarding
// concern: those are watched.
func (e *entry) flagged() bool {
	return e.Safeguarding || e.Priority == pathwayv1.Priority_PRIORITY_URGENT
}

// NewView returns an empty view.
func NewView() *View {
	v := &View{}
	v.Reset()
	return v
}

// Name is ViewName.
func (v *View) Name() string { return ViewName }

// Subject is the referral events.
func (v *View) Subject() string { return events.TypeSubject(referral.AggregateType) }

// EventTypes are the events that move a referral's status or priority, the
// escalation of a concern, and the erasure (which drops what the view
// kept of a closed referral).
func (v *View) EventTypes() []string {
	types := append(referral.StatusEvents(), referral.PriorityEvents()...)
	return slices.Compact(slices.Sorted(slices.Values(events.TypesOf(append(types, &pathwayv1.ReferralErased{})...))))
}

// Reset empties the view.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refs = map[string]*entry{}
}

// Apply applies one referral event.
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := rec.Aggregate.ID
	e := v.refs[id]
	if e == nil {
		// New, or closed and let go of (it was neither urgent nor had a
		// concern): a reopened one waits again, its practice unknown.
		e = &entry{}
		v.refs[id] = e
	}
	wasWaiting := e.Status.Waiting()
	e.Status = referral.StatusAfter(e.Status, rec.Payload)
	e.Priority = referral.PriorityAfter(e.Priority, rec.Payload)
	switch p := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		e.Practice = p.GetGpPractice()
		e.Safeguarding = p.GetSafeguarding().GetConcern()
	case *pathwayv1.SafeguardingEscalated:
		e.Safeguarding = true
	case *pathwayv1.ReferralWaitlisted:
		e.Queue = p.GetQueue()
	case *pathwayv1.ReferralErased:
		if !e.Status.Active() {
			delete(v.refs, id)
			return nil
		}
	}
	switch {
	case !e.Status.Waiting():
		e.Since, e.Queue = time.Time{}, ""
	case !wasWaiting:
		e.Since = rec.Envelope.GetRecordedAt().AsTime().UTC()
	}
	if !e.Status.Active() && !e.flagged() {
		delete(v.refs, id) // closed; nothing to remember should it reopen
	}
	return nil
}

// Alert is a referral that is urgent or raised a safeguarding concern and
// has waited to be picked up for at least the threshold.
type Alert struct {
	ReferralID   string
	Priority     pathwayv1.Priority
	Safeguarding bool
	// Status is where it waits: received or awaiting triage (untriaged),
	// accepted or waitlisted (no link worker yet).
	Status referral.Status
	// Queue is the waitlist it is on (a PCN, or unmatched), if any.
	Queue string
	// Practice is the ODS code of the person's GP practice.
	Practice string
	// Since is when it began to wait; Waited how long it has at now.
	Since  time.Time
	Waited time.Duration
}

// Key names this alert: the referral and the start of its wait. A
// referral that waits again (reopened, say) raises a new alert.
func (a Alert) Key() string {
	return a.ReferralID + "/" + a.Since.UTC().Format(time.RFC3339Nano)
}

// Untriaged reports whether the referral waits for triage.
func (a Alert) Untriaged() bool {
	return a.Status == referral.StatusReceived || a.Status == referral.StatusManualTriage
}

// Overdue returns the referrals that are urgent or raised a safeguarding
// concern and have waited at least after at now: safeguarding first, then
// the longest waiting, then by id.
func (v *View) Overdue(now time.Time, after time.Duration) []Alert {
	return v.waiting(now, after, false)
}

// Waiting returns every referral that is urgent or raised a safeguarding
// concern and waits at now, however briefly, in Overdue's order.
func (v *View) Waiting(now time.Time) []Alert { return v.waiting(now, 0, true) }

func (v *View) waiting(now time.Time, after time.Duration, all bool) []Alert {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Alert
	for id, e := range v.refs {
		if !e.Status.Waiting() || !e.flagged() {
			continue
		}
		if waited := max(now.Sub(e.Since), 0); all || waited >= after {
			out = append(out, Alert{ReferralID: id, Priority: e.Priority, Safeguarding: e.Safeguarding, Status: e.Status,
				Queue: e.Queue, Practice: e.Practice, Since: e.Since, Waited: waited})
		}
	}
	slices.SortFunc(out, func(a, b Alert) int {
		if a.Safeguarding != b.Safeguarding {
			if a.Safeguarding {
				return -1
			}
			return 1
		}
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ReferralID, b.ReferralID)
	})
	return out
}

// Watched returns how many urgent or safeguarding referrals wait now,
// overdue or not.
func (v *View) Watched() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, e := range v.refs {
		if e.Status.Waiting() && e.flagged() {
			n++
		}
	}
	return n
}

// Contents is what the view holds, by referral id.
func (v *View) Contents() any {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]entry, len(v.refs))
	for id, e := range v.refs {
		out[id] = *e
	}
	return out
}

// Snapshot writes the view for a checkpoint.
func (v *View) Snapshot(w io.Writer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return json.NewEncoder(w).Encode(v.refs)
}

// Restore reads a checkpoint written by Snapshot.
func (v *View) Restore(r io.Reader) error {
	refs := map[string]*entry{}
	if err := json.NewDecoder(r).Decode(&refs); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refs = refs
	return nil
}
