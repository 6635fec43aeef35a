// Package timeseries is the read model of how the pathway changes over
// time: the size of every waitlist hour by hour, and per day how many
// referrals came in, went out, joined a waitlist and got a link worker.
// Days are UK calendar days (Europe/London, kernel.UKTime): midnight to
// midnight as the teams who read them live them, so 00:30 BST on 1 June
// is 1 June, not 31 May. It is built from referral events with their recorded times only, so a
// rebuild gives the same state. It keeps no personal data.
package timeseries

import (
	"encoding/json"
	"io"
	"sort"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// Name is the projection's name and checkpoint key.
const Name = "timeseries"

// Step is the resolution of the waitlist series: one point per hour in
// which a queue's size changed.
const Step = time.Hour

// DayLayout is the layout of Series.Days keys: UK calendar dates.
const DayLayout = "2006-01-02"

// Point is a queue's size at the end of the hour starting At.
type Point struct {
	At   time.Time `json:"at"`
	Size int       `json:"size"`
}

// Day is one UK day's movement.
type Day struct {
	// In counts referrals received.
	In int `json:"in"`
	// Out counts referrals that closed: declined, signposted or redirected
	// at triage, discharged, cancelled, or merged into another.
	Out int `json:"out"`
	// Waitlisted counts referrals that joined a waitlist.
	Waitlisted int `json:"waitlisted"`
	// Assigned counts referrals given a link worker.
	Assigned int `json:"assigned"`
}

// Series is the read model. It implements projections.Projection; read
// it through its engine.
type Series struct {
	// Waiting maps each waitlisted referral to its queue.
	Waiting map[string]string `json:"waiting"`
	// Open holds the referrals not closed, to count each closing once.
	Open map[string]bool `json:"open"`
	// Sizes holds, per queue, its size at each hour it changed, oldest
	// first.
	Sizes map[string][]Point `json:"sizes"`
	// Days holds each day's movement, by DayLayout date.
	Days map[string]*Day `json:"days"`
}

// New returns an empty read model.
func New() *Series { s := &Series{}; s.Reset(); return s }

// Name returns Name.
func (s *Series) Name() string { return Name }

// Version is 1 since days became UK days (projections.Versioned): a
// checkpoint of version 0 kept UTC days, so the engine replays the log.
func (s *Series) Version() int { return 1 }

// Subject returns the referral events.
func (s *Series) Subject() string { return events.TypeSubject("referral") }

// EventTypes returns the event types Apply uses (projections.Typed).
func (s *Series) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralTriaged{}, &pathwayv1.ReferralWaitlisted{},
		&pathwayv1.ReferralAssigned{}, &pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{},
		&pathwayv1.ReferralMerged{}, &pathwayv1.ReferralReopened{})
}

// Reset empties the model.
func (s *Series) Reset() {
	s.Waiting, s.Open, s.Sizes, s.Days = map[string]string{}, map[string]bool{}, map[string][]Point{}, map[string]*Day{}
}

// DayOf returns the UK calendar date of t as a Days key.
func DayOf(t time.Time) string { return t.In(kernel.UKTime()).Format(DayLayout) }

func (s *Series) day(at time.Time) *Day {
	k := DayOf(at)
	d := s.Days[k]
	if d == nil {
		d = &Day{}
		s.Days[k] = d
	}
	return d
}

// size returns a queue's current size.
func (s *Series) size(queue string) int {
	pts := s.Sizes[queue]
	if len(pts) == 0 {
		return 0
	}
	return pts[len(pts)-1].Size
}

// move changes a queue's size by delta at.
func (s *Series) move(queue string, delta int, at time.Time) {
	h := at.UTC().Truncate(Step)
	size := s.size(queue) + delta
	pts := s.Sizes[queue]
	if n := len(pts); n > 0 && !pts[n-1].At.Before(h) {
		pts[n-1].Size = size
		return
	}
	s.Sizes[queue] = append(pts, Point{At: h, Size: size})
}

// leave takes a referral off its waitlist, if it is on one.
func (s *Series) leave(id string, at time.Time) bool {
	q, ok := s.Waiting[id]
	if ok {
		delete(s.Waiting, id)
		s.move(q, -1, at)
	}
	return ok
}

func (s *Series) close(id string, at time.Time) {
	s.leave(id, at)
	if s.Open[id] {
		delete(s.Open, id)
		s.day(at).Out++
	}
}

// Apply applies one referral event.
func (s *Series) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		s.Open[id] = true
		s.day(at).In++
	case *pathwayv1.ReferralTriaged:
		switch e.GetDecision() {
		case pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST,
			pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT:
			s.close(id, at)
		default:
			s.Open[id] = true // a decision overridden by staff opens it again
		}
	case *pathwayv1.ReferralWaitlisted:
		q := e.GetQueue()
		if old, ok := s.Waiting[id]; ok && old == q {
			return nil
		}
		if !s.leave(id, at) {
			s.day(at).Waitlisted++
		}
		s.Waiting[id] = q
		s.move(q, 1, at)
	case *pathwayv1.ReferralAssigned:
		s.leave(id, at)
		s.day(at).Assigned++
	case *pathwayv1.ReferralDischarged, *pathwayv1.ReferralCancelled:
		s.close(id, at)
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() != "" {
			s.close(id, at)
		}
	case *pathwayv1.ReferralReopened:
		s.Open[id] = true
	}
	return nil
}

// Snapshot writes the state as JSON.
func (s *Series) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(s) }

// Restore reads a Snapshot.
func (s *Series) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(s) }

// Queues returns every queue that has ever had an entry, sorted.
func (s *Series) Queues() []string {
	out := make([]string, 0, len(s.Sizes))
	for q := range s.Sizes {
		out = append(out, q)
	}
	sort.Strings(out)
	return out
}

// SizeAt returns a queue's size at t: its size at the end of the last
// hour with a change that started at or before t.
func (s *Series) SizeAt(queue string, t time.Time) int {
	pts := s.Sizes[queue]
	i := sort.Search(len(pts), func(i int) bool { return pts[i].At.After(t) })
	if i == 0 {
		return 0
	}
	return pts[i-1].Size
}

// Sample returns a queue's size at from, from+step, ... up to and
// including to (step of at least Step). It returns nil when from is after
// to.
func (s *Series) Sample(queue string, from, to time.Time, step time.Duration) []Point {
	step = max(step, Step)
	if from.After(to) {
		return nil
	}
	var out []Point
	for t := from; !t.After(to); t = t.Add(step) {
		out = append(out, Point{At: t, Size: s.SizeAt(queue, t)})
	}
	return out
}

// On returns the movement of the UK day that contains t (zero when
// nothing happened).
func (s *Series) On(t time.Time) Day {
	if d := s.Days[DayOf(t)]; d != nil {
		return *d
	}
	return Day{}
}

// DaysBetween returns the movement of every UK day from from's to to's,
// in order, with their dates (each day's UK midnight; a day is 23 or 25
// hours long when the clocks change).
func (s *Series) DaysBetween(from, to time.Time) ([]time.Time, []Day) {
	uk := from.In(kernel.UKTime())
	start := time.Date(uk.Year(), uk.Month(), uk.Day(), 0, 0, 0, 0, kernel.UKTime())
	var dates []time.Time
	var days []Day
	for d := start; !d.After(to); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d)
		days = append(days, s.On(d))
	}
	return dates, days
}
