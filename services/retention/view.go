package retention

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// ViewName is the name (and checkpoint) of the view of closed episodes.
const ViewName = "retention-view"

// View knows, for every closed referral not yet erased, when it closed and
// how, and the handoffs of every referral not yet erased: a projection on
// the engine, checkpointed, holding ids, outcomes and times only. It is
// safe for concurrent use.
type View struct {
	mu       sync.Mutex
	closed   map[string]*closure
	handoffs map[string][]string // referral id -> its handoffs
}

type closure struct {
	Outcome  Outcome   `json:"outcome"`
	ClosedAt time.Time `json:"closed_at"`
}

// NewView returns an empty view.
func NewView() *View {
	v := &View{}
	v.Reset()
	return v
}

// Name is ViewName.
func (v *View) Name() string { return ViewName }

// Subject is every event: referrals close, handoffs belong to them.
func (v *View) Subject() string { return events.AllSubjects }

// EventTypes are the events that close, reopen or erase a referral, and a
// handoff's request.
func (v *View) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralTriaged{}, &pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{},
		&pathwayv1.ReferralMerged{}, &pathwayv1.ReferralReopened{}, &pathwayv1.ReferralErased{}, &pathwayv1.HandoffRequested{})
}

// Reset empties the view.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed, v.handoffs = map[string]*closure{}, map[string][]string{}
}

// Apply applies one event.
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	id, at := rec.Aggregate.ID, rec.Envelope.GetRecordedAt().AsTime()
	closeAs := func(o Outcome) { v.closed[id] = &closure{Outcome: o, ClosedAt: at} }
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralTriaged:
		switch e.GetDecision() {
		case pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE:
			closeAs(Declined)
		case pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST:
			closeAs(Signposted)
		case pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT:
			closeAs(Redirected)
		default:
			delete(v.closed, id) // accepted, or back to a person (an override)
		}
	case *pathwayv1.ReferralDischarged:
		closeAs(Discharged)
	case *pathwayv1.ReferralCancelled:
		if e.GetReason() == pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR {
			closeAs(EnteredInError)
		} else {
			closeAs(Revoked)
		}
	case *pathwayv1.ReferralMerged:
		if e.GetIntoReferralId() != "" {
			closeAs(Merged)
		}
	case *pathwayv1.ReferralReopened:
		delete(v.closed, id)
	case *pathwayv1.ReferralErased:
		delete(v.closed, id)
		delete(v.handoffs, id)
	case *pathwayv1.HandoffRequested:
		rid := e.GetReferralId()
		if rid != "" && !slices.Contains(v.handoffs[rid], id) {
			v.handoffs[rid] = append(v.handoffs[rid], id)
		}
	}
	return nil
}

// Due is a closed referral whose retention period has ended.
type Due struct {
	ID       string
	Outcome  Outcome
	ClosedAt time.Time
	Period   Period
	Handoffs []string
}

// Due lists the closed referrals whose period under p has ended at now,
// the longest closed first.
func (v *View) Due(now time.Time, p Policy) []Due {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Due
	for id, c := range v.closed {
		period, ok := p[c.Outcome]
		if !ok || period.After(c.ClosedAt).After(now) {
			continue
		}
		out = append(out, Due{ID: id, Outcome: c.Outcome, ClosedAt: c.ClosedAt, Period: period, Handoffs: slices.Clone(v.handoffs[id])})
	}
	slices.SortFunc(out, func(a, b Due) int {
		if c := a.ClosedAt.Compare(b.ClosedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

type snapshot struct {
	Closed   map[string]*closure `json:"closed"`
	Handoffs map[string][]string `json:"handoffs"`
}

// Contents is what the view holds: the closed referrals not yet erased,
// with how and when they closed, and the handoffs of each referral.
func (v *View) Contents() any {
	v.mu.Lock()
	defer v.mu.Unlock()
	b, _ := json.Marshal(snapshot{Closed: v.closed, Handoffs: v.handoffs})
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// Snapshot writes the view for a checkpoint.
func (v *View) Snapshot(w io.Writer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return json.NewEncoder(w).Encode(snapshot{Closed: v.closed, Handoffs: v.handoffs})
}

// Restore reads a checkpoint written by Snapshot.
func (v *View) Restore(r io.Reader) error {
	var s snapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return err
	}
	v.Reset()
	v.mu.Lock()
	defer v.mu.Unlock()
	if s.Closed != nil {
		v.closed = s.Closed
	}
	if s.Handoffs != nil {
		v.handoffs = s.Handoffs
	}
	return nil
}
