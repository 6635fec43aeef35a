// Package feed is the read model behind a referrer's status feed: for
// each referring organisation (the ODS code of ReferralReceived's
// referrer), its referrals in the order they last changed. It answers
// GET /v1/referrals?updated_since= and the FHIR ServiceRequest search.
//
// A referral changes with every event of its aggregate, whatever the type
// (triage, assignment, a contact, a plan, an erasure): the same rule as
// the referral's own UpdatedAt, which a read shows as updated_at and as
// the FHIR meta.lastUpdated, so the feed and the reads agree. It is built
// from the referral events' clear fields only and their recorded times,
// so a rebuild gives the same state; it holds ids, the organisation, the
// referrer's own reference (pseudonymous), codes and times, never
// personal data.
package feed

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Name is the projection's name and checkpoint key.
const Name = "referral-feed"

// Referral is one referral as the feed shows it.
type Referral struct {
	ID string `json:"id"`
	// Organisation is the ODS code of the organisation that referred.
	Organisation string `json:"organisation"`
	// ExternalReference is the referrer's own reference, when it gave one.
	ExternalReference string `json:"external_reference,omitempty"`
	// Stage is pathway's status of the referral.
	Stage referral.Status `json:"stage"`
	// CancelReason is why it was cancelled, when it was.
	CancelReason pathwayv1.CancelReason `json:"cancel_reason,omitempty"`
	// Version is the sequence of the referral's last event: its position
	// in the feed.
	Version uint64 `json:"version"`
	// UpdatedAt is when the referral's last event was recorded.
	UpdatedAt time.Time `json:"updated_at"`
	// Erased is set once the referral's personal data was erased.
	Erased bool `json:"erased,omitempty"`
}

// Status is the referral's FHIR ServiceRequest status.
func (r Referral) Status() string { return referral.ServiceRequestStatus(r.Stage, r.CancelReason) }

// View is the read model. It implements projections.Projection; its reads
// are safe for concurrent use with Apply only under the engine's Read.
type View struct {
	mu        sync.RWMutex
	referrals map[string]*Referral
	// byOrg lists each organisation's referrals and all every referral,
	// by Version ascending (derived: not in the checkpoint).
	byOrg map[string][]*Referral
	all   []*Referral
}

// New returns an empty view.
func New() *View { v := &View{}; v.Reset(); return v }

// Name returns Name.
func (v *View) Name() string { return Name }

// Subject is every referral's events: each one is a change. The view is
// not projections.Typed, since an event of any type changes the referral.
func (v *View) Subject() string { return events.TypeSubject(referral.AggregateType) }

// Reset empties the view.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.referrals, v.byOrg, v.all = map[string]*Referral{}, map[string][]*Referral{}, nil
}

// Apply applies one event, with its recorded time.
func (v *View) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.referrals[id]
	if e, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok && r == nil {
		r = &Referral{ID: id, Organisation: e.GetReferrer().GetOrganisation(), ExternalReference: e.GetExternalReference()}
		v.referrals[id] = r
	}
	if r == nil {
		return nil // an event of a referral never received
	}
	if r.Version != 0 {
		v.byOrg[r.Organisation] = remove(v.byOrg[r.Organisation], r)
		v.all = remove(v.all, r)
	}
	r.Stage = referral.StatusAfter(r.Stage, rec.Payload)
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralCancelled:
		r.CancelReason = e.GetReason()
	case *pathwayv1.ReferralReopened:
		r.CancelReason = pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED
	case *pathwayv1.ReferralErased:
		r.Erased = true
	}
	if rec.Erased {
		r.Erased = true
	}
	r.Version, r.UpdatedAt = rec.Sequence, rec.Envelope.GetRecordedAt().AsTime().UTC()
	// The log's order: this is the latest change of all.
	v.byOrg[r.Organisation] = append(v.byOrg[r.Organisation], r)
	v.all = append(v.all, r)
	return nil
}

// remove drops r from list, which is ordered by Version.
func remove(list []*Referral, r *Referral) []*Referral {
	i, ok := slices.BinarySearchFunc(list, r.Version, func(e *Referral, v uint64) int { return cmp.Compare(e.Version, v) })
	if !ok {
		return list
	}
	return slices.Delete(list, i, i+1)
}

// Snapshot writes the referrals for a checkpoint.
func (v *View) Snapshot(w io.Writer) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return json.NewEncoder(w).Encode(v.all)
}

// Restore reads a checkpoint written by Snapshot.
func (v *View) Restore(r io.Reader) error {
	var all []*Referral
	if err := json.NewDecoder(r).Decode(&all); err != nil {
		return err
	}
	v.Reset()
	v.mu.Lock()
	defer v.mu.Unlock()
	slices.SortFunc(all, func(a, b *Referral) int { return cmp.Compare(a.Version, b.Version) })
	for _, r := range all {
		v.referrals[r.ID] = r
		v.byOrg[r.Organisation] = append(v.byOrg[r.Organisation], r)
	}
	v.all = all
	return nil
}

// Query selects a page of the feed.
type Query struct {
	// Organisation is the referring organisation; "" is every one (for
	// staff).
	Organisation string
	// After is the Version of the last referral of the previous page (0:
	// from the start).
	After uint64
	// Match selects referrals (nil: all).
	Match func(Referral) bool
	// Limit is the most referrals in the page (at least 1).
	Limit int
}

// Page is one page of the feed.
type Page struct {
	Referrals []Referral
	// Next is the After of the next page; 0 when this is the last.
	Next uint64
	// Total is how many referrals match, on every page.
	Total int
}

// Page returns the referrals q selects, in the order they last changed
// (the position of their last event in the log), oldest change first. A
// referral that changes moves to the end, so a client that pages through
// the feed never misses one that exists throughout, and sees one that
// changed while it paged again, later.
func (v *View) Page(q Query) Page {
	v.mu.RLock()
	defer v.mu.RUnlock()
	list := v.all
	if q.Organisation != "" {
		list = v.byOrg[q.Organisation]
	}
	var p Page
	for _, r := range list {
		if q.Match != nil && !q.Match(*r) {
			continue
		}
		p.Total++
		if r.Version <= q.After {
			continue
		}
		if len(p.Referrals) < max(q.Limit, 1) {
			p.Referrals = append(p.Referrals, *r)
		} else if p.Next == 0 {
			p.Next = p.Referrals[len(p.Referrals)-1].Version
		}
	}
	if p.Referrals == nil {
		p.Referrals = []Referral{}
	}
	return p
}

// Get returns referral id; false when the view does not know it.
func (v *View) Get(id string) (Referral, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.referrals[id]
	if !ok {
		return Referral{}, false
	}
	return *r, true
}
