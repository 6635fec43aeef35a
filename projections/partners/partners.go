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

// Service is a directory entry: what a link worker reads to choose a
// service (the search results and the service's page show it all).
type Service struct {
	ID            string   `json:"id"`
	PartnerID     string   `json:"partner_id"`
	PartnerName   string   `json:"partner_name"`
	Name          string   `json:"name"`
	AlternateName string   `json:"alternate_name,omitempty"`
	Description   string   `json:"description,omitempty"`
	Needs         []string `json:"needs"`
	Taxonomy      []string `json:"taxonomy_terms,omitempty"`
	MinAge        int      `json:"min_age,omitempty"`
	MaxAge        int      `json:"max_age,omitempty"`
	// Eligibility is who the service is for, in the directory's words.
	Eligibility string `json:"eligibility_description,omitempty"`
	// Districts are the postcode districts or areas served; empty means
	// anywhere.
	Districts []string `json:"postcode_districts,omitempty"`
	// ServiceAreas are the areas served in the directory's own words.
	ServiceAreas []string   `json:"service_areas,omitempty"`
	Locations    []Location `json:"locations,omitempty"`
	Contact      Contact    `json:"contact"`
	// Contacts are the named contacts (staff in their role).
	Contacts  []*pathwayv1.Contact  `json:"contacts,omitempty"`
	Languages []*pathwayv1.Language `json:"languages,omitempty"`
	// Schedules are when the service runs wherever it runs (each location
	// may have its own).
	Schedules          []*pathwayv1.Schedule   `json:"schedules,omitempty"`
	Fees               string                  `json:"fees_description,omitempty"`
	CostOptions        []*pathwayv1.CostOption `json:"cost_options,omitempty"`
	ApplicationProcess string                  `json:"application_process,omitempty"`
	Interpretation     string                  `json:"interpretation_services,omitempty"`
	WaitTime           string                  `json:"wait_time,omitempty"`
	Alert              string                  `json:"alert,omitempty"`
	RequiredDocuments  []string                `json:"required_documents,omitempty"`
	Capacity           string                  `json:"capacity_status"`
	// Retired is "inactive" or "defunct" when the service has left the
	// directory (search leaves it out; handoffs to it are refused).
	Retired   string    `json:"retired,omitempty"`
	HSDSID    string    `json:"hsds_service_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// DistanceKM is, in search results ranked from a postcode whose
	// coordinates the directory holds, how far the nearest location is.
	DistanceKM *float64 `json:"distance_km,omitempty"`
}

// Location is where a service is delivered: its physical address, apart
// from any postal address.
type Location struct {
	Name           string                     `json:"name,omitempty"`
	Type           string                     `json:"location_type,omitempty"`
	Description    string                     `json:"description,omitempty"`
	Address        string                     `json:"address,omitempty"`
	Address2       string                     `json:"address_2,omitempty"`
	City           string                     `json:"city,omitempty"`
	Region         string                     `json:"region,omitempty"`
	Postcode       string                     `json:"postcode,omitempty"`
	Country        string                     `json:"country,omitempty"`
	Latitude       float64                    `json:"latitude,omitempty"`
	Longitude      float64                    `json:"longitude,omitempty"`
	Transportation string                     `json:"transportation,omitempty"`
	PostalAddress  *pathwayv1.Address         `json:"postal_address,omitempty"`
	Accessibility  []*pathwayv1.Accessibility `json:"accessibility,omitempty"`
	Schedules      []*pathwayv1.Schedule      `json:"schedules,omitempty"`
	Languages      []*pathwayv1.Language      `json:"languages,omitempty"`
	Phones         []*pathwayv1.Phone         `json:"phones,omitempty"`
	HSDSID         string                     `json:"hsds_location_id,omitempty"`
}

// Contact is how to reach a service.
type Contact struct {
	Name   string             `json:"name,omitempty"`
	Email  string             `json:"email,omitempty"`
	Phone  string             `json:"phone,omitempty"`
	URL    string             `json:"url,omitempty"`
	Phones []*pathwayv1.Phone `json:"phones,omitempty"`
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
		&pathwayv1.ServiceUpdated{}, &pathwayv1.ServiceCapacityChanged{}, &pathwayv1.ServiceRetired{}, &pathwayv1.ServiceReinstated{}, &pathwayv1.HandoffRequested{}, &pathwayv1.HandoffAccepted{},
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
	s.Eligibility = el.GetDescription()
	s.Locations = nil
	for _, l := range d.GetLocations() {
		s.Locations = append(s.Locations, Location{Name: l.GetName(), Type: l.GetLocationType(), Description: l.GetDescription(), Address: l.GetAddress(),
			Address2: l.GetAddress_2(), City: l.GetCity(), Region: l.GetRegion(), Postcode: l.GetPostcode(), Country: l.GetCountry(),
			Latitude: l.GetLatitude(), Longitude: l.GetLongitude(), Transportation: l.GetTransportation(), PostalAddress: l.GetPostalAddress(),
			Accessibility: l.GetAccessibility(), Schedules: l.GetSchedules(), Languages: l.GetLanguages(), Phones: l.GetPhones(), HSDSID: l.GetHsdsLocationId()})
	}
	c := d.GetContact()
	s.Contact = Contact{Name: c.GetName(), Email: c.GetEmail(), Phone: c.GetPhone(), URL: c.GetUrl(), Phones: c.GetPhones()}
	s.AlternateName, s.ServiceAreas, s.Contacts, s.Languages = d.GetAlternateName(), d.GetServiceAreas(), d.GetContacts(), d.GetLanguages()
	s.Schedules, s.Fees, s.CostOptions, s.ApplicationProcess = d.GetSchedules(), d.GetFeesDescription(), d.GetCostOptions(), d.GetApplicationProcess()
	s.Interpretation, s.WaitTime, s.Alert, s.RequiredDocuments = d.GetInterpretationServices(), d.GetWaitTime(), d.GetAlert(), d.GetRequiredDocuments()
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
	case *pathwayv1.ServiceRetired:
		if s := p.Services[id]; s != nil {
			s.Retired, s.UpdatedAt = e.GetStatus(), at
		}
	case *pathwayv1.ServiceReinstated:
		if s := p.Services[id]; s != nil {
			s.Retired, s.UpdatedAt = "", at
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
	// come first, then those in its area (TS).
	District string
	// Postcode is the person's full postcode ("TS1 3BA"), when known: if
	// a location in the directory has that postcode and coordinates,
	// results are ranked by distance from it (DistanceKM); otherwise by
	// District.
	Postcode string
	// Text: every word must appear in the service's name, other name,
	// description, partner's name, taxonomy terms, eligibility, service
	// areas, or a location's name, city or postcode district
	// (case-insensitive).
	Text string
	// Age, when positive, must be within the service's age range.
	Age int
	// Retired includes services that have left the directory.
	Retired bool
}

// Search returns the services that match q, nearest first: by distance
// when q.Postcode has coordinates in the directory, else those with a
// location in the district, then in its area; then by name. Retired
// services are left out unless q.Retired.
func (p *Partners) Search(q Query) []Service {
	words := strings.Fields(strings.ToLower(q.Text))
	area := districtArea(q.District)
	origin, haveOrigin := p.Locate(q.Postcode, "")
	type hit struct {
		s    Service
		rank int // 0: a location in the district; 1: in the area; 2: elsewhere
		km   float64
	}
	var hits []hit
	for _, s := range p.Services {
		if s.Retired != "" && !q.Retired {
			continue
		}
		if q.Need != "" && !slices.Contains(s.Needs, q.Need) {
			continue
		}
		if q.Age > 0 && (q.Age < s.MinAge || (s.MaxAge > 0 && q.Age > s.MaxAge)) {
			continue
		}
		if q.District != "" && len(s.Districts) > 0 && !slices.Contains(s.Districts, q.District) && !slices.Contains(s.Districts, area) {
			continue
		}
		if len(words) > 0 {
			hay := s.haystack()
			if !allWords(hay, words) {
				continue
			}
		}
		h := hit{s: *s, rank: 2, km: math.Inf(1)}
		for _, l := range s.Locations {
			d := postcodeDistrict(l.Postcode)
			switch {
			case q.District != "" && d == q.District:
				h.rank = 0
			case q.District != "" && d != "" && districtArea(d) == area && h.rank > 1:
				h.rank = 1
			}
			if haveOrigin && (l.Latitude != 0 || l.Longitude != 0) {
				h.km = min(h.km, DistanceKM(origin, [2]float64{l.Latitude, l.Longitude}))
			}
		}
		if !math.IsInf(h.km, 1) {
			km := math.Round(h.km*10) / 10
			h.s.DistanceKM = &km
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if haveOrigin {
			if c := cmp.Compare(a.km, b.km); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.s.Name, b.s.Name), strings.Compare(a.s.ID, b.s.ID))
	})
	out := make([]Service, len(hits))
	for i, h := range hits {
		out[i] = h.s
	}
	return out
}

// haystack is the text a search's words are looked for in.
func (s *Service) haystack() string {
	parts := []string{s.Name, s.AlternateName, s.Description, s.PartnerName, s.Eligibility}
	parts = append(parts, s.Taxonomy...)
	parts = append(parts, s.ServiceAreas...)
	for _, l := range s.Locations {
		parts = append(parts, l.Name, l.City, postcodeDistrict(l.Postcode))
	}
	return strings.ToLower(strings.Join(parts, "\n"))
}

func allWords(hay string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// Locate is where a postcode is, as the directory knows it (pathway has
// no postcode directory): the mean of the directory's located places
// with that postcode, else (district not "") of those in that postcode
// district. postcode is "" when only a district is given; ok is false when
// the directory has no located place in either.
func (p *Partners) Locate(postcode, district string) (at [2]float64, ok bool) {
	var full, near [][2]float64
	for _, s := range p.Services {
		for _, l := range s.Locations {
			if l.Latitude == 0 && l.Longitude == 0 {
				continue
			}
			pt := [2]float64{l.Latitude, l.Longitude}
			if postcode != "" && l.Postcode == postcode {
				full = append(full, pt)
			}
			if district != "" && postcodeDistrict(l.Postcode) == district {
				near = append(near, pt)
			}
		}
	}
	for _, pts := range [][][2]float64{full, near} {
		if len(pts) > 0 {
			for _, q := range pts {
				at[0] += q[0] / float64(len(pts))
				at[1] += q[1] / float64(len(pts))
			}
			return at, true
		}
	}
	return at, false
}

// DistanceKM is the great-circle distance between two points (latitude,
// longitude; haversine, mean Earth radius).
func DistanceKM(a, b [2]float64) float64 {
	const r = 6371.0088
	rad := math.Pi / 180
	dLat, dLon := (b[0]-a[0])*rad, (b[1]-a[1])*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a[0]*rad)*math.Cos(b[0]*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// postcodeDistrict is the outward code of a normalised postcode.
func postcodeDistrict(pc string) string {
	d, _, _ := strings.Cut(pc, " ")
	return d
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
