package conformance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Command is one command of a history: the changes it commits, all or
// none, recorded at At.
type Command struct {
	At      time.Time
	Changes []Change
}

// Change is one aggregate's part of a command.
type Change struct {
	Aggregate events.Aggregate
	Events    []proto.Message
}

// Len returns the number of events of the commands.
func Len(cmds []Command) int {
	n := 0
	for _, c := range cmds {
		for _, ch := range c.Changes {
			n += len(ch.Events)
		}
	}
	return n
}

// Start is when generated histories begin.
var Start = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Episodes returns a random history of about n events, the same for the
// same seed: a region of three primary care networks, link workers,
// VCSE partners and their services, and referrals taken through their
// lifecycle in interleaved episodes over a few months. It extends the
// benchmark's episode (received, triaged, waitlisted, assigned, contacts,
// discharged, released) with everything else the domain records:
// safeguarding; triage accepted, declined, signposted, redirected or left
// for a person (and decided later); moves between queues; reassignment;
// support plans; wellbeing outcomes (ONS4, SWEMWBS, WEMWBS, MYCaW) at
// baseline and follow-up; cancellation, merging of duplicates, reopening;
// VCSE handoffs requested, reminded, accepted, rejected, expired, started,
// put on hold, completed, failed, cancelled and entered in error; workers
// registered, changing capacity and availability, deactivated; partners
// and services registered and updated, services changing capacity.
// Multi-aggregate commands (an assignment: the worker's caseload and the
// referral) are one Command, as the services append them with AppendAll.
// It is safe for concurrent use.
func Episodes(seed uint64, n int) []Command {
	s := &sim{rng: rand.New(rand.NewPCG(seed, 0x70617468)), at: Start}
	s.setUp()
	for s.events < n {
		s.at = s.at.Add(time.Duration(s.rng.ExpFloat64() * float64(80*time.Minute)))
		for range 20 {
			if s.pick()() {
				break
			}
		}
		// The assignment service frees a closed case's place on the
		// caseload in a command of its own, moments later.
		for _, r := range s.release {
			s.at = s.at.Add(time.Duration(1+s.rng.IntN(30)) * time.Second)
			s.emit(change(workerAgg(r.w.id), &pathwayv1.WorkerCaseReleased{ReferralId: r.ref.id, Reason: "referral " + r.ref.status}))
			delete(r.w.cases, r.ref.id)
		}
		s.release = s.release[:0]
	}
	return s.cmds
}

// The region.
var (
	pcns = []struct {
		code      string
		practices []string
	}{
		{"U10001", []string{"A81001", "A81002"}},
		{"U10002", []string{"A81003"}},
		{"U10003", []string{"A81004", "A81005"}},
	}
	// outsidePractice is outside the service area: its referrals are
	// declined or redirected at triage.
	outsidePractice = "A81010"
	needs           = []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_MENTAL_HEALTH, pathwayv1.Need_NEED_DEBT,
		pathwayv1.Need_NEED_PHYSICAL_ACTIVITY, pathwayv1.Need_NEED_HOUSING, pathwayv1.Need_NEED_BEREAVEMENT, pathwayv1.Need_NEED_FOOD}
	districts = []string{"TS1", "TS3", "TS5", "TS7", "TS10", "TS11"}
)

func pcnOf(practice string) string {
	for _, p := range pcns {
		if slices.Contains(p.practices, practice) {
			return p.code
		}
	}
	return "unmatched"
}

// Referral statuses of the simulation.
const (
	received   = "received"
	manual     = "manual"
	accepted   = "accepted"
	waitlisted = "waitlisted"
	assigned   = "assigned"
	closed     = "closed" // declined, signposted or redirected
	discharged = "discharged"
	cancelled  = "cancelled"
	merged     = "merged"
)

type simRef struct {
	id, status, practice string
	urgency              pathwayv1.Priority
	worker               *simWorker
	contacts             int
	plan                 bool
	baseline             pathwayv1.OutcomeInstrument
}

type simWorker struct {
	id, pcn  string
	capacity int
	active   bool
	cases    map[string]bool
}

type simService struct {
	id, partner string
	capacity    pathwayv1.CapacityStatus
	version     int
	retired     bool
}

type simHandoff struct {
	id, status string
	ref        *simRef
	svc        *simService
	reminders  uint32
	respondBy  time.Time
}

type sim struct {
	rng      *rand.Rand
	at       time.Time
	cmds     []Command
	events   int
	refs     []*simRef
	workers  []*simWorker
	partners []string
	services []*simService
	handoffs []*simHandoff
	release  []struct {
		w   *simWorker
		ref *simRef
	}
}

func workerAgg(id string) events.Aggregate  { return events.Aggregate{Type: "worker", ID: id} }
func refAgg(id string) events.Aggregate     { return events.Aggregate{Type: "referral", ID: id} }
func handoffAgg(id string) events.Aggregate { return events.Aggregate{Type: "handoff", ID: id} }

func change(agg events.Aggregate, evs ...proto.Message) Change {
	return Change{Aggregate: agg, Events: evs}
}

func (s *sim) emit(changes ...Change) {
	s.cmds = append(s.cmds, Command{At: s.at, Changes: changes})
	s.events += Len(s.cmds[len(s.cmds)-1:])
}

// id returns a UUID drawn from the seeded generator.
func (s *sim) id() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(s.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

func (s *sim) chance(p float64) bool { return s.rng.Float64() < p }

func (s *sim) ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// refIn returns a random referral in one of statuses, nil when none.
func (s *sim) refIn(statuses ...string) *simRef {
	var c []*simRef
	for _, r := range s.refs {
		if slices.Contains(statuses, r.status) {
			c = append(c, r)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[s.rng.IntN(len(c))]
}

func (s *sim) handoffIn(statuses ...string) *simHandoff {
	var c []*simHandoff
	for _, h := range s.handoffs {
		if slices.Contains(statuses, h.status) {
			c = append(c, h)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[s.rng.IntN(len(c))]
}

// workerWithRoom returns an active worker with a free place, preferring
// the referral's network; nil when none (other than not).
func (s *sim) workerWithRoom(pcn string, not *simWorker) *simWorker {
	var local, any []*simWorker
	for _, w := range s.workers {
		if w.active && w != not && len(w.cases) < w.capacity {
			any = append(any, w)
			if w.pcn == pcn {
				local = append(local, w)
			}
		}
	}
	if len(local) > 0 && s.chance(0.85) {
		return local[s.rng.IntN(len(local))]
	}
	if len(any) == 0 {
		return nil
	}
	return any[s.rng.IntN(len(any))]
}

func (s *sim) setUp() {
	for i := range 4 {
		s.registerPartner(fmt.Sprint("Partner ", i))
	}
	for i := range 8 {
		s.registerService(s.partners[i%len(s.partners)])
	}
	for i := range 7 {
		s.registerWorker(pcns[i%len(pcns)].code)
	}
}

func (s *sim) registerPartner(name string) {
	id := s.id()
	s.partners = append(s.partners, id)
	s.emit(change(events.Aggregate{Type: "partner", ID: id}, &pathwayv1.PartnerRegistered{Name: name, Description: "A VCSE partner",
		Contact: &pathwayv1.ContactPoint{Email: "hello@example.org"}, RegistrationNumber: fmt.Sprint(1000000 + s.rng.IntN(999999))}))
}

func (s *sim) details(partner string, version int) *pathwayv1.ServiceDetails {
	d := districts[s.rng.IntN(len(districts))]
	var el *pathwayv1.Eligibility
	if s.chance(0.5) {
		el = &pathwayv1.Eligibility{MinAge: uint32(16 + s.rng.IntN(3)), PostcodeDistricts: []string{d}}
	}
	return &pathwayv1.ServiceDetails{PartnerId: partner, Name: fmt.Sprintf("Service %d v%d", s.rng.IntN(1000), version),
		Description: "Groups and one-to-one support", Needs: []pathwayv1.Need{needs[s.rng.IntN(len(needs))], needs[s.rng.IntN(len(needs))]},
		TaxonomyTerms: []string{"Social activities"}, Eligibility: el,
		Locations: []*pathwayv1.Location{{Name: "Hall", Postcode: d + " 1AB", Latitude: 54.5 + s.rng.Float64()/10, Longitude: -1.2 - s.rng.Float64()/10}},
		Contact:   &pathwayv1.ContactPoint{Phone: "01632 960000", Phones: []*pathwayv1.Phone{{Number: "+441642000111", Extension: "12"}}},
		Schedules: []*pathwayv1.Schedule{{Freq: "WEEKLY", Byday: []string{"TU", "TH"}, OpensAt: "10:00", ClosesAt: "12:00"}},
		Languages: []*pathwayv1.Language{{Name: "Polish", Code: "pl"}}, FeesDescription: "Free",
		CostOptions: []*pathwayv1.CostOption{{Option: "Lunch", Amount: "2.50", Currency: "GBP"}}}
}

func (s *sim) registerService(partner string) {
	sv := &simService{id: s.id(), partner: partner, capacity: pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY}
	s.services = append(s.services, sv)
	s.emit(change(events.Aggregate{Type: "service", ID: sv.id}, &pathwayv1.ServiceRegistered{Details: s.details(partner, 0), CapacityStatus: sv.capacity}))
}

func (s *sim) registerWorker(pcn string) {
	w := &simWorker{id: s.id(), pcn: pcn, capacity: 4 + s.rng.IntN(8), active: true, cases: map[string]bool{}}
	s.workers = append(s.workers, w)
	var practices []string
	for _, p := range pcns {
		if p.code == pcn {
			practices = p.practices
		}
	}
	s.emit(change(workerAgg(w.id), &pathwayv1.WorkerRegistered{Name: fmt.Sprint("Worker ", len(s.workers)), Pcn: pcn,
		Practices: practices, Capacity: uint32(w.capacity), Languages: []string{"en"}}))
}

// pick chooses an action by weight; an action reports false when nothing
// is in a state for it.
func (s *sim) pick() func() bool {
	actions := []struct {
		w  float64
		do func() bool
	}{
		{10, s.receive}, {1, s.safeguard}, {9, s.triage}, {6, s.waitlist}, {8, s.assign}, {1, s.reassign},
		{12, s.contact}, {3, s.plan}, {3, s.outcome}, {4, s.discharge}, {1.5, s.cancel}, {0.7, s.merge}, {0.8, s.reopen},
		{3, s.requestHandoff}, {4, s.answerHandoff}, {3, s.progressHandoff}, {0.8, s.cancelHandoff}, {0.3, s.handoffInError},
		{0.3, s.newWorker}, {0.6, s.workerCapacity}, {0.5, s.workerAvailability}, {0.1, s.deactivateWorker},
		{0.3, s.updatePartner}, {0.1, s.newPartner}, {0.4, s.updateService}, {0.6, s.serviceCapacity},
	}
	total := 0.0
	for _, a := range actions {
		total += a.w
	}
	x := s.rng.Float64() * total
	for _, a := range actions {
		if x -= a.w; x < 0 {
			return a.do
		}
	}
	return actions[0].do
}

func (s *sim) receive() bool {
	r := &simRef{id: s.id(), status: received}
	p := pcns[s.rng.IntN(len(pcns))]
	r.practice = p.practices[s.rng.IntN(len(p.practices))]
	if s.chance(0.08) {
		r.practice = outsidePractice
	}
	r.urgency = []pathwayv1.Priority{pathwayv1.Priority_PRIORITY_ROUTINE, pathwayv1.Priority_PRIORITY_ROUTINE, pathwayv1.Priority_PRIORITY_ROUTINE,
		pathwayv1.Priority_PRIORITY_HIGH, pathwayv1.Priority_PRIORITY_URGENT, pathwayv1.Priority_PRIORITY_UNSPECIFIED}[s.rng.IntN(6)]
	e := &pathwayv1.ReferralReceived{
		Source:      pathwayv1.ReferralSource(1 + s.rng.IntN(8)),
		Referrer:    &pathwayv1.Referrer{Name: "Dr Example", Role: "GP", Organisation: r.practice},
		Person:      &pathwayv1.Person{NhsNumber: PersonalValues[0], GivenName: PersonalValues[1], FamilyName: PersonalValues[2], Phone: PersonalValues[3], Postcode: districts[s.rng.IntN(len(districts))] + PersonalValues[4]},
		GpPractice:  r.practice,
		Needs:       []pathwayv1.Need{needs[s.rng.IntN(len(needs))]},
		WhatMatters: "Wants to meet people",
		Urgency:     r.urgency,
		Consent:     &pathwayv1.Consent{Given: true, RecordedBy: "reception", RecordedAt: s.ts(s.at.Add(-time.Hour))},
		Channel:     "api",
	}
	// Sex, ethnic category and age band (coded) for most people, drawn
	// from the referral's place in the history rather than the generator,
	// so histories made before they were recorded stay the same.
	k := len(s.refs)
	if k%7 != 6 {
		e.Person.Sex = pathwayv1.Sex(1 + k%4)
		e.Person.EthnicCategory = []string{"A", "A", "C", "H", "J", "M", "N", "R", "Z", "99"}[k%10]
		e.Person.AgeBand = []string{"18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+"}[k%8]
	}
	// A person match for most, shared by a few referrals each, drawn
	// from the referral's place as the coded fields are.
	if k%5 != 4 {
		e.PersonMatch = fmt.Sprintf("match-%02d", k%23)
	}
	if len(s.refs) > 0 && s.chance(0.05) {
		e.PossibleDuplicateOf = s.refs[s.rng.IntN(len(s.refs))].id
	}
	s.refs = append(s.refs, r)
	s.emit(change(refAgg(r.id), e))
	return true
}

func (s *sim) safeguard() bool {
	r := s.refIn(received, manual, accepted, waitlisted, assigned)
	if r == nil {
		return false
	}
	s.emit(change(refAgg(r.id), &pathwayv1.SafeguardingEscalated{Details: "Disclosed risk", EscalatedTo: "safeguarding lead", Priority: pathwayv1.Priority_PRIORITY_URGENT}))
	return true
}

func (s *sim) triage() bool {
	r := s.refIn(received, manual)
	if r == nil {
		return false
	}
	e := &pathwayv1.ReferralTriaged{RuleId: "default", RulesVersion: "3", Override: r.status == manual}
	x := s.rng.Float64()
	switch {
	case r.practice == outsidePractice && x < 0.7:
		e.Decision, e.DeclineReason = pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, "outside the service area"
	case r.practice == outsidePractice:
		e.Decision, e.RedirectDestination = pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT, "neighbouring service"
	case x < 0.12 && r.status == received:
		e.Decision, e.Reason = pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL, "needs a person to look"
	case x < 0.2:
		e.Decision, e.Reason = pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST, "information is enough"
	case x < 0.26:
		e.Decision, e.DeclineReason, e.EligibilityFailures = pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE, "not eligible", []string{"age"}
	case x < 0.29:
		e.Decision, e.RedirectDestination = pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT, "community mental health team"
	default:
		e.Decision, e.Eligible = pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, true
		e.Priority = r.urgency
		if s.chance(0.2) {
			e.Priority = pathwayv1.Priority_PRIORITY_HIGH
		}
	}
	switch e.Decision {
	case pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT:
		r.status = accepted
	case pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL:
		r.status = manual
	default:
		r.status = closed
	}
	s.emit(change(refAgg(r.id), e))
	return true
}

func (s *sim) waitlist() bool {
	r := s.refIn(accepted, waitlisted)
	if r == nil {
		return false
	}
	q := pcnOf(r.practice)
	if r.status == waitlisted {
		if !s.chance(0.15) {
			return false
		}
		// Moved to another queue.
		q = []string{"unmatched", pcns[s.rng.IntN(len(pcns))].code}[s.rng.IntN(2)]
	}
	e := &pathwayv1.ReferralWaitlisted{Queue: q, Reason: "no place"}
	if s.chance(0.5) {
		e.Priority = r.urgency
	}
	r.status = waitlisted
	s.emit(change(refAgg(r.id), e))
	return true
}

func (s *sim) assign() bool {
	r := s.refIn(accepted, waitlisted)
	if r == nil {
		return false
	}
	w := s.workerWithRoom(pcnOf(r.practice), nil)
	if w == nil {
		return false
	}
	r.status, r.worker = assigned, w
	w.cases[r.id] = true
	s.emit(change(workerAgg(w.id), &pathwayv1.WorkerCaseAssigned{ReferralId: r.id}),
		change(refAgg(r.id), &pathwayv1.ReferralAssigned{WorkerId: w.id, Queue: w.pcn, Reason: "automatic", FromWaitlistPosition: uint32(1 + s.rng.IntN(5))}))
	return true
}

func (s *sim) reassign() bool {
	r := s.refIn(assigned)
	if r == nil {
		return false
	}
	to := s.workerWithRoom(pcnOf(r.practice), r.worker)
	if to == nil {
		return false
	}
	from := r.worker
	delete(from.cases, r.id)
	to.cases[r.id] = true
	r.worker = to
	s.emit(change(workerAgg(to.id), &pathwayv1.WorkerCaseAssigned{ReferralId: r.id}),
		change(workerAgg(from.id), &pathwayv1.WorkerCaseReleased{ReferralId: r.id, Reason: "reassigned: leave"}),
		change(refAgg(r.id), &pathwayv1.ReferralReassigned{FromWorkerId: from.id, ToWorkerId: to.id, Reason: "leave"}))
	return true
}

func (s *sim) contact() bool {
	r := s.refIn(assigned)
	if r == nil {
		return false
	}
	e := &pathwayv1.ContactRecorded{ContactId: s.id(), Kind: pathwayv1.ContactKind(1 + s.rng.IntN(4)),
		At: s.ts(s.at.Add(-time.Duration(s.rng.IntN(48*60)) * time.Minute)), DurationMinutes: uint32(10 + s.rng.IntN(50)),
		WhatMattersConversation: r.contacts == 0}
	if s.chance(0.12) {
		e.DidNotAttend = true
	} else {
		r.contacts++
	}
	s.emit(change(refAgg(r.id), e))
	return true
}

func (s *sim) plan() bool {
	r := s.refIn(assigned)
	if r == nil || r.contacts == 0 || r.plan {
		return false
	}
	r.plan = true
	s.emit(change(refAgg(r.id), &pathwayv1.SupportPlanAgreed{WhatMatters: "Meeting people", Goals: []*pathwayv1.Goal{{Id: "g1", Description: "Join a group",
		TargetDate: &pathwayv1.Date{Year: int32(s.at.Year()), Month: int32(s.at.Month()), Day: 1}}}}))
	return true
}

func (s *sim) outcome() bool {
	r := s.refIn(assigned)
	if r == nil || r.contacts == 0 {
		return false
	}
	point := pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP
	inst := r.baseline
	if inst == pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_UNSPECIFIED {
		point, inst = pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, pathwayv1.OutcomeInstrument(1+s.rng.IntN(4))
		r.baseline = inst
	}
	e := &pathwayv1.OutcomeMeasured{Instrument: inst, Point: point, MeasuredAt: s.ts(s.at)}
	switch inst {
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4:
		e.Scores = &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: uint32(s.rng.IntN(11)), Worthwhile: uint32(s.rng.IntN(11)),
			HappyYesterday: uint32(s.rng.IntN(11)), AnxiousYesterday: uint32(s.rng.IntN(11))}}
	case pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS, pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS:
		items := make([]uint32, 7)
		if inst == pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS {
			items = make([]uint32, 14)
		}
		total := uint32(0)
		for i := range items {
			items[i] = uint32(1 + s.rng.IntN(5))
			total += items[i]
		}
		e.Scores = &pathwayv1.OutcomeMeasured_WarwickEdinburgh{WarwickEdinburgh: &pathwayv1.WarwickEdinburghScores{Items: items, RawTotal: total, MetricScore: float64(total) * 1.01}}
	default:
		e.Scores = &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: &pathwayv1.MycawScores{Concerns: []*pathwayv1.MycawConcern{
			{Concern: "lonely", Score: uint32(s.rng.IntN(7))}, {Concern: "money", Score: uint32(s.rng.IntN(7))}, {Concern: "sleep", Score: uint32(s.rng.IntN(7))}},
			Wellbeing: uint32(s.rng.IntN(7))}}
	}
	s.emit(change(refAgg(r.id), e))
	return true
}

// closeCase records that r's worker will free its place.
func (s *sim) closeCase(r *simRef) {
	if r.worker != nil {
		s.release = append(s.release, struct {
			w   *simWorker
			ref *simRef
		}{r.worker, r})
		r.worker = nil
	}
}

func (s *sim) discharge() bool {
	r := s.refIn(assigned)
	if r == nil || (r.contacts < 2 && !s.chance(0.2)) {
		return false
	}
	r.status = discharged
	s.closeCase(r)
	s.emit(change(refAgg(r.id), &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason(1 + s.rng.IntN(7)), Note: "closing"}))
	return true
}

func (s *sim) cancel() bool {
	r := s.refIn(received, manual, accepted, waitlisted, assigned)
	if r == nil {
		return false
	}
	r.status = cancelled
	s.closeCase(r)
	s.emit(change(refAgg(r.id), &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason(1 + s.rng.IntN(2)), Note: "no longer wanted"}))
	return true
}

func (s *sim) merge() bool {
	dup := s.refIn(received, manual, accepted, waitlisted)
	into := s.refIn(received, accepted, waitlisted, assigned)
	if dup == nil || into == nil || dup == into {
		return false
	}
	dup.status = merged
	s.emit(change(refAgg(dup.id), &pathwayv1.ReferralMerged{IntoReferralId: into.id, Reason: "duplicate"}),
		change(refAgg(into.id), &pathwayv1.ReferralMerged{FromReferralId: dup.id, Reason: "duplicate"}))
	return true
}

func (s *sim) reopen() bool {
	r := s.refIn(discharged, cancelled)
	if r == nil {
		return false
	}
	r.status, r.contacts, r.plan = accepted, 0, false
	s.emit(change(refAgg(r.id), &pathwayv1.ReferralReopened{Reason: "asked for more support"}))
	return true
}

func (s *sim) requestHandoff() bool {
	r := s.refIn(assigned)
	if r == nil || len(s.services) == 0 {
		return false
	}
	sv := s.services[s.rng.IntN(len(s.services))]
	h := &simHandoff{id: s.id(), status: "requested", ref: r, svc: sv, respondBy: s.at.Add(5 * 24 * time.Hour)}
	s.handoffs = append(s.handoffs, h)
	s.emit(change(handoffAgg(h.id), &pathwayv1.HandoffRequested{ReferralId: r.id, ServiceId: sv.id, PartnerId: sv.partner,
		SharedFields: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME, pathwayv1.SharedField_SHARED_FIELD_PHONE},
		Shared:       &pathwayv1.SharedData{GivenName: PersonalValues[1], Phone: PersonalValues[3]}, Consent: true, Note: "would like a group",
		RespondBy: s.ts(h.respondBy), CapacityWarningConfirmed: sv.capacity != pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY}))
	return true
}

func (s *sim) answerHandoff() bool {
	h := s.handoffIn("requested")
	if h == nil {
		return false
	}
	var e proto.Message
	switch x := s.rng.Float64(); {
	case x < 0.55:
		h.status, e = "accepted", &pathwayv1.HandoffAccepted{Note: "welcome"}
	case x < 0.75:
		h.status, e = "rejected", &pathwayv1.HandoffRejected{Reason: "no-capacity", Note: "full"}
	case x < 0.88 && h.reminders < 2:
		h.reminders++
		e = &pathwayv1.HandoffReminderSent{RespondBy: s.ts(h.respondBy), ReminderNumber: h.reminders}
	default:
		h.status, e = "expired", &pathwayv1.HandoffExpired{RespondBy: s.ts(h.respondBy)}
	}
	s.emit(change(handoffAgg(h.id), e))
	return true
}

func (s *sim) progressHandoff() bool {
	h := s.handoffIn("accepted", "in-progress", "on-hold")
	if h == nil {
		return false
	}
	var e proto.Message
	x := s.rng.Float64()
	switch {
	case h.status == "on-hold" || (h.status == "accepted" && x < 0.5):
		h.status, e = "in-progress", &pathwayv1.HandoffStarted{Note: "first session"}
	case x < 0.65:
		h.status, e = "on-hold", &pathwayv1.HandoffPutOnHold{Reason: "unwell"}
	case x < 0.9:
		h.status, e = "completed", &pathwayv1.HandoffCompleted{Outcome: []string{"connected_to_group", "advice_given", "attended"}[s.rng.IntN(3)]}
	default:
		h.status, e = "failed", &pathwayv1.HandoffFailed{Reason: "did not attend"}
	}
	s.emit(change(handoffAgg(h.id), e))
	return true
}

func (s *sim) cancelHandoff() bool {
	h := s.handoffIn("requested", "accepted", "expired", "on-hold")
	if h == nil {
		return false
	}
	h.status = "cancelled"
	s.emit(change(handoffAgg(h.id), &pathwayv1.HandoffCancelled{Reason: "no longer needed"}))
	return true
}

func (s *sim) handoffInError() bool {
	h := s.handoffIn("requested", "accepted", "in-progress", "on-hold", "rejected")
	if h == nil {
		return false
	}
	h.status = "entered-in-error"
	s.emit(change(handoffAgg(h.id), &pathwayv1.HandoffEnteredInError{Reason: "wrong person"}))
	return true
}

func (s *sim) newWorker() bool {
	s.registerWorker(pcns[s.rng.IntN(len(pcns))].code)
	return true
}

func (s *sim) randomWorker() *simWorker {
	var c []*simWorker
	for _, w := range s.workers {
		if w.active {
			c = append(c, w)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[s.rng.IntN(len(c))]
}

func (s *sim) workerCapacity() bool {
	w := s.randomWorker()
	if w == nil {
		return false
	}
	prev := w.capacity
	w.capacity = max(1, prev+s.rng.IntN(7)-3)
	s.emit(change(workerAgg(w.id), &pathwayv1.WorkerCapacityChanged{Capacity: uint32(w.capacity), PreviousCapacity: uint32(prev), Reason: "hours changed"}))
	return true
}

func (s *sim) workerAvailability() bool {
	w := s.randomWorker()
	if w == nil {
		return false
	}
	e := &pathwayv1.WorkerAvailabilityChanged{Returned: true}
	if s.chance(0.6) {
		e = &pathwayv1.WorkerAvailabilityChanged{AbsentFrom: s.ts(s.at.Add(24 * time.Hour)), AbsentUntil: s.ts(s.at.Add(8 * 24 * time.Hour)), Reason: "leave"}
	}
	s.emit(change(workerAgg(w.id), e))
	return true
}

func (s *sim) deactivateWorker() bool {
	w := s.randomWorker()
	active := 0
	for _, x := range s.workers {
		if x.active {
			active++
		}
	}
	if w == nil || len(w.cases) > 0 || active <= 4 {
		return false
	}
	w.active = false
	s.emit(change(workerAgg(w.id), &pathwayv1.WorkerDeactivated{Reason: "left"}))
	return true
}

func (s *sim) updatePartner() bool {
	p := s.partners[s.rng.IntN(len(s.partners))]
	s.emit(change(events.Aggregate{Type: "partner", ID: p}, &pathwayv1.PartnerUpdated{Name: fmt.Sprint("Partner renamed ", s.rng.IntN(100)), Description: "A VCSE partner"}))
	return true
}

func (s *sim) newPartner() bool {
	s.registerPartner(fmt.Sprint("Partner ", len(s.partners)))
	s.registerService(s.partners[len(s.partners)-1])
	return true
}

func (s *sim) updateService() bool {
	sv := s.services[s.rng.IntN(len(s.services))]
	sv.version++
	s.emit(change(events.Aggregate{Type: "service", ID: sv.id}, &pathwayv1.ServiceUpdated{Details: s.details(sv.partner, sv.version)}))
	// An update from its directory marks the service inactive, and the
	// next one active again (no draw of the generator, so the rest of the
	// history is as it was).
	sv.retired = !sv.retired
	if sv.retired {
		s.emit(change(events.Aggregate{Type: "service", ID: sv.id}, &pathwayv1.ServiceRetired{Status: "inactive"}))
	} else {
		s.emit(change(events.Aggregate{Type: "service", ID: sv.id}, &pathwayv1.ServiceReinstated{}))
	}
	return true
}

func (s *sim) serviceCapacity() bool {
	sv := s.services[s.rng.IntN(len(s.services))]
	prev := sv.capacity
	sv.capacity = pathwayv1.CapacityStatus(1 + s.rng.IntN(4))
	if sv.capacity == prev {
		return false
	}
	s.emit(change(events.Aggregate{Type: "service", ID: sv.id}, &pathwayv1.ServiceCapacityChanged{Status: sv.capacity, PreviousStatus: prev, Note: "update"}))
	return true
}

// PersonalValues are the personal data of the people in a history: an NHS
// number, a given name, a family name, a phone number and the end of a
// postcode, distinctive enough to look for in raw bytes.
var PersonalValues = []string{"9434765919", "Quillonetta", "Zabrowski", "07700 900461", " 9QZ"}
