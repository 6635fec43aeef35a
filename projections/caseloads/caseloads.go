// Package caseloads is the read model of link workers' caseloads: per
// worker, the active cases against capacity; per case, its stage, last
// contact, the next action due and the open VCSE handoffs. It is built
// from worker, referral and handoff events with their recorded times, so
// a rebuild gives the same state.
package caseloads

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// Name is the projection's name and checkpoint key.
const Name = "caseloads"

// When the next action on a case falls due.
const (
	// FirstContactWithin is the time from assignment to the first contact.
	FirstContactWithin = 7 * 24 * time.Hour
	// FollowUpWithin is the time from one contact to the next.
	FollowUpWithin = 28 * 24 * time.Hour
)

// Worker is one worker's caseload.
type Worker struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	PCN  string `json:"pcn"`
	// PCNName is the PCN's name as the worker's registration gave it
	// ("" when it gave none).
	PCNName  string          `json:"pcn_name,omitempty"`
	Capacity int             `json:"capacity"`
	Active   bool            `json:"active"`
	Cases    map[string]bool `json:"cases"`
}

// Case is one referral on a caseload.
type Case struct {
	ID           string    `json:"id"`
	Worker       string    `json:"worker"`
	AssignedAt   time.Time `json:"assigned_at"`
	LastContact  time.Time `json:"last_contact"`
	Contacts     int       `json:"contacts"`
	DidNotAttend int       `json:"did_not_attend"`
	PlanAgreed   bool      `json:"plan_agreed"`
	Handoffs     []string  `json:"handoffs"`
	// Expired are handoffs the partner left unanswered past their
	// deadline, with when they expired: the link worker must act (cancel
	// and hand off elsewhere).
	Expired map[string]time.Time `json:"expired,omitempty"`
}

// Stage names where a case is.
func (c Case) Stage() string {
	switch {
	case c.PlanAgreed:
		return "plan_agreed"
	case c.Contacts > 0:
		return "in_contact"
	}
	return "awaiting_first_contact"
}

// NextActionDue is when the next action is due: the next contact, or at
// once when a handoff expired unanswered (from when it expired).
func (c Case) NextActionDue() time.Time {
	due := c.LastContact.Add(FollowUpWithin)
	if c.LastContact.IsZero() {
		due = c.AssignedAt.Add(FirstContactWithin)
	}
	for _, at := range c.Expired {
		if at.Before(due) {
			due = at
		}
	}
	return due
}

// NeedsAction lists the handoffs that expired unanswered, oldest first.
func (c Case) NeedsAction() []string {
	out := make([]string, 0, len(c.Expired))
	for id := range c.Expired {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b string) int {
		if d := c.Expired[a].Compare(c.Expired[b]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return out
}

// Caseloads is the read model. It implements projections.Projection.
type Caseloads struct {
	Workers map[string]*Worker `json:"workers"`
	Cases   map[string]*Case   `json:"cases"`
	// HandoffOf maps an open handoff to its referral.
	HandoffOf map[string]string `json:"handoff_of"`
}

// New returns an empty read model.
func New() *Caseloads { c := &Caseloads{}; c.Reset(); return c }

// Name returns Name.
func (c *Caseloads) Name() string { return Name }

// Subject returns the whole log: workers, referrals and handoffs.
func (c *Caseloads) Subject() string { return events.AllSubjects }

// EventTypes returns the event types Apply uses (projections.Typed): a
// rebuild skips the others undecoded.
func (c *Caseloads) EventTypes() []string {
	return events.TypesOf(&pathwayv1.WorkerRegistered{}, &pathwayv1.WorkerCapacityChanged{}, &pathwayv1.WorkerDeactivated{},
		&pathwayv1.WorkerCaseAssigned{}, &pathwayv1.WorkerCaseReleased{}, &pathwayv1.ContactRecorded{}, &pathwayv1.SupportPlanAgreed{},
		&pathwayv1.HandoffRequested{}, &pathwayv1.HandoffExpired{}, &pathwayv1.HandoffRejected{}, &pathwayv1.HandoffCompleted{},
		&pathwayv1.HandoffFailed{}, &pathwayv1.HandoffCancelled{}, &pathwayv1.HandoffEnteredInError{})
}

// Reset empties the model.
func (c *Caseloads) Reset() {
	c.Workers, c.Cases, c.HandoffOf = map[string]*Worker{}, map[string]*Case{}, map[string]string{}
}

// Apply applies one event.
func (c *Caseloads) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.WorkerRegistered:
		c.Workers[id] = &Worker{ID: id, Name: e.GetName(), PCN: e.GetPcn(), PCNName: e.GetPcnName(), Capacity: int(e.GetCapacity()), Active: true, Cases: map[string]bool{}}
	case *pathwayv1.WorkerCapacityChanged:
		if w := c.Workers[id]; w != nil {
			w.Capacity = int(e.GetCapacity())
		}
	case *pathwayv1.WorkerDeactivated:
		if w := c.Workers[id]; w != nil {
			w.Active = false
		}
	case *pathwayv1.WorkerCaseAssigned:
		if w := c.Workers[id]; w != nil {
			w.Cases[e.GetReferralId()] = true
		}
		cs := c.Cases[e.GetReferralId()]
		if cs == nil {
			cs = &Case{ID: e.GetReferralId(), Handoffs: []string{}}
			c.Cases[cs.ID] = cs
		}
		cs.Worker, cs.AssignedAt = id, at
	case *pathwayv1.WorkerCaseReleased:
		if w := c.Workers[id]; w != nil {
			delete(w.Cases, e.GetReferralId())
		}
		if cs := c.Cases[e.GetReferralId()]; cs != nil && cs.Worker == id {
			delete(c.Cases, cs.ID)
			for _, h := range cs.Handoffs {
				delete(c.HandoffOf, h)
			}
		}
	case *pathwayv1.ContactRecorded:
		if cs := c.Cases[id]; cs != nil {
			if e.GetDidNotAttend() {
				cs.DidNotAttend++
			} else {
				cs.Contacts++
				if t := e.GetAt().AsTime(); t.After(cs.LastContact) {
					cs.LastContact = t
				}
			}
		}
	case *pathwayv1.SupportPlanAgreed:
		if cs := c.Cases[id]; cs != nil {
			cs.PlanAgreed = true
		}
	case *pathwayv1.HandoffRequested:
		if cs := c.Cases[e.GetReferralId()]; cs != nil {
			cs.Handoffs = append(cs.Handoffs, id)
			c.HandoffOf[id] = cs.ID
		}
	case *pathwayv1.HandoffExpired:
		// No longer open, but the link worker must act on it: kept until
		// cancelled.
		if cs := c.Cases[c.HandoffOf[id]]; cs != nil {
			cs.Handoffs = slices.DeleteFunc(cs.Handoffs, func(h string) bool { return h == id })
			if cs.Expired == nil {
				cs.Expired = map[string]time.Time{}
			}
			cs.Expired[id] = at
		}
	case *pathwayv1.HandoffRejected, *pathwayv1.HandoffCompleted, *pathwayv1.HandoffFailed,
		*pathwayv1.HandoffCancelled, *pathwayv1.HandoffEnteredInError:
		if refID, ok := c.HandoffOf[id]; ok {
			if cs := c.Cases[refID]; cs != nil {
				cs.Handoffs = slices.DeleteFunc(cs.Handoffs, func(h string) bool { return h == id })
				delete(cs.Expired, id)
			}
			delete(c.HandoffOf, id)
		}
	}
	return nil
}

// Snapshot writes the state as JSON.
func (c *Caseloads) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(c) }

// Restore reads a Snapshot.
func (c *Caseloads) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(c) }

// Summary is one worker's load.
type Summary struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	PCN         string  `json:"pcn"`
	Active      bool    `json:"active"`
	Count       int     `json:"active_cases"`
	Capacity    int     `json:"capacity"`
	Utilisation float64 `json:"utilisation"`
}

// Summaries returns every worker's load, by PCN then name then id.
func (c *Caseloads) Summaries() []Summary {
	out := make([]Summary, 0, len(c.Workers))
	for _, w := range c.Workers {
		s := Summary{ID: w.ID, Name: w.Name, PCN: w.PCN, Active: w.Active, Count: len(w.Cases), Capacity: w.Capacity}
		if w.Capacity > 0 {
			s.Utilisation = float64(s.Count) / float64(w.Capacity)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := strings.Compare(a.PCN, b.PCN); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// CasesOf returns a worker's cases, the next action due first.
func (c *Caseloads) CasesOf(worker string) []Case {
	var out []Case
	for _, cs := range c.Cases {
		if cs.Worker == worker {
			out = append(out, *cs)
		}
	}
	slices.SortFunc(out, func(a, b Case) int {
		if c := a.NextActionDue().Compare(b.NextActionDue()); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
