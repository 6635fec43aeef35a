package intake

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/referral"
)

// Index is intake's view of every referral, built from the referral events
// of the log: who has an open episode (by NHS number, and by name, date of
// birth and postcode for self-referrals without one), and which referrals
// wait for manual triage. It is kept in memory and rebuilt from the log at
// start. It is safe for concurrent use.
type Index struct {
	events.Position // last referral-scope sequence applied
	mu              sync.Mutex
	entries         map[string]*entry
	byNHS           map[string]string   // NHS number -> open referral id
	byMatch         map[string][]string // match key -> open referral ids
}

type entry struct {
	id         string
	status     referral.Status
	nhs        string
	match      string
	org        string
	receivedAt time.Time
	priority   pathwayv1.Priority
	escalated  bool
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		entries: map[string]*entry{},
		byNHS:   map[string]string{},
		byMatch: map[string][]string{},
	}
}

// Run follows the referral events of the log from the start, until ctx
// ends.
func (ix *Index) Run(ctx context.Context, store *events.Store, log *slog.Logger) error {
	for {
		from := ix.Applied() + 1
		for rec, err := range store.Subscribe(ctx, from, events.TypeSubject(referral.AggregateType)) {
			if err != nil {
				var de *events.DecodeError
				if errors.As(err, &de) {
					log.Error("intake index skipped an undecodable event", "seq", de.Sequence, "err", err)
					ix.Advance(de.Sequence)
					continue
				}
				log.Warn("intake index subscription ended, resuming", "err", err)
				break
			}
			ix.apply(rec)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func matchKey(given, family string, dob *pathwayv1.Date, postcode string) string {
	if dob == nil {
		return ""
	}
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	return norm(given) + "|" + norm(family) + "|" + dobString(dob) + "|" + strings.ToUpper(strings.ReplaceAll(postcode, " ", ""))
}

func dobString(d *pathwayv1.Date) string {
	return time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

func (ix *Index) apply(rec events.Record) {
	defer ix.Advance(rec.Sequence)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	id := rec.Aggregate.ID
	e := ix.entries[id]
	if e == nil {
		e = &entry{id: id}
		ix.entries[id] = e
	}
	wasActive := e.status.Active()
	switch ev := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		p := ev.GetPerson()
		e.status = referral.StatusReceived
		e.nhs = p.GetNhsNumber()
		e.match = matchKey(p.GetGivenName(), p.GetFamilyName(), p.GetDateOfBirth(), p.GetPostcode())
		e.org = ev.GetReferrer().GetOrganisation()
		e.receivedAt = rec.Envelope.GetRecordedAt().AsTime()
		e.priority = ev.GetUrgency()
	case *pathwayv1.SafeguardingEscalated:
		e.escalated = true
		e.priority = pathwayv1.Priority_PRIORITY_URGENT
	default:
		e.status = referral.StatusAfter(e.status, rec.Payload)
		if t, ok := rec.Payload.(*pathwayv1.ReferralTriaged); ok && t.GetPriority() != pathwayv1.Priority_PRIORITY_UNSPECIFIED {
			e.priority = t.GetPriority()
		}
	}
	isActive := e.status.Active()
	switch {
	case isActive && !wasActive:
		if e.nhs != "" {
			ix.byNHS[e.nhs] = id
		}
		if e.match != "" {
			ix.byMatch[e.match] = append(ix.byMatch[e.match], id)
		}
	case !isActive && wasActive:
		if e.nhs != "" && ix.byNHS[e.nhs] == id {
			delete(ix.byNHS, e.nhs)
		}
		if e.match != "" {
			ix.byMatch[e.match] = slices.DeleteFunc(ix.byMatch[e.match], func(s string) bool { return s == id })
			if len(ix.byMatch[e.match]) == 0 {
				delete(ix.byMatch, e.match)
			}
		}
	}
}

// OpenByNHS returns the open referral of the person with this NHS number.
func (ix *Index) OpenByNHS(nhs string) (string, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	id, ok := ix.byNHS[nhs]
	return id, ok
}

// OpenByMatch returns the open referrals of a person with this name, date
// of birth and postcode, oldest first.
func (ix *Index) OpenByMatch(given, family string, dob *pathwayv1.Date, postcode string) []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return slices.Clone(ix.byMatch[matchKey(given, family, dob, postcode)])
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
		if e.status == referral.StatusManualTriage {
			out = append(out, QueueEntry{ID: e.id, ReceivedAt: e.receivedAt, Priority: e.priority, Escalated: e.escalated})
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
