package handoffs

import (
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DeadlinesName is the name of the deadline clock's view as a projection
// (and its checkpoint's).
const DeadlinesName = "handoff-deadlines"

// Deadlines is the deadline clock's view of the open handoffs: their
// referral, status, deadline and the reminders sent, built from the
// handoff events. It runs on the projection engine, checkpointed, so a
// restart resumes instead of reading every handoff event again; it keeps
// only open handoffs. It is safe for concurrent use.
type Deadlines struct {
	mu   sync.Mutex
	open map[string]*openHandoff
}

type openHandoff struct {
	Referral    string         `json:"referral"`
	Status      handoff.Status `json:"status"`
	RequestedAt time.Time      `json:"requested_at"`
	RespondBy   time.Time      `json:"respond_by"`
	Reminders   int            `json:"reminders"`
}

// NewDeadlines returns an empty view.
func NewDeadlines() *Deadlines {
	d := &Deadlines{}
	d.Reset()
	return d
}

// Name is the view's name as a projection.
func (d *Deadlines) Name() string { return DeadlinesName }

// Subject is the handoff events.
func (d *Deadlines) Subject() string { return events.TypeSubject(handoff.AggregateType) }

// EventTypes are the handoff events the view applies.
func (d *Deadlines) EventTypes() []string {
	return events.TypesOf(&pathwayv1.HandoffRequested{}, &pathwayv1.HandoffAccepted{}, &pathwayv1.HandoffRejected{},
		&pathwayv1.HandoffStarted{}, &pathwayv1.HandoffPutOnHold{}, &pathwayv1.HandoffCompleted{}, &pathwayv1.HandoffFailed{},
		&pathwayv1.HandoffCancelled{}, &pathwayv1.HandoffEnteredInError{}, &pathwayv1.HandoffExpired{}, &pathwayv1.HandoffReminderSent{})
}

// Reset empties the view.
func (d *Deadlines) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open = map[string]*openHandoff{}
}

// Snapshot writes the view for a checkpoint.
func (d *Deadlines) Snapshot(w io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return json.NewEncoder(w).Encode(d.open)
}

// Restore reads a checkpoint written by Snapshot.
func (d *Deadlines) Restore(r io.Reader) error {
	open := map[string]*openHandoff{}
	if err := json.NewDecoder(r).Decode(&open); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open = open
	return nil
}

// Apply applies one handoff event.
func (d *Deadlines) Apply(rec events.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := rec.Aggregate.ID
	switch e := rec.Payload.(type) {
	case *pathwayv1.HandoffRequested:
		d.open[id] = &openHandoff{Referral: e.GetReferralId(), Status: handoff.StatusRequested,
			RequestedAt: rec.Envelope.GetRecordedAt().AsTime(), RespondBy: e.GetRespondBy().AsTime()}
		return nil
	case *pathwayv1.HandoffReminderSent:
		if h := d.open[id]; h != nil {
			h.Reminders = int(e.GetReminderNumber())
		}
		return nil
	}
	h := d.open[id]
	if h == nil {
		return nil
	}
	h.Status = handoff.StatusAfter(h.Status, rec.Payload)
	if !h.Status.Open() {
		delete(d.open, id)
	}
	return nil
}

// Due returns the handoffs awaiting a partner's answer for which the clock
// has something to decide at now (a reminder or the deadline), given the
// reminder schedule.
func (d *Deadlines) Due(now time.Time, reminders []time.Duration) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id, h := range d.open {
		if h.Status != handoff.StatusRequested {
			continue
		}
		if next := h.handoff(id).NextDue(reminders); !next.IsZero() && !now.Before(next) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// OfReferral returns the open handoffs of a referral, with their status.
func (d *Deadlines) OfReferral(referralID string) map[string]handoff.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]handoff.Status{}
	for id, h := range d.open {
		if h.Referral == referralID {
			out[id] = h.Status
		}
	}
	return out
}

// handoff rebuilds as much of the handoff as its deadlines depend on.
func (h *openHandoff) handoff(id string) *handoff.Handoff {
	changes := []kernel.Change{{Sequence: 1, At: h.RequestedAt, Payload: &pathwayv1.HandoffRequested{ReferralId: h.Referral, RespondBy: timestamppb.New(h.RespondBy)}}}
	if h.Reminders > 0 {
		changes = append(changes, kernel.Change{Sequence: 2, At: h.RequestedAt, Payload: &pathwayv1.HandoffReminderSent{ReminderNumber: uint32(h.Reminders)}})
	}
	return handoff.Replay(id, changes)
}
