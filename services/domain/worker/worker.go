// Package worker holds the rules of a link worker on the roster: who they
// are, which practices of which PCN they cover, their capacity (the most
// active cases they carry), their availability, and their caseload. It
// imports no NATS or HTTP.
package worker

import (
	"fmt"
	"slices"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AggregateType is the aggregate type of a link worker in the event log.
const AggregateType = "worker"

var (
	// ErrConflict reports a command the worker's state does not allow. It
	// is a kernel.Conflict error; the errors that wrap it say what.
	ErrConflict = kernel.Errorf(kernel.Conflict, "worker: not allowed in this state")
	// ErrInvalid reports invalid arguments. It is a kernel.Invalid error;
	// the errors that wrap it say which (Register: in Fields).
	ErrInvalid = kernel.Errorf(kernel.Invalid, "worker: invalid command")
)

// Worker is the state of one link worker. The zero value is a worker not
// registered yet.
type Worker struct {
	id          string
	version     uint64
	registered  bool
	name        string
	pcn         string
	practices   []string
	capacity    int
	languages   []string
	skills      []string
	active      bool
	absentFrom  time.Time
	absentUntil time.Time
	cases       []string
}

// Replay builds a worker from its events, each with its sequence.
func Replay(id string, changes []kernel.Change) *Worker {
	w := &Worker{id: id}
	for _, c := range changes {
		w.Apply(c)
	}
	return w
}

// Apply applies one event.
func (w *Worker) Apply(c kernel.Change) {
	w.version = c.Sequence
	switch e := c.Payload.(type) {
	case *pathwayv1.WorkerRegistered:
		w.registered, w.active = true, true
		w.name, w.pcn = e.GetName(), e.GetPcn()
		w.practices = slices.Clone(e.GetPractices())
		w.capacity = int(e.GetCapacity())
		w.languages, w.skills = slices.Clone(e.GetLanguages()), slices.Clone(e.GetSkills())
	case *pathwayv1.WorkerCapacityChanged:
		w.capacity = int(e.GetCapacity())
	case *pathwayv1.WorkerAvailabilityChanged:
		if e.GetReturned() {
			w.absentFrom, w.absentUntil = time.Time{}, time.Time{}
		} else {
			w.absentFrom, w.absentUntil = e.GetAbsentFrom().AsTime(), time.Time{}
			if e.GetAbsentUntil() != nil {
				w.absentUntil = e.GetAbsentUntil().AsTime()
			}
		}
	case *pathwayv1.WorkerDeactivated:
		w.active = false
	case *pathwayv1.WorkerCaseAssigned:
		if !slices.Contains(w.cases, e.GetReferralId()) {
			w.cases = append(w.cases, e.GetReferralId())
		}
	case *pathwayv1.WorkerCaseReleased:
		w.cases = slices.DeleteFunc(w.cases, func(id string) bool { return id == e.GetReferralId() })
	}
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.id }

// Version is the stream sequence of the worker's last event.
func (w *Worker) Version() uint64 { return w.version }

// Registered reports whether the worker exists.
func (w *Worker) Registered() bool { return w.registered }

// Name returns the worker's name.
func (w *Worker) Name() string { return w.name }

// PCN returns the ODS code of the worker's primary care network.
func (w *Worker) PCN() string { return w.pcn }

// Practices returns the practices the worker covers.
func (w *Worker) Practices() []string { return w.practices }

// Capacity is the most active cases the worker carries.
func (w *Worker) Capacity() int { return w.capacity }

// Languages returns the languages the worker speaks.
func (w *Worker) Languages() []string { return w.languages }

// Active reports whether the worker is on the roster (not deactivated).
func (w *Worker) Active() bool { return w.active }

// Cases returns the referral ids of the worker's active caseload.
func (w *Worker) Cases() []string { return w.cases }

// Available reports whether the worker is active and not absent at t.
func (w *Worker) Available(t time.Time) bool {
	if !w.registered || !w.active {
		return false
	}
	if w.absentFrom.IsZero() {
		return true
	}
	absent := !t.Before(w.absentFrom) && (w.absentUntil.IsZero() || t.Before(w.absentUntil))
	return !absent
}

// HasPlace reports whether the worker can take another case at t.
func (w *Worker) HasPlace(t time.Time) bool {
	return w.Available(t) && len(w.cases) < w.capacity
}

// AbsentUntil is the end of the worker's current or next absence; zero
// when there is none or it is open-ended.
func (w *Worker) AbsentUntil() time.Time { return w.absentUntil }

// Covers reports whether the worker covers the practice.
func (w *Worker) Covers(practice string) bool { return slices.Contains(w.practices, practice) }

// Load is the share of capacity in use, 0 to 1 (1 when capacity is 0).
func (w *Worker) Load() float64 {
	if w.capacity == 0 {
		return 1
	}
	return float64(len(w.cases)) / float64(w.capacity)
}

// Register decides the event that adds a worker to the roster.
func Register(e *pathwayv1.WorkerRegistered) ([]proto.Message, error) {
	var errs []kernel.FieldError
	if e.GetName() == "" || len(e.GetName()) > 200 {
		errs = append(errs, kernel.FieldError{Field: "name", Reason: "is required, at most 200 characters"})
	} else {
		errs = append(errs, kernel.Line("name", e.GetName())...)
	}
	if len(e.GetPcnName()) > 200 {
		errs = append(errs, kernel.FieldError{Field: "pcn_name", Reason: "at most 200 characters"})
	} else if e.GetPcnName() != "" {
		errs = append(errs, kernel.Line("pcn_name", e.GetPcnName())...)
	}
	for i, l := range e.GetLanguages() {
		errs = append(errs, kernel.Line(fmt.Sprintf("languages[%d]", i), l)...)
	}
	for i, s := range e.GetSkills() {
		errs = append(errs, kernel.Line(fmt.Sprintf("skills[%d]", i), s)...)
	}
	if !referral.ValidPCNCode(e.GetPcn()) {
		errs = append(errs, kernel.FieldError{Field: "pcn", Reason: "must be a PCN ODS code, U and five digits"})
	}
	if len(e.GetPractices()) == 0 {
		errs = append(errs, kernel.FieldError{Field: "practices", Reason: "at least one practice is required"})
	}
	for i, p := range e.GetPractices() {
		if !referral.ValidPracticeCode(p) {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("practices[%d]", i), Reason: "must be a GP practice ODS code"})
		}
	}
	if e.GetCapacity() > 1000 {
		errs = append(errs, kernel.FieldError{Field: "capacity", Reason: "at most 1000"})
	}
	if len(errs) > 0 {
		return nil, ErrInvalid.WithFields(errs...)
	}
	return []proto.Message{e}, nil
}

// AssignCase decides the worker's side of an assignment: the case joins
// the caseload if the worker has a place at t.
func (w *Worker) AssignCase(referralID string, t time.Time) ([]proto.Message, error) {
	if slices.Contains(w.cases, referralID) {
		return nil, ErrConflict.Errorf("the case is already on the caseload")
	}
	if !w.HasPlace(t) {
		return nil, ErrConflict.Errorf("no place on the caseload (%d of %d, available %v)", len(w.cases), w.capacity, w.Available(t))
	}
	return []proto.Message{&pathwayv1.WorkerCaseAssigned{ReferralId: referralID}}, nil
}

// ReleaseCase decides the event that frees the case's place; nothing when
// the case is not on the caseload.
func (w *Worker) ReleaseCase(referralID, reason string) []proto.Message {
	if !slices.Contains(w.cases, referralID) {
		return nil
	}
	return []proto.Message{&pathwayv1.WorkerCaseReleased{ReferralId: referralID, Reason: reason}}
}

// ChangeCapacity decides a new capacity. It may fall below the current
// caseload: no case is taken away, but no new one comes until it frees.
func (w *Worker) ChangeCapacity(capacity uint32, reason string) ([]proto.Message, error) {
	if !w.registered || !w.active {
		return nil, ErrConflict.Errorf("the worker is not on the roster")
	}
	if capacity > 1000 {
		return nil, ErrInvalid.Errorf("capacity at most 1000")
	}
	if errs := kernel.Prose("reason", reason); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	if int(capacity) == w.capacity {
		return nil, nil
	}
	return []proto.Message{&pathwayv1.WorkerCapacityChanged{Capacity: capacity, PreviousCapacity: uint32(w.capacity), Reason: reason}}, nil
}

// Absent decides an absence from from until until (open-ended when zero).
func (w *Worker) Absent(from, until time.Time, reason string) ([]proto.Message, error) {
	if !w.registered || !w.active {
		return nil, ErrConflict.Errorf("the worker is not on the roster")
	}
	if from.IsZero() || (!until.IsZero() && !until.After(from)) {
		return nil, ErrInvalid.Errorf("an absence needs a start, and an end after it")
	}
	if errs := kernel.Prose("reason", reason); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	e := &pathwayv1.WorkerAvailabilityChanged{AbsentFrom: timestamppb.New(from), Reason: reason}
	if !until.IsZero() {
		e.AbsentUntil = timestamppb.New(until)
	}
	return []proto.Message{e}, nil
}

// Return decides the end of an absence.
func (w *Worker) Return(reason string) ([]proto.Message, error) {
	if !w.registered || !w.active {
		return nil, ErrConflict.Errorf("the worker is not on the roster")
	}
	if w.absentFrom.IsZero() {
		return nil, ErrConflict.Errorf("the worker is not absent")
	}
	if errs := kernel.Prose("reason", reason); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	return []proto.Message{&pathwayv1.WorkerAvailabilityChanged{Returned: true, Reason: reason}}, nil
}

// Deactivate decides taking the worker off the roster. Their open cases
// stay with them until reassigned by staff.
func (w *Worker) Deactivate(reason string) ([]proto.Message, error) {
	if !w.registered || !w.active {
		return nil, ErrConflict.Errorf("the worker is not on the roster")
	}
	if reason == "" {
		return nil, ErrInvalid.Errorf("a reason is required")
	}
	if errs := kernel.Prose("reason", reason); errs != nil {
		return nil, ErrInvalid.WithFields(errs...)
	}
	return []proto.Message{&pathwayv1.WorkerDeactivated{Reason: reason}}, nil
}

// State is a worker's state as plain data, for a read model to keep in a
// checkpoint; FromState gives the worker back.
type State struct {
	ID          string    `json:"id"`
	Version     uint64    `json:"version"`
	Registered  bool      `json:"registered"`
	Name        string    `json:"name"`
	PCN         string    `json:"pcn"`
	Practices   []string  `json:"practices"`
	Capacity    int       `json:"capacity"`
	Languages   []string  `json:"languages"`
	Skills      []string  `json:"skills"`
	Active      bool      `json:"active"`
	AbsentFrom  time.Time `json:"absent_from"`
	AbsentUntil time.Time `json:"absent_until"`
	Cases       []string  `json:"cases"`
}

// State returns the worker's state as plain data.
func (w *Worker) State() State {
	return State{ID: w.id, Version: w.version, Registered: w.registered, Name: w.name, PCN: w.pcn, Practices: w.practices,
		Capacity: w.capacity, Languages: w.languages, Skills: w.skills, Active: w.active, AbsentFrom: w.absentFrom,
		AbsentUntil: w.absentUntil, Cases: w.cases}
}

// FromState returns the worker whose state is s.
func FromState(s State) *Worker {
	return &Worker{id: s.ID, version: s.Version, registered: s.Registered, name: s.Name, pcn: s.PCN, practices: s.Practices,
		capacity: s.Capacity, languages: s.Languages, skills: s.Skills, active: s.Active, absentFrom: s.AbsentFrom,
		absentUntil: s.AbsentUntil, cases: s.Cases}
}

// Clone returns a copy of the worker that events can be applied to
// without changing w.
func (w *Worker) Clone() *Worker {
	c := *w
	c.practices, c.languages, c.skills, c.cases = slices.Clone(w.practices), slices.Clone(w.languages), slices.Clone(w.skills), slices.Clone(w.cases)
	return &c
}
