// Package funnel is the read model of the referral funnel: how many
// referrals are at each stage, how long triage and the first contact take,
// where referrals come from, and how wellbeing changes from baseline to
// follow-up. It is built from referral events with their recorded times.
package funnel

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Name is the projection's name and checkpoint key.
const Name = "funnel"

// Referral is what the funnel keeps of one referral (no personal data).
type Referral struct {
	Stage  string `json:"stage"`
	Source string `json:"source"`
	// Practice is the GP practice (ODS code) as received; PCN the queue
	// it last waited on or was assigned from (its PCN's ODS code, or
	// "unmatched"), "" before either.
	Practice     string             `json:"practice,omitempty"`
	PCN          string             `json:"pcn,omitempty"`
	ReceivedAt   time.Time          `json:"received_at"`
	TriagedAt    time.Time          `json:"triaged_at"`
	FirstContact time.Time          `json:"first_contact"`
	Baseline     map[string]float64 `json:"baseline"`
	FollowUp     map[string]float64 `json:"follow_up"`
}

// Where chooses the referrals the funnel counts: of one PCN and one GP
// practice ("" for all), received from From up to To (each zero for no
// bound), for ComputeWhere.
type Where struct {
	PCN, Practice string
	From, To      time.Time
}

// Keep reports whether r is counted under w.
func (w Where) Keep(r *Referral) bool {
	return (w.PCN == "" || r.PCN == w.PCN) && (w.Practice == "" || r.Practice == w.Practice) &&
		(w.From.IsZero() || !r.ReceivedAt.Before(w.From)) && (w.To.IsZero() || r.ReceivedAt.Before(w.To))
}

// Funnel is the read model. It implements projections.Projection.
type Funnel struct {
	Referrals map[string]*Referral `json:"referrals"`
}

// New returns an empty read model.
func New() *Funnel { f := &Funnel{}; f.Reset(); return f }

// Name returns Name.
func (f *Funnel) Name() string { return Name }

// Version is 1 since the funnel keeps each referral's practice and last
// queue for its filters (projections.Versioned): a checkpoint of version 0
// has neither, so the engine replays the log.
func (f *Funnel) Version() int { return 1 }

// Subject returns the referral events.
func (f *Funnel) Subject() string { return events.TypeSubject("referral") }

// Reset empties the model.
func (f *Funnel) Reset() { f.Referrals = map[string]*Referral{} }

func wire(name, prefix string) string { return strings.ToLower(strings.TrimPrefix(name, prefix)) }

// Headline is the single score per instrument the funnel compares:
// ONS4 life satisfaction (0-10), the SWEMWBS and WEMWBS raw totals, and
// the mean MYCaW concern score (0-6, lower is better).
func Headline(m *pathwayv1.OutcomeMeasured) (string, float64, bool) {
	switch s := m.GetScores().(type) {
	case *pathwayv1.OutcomeMeasured_Ons4:
		return "ons4", float64(s.Ons4.GetLifeSatisfaction()), true
	case *pathwayv1.OutcomeMeasured_WarwickEdinburgh:
		return wire(m.GetInstrument().String(), "OUTCOME_INSTRUMENT_"), float64(s.WarwickEdinburgh.GetRawTotal()), true
	case *pathwayv1.OutcomeMeasured_Mycaw:
		cs := s.Mycaw.GetConcerns()
		if len(cs) == 0 {
			return "", 0, false
		}
		sum := 0.0
		for _, c := range cs {
			sum += float64(c.GetScore())
		}
		return "mycaw", sum / float64(len(cs)), true
	}
	return "", 0, false
}

// EventTypes returns the event types Apply uses (projections.Typed): a
// rebuild skips the others undecoded.
func (f *Funnel) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralTriaged{}, &pathwayv1.ReferralWaitlisted{},
		&pathwayv1.ReferralAssigned{}, &pathwayv1.ContactRecorded{}, &pathwayv1.OutcomeMeasured{},
		&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralReopened{},
		&pathwayv1.ReferralMerged{})
}

// Apply applies one referral event.
func (f *Funnel) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	r := f.Referrals[id]
	if r == nil {
		if _, ok := rec.Payload.(*pathwayv1.ReferralReceived); !ok {
			return nil
		}
		r = &Referral{Baseline: map[string]float64{}, FollowUp: map[string]float64{}}
		f.Referrals[id] = r
	}
	// The stage is the referral's status, by the domain's own rule.
	r.Stage = string(referral.StatusAfter(referral.Status(r.Stage), rec.Payload))
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		r.Source, r.ReceivedAt, r.Practice = wire(e.GetSource().String(), "REFERRAL_SOURCE_"), at, e.GetGpPractice()
	case *pathwayv1.ReferralWaitlisted:
		r.PCN = e.GetQueue()
	case *pathwayv1.ReferralAssigned:
		if e.GetQueue() != "" {
			r.PCN = e.GetQueue()
		}
	case *pathwayv1.ReferralTriaged:
		if r.TriagedAt.IsZero() && e.GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL {
			r.TriagedAt = at
		}
	case *pathwayv1.ContactRecorded:
		if t := e.GetAt().AsTime(); !e.GetDidNotAttend() && (r.FirstContact.IsZero() || t.Before(r.FirstContact)) {
			r.FirstContact = t
		}
	case *pathwayv1.OutcomeMeasured:
		if name, score, ok := Headline(e); ok {
			if e.GetPoint() == pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE {
				r.Baseline[name] = score
			} else {
				r.FollowUp[name] = score
			}
		}
	}
	return nil
}

// Snapshot writes the state as JSON.
func (f *Funnel) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(f) }

// Restore reads a Snapshot.
func (f *Funnel) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(f) }

// Percentiles are p50 and p90 of a duration, over N referrals.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_days"`
	P90 float64 `json:"p90_days"`
}

func percentiles(ds []time.Duration) Percentiles {
	p := Percentiles{N: len(ds)}
	if len(ds) > 0 {
		p.P50, p.P90 = projections.Quantile(ds, 0.5).Hours()/24, projections.Quantile(ds, 0.9).Hours()/24
	}
	return p
}

// Change is the baseline to follow-up change of one instrument's headline
// score over the referrals measured at both.
type Change struct {
	N            int     `json:"n"`
	MeanBaseline float64 `json:"mean_baseline"`
	MeanFollowUp float64 `json:"mean_follow_up"`
	MeanChange   float64 `json:"mean_change"`
}

// Stats are the funnel's figures.
type Stats struct {
	Stages             map[string]int    `json:"stages"`
	Total              int               `json:"total"`
	TimeToTriage       Percentiles       `json:"time_to_triage"`
	TimeToFirstContact Percentiles       `json:"time_to_first_contact"`
	BySource           map[string]int    `json:"by_source"`
	Outcomes           map[string]Change `json:"outcome_change"`
}

// Compute returns the funnel's figures.
func (f *Funnel) Compute() Stats { return f.ComputeWhere(nil) }

// ComputeWhere returns the funnel's figures over the referrals keep keeps
// (all when keep is nil): a PCN's, a practice's, or those received in a
// period, say.
func (f *Funnel) ComputeWhere(keep func(r *Referral) bool) Stats {
	s := Stats{Stages: map[string]int{}, BySource: map[string]int{}, Outcomes: map[string]Change{}}
	var triage, contact []time.Duration
	for _, r := range f.Referrals {
		if keep != nil && !keep(r) {
			continue
		}
		s.Total++
		s.Stages[r.Stage]++
		s.BySource[r.Source]++
		if !r.TriagedAt.IsZero() {
			triage = append(triage, r.TriagedAt.Sub(r.ReceivedAt))
		}
		if !r.FirstContact.IsZero() {
			contact = append(contact, max(r.FirstContact.Sub(r.ReceivedAt), 0))
		}
		for inst, b := range r.Baseline {
			if fu, ok := r.FollowUp[inst]; ok {
				c := s.Outcomes[inst]
				c.N++
				c.MeanBaseline += b
				c.MeanFollowUp += fu
				s.Outcomes[inst] = c
			}
		}
	}
	for inst, c := range s.Outcomes {
		c.MeanBaseline /= float64(c.N)
		c.MeanFollowUp /= float64(c.N)
		c.MeanChange = c.MeanFollowUp - c.MeanBaseline
		s.Outcomes[inst] = c
	}
	s.TimeToTriage, s.TimeToFirstContact = percentiles(triage), percentiles(contact)
	return s
}
