// Package waitlists is the read model of the waitlists: per queue (a PCN,
// or "unmatched"), who waits, in order (urgent first, then by time
// waiting), and how fast the queue moves. It is built from referral events
// only and uses their recorded times, so a rebuild gives the same state.
package waitlists

import (
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// Name is the projection's name and checkpoint key.
const Name = "waitlists"

// Entry is one referral waiting.
type Entry struct {
	ID       string             `json:"id"`
	Queue    string             `json:"queue"`
	Priority pathwayv1.Priority `json:"priority"`
	Since    time.Time          `json:"since"`
}

// Waitlists is the read model. It implements projections.Projection; read
// it through its engine.
type Waitlists struct {
	Entries map[string]*Entry `json:"entries"`
	// Pulled holds, per queue, when referrals left its waitlist for a
	// link worker, oldest first: the throughput behind estimated waits.
	Pulled map[string][]time.Time `json:"pulled"`
	// Priority of every open referral, to know it when it is waitlisted.
	Priority map[string]pathwayv1.Priority `json:"priority"`
}

// New returns an empty read model.
func New() *Waitlists { w := &Waitlists{}; w.Reset(); return w }

// Name returns Name.
func (w *Waitlists) Name() string { return Name }

// Subject returns the referral events.
func (w *Waitlists) Subject() string { return events.TypeSubject("referral") }

// EventTypes returns the event types Apply uses (projections.Typed): a
// rebuild skips the others undecoded.
func (w *Waitlists) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.SafeguardingEscalated{}, &pathwayv1.ReferralTriaged{},
		&pathwayv1.ReferralWaitlisted{}, &pathwayv1.ReferralAssigned{}, &pathwayv1.ReferralCancelled{},
		&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralMerged{})
}

// Reset empties the model.
func (w *Waitlists) Reset() {
	w.Entries, w.Pulled, w.Priority = map[string]*Entry{}, map[string][]time.Time{}, map[string]pathwayv1.Priority{}
}

// Apply applies one referral event.
func (w *Waitlists) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		w.Priority[id] = e.GetUrgency()
	case *pathwayv1.SafeguardingEscalated:
		w.Priority[id] = pathwayv1.Priority_PRIORITY_URGENT
		if en := w.Entries[id]; en != nil {
			en.Priority = pathwayv1.Priority_PRIORITY_URGENT
		}
	case *pathwayv1.ReferralTriaged:
		if e.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			w.Priority[id] = e.GetPriority()
		}
	case *pathwayv1.ReferralWaitlisted:
		p := e.GetPriority()
		if p == pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			p = w.Priority[id]
		}
		since := at
		if old := w.Entries[id]; old != nil {
			since = old.Since // moved to another queue: keeps its time waiting
		}
		w.Entries[id] = &Entry{ID: id, Queue: e.GetQueue(), Priority: p, Since: since}
	case *pathwayv1.ReferralAssigned:
		if en := w.Entries[id]; en != nil {
			w.Pulled[en.Queue] = append(w.Pulled[en.Queue], at)
			delete(w.Entries, id)
		}
	case *pathwayv1.ReferralCancelled, *pathwayv1.ReferralDischarged:
		delete(w.Entries, id)
		delete(w.Priority, id)
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() != "" {
			delete(w.Entries, id)
			delete(w.Priority, id)
		}
	}
	return nil
}

// Snapshot writes the state as JSON.
func (w *Waitlists) Snapshot(out io.Writer) error { return json.NewEncoder(out).Encode(w) }

// Restore reads a Snapshot.
func (w *Waitlists) Restore(in io.Reader) error { return json.NewDecoder(in).Decode(w) }

// Ordered returns a queue's entries in waitlist order.
func (w *Waitlists) Ordered(queue string) []Entry {
	var out []Entry
	for _, e := range w.Entries {
		if e.Queue == queue {
			out = append(out, *e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Queues returns every queue with an entry or a recent pull, sorted.
func (w *Waitlists) Queues() []string {
	set := map[string]bool{}
	for _, e := range w.Entries {
		set[e.Queue] = true
	}
	for q := range w.Pulled {
		set[q] = true
	}
	out := make([]string, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// Summary is one queue's figures at a moment.
type Summary struct {
	Queue       string         `json:"queue"`
	Size        int            `json:"size"`
	ByPriority  map[string]int `json:"by_priority"`
	OldestWait  Duration       `json:"oldest_wait"`
	MedianWait  Duration       `json:"median_wait"`
	Breaches    int            `json:"breaches"`
	Target      Duration       `json:"wait_target"`
	PerWeek     float64        `json:"assignments_per_week"`
	EstimateNew *Duration      `json:"estimated_wait"`
}

// Duration is a time.Duration written in JSON as whole days and as text.
type Duration time.Duration

// MarshalJSON writes {"days": 3.5, "text": "84h0m0s"}.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Days float64 `json:"days"`
		Text string  `json:"text"`
	}{float64(time.Duration(d)) / float64(24*time.Hour), time.Duration(d).Round(time.Minute).String()})
}

// window is how far back throughput is counted.
const window = 28 * 24 * time.Hour

// Throughput returns how many referrals left the queue's waitlist for a
// worker per week, over the four weeks before now.
func (w *Waitlists) Throughput(queue string, now time.Time) float64 {
	n := 0
	for _, t := range w.Pulled[queue] {
		if !t.After(now) && now.Sub(t) <= window {
			n++
		}
	}
	return float64(n) / 4
}

// Estimate is the expected wait of the entry at position (1-based) given
// the queue's throughput; nil when nothing has moved in four weeks.
func Estimate(position int, perWeek float64) *Duration {
	if perWeek <= 0 {
		return nil
	}
	d := Duration(time.Duration(float64(position) / perWeek * float64(7*24*time.Hour)))
	return &d
}

// Summarise computes a queue's figures at now, with the wait target.
func (w *Waitlists) Summarise(queue string, now time.Time, target time.Duration) Summary {
	entries := w.Ordered(queue)
	s := Summary{Queue: queue, Size: len(entries), ByPriority: map[string]int{"urgent": 0, "high": 0, "routine": 0}, Target: Duration(target)}
	waits := make([]time.Duration, 0, len(entries))
	for _, e := range entries {
		s.ByPriority[strings.ToLower(strings.TrimPrefix(e.Priority.String(), "PRIORITY_"))]++
		wait := max(now.Sub(e.Since), 0)
		waits = append(waits, wait)
		if wait > target {
			s.Breaches++
		}
	}
	if len(waits) > 0 {
		slices.Sort(waits)
		s.OldestWait = Duration(waits[len(waits)-1])
		s.MedianWait = Duration(waits[len(waits)/2])
		if len(waits)%2 == 0 {
			s.MedianWait = Duration((waits[len(waits)/2-1] + waits[len(waits)/2]) / 2)
		}
	}
	s.PerWeek = w.Throughput(queue, now)
	s.EstimateNew = Estimate(len(entries)+1, s.PerWeek)
	return s
}
