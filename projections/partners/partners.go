// Package partners is the read model of the VCSE side of the pathway: the
// directory (partner organisations and their services, for search), each
// partner's inbox of handoffs, and partner performance (acceptance rate,
// time to first response, outcomes) per partner and per service. It is
// built from partner, service and handoff events with their recorded
// times, so a rebuild gives the same state. It holds no personal data: the
// shared fields of a handoff stay in the handoff's events.
package partners

import (
	"cmp"
	"encoding/json"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
)

// Name is the projection's name and checkpoint key.
const Name = "partners"

// Partner is a partner organisation.
type Partner struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Service is a directory entry.
type Service struct {
	ID          string   `json:"id"`
	PartnerID   string   `json:"partner_id"`
	PartnerName string   `json:"partner_name"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Needs       []string `json:"needs"`
	Taxonomy    []string `json:"taxonomy_terms,omitempty"`
	MinAge      int      `json:"min_age,omitempty"`
	MaxAge      int      `json:"max_age,omitempty"`
	// Districts are the postcode districts or areas served; empty means
	// anywhere.
	Districts []string   `json:"postcode_districts,omitempty"`
	Locations []Location `json:"locations,omitempty"`
	Contact   Contact    `json:"contact"`
	Capacity  string     `json:"capacity_status"`
	HSDSID    string     `json:"hsds_service_id,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Location is where a service is delivered.
type Location struct {
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	Postcode  string  `json:"postcode,omitempty"`
	Latitude  float64 `json:"latitude,omitempty"`
	Longitude float64 `json:"longitude,omitempty"`
}

// Contact is how to reach a service.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Handoff is an inbox entry: where a handoff is, without the person.
type Handoff struct {
	ID          string    `json:"id"`
	ReferralID  string    `json:"referral_id"`
	PartnerID   string    `json:"partner_id"`
	ServiceID   string    `json:"service_id"`
	Status      string    `json:"status"`
	RequestedAt time.Time `json:"requested_at"`
	RespondBy   time.Time `json:"respond_by"`
	// FirstResponse is when the partner first answered (accepted or
	// rejected); zero while unanswered.
	FirstResponse time.Time `json:"first_response_at,omitzero"`
	// Accepted is true once the partner accepted it (kept in checkpoints
	// for the stats; not shown in the inbox).
	Accepted  bool      `json:"accepted,omitempty"`
	Reminders int       `json:"reminders"`
	Reason    string    `json:"reason,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Sequence  uint64    `json:"sequence"`
}

// Partners is the read model. It implements projections.Projection.
type Partners struct {
	Partners map[string]*Partner `json:"partners"`
	Services map[string]*Service `json:"services"`
	Handoffs map[string]*Handoff `json:"handoffs"`
}

// New returns an empty read model.
func New() *Partners { p := &Partners{}; p.Reset(); return p }

// Name returns Name.
func (p *Partners) Name() string { return Name }

// Subject returns the whole log; only partner, service and handoff events
// are applied.
func (p *Partners) Subject() string { return events.AllSubjects }

// EventTypes returns the event types Apply uses (projections.Typed): a
// rebuild skips the others undecoded.
func (p *Partners) EventTypes() []string {
	return events.TypesOf(&pathwayv1.PartnerRegistered{}, &pathwayv1.PartnerUpdated{}, &pathwayv1.ServiceRegistered{},
		&pathwayv1.ServiceUpdated{}, &pathwayv1.ServiceCapacityChanged{}, &pathwayv1.HandoffRequested{}, &pathwayv1.HandoffAccepted{},
		&pathwayv1.HandoffRejected{}, &pathwayv1.HandoffStarted{}, &pathwayv1.HandoffPutOnHold{}, &pathwayv1.HandoffCompleted{},
		&pathwayv1.HandoffFailed{}, &pathwayv1.HandoffCancelled{}, &pathwayv1.HandoffEnteredInError{}, &pathwayv1.HandoffExpired{},
		&pathwayv1.HandoffReminderSent{})
}

// Reset empties the model.
func (p *Partners) Reset() {
	p.Partners, p.Services, p.Handoffs = map[string]*Partner{}, map[string]*Service{}, map[string]*Handoff{}
}

// Snapshot writes the state as JSON.
func (p *Partners) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(p) }

// Restore reads a Snapshot.
func (p *Partners) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(p) }

func wire(name, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, prefix)), "_", "-")
}

// NeedName is the wire name of a need (as referrals use it).
func NeedName(n pathwayv1.Need) string {
	return strings.ToLower(strings.TrimPrefix(n.String(), "NEED_"))
}

// CapacityName is the wire name of a capacity signal.
func CapacityName(c pathwayv1.CapacityStatus) string { return wire(c.String(), "CAPACITY_STATUS_") }

func (p *Partners) setDetails(id string, d *pathwayv1.ServiceDetails, at time.Time) {
	s := p.Services[id]
	if s == nil {
		s = &Service{ID: id}
		p.Services[id] = s
	}
	s.PartnerID, s.Name, s.Description, s.HSDSID = d.GetPartnerId(), d.GetName(), d.GetDescription(), d.GetHsdsServiceId()
	s.Needs = s.Needs[:0]
	for _, n := range d.GetNeeds() {
		s.Needs = append(s.Needs, NeedName(n))
	}
	s.Taxonomy = slices.Clone(d.GetTaxonomyTerms())
	el := d.GetEligibility()
	s.MinAge, s.MaxAge, s.Districts = int(el.GetMinAge()), int(el.GetMaxAge()), slices.Clone(el.GetPostcodeDistricts())
	s.Locations = nil
	for _, l := range d.GetLocations() {
		s.Locations = append(s.Locations, Location{Name: l.GetName(), Address: l.GetAddress(), Postcode: l.GetPostcode(), Latitude: l.GetLatitude(), Longitude: l.GetLongitude()})
	}
	c := d.GetContact()
	s.Contact = Contact{Name: c.GetName(), Email: c.GetEmail(), Phone: c.GetPhone(), URL: c.GetUrl()}
	if pt := p.Partners[s.PartnerID]; pt != nil {
		s.PartnerName = pt.Name
	}
	s.UpdatedAt = at
}

// Apply applies one event.
func (p *Partners) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.PartnerRegistered:
		p.Partners[id] = &Partner{ID: id, Name: e.GetName()}
	case *pathwayv1.PartnerUpdated:
		p.Partners[id] = &Partner{ID: id, Name: e.GetName()}
		for _, s := range p.Services {
			if s.PartnerID == id {
				s.PartnerName = e.GetName()
			}
		}
	case *pathwayv1.ServiceRegistered:
		p.setDetails(id, e.GetDetails(), at)
		p.Services[id].Capacity = CapacityName(e.GetCapacityStatus())
	case *pathwayv1.ServiceUpdated:
		p.setDetails(id, e.GetDetails(), at)
	case *pathwayv1.ServiceCapacityChanged:
		if s := p.Services[id]; s != nil {
			s.Capacity, s.UpdatedAt = CapacityName(e.GetStatus()), at
		}
	case *pathwayv1.HandoffRequested:
		p.Handoffs[id] = &Handoff{ID: id, ReferralID: e.GetReferralId(), PartnerID: e.GetPartnerId(), ServiceID: e.GetServiceId(),
			Status: "requested", RequestedAt: at, RespondBy: e.GetRespondBy().AsTime(), UpdatedAt: at, Sequence: rec.Sequence}
	default:
		h := p.Handoffs[id]
		if h == nil || rec.Aggregate.Type != "handoff" {
			return nil
		}
		switch e := e.(type) {
		case *pathwayv1.HandoffAccepted:
			h.Accepted = true
		case *pathwayv1.HandoffCompleted:
			h.Outcome = e.GetOutcome()
		case *pathwayv1.HandoffReminderSent:
			h.Reminders = int(e.GetReminderNumber())
		case *pathwayv1.HandoffRejected, *pathwayv1.HandoffPutOnHold, *pathwayv1.HandoffFailed, *pathwayv1.HandoffCancelled,
			*pathwayv1.HandoffEnteredInError, *pathwayv1.HandoffStarted, *pathwayv1.HandoffExpired:
		default:
			// Not one of EventTypes: a replay skips it undecoded, so it
			// must not touch the state live either.
			return nil
		}
		// The status and its reason move by the domain's own rules.
		h.Reason = handoff.ReasonAfter(h.Reason, e)
		if status := string(handoff.StatusAfter(handoff.Status(h.Status), e)); status != h.Status {
			if h.Status == string(handoff.StatusRequested) && (status == string(handoff.StatusAccepted) || status == string(handoff.StatusRejected)) {
				h.FirstResponse = at
			}
			h.Status = status
		}
		h.UpdatedAt, h.Sequence = at, rec.Sequence
	}
	return nil
}

// Inbox returns a partner's handoffs, newest first, optionally only those
// in status (empty: all).
func (p *Partners) Inbox(partnerID, status string) []Handoff {
	var out []Handoff
	for _, h := range p.Handoffs {
		if h.PartnerID == partnerID && (status == "" || h.Status == status) {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b Handoff) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// ServicesOf returns a partner's services by name.
func (p *Partners) ServicesOf(partnerID string) []Service {
	var out []Service
	for _, s := range p.Services {
		if s.PartnerID == partnerID {
			out = append(out, *s)
		}
	}
	slices.SortFunc(out, func(a, b Service) int { return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID)) })
	return out
}

// Query filters a directory search. Empty fields do not filter.
type Query struct {
	// Need is a need's wire name, e.g. "loneliness".
	Need string
	// District is the person's postcode district, e.g. "TS1": services
	// that serve it (or anywhere) match, and those with a location in it
	// come first.
	District string
	// Text must appear in the service's or partner's name, description or
	// taxonomy terms (case-insensitive).
	Text string
	// Age, when positive, must be within the service's age range.
	Age int
}

// Search returns the services that match q: those with a location in the
// district first, then by name.
func (p *Partners) Search(q Query) []Service {
	text := strings.ToLower(strings.TrimSpace(q.Text))
	area := districtArea(q.District)
	local := func(s *Service) bool {
		for _, l := range s.Locations {
			if d, _, _ := strings.Cut(l.Postcode, " "); q.District != "" && d == q.District {
				return true
			}
		}
		return false
	}
	type hit struct {
		s     Service
		local bool
	}
	var hits []hit
	for _, s := range p.Services {
		if q.Need != "" && !slices.Contains(s.Needs, q.Need) {
			continue
		}
		if q.Age > 0 && (q.Age < s.MinAge || (s.MaxAge > 0 && q.Age > s.MaxAge)) {
			continue
		}
		if q.District != "" && len(s.Districts) > 0 && !slices.Contains(s.Districts, q.District) && !slices.Contains(s.Districts, area) {
			continue
		}
		if text != "" {
			hay := strings.ToLower(s.Name + "\n" + s.Description + "\n" + s.PartnerName + "\n" + strings.Join(s.Taxonomy, "\n"))
			if !strings.Contains(hay, text) {
				continue
			}
		}
		hits = append(hits, hit{*s, local(s)})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.local != b.local {
			if a.local {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.s.Name, b.s.Name), strings.Compare(a.s.ID, b.s.ID))
	})
	out := make([]Service, len(hits))
	for i, h := range hits {
		out[i] = h.s
	}
	return out
}

// districtArea is the postcode area of a district: "TS1" -> "TS".
func districtArea(d string) string {
	i := strings.IndexAny(d, "0123456789")
	if i <= 0 {
		return d
	}
	return d[:i]
}

// Stat is partner performance over a set of handoffs.
type Stat struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// PartnerID is set on per-service stats.
	PartnerID string `json:"partner_id,omitempty"`
	Requested int    `json:"requested"`
	// Awaiting are handoffs still waiting for the partner's first answer.
	Awaiting  int `json:"awaiting_response"`
	Accepted  int `json:"accepted"`
	Rejected  int `json:"rejected"`
	Expired   int `json:"expired"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	// AcceptanceRate is accepted / (accepted + rejected + expired): the
	// share of handoffs that reached a decision, or should have, that
	// the partner took on. Zero with no decisions.
	AcceptanceRate float64 `json:"acceptance_rate"`
	// FirstResponse is the time from request to the partner's first
	// answer, in hours.
	FirstResponse Percentiles    `json:"time_to_first_response"`
	Outcomes      map[string]int `json:"outcomes"`
}

// Percentiles are p50 and p90 of a duration, in hours, over N handoffs.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_hours"`
	P90 float64 `json:"p90_hours"`
}

func percentiles(ds []time.Duration) Percentiles {
	p := Percentiles{N: len(ds)}
	if len(ds) > 0 {
		hours := func(d time.Duration) float64 { return math.Round(d.Hours()*100) / 100 }
		p.P50, p.P90 = hours(projections.Quantile(ds, 0.5)), hours(projections.Quantile(ds, 0.9))
	}
	return p
}

type tally struct {
	stat  Stat
	times []time.Duration
}

func (t *tally) add(h *Handoff) {
	s := &t.stat
	if h.Status == "entered-in-error" {
		return
	}
	s.Requested++
	if h.Status == "requested" {
		s.Awaiting++
	}
	if h.Accepted {
		s.Accepted++
	}
	switch h.Status {
	case "rejected":
		s.Rejected++
	case "expired":
		s.Expired++
	case "completed":
		s.Completed++
		s.Outcomes[h.Outcome]++
	case "failed":
		s.Failed++
	case "cancelled":
		s.Cancelled++
	}
	if !h.FirstResponse.IsZero() {
		t.times = append(t.times, h.FirstResponse.Sub(h.RequestedAt))
	}
}

func (t *tally) done() Stat {
	s := t.stat
	if d := s.Accepted + s.Rejected + s.Expired; d > 0 {
		s.AcceptanceRate = math.Round(float64(s.Accepted)/float64(d)*1000) / 1000
	}
	s.FirstResponse = percentiles(t.times)
	return s
}

// Stats returns performance per partner and per service, each sorted by
// name. Every registered partner and service appears, with zeros when it
// had no handoffs.
func (p *Partners) Stats() (perPartner, perService []Stat) { return p.StatsWhere(nil) }

// StatsWhere is Stats over the handoffs keep keeps (all when keep is
// nil): those requested in a period, say.
func (p *Partners) StatsWhere(keep func(h *Handoff) bool) (perPartner, perService []Stat) {
	byPartner := map[string]*tally{}
	byService := map[string]*tally{}
	for id, pt := range p.Partners {
		byPartner[id] = &tally{stat: Stat{ID: id, Name: pt.Name, Outcomes: map[string]int{}}}
	}
	for id, s := range p.Services {
		byService[id] = &tally{stat: Stat{ID: id, Name: s.Name, PartnerID: s.PartnerID, Outcomes: map[string]int{}}}
	}
	for _, h := range p.Handoffs {
		if keep != nil && !keep(h) {
			continue
		}
		if t := byPartner[h.PartnerID]; t != nil {
			t.add(h)
		}
		if t := byService[h.ServiceID]; t != nil {
			t.add(h)
		}
	}
	collect := func(m map[string]*tally) []Stat {
		out := make([]Stat, 0, len(m))
		for _, t := range m {
			out = append(out, t.done())
		}
		slices.SortFunc(out, func(a, b Stat) int { return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID)) })
		return out
	}
	return collect(byPartner), collect(byService)
}

// Counts are the handoffs that need someone's attention.
type Counts struct {
	// Awaiting are handoffs requested and not yet answered by the partner.
	Awaiting int `json:"awaiting_response"`
	// Overdue are awaiting handoffs whose deadline has passed at the time
	// asked but which the clock has not expired yet.
	Overdue int `json:"overdue"`
	// Expired are handoffs left unanswered past their deadline, which the
	// link worker has not yet cancelled or replaced.
	Expired int `json:"expired"`
	// Open are handoffs the partner is working on (accepted, in progress
	// or on hold).
	Open int `json:"open"`
}

// Attention counts the handoffs awaiting a partner or expired, at now.
func (p *Partners) Attention(now time.Time) Counts {
	var c Counts
	for _, h := range p.Handoffs {
		switch h.Status {
		case "requested":
			c.Awaiting++
			if !now.Before(h.RespondBy) {
				c.Overdue++
			}
		case "expired":
			c.Expired++
		case "accepted", "in-progress", "on-hold":
			c.Open++
		}
	}
	return c
}
