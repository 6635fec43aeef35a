package intake

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
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Index is the queue of referrals that wait for a person to triage them,
// built from the referral events of the log: a projection run on the
// projection engine, checkpointed, so a restart resumes instead of reading
// the log from the start. It keeps only referrals that have not left
// triage, so an event costs the same however long the log. It is safe for
// concurrent use.
type Index struct {
	mu      sync.Mutex
	entries map[string]*entry // referrals not yet past triage
}

type entry struct {
	ID         string             `json:"id"`
	Status     referral.Status    `json:"status"`
	ReceivedAt time.Time          `json:"received_at"`
	Priority   pathwayv1.Priority `json:"priority"`
	Escalated  bool               `json:"escalated"`
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	ix := &Index{}
	ix.Reset()
	return ix
}

// IndexName is the index's name as a projection (and its checkpoint's).
const IndexName = "triage-queue"

// Name is the index's name as a projection.
func (ix *Index) Name() string { return IndexName }

// Subject is the referral events.
func (ix *Index) Subject() string { return events.TypeSubject(referral.AggregateType) }

// EventTypes are the event types the index applies.
func (ix *Index) EventTypes() []string {
	return events.TypesOf(append(referral.StatusEvents(), &pathwayv1.SafeguardingEscalated{})...)
}

// Reset empties the index.
func (ix *Index) Reset() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.entries = map[string]*entry{}
}

// Snapshot writes the index for a checkpoint.
func (ix *Index) Snapshot(w io.Writer) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return json.NewEncoder(w).Encode(slices.Collect(maps.Values(ix.entries)))
}

// Restore reads a checkpoint written by Snapshot.
func (ix *Index) Restore(r io.Reader) error {
	var es []*entry
	if err := json.NewDecoder(r).Decode(&es); err != nil {
		return err
	}
	ix.Reset()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range es {
		ix.entries[e.ID] = e
	}
	return nil
}

// Apply applies one referral event.
func (ix *Index) Apply(rec events.Record) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	id := rec.Aggregate.ID
	e := ix.entries[id]
	switch ev := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		e = &entry{ID: id, ReceivedAt: rec.Envelope.GetRecordedAt().AsTime(), Priority: ev.GetUrgency()}
		ix.entries[id] = e
	case *pathwayv1.SafeguardingEscalated:
		if e != nil {
			e.Escalated, e.Priority = true, pathwayv1.Priority_PRIORITY_URGENT
		}
	case *pathwayv1.ReferralTriaged:
		if e != nil && ev.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			e.Priority = ev.GetPriority()
		}
	}
	if e == nil {
		return nil
	}
	e.Status = referral.StatusAfter(e.Status, rec.Payload)
	if e.Status != referral.StatusReceived && e.Status != referral.StatusManualTriage {
		delete(ix.entries, id) // past triage: a reopen goes to a link worker
	}
	return nil
}

// QueueEntry is a referral awaiting manual triage.
type QueueEntry struct {
	ID         string             `json:"id"`
	ReceivedAt time.Time          `json:"received_at"`
	Priority   pathwayv1.Priority `json:"-"`
	Escalated  bool               `json:"safeguarding_escalated"`
}

// ManualTriageQueue lists the referrals awaiting manual triage, oldest
// first.
func (ix *Index) ManualTriageQueue() []QueueEntry {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []QueueEntry
	for _, e := range ix.entries {
		if e.Status == referral.StatusManualTriage {
			out = append(out, QueueEntry{ID: e.ID, ReceivedAt: e.ReceivedAt, Priority: e.Priority, Escalated: e.Escalated})
		}
	}
	slices.SortFunc(out, func(a, b QueueEntry) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
