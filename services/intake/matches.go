package intake

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Matches is the open referrals by person match (ReferralReceived's
// person_match: the keyed hash of the person's name, date of birth and
// postcode), built from the referral events of the log: a projection run
// on the projection engine, checkpointed. Intake asks it which open
// referrals a self-referral without an NHS number may duplicate, so that a
// referral with an NHS number needs no write on its match's person
// aggregate. It keeps only open referrals, so an event costs the same
// however long the log. It is safe for concurrent use.
type Matches struct {
	mu      sync.Mutex
	open    map[string]*matchEntry // open referrals, by id
	byMatch map[string][]string    // referral ids by person match, oldest first
}

type matchEntry struct {
	ID       string          `json:"id"`
	Match    string          `json:"match"`
	Sequence uint64          `json:"sequence"` // of its ReferralReceived: the order
	Status   referral.Status `json:"status"`
}

// MatchesName is the view's name as a projection (and its checkpoint's).
const MatchesName = "person-matches"

// NewMatches returns an empty view.
func NewMatches() *Matches {
	m := &Matches{}
	m.Reset()
	return m
}

// Name is the view's name as a projection.
func (m *Matches) Name() string { return MatchesName }

// Subject is the referral events.
func (m *Matches) Subject() string { return events.TypeSubject(referral.AggregateType) }

// EventTypes are the event types the view applies: the receipt and every
// change of status.
func (m *Matches) EventTypes() []string { return events.TypesOf(referral.StatusEvents()...) }

// Reset empties the view.
func (m *Matches) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open, m.byMatch = map[string]*matchEntry{}, map[string][]string{}
}

// Apply applies one referral event.
func (m *Matches) Apply(rec events.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := rec.Aggregate.ID
	if ev, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok && ev.GetPersonMatch() != "" {
		m.add(&matchEntry{ID: id, Match: ev.GetPersonMatch(), Sequence: rec.Sequence})
	}
	e := m.open[id]
	if e == nil {
		return nil
	}
	if e.Status = referral.StatusAfter(e.Status, rec.Payload); !e.Status.Active() {
		m.remove(e)
	}
	return nil
}

func (m *Matches) add(e *matchEntry) {
	if old := m.open[e.ID]; old != nil {
		m.remove(old) // received twice: only a test's log does that
	}
	m.open[e.ID] = e
	ids := m.byMatch[e.Match]
	// Events come in sequence order, so this is an append but on a restore.
	i, _ := slices.BinarySearchFunc(ids, e.Sequence, func(id string, seq uint64) int { return cmp.Compare(m.open[id].Sequence, seq) })
	m.byMatch[e.Match] = slices.Insert(ids, i, e.ID)
}

func (m *Matches) remove(e *matchEntry) {
	delete(m.open, e.ID)
	ids := slices.DeleteFunc(m.byMatch[e.Match], func(id string) bool { return id == e.ID })
	if len(ids) == 0 {
		delete(m.byMatch, e.Match)
	} else {
		m.byMatch[e.Match] = ids
	}
}

// Open returns the open referrals received with person match match,
// oldest first.
func (m *Matches) Open(match string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.byMatch[match])
}

// Snapshot writes the view for a checkpoint.
func (m *Matches) Snapshot(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	es := slices.SortedFunc(maps.Values(m.open), func(a, b *matchEntry) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return json.NewEncoder(w).Encode(es)
}

// Restore reads a checkpoint written by Snapshot.
func (m *Matches) Restore(r io.Reader) error {
	var es []*matchEntry
	if err := json.NewDecoder(r).Decode(&es); err != nil {
		return err
	}
	m.Reset()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range es {
		m.add(e)
	}
	return nil
}

// MatchFinder finds the open referrals received for a person match.
type MatchFinder interface {
	// Matching returns the referrals received with person match match
	// that are open as of the log's end now, oldest first.
	Matching(ctx context.Context, match string) ([]string, error)
}

// FindMatches is the MatchFinder of a Matches view run by engine on
// store's log: it waits for the view to reach the log's end, so a
// referral answered 201 before the question is in the answer.
func FindMatches(store *events.Store, engine *projections.Engine) MatchFinder {
	return engineMatches{store: store, engine: engine}
}

type engineMatches struct {
	store  *events.Store
	engine *projections.Engine
}

func (f engineMatches) Matching(ctx context.Context, match string) ([]string, error) {
	last, err := f.store.LastSequence(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.engine.WaitFor(ctx, last); err != nil {
		return nil, err
	}
	var ids []string
	f.engine.Read(func(p projections.Projection, _ uint64) { ids = p.(*Matches).Open(match) })
	return ids, nil
}
