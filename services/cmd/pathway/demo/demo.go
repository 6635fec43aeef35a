// Package demo loads a synthetic region into an empty event log, so a
// newcomer sees a living pathway: several primary care networks with
// their practices, about twenty link workers, about thirty VCSE services,
// and about a thousand referrals at every stage of their lifecycle over
// the past three months; most networks have room and one is under
// pressure, with a waitlist beyond the wait target.
//
// Everything goes through the commands the API uses: intake's Submit,
// staff triage, the worker roster, case work, the VCSE directory import
// and handoffs, with the real triage, assignment and handoff-deadline
// services running on a simulated clock that walks from the start date to
// now. The people are obviously synthetic: family names such as Example
// and Testperson, NHS numbers from the 999 test range (with a valid check
// digit), phone numbers from Ofcom's drama range (07700 900xxx).
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/triage"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNotEmpty reports a log that already has events: the demo loads only
// into an empty one.
var ErrNotEmpty = errors.New("demo: the event log is not empty")

// Options configure Load.
type Options struct {
	// Keys seal the people's personal data (events.Keys); required.
	Keys events.Keys
	// Master wraps the secrets the demo makes (the master key); required.
	Master keys.Wrapper
	// Days is how many days of history to make, ending now; default 90
	// (long enough for the first episodes to close, and for caseloads and
	// waitlists to reach the sizes they keep).
	Days int
	// PerDay is the mean number of referrals a weekday (a quarter of it at
	// weekends); default 16.
	PerDay float64
	// Seed seeds the choices; default 1. The same seed gives the same
	// region in outline; details vary with the services' timing.
	Seed uint64
	// Now is the end of the history; default time.Now.
	Now func() time.Time
	// Rules are the triage rules; default the built-in rules.
	Rules *triage.Rules
	// Progress, when set, is called after each simulated day.
	Progress func(day, days int)
	// Logger gets progress and errors; nil discards.
	Logger *slog.Logger
}

// Summary is what Load made.
type Summary struct {
	PCNs, Practices, Workers, Partners, Services int
	Referrals, Handoffs                          int
	// Events is the length of the log afterwards.
	Events uint64
	// Staff are the link workers, in the order they were registered,
	// PCN by PCN.
	Staff []Worker
}

// Worker is a link worker of the demo region.
type Worker struct {
	ID, Name string
	// PCN is the ODS code of the worker's primary care network, PCNName
	// its name.
	PCN, PCNName string
}

// clock is the simulated clock every service reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// set moves the clock forward to t (never back).
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// pcn is a primary care network of the region.
type pcn struct {
	code, name string
	practices  []string
	postcodes  []string // postcode districts of its patients
	workers    int
	capacity   uint32
	share      float64 // share of the referrals
}

// region: Riverside and Coastal have link workers with room (Coastal
// runs close to full, and with more referrals than the default keeps a
// short waitlist); Hillside, with five workers for a third of the
// referrals, is under pressure: its waitlist's estimated wait is beyond
// the target. A81010 is outside the service area, so its referrals are
// declined at triage.
//
// The sizes follow the guideline caseload (DOMAIN.md: 200 to 250 new
// people a year per link worker): an episode lasts about ten weeks from
// assignment, so a worker holding 32 to 44 people at once takes on
// about 170 to 230 a year; the default 16 referrals a weekday are about
// 4,600 a year for the 20 workers, of which about a tenth are declined,
// signposted or redirected at triage.
var region = []pcn{
	{"U10001", "Riverside PCN", []string{"A81001", "A81002"}, []string{"TS1", "TS3"}, 8, 44, 0.32},
	{"U10002", "Hillside PCN", []string{"A81003"}, []string{"TS5", "TS7"}, 5, 32, 0.34},
	{"U10003", "Coastal PCN", []string{"A81004", "A81005"}, []string{"TS10", "TS11"}, 7, 36, 0.30},
}

const outsidePractice = "A81010"

// inward are the letters a postcode's inward code may use (not C, I, K,
// M, O or V).
const inward = "ABDEFGHJLNPQRSTUWXYZ"

var (
	givenNames  = []string{"Alex", "Sam", "Jo", "Chris", "Pat", "Robin", "Jamie", "Morgan", "Taylor", "Jordan", "Casey", "Drew", "Avery", "Riley", "Quinn", "Frankie", "Charlie", "Harper", "Rowan", "Sasha"}
	familyNames = []string{"Example", "Testperson", "Sample", "Demo", "Placeholder", "Specimen", "Fictional", "Synthetic", "Mockton", "Dummy"}
	workerNames = []string{"Amira Link", "Ben Connect", "Cara Bridge", "Dev Pathway", "Ellie Compass", "Finn Harbour", "Gita Meadow", "Hugo Lantern", "Isla Beacon", "Jon Anchor",
		"Kemi Willow", "Leo Kindle", "Maya Thread", "Nico Haven", "Olu Garden", "Priya Keel", "Rhys Fellow", "Sian Common", "Tom Hearth", "Uma Circle"}
	sources = []struct {
		name string
		w    float64
	}{{"gp_practice", 0.45}, {"practice_staff", 0.1}, {"spoc", 0.2}, {"hospital", 0.08}, {"social_care", 0.08}, {"vcse", 0.05}, {"self", 0.04}}
	needChoices = []string{"loneliness", "mental_health", "long_term_condition", "physical_activity", "housing", "debt", "benefits", "employment", "caring", "bereavement", "food", "digital_inclusion", "arts_and_culture", "nature_and_gardening"}
	whatMatters = []string{"Wants to get out of the house and meet people again", "Would like to feel less anxious and sleep better", "Worried about money since losing work",
		"Caring for a parent and needs a break", "Wants to be active again after an operation", "Lost their partner last year and feels alone",
		"Would like to learn to use a tablet to talk to family", "Wants to grow vegetables and be outdoors"}
)

// serviceNeeds are the needs each of services meets, by index.
var serviceNeeds = func() [][]string {
	out := make([][]string, len(services))
	for i, s := range services {
		for _, n := range partner.NeedsFor(append(strings.Split(s.terms, ";"), s.name)) {
			out[i] = append(out[i], partnerNeedName(n))
		}
	}
	return out
}()

// services are the VCSE partners and their services, as HSDS records.
var services = []struct {
	org, orgName, id, name, terms, postcode string
}{
	{"org-tees-walkers", "Tees Walkers CIO", "walk-1", "Riverside Health Walks", "Physical activity;Social isolation", "TS1 3LB"},
	{"org-tees-walkers", "Tees Walkers CIO", "walk-2", "Coastal Strollers", "Physical activity;Befriending", "TS10 1AA"},
	{"org-tees-walkers", "Tees Walkers CIO", "walk-3", "Hillside Nordic Walking", "Physical activity", "TS5 6AB"},
	{"org-advice", "Tees Advice Centre", "advice-1", "Money Advice Drop-in", "Debt advice;Budgeting", "TS1 2AD"},
	{"org-advice", "Tees Advice Centre", "advice-2", "Benefits Check", "Welfare benefits", "TS1 2AD"},
	{"org-advice", "Tees Advice Centre", "advice-3", "Housing Advice Line", "Housing advice;Homelessness prevention", "TS3 6AH"},
	{"org-minds", "Tees Minds Together", "mind-1", "Peer Support Circle", "Mental health;Peer support", "TS1 5JN"},
	{"org-minds", "Tees Minds Together", "mind-2", "Anxiety Management Course", "Anxiety;Wellbeing", "TS5 4QA"},
	{"org-minds", "Tees Minds Together", "mind-3", "Talking Together", "Counselling;Bereavement support", "TS10 3AB"},
	{"org-green", "Green Tees Trust", "green-1", "Community Allotment", "Gardening;Allotments", "TS3 9DD"},
	{"org-green", "Green Tees Trust", "green-2", "Conservation Volunteers", "Conservation;Volunteering", "TS7 0AA"},
	{"org-green", "Green Tees Trust", "green-3", "Park Gardening Club", "Gardening;Social activities", "TS11 6HH"},
	{"org-arts", "Tees Arts Collective", "arts-1", "Community Choir", "Choir;Singing", "TS1 1EU"},
	{"org-arts", "Tees Arts Collective", "arts-2", "Painting for Wellbeing", "Painting;Wellbeing", "TS5 5JJ"},
	{"org-arts", "Tees Arts Collective", "arts-3", "Museum Memories Group", "Heritage;Social isolation", "TS1 2AZ"},
	{"org-befriend", "Tees Befriending Network", "friend-1", "Telephone Befriending", "Befriending;Loneliness", "TS1 4AA"},
	{"org-befriend", "Tees Befriending Network", "friend-2", "Lunch Club", "Lunch club;Food", "TS10 2BB"},
	{"org-befriend", "Tees Befriending Network", "friend-3", "Coffee Morning", "Coffee morning;Social activities", "TS7 8BX"},
	{"org-carers", "Tees Carers Centre", "carers-1", "Carers Break Service", "Carers support", "TS3 7EE"},
	{"org-carers", "Tees Carers Centre", "carers-2", "Young at Heart Carers Group", "Carers;Peer support", "TS11 1FF"},
	{"org-food", "Tees Food Share", "food-1", "Community Pantry", "Food;Pantry", "TS3 8GG"},
	{"org-food", "Tees Food Share", "food-2", "Cook and Eat Together", "Cooking;Healthy eating", "TS5 7HH"},
	{"org-digital", "Tees Digital Inclusion", "digital-1", "Tablet Tuition", "Digital skills;Online safety", "TS1 9JJ"},
	{"org-digital", "Tees Digital Inclusion", "digital-2", "Get Online Week", "Internet;Computer skills", "TS10 4AB"},
	{"org-work", "Tees Work Routes", "work-1", "Back to Work Coaching", "Employment support;Job clubs", "TS3 1LL"},
	{"org-work", "Tees Work Routes", "work-2", "Volunteering Matchmaker", "Volunteering", "TS7 2AW"},
	{"org-health", "Tees Long Term Conditions Network", "ltc-1", "Diabetes Self-Management", "Diabetes;Self-management", "TS1 6NN"},
	{"org-health", "Tees Long Term Conditions Network", "ltc-2", "Chronic Pain Support", "Chronic pain;Peer support", "TS5 8PP"},
	{"org-health", "Tees Long Term Conditions Network", "ltc-3", "Breathe Easy COPD Group", "COPD;Long-term conditions", "TS10 5QQ"},
	{"org-bereave", "Tees Bereavement Care", "bereave-1", "Bereavement Cafe", "Bereavement;Grief", "TS11 2RR"},
}

// Load fills the empty log behind js (set up with events.Setup) with a
// synthetic region. It runs the
// triage, assignment and handoff-deadline services itself, on a clock
// that walks from Days ago to now, and returns when the last day is
// done. Errors: ErrNotEmpty, or the first command or storage error.
func Load(ctx context.Context, js jetstream.JetStream, opts Options) (Summary, error) {
	if opts.Days <= 0 {
		opts.Days = 90
	}
	if opts.PerDay <= 0 {
		opts.PerDay = 16
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rules == nil {
		opts.Rules = triage.DefaultRules()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	end := opts.Now().UTC()
	start := end.Truncate(24*time.Hour).AddDate(0, 0, -opts.Days)
	clk := &clock{t: start.Add(8 * time.Hour)}
	store := events.New(js, events.Options{Now: clk.Now, Keys: opts.Keys})
	if n, err := store.LastSequence(ctx); err != nil || n > 0 {
		if err != nil {
			return Summary{}, err
		}
		return Summary{}, ErrNotEmpty
	}

	// The services run under one supervisor; a part that breaks ends the
	// load with its error.
	quiet := slog.New(slog.DiscardHandler)
	people, err := intake.OpenPersonKeyer(ctx, js, 1, opts.Master)
	if err != nil {
		return Summary{}, err
	}
	in := intake.New(store, people, intake.Options{Now: clk.Now})
	if err := in.Backfill(ctx, js, quiet); err != nil { // an empty log: marks it done
		return Summary{}, err
	}
	sup := supervisor.New(ctx, supervisor.Options{Logger: quiet})
	triage.New(store, opts.Rules, triage.Options{Now: clk.Now, Logger: quiet}).Start(sup)
	assignment.New(store, assignment.Options{Now: clk.Now, Logger: quiet}).Start(sup)
	hs := handoffs.New(store, handoffs.Options{Now: clk.Now, Logger: quiet})
	hs.Start(sup)
	runErr := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := sup.Wait(); err != nil {
			runErr <- err
		}
	}()
	defer func() { sup.Stop(); <-stopped }()

	d := &loader{ctx: ctx, js: js, store: store, clk: clk, rng: rand.New(rand.NewPCG(opts.Seed, 7)), people: rand.New(rand.NewPCG(opts.Seed, 11)), intake: in,
		handoffs: hs, directory: directory.New(store), log: log, cases: map[string]*caseState{}, errs: runErr}
	sum, err := d.load(start, end, opts)
	if err != nil {
		return sum, err
	}
	sum.Events, err = store.LastSequence(ctx)
	return sum, err
}

// caseState is what the loader plans for one referral.
type caseState struct {
	id          string
	redirect    string // where triage staff send it: outside the service's area or age
	needs       []string
	assigned    time.Time
	contacts    int
	planned     bool
	baseline    bool
	handoff     string
	hStatus     handoff.Status
	hAt         time.Time
	hAnswer     string // accept, reject or none: decided at request
	dischargeAt time.Time
	nextContact time.Time
}

type loader struct {
	ctx   context.Context
	js    jetstream.JetStream
	store *events.Store
	clk   *clock
	rng   *rand.Rand
	// people draws the demographics the report breaks down by, apart
	// from rng, so that adding them left the region's shape as it was.
	people    *rand.Rand
	intake    *intake.Service
	handoffs  *handoffs.Service
	directory *directory.Service
	log       *slog.Logger
	errs      chan error

	// read is the last referral event changedReferrals saw.
	read uint64
	// squeeze, when set, is how much of the day has passed: today's.
	squeeze  time.Duration
	cases    map[string]*caseState
	manual   []string
	nhs      int
	services []string // ids, in the order of the services table
	sum      Summary
}

var (
	staff   = &pathwayv1.Actor{Id: "demo-link-worker", Role: pathwayv1.Role_ROLE_LINK_WORKER}
	admin   = &pathwayv1.Actor{Id: "demo-admin", Role: pathwayv1.Role_ROLE_ADMIN}
	triager = &pathwayv1.Actor{Id: "demo-triage", Role: pathwayv1.Role_ROLE_TRIAGE}
)

func cmd(a *pathwayv1.Actor) events.Command { return events.Command{Actor: a} }

func (d *loader) load(start, end time.Time, opts Options) (Summary, error) {
	if err := d.setUp(); err != nil {
		return d.sum, err
	}
	days := opts.Days
	for day := 0; day <= days; day++ {
		dayStart := start.AddDate(0, 0, day)
		if err := d.day(dayStart, end, opts.PerDay); err != nil {
			return d.sum, fmt.Errorf("demo day %s: %w", dayStart.Format(time.DateOnly), err)
		}
		if opts.Progress != nil {
			opts.Progress(day, days)
		}
	}
	d.clk.set(end)
	return d.sum, d.settle()
}

// setUp registers the workers and imports the directory.
func (d *loader) setUp() error {
	d.sum.PCNs = len(region)
	n := 0
	for _, p := range region {
		d.sum.Practices += len(p.practices)
		for range p.workers {
			name := workerNames[n%len(workerNames)]
			n++
			langs := []string{"en"}
			if n%5 == 0 {
				langs = append(langs, "pl")
			}
			evs, err := worker.Register(&pathwayv1.WorkerRegistered{Name: name, Pcn: p.code, PcnName: p.name, Practices: p.practices, Capacity: p.capacity, Languages: langs})
			if err != nil {
				return err
			}
			es := make([]events.Event, len(evs))
			for i, e := range evs {
				es[i] = events.Event{Payload: e, Actor: admin}
			}
			id := uuid.Must(uuid.NewV7()).String()
			if _, err := d.store.Append(d.ctx, events.Aggregate{Type: worker.AggregateType, ID: id}, 0, es...); err != nil {
				return err
			}
			d.sum.Staff = append(d.sum.Staff, Worker{ID: id, Name: name, PCN: p.code, PCNName: p.name})
		}
	}
	d.sum.Workers = n
	var recs []partner.Record
	orgs := map[string]bool{}
	for i, s := range services {
		terms := strings.Split(s.terms, ";")
		det := &pathwayv1.ServiceDetails{PartnerId: s.org, Name: s.name, Description: s.name + " run by " + s.orgName + " (synthetic demo data)",
			TaxonomyTerms: terms, Needs: partner.NeedsFor(append(slices.Clone(terms), s.name)), HsdsServiceId: s.id,
			Eligibility: &pathwayv1.Eligibility{MinAge: 18},
			Locations:   []*pathwayv1.Location{{Name: s.name, Postcode: s.postcode}},
			Contact:     &pathwayv1.ContactPoint{Email: "hello@" + s.org + ".example", Phone: "01632 960" + fmt.Sprintf("%03d", i)}}
		recs = append(recs, partner.Record{Index: i, Kind: partner.KindService, HSDSID: s.id, ServiceID: partner.ServiceIDFor(s.id), PartnerID: s.org, Service: det,
			Partner: &pathwayv1.PartnerRegistered{Name: s.orgName, HsdsOrganizationId: s.org, Description: "Synthetic demo partner",
				Contact: &pathwayv1.ContactPoint{Email: "hello@" + s.org + ".example", Url: "https://" + s.org + ".example"}}})
		orgs[s.org] = true
		d.services = append(d.services, partner.ServiceIDFor(s.id))
	}
	rep, err := d.directory.Import(d.ctx, recs, cmd(admin), nil)
	if err != nil {
		return err
	}
	if rep.Skipped > 0 {
		return fmt.Errorf("directory import skipped %d records: %+v", rep.Skipped, rep.Results)
	}
	d.sum.Partners, d.sum.Services = len(orgs), len(recs)
	return nil
}

// at moves the clock to dayStart plus the given working minutes from
// 08:00. On the last day the whole day is squeezed into the hours before
// now, so today has its share of activity at any time of day.
func (d *loader) at(dayStart time.Time, minutes int) {
	offset := min(8*time.Hour+time.Duration(minutes)*time.Minute, 24*time.Hour-time.Minute)
	if d.squeeze > 0 {
		offset = time.Duration(float64(offset) * float64(d.squeeze) / float64(24*time.Hour))
	}
	d.clk.set(dayStart.Add(offset))
}

// day simulates one day: new referrals in the morning, case work through
// the day, partners' answers, and the deadline clock in the evening.
func (d *loader) day(dayStart, end time.Time, perDay float64) error {
	if dayStart.After(end) {
		return nil
	}
	last := dayStart.AddDate(0, 0, 1).After(end) // today: squeezed before now
	d.squeeze = 0
	if last {
		d.squeeze = end.Sub(dayStart)
	}
	weekend := dayStart.Weekday() == time.Saturday || dayStart.Weekday() == time.Sunday
	n := d.poisson(perDay)
	switch {
	case last:
		n = max(n, 3)
		weekend = false
	case weekend:
		n /= 4
	}
	minute := 0
	var fresh []string
	for range n {
		minute += d.rng.IntN(30)
		d.at(dayStart, minute)
		if last && d.clk.Now().After(end) {
			break
		}
		id, err := d.refer()
		if err != nil {
			return err
		}
		if id != "" {
			fresh = append(fresh, id)
		}
	}
	if err := d.settle(); err != nil {
		return err
	}
	for _, id := range fresh {
		r, _, err := events.Get(d.ctx, d.store, aggregate.Referral, id)
		if err != nil {
			return err
		}
		switch r.Status() {
		case referral.StatusManualTriage:
			d.manual = append(d.manual, id)
		}
	}
	if weekend {
		return nil
	}
	// Staff work the manual triage queue two days behind: they accept
	// what the service is for, and redirect the rest (a safeguarding
	// concern is never declined automatically, so those outside the
	// service's area or age come here too).
	if len(d.manual) > 0 && d.rng.IntN(2) == 0 {
		for _, id := range d.manual {
			minute += 5
			d.at(dayStart, minute)
			decision := &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT,
				Reason: "discussed at the multidisciplinary team meeting"}
			if cs := d.cases[id]; cs != nil && cs.redirect != "" {
				decision = &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT,
					Reason: "outside the service's area or age: passed on with the safeguarding concern", RedirectDestination: cs.redirect}
			}
			if _, err := d.intake.Triage(d.ctx, id, cmd(triager), decision); err != nil && !errors.Is(err, referral.ErrConflict) {
				return err
			}
		}
		d.manual = nil
		if err := d.settle(); err != nil {
			return err
		}
	}
	if err := d.caseWork(dayStart, &minute, end); err != nil {
		return err
	}
	d.at(dayStart, 9*60)
	if !d.clk.Now().After(end) {
		if _, err := d.handoffs.Tick(d.ctx); err != nil {
			return err
		}
	}
	return d.settle()
}

func (d *loader) poisson(mean float64) int {
	// Knuth's method is fine for small means.
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		k++
		p *= d.rng.Float64()
		if p <= l {
			return k - 1
		}
	}
}

// refer submits one synthetic referral; "" when intake refused it (a
// person already open, which the synthetic NHS numbers avoid).
func (d *loader) refer() (string, error) {
	r := d.rng
	p := region[len(region)-1]
	x := r.Float64()
	practice := outsidePractice
	acc := 0.0
	for _, c := range region {
		acc += c.share
		if x < acc {
			p = c
			practice = c.practices[r.IntN(len(c.practices))]
			break
		}
	}
	src := sources[0].name
	x, acc = r.Float64(), 0
	for _, s := range sources {
		acc += s.w
		if x < acc {
			src = s.name
			break
		}
	}
	needs := []string{needChoices[r.IntN(len(needChoices))]}
	if r.IntN(2) == 0 {
		if n := needChoices[r.IntN(len(needChoices))]; n != needs[0] {
			needs = append(needs, n)
		}
	}
	if r.IntN(3) == 0 && !slices.Contains(needs, "loneliness") {
		needs = append(needs, "loneliness")
	}
	urgency := "routine"
	switch x := r.IntN(100); {
	case x < 4:
		urgency = "urgent"
	case x < 18:
		urgency = "high"
	}
	age := 18 + r.IntN(75)
	if r.IntN(40) == 0 {
		age = 15 + r.IntN(3) // under the service's age: declined at triage
	}
	dob := d.clk.Now().AddDate(-age, -r.IntN(12), -r.IntN(28))
	given, family := givenNames[r.IntN(len(givenNames))], familyNames[r.IntN(len(familyNames))]
	district := p.postcodes[r.IntN(len(p.postcodes))]
	sub := intake.Submission{Channel: "json", Actor: &pathwayv1.Actor{Id: "demo-referrer", Role: pathwayv1.Role_ROLE_REFERRER, Organisation: practice},
		Submission: referral.Submission{
			Source:   src,
			Referrer: referral.Referrer{Name: "Dr Demo Referrer", Role: "GP", Organisation: practice},
			Person: referral.Person{NHSNumber: d.nextNHS(), GivenName: given, FamilyName: family, DateOfBirth: dob.Format(time.DateOnly),
				Postcode: fmt.Sprintf("%s %d%c%c", district, r.IntN(10), inward[r.IntN(len(inward))], inward[r.IntN(len(inward))]), Phone: fmt.Sprintf("07700 900%03d", r.IntN(1000)),
				PreferredContact: "phone", Language: "en"},
			GPPractice: practice, Needs: needs, WhatMatters: whatMatters[r.IntN(len(whatMatters))], Urgency: urgency,
			Safeguarding: referral.Safeguarding{Concern: r.IntN(60) == 0, Details: "synthetic concern for the demo"},
			Consent:      referral.Consent{Given: true, RecordedBy: "Dr Demo Referrer", RecordedAt: d.clk.Now().Format(time.RFC3339)},
		}}
	if !sub.Safeguarding.Concern {
		sub.Safeguarding.Details = ""
	}
	// Sex and ethnic category, recorded for most people (for the monthly
	// activity report's breakdowns); "" is not recorded.
	sub.Person.Sex = []string{"female", "female", "female", "male", "male", "not_known", ""}[d.people.IntN(7)]
	sub.Person.Ethnicity = []string{"A", "A", "A", "A", "A", "A", "A", "A", "C", "H", "J", "J", "K", "M", "N", "R", "S", "Z", "99", ""}[d.people.IntN(20)]
	if src == "self" {
		sub.Referrer = referral.Referrer{Name: given + " " + family, Role: "self", Organisation: practice}
	}
	// Triage and assignment append referral events meanwhile; a busy
	// answer is retried as an API client would.
	res, err := d.intake.Submit(d.ctx, sub)
	for try := 0; errors.Is(err, events.ErrConcurrency) && try < 50; try++ {
		time.Sleep(time.Duration(1+try) * time.Millisecond)
		res, err = d.intake.Submit(d.ctx, sub)
	}
	var dup *intake.DuplicateError
	if errors.As(err, &dup) {
		return "", nil
	}
	if ve, ok := errors.AsType[*kernel.Error](err); ok && ve.Kind == kernel.Invalid {
		return "", fmt.Errorf("synthetic referral refused: %+v", ve.Fields)
	}
	if err != nil {
		return "", err
	}
	d.sum.Referrals++
	cs := &caseState{id: res.ID, needs: needs}
	switch {
	case practice == outsidePractice:
		cs.redirect = "social prescribing service of the person's own area"
	case age < 18:
		cs.redirect = "children's social care"
	}
	d.cases[res.ID] = cs
	return res.ID, nil
}

// nextNHS is the next NHS number of the 999 test range with a valid check
// digit.
func (d *loader) nextNHS() string {
	for {
		d.nhs++
		if n := fmt.Sprintf("999%07d", d.nhs); referral.ValidNHSNumber(n) {
			return n
		}
	}
}

// settle waits until triage and assignment have handled everything in the
// log (and what they appended in turn), so the next step sees their
// decisions at this clock time, and the handoff clock has seen every
// handoff event.
func (d *loader) settle() error {
	deadline := time.Now().Add(60 * time.Second)
	for idle := 0; idle < 2; {
		select {
		case err := <-d.errs:
			return err
		default:
		}
		busy := false
		for _, name := range []string{triage.ConsumerName, assignment.ConsumerName} {
			c, err := d.js.Consumer(d.ctx, events.DefaultStream, name)
			if err != nil {
				busy = true // not created yet
				continue
			}
			info, err := c.Info(d.ctx)
			if err != nil {
				return err
			}
			if info.NumPending > 0 || info.NumAckPending > 0 {
				busy = true
			}
		}
		if busy {
			idle = 0
			if time.Now().After(deadline) {
				return errors.New("the triage and assignment services did not catch up within 60s")
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		idle++ // twice idle in a row: nothing was in flight between the checks
	}
	last, err := d.store.LastSequenceOn(d.ctx, events.TypeSubject(handoff.AggregateType))
	if err != nil || last == 0 {
		return err
	}
	return d.handoffs.WaitFor(d.ctx, last)
}

// changedReferrals returns the ids of the referrals with events in the
// log since the last call: one read of the day's events, not a question
// to the log per referral waiting for a place.
func (d *loader) changedReferrals() (map[string]bool, error) {
	changed := map[string]bool{}
	// No event type is asked for, so none is decoded: only the ids count.
	for rec, err := range d.store.ReadWith(d.ctx, events.ReadOptions{From: d.read + 1, Subject: events.TypeSubject(referral.AggregateType), Types: []string{"-"}}) {
		if err != nil {
			return nil, err
		}
		changed[rec.Aggregate.ID] = true
		d.read = rec.Sequence
	}
	return changed, nil
}

// caseWork moves every open case along its plan for the day.
func (d *loader) caseWork(dayStart time.Time, minute *int, end time.Time) error {
	ids := make([]string, 0, len(d.cases))
	for id := range d.cases {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	d.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	today := dayStart.Add(17 * time.Hour)
	changed, err := d.changedReferrals()
	if err != nil {
		return err
	}
	for _, id := range ids {
		cs := d.cases[id]
		if cs.assigned.IsZero() {
			// Waiting for a place (or closed at triage): load it when it
			// changed since the last day's case work.
			if !changed[id] {
				continue
			}
			r, _, err := events.Get(d.ctx, d.store, aggregate.Referral, id)
			if err != nil {
				return err
			}
			if !r.Status().Active() {
				delete(d.cases, id)
				continue
			}
			if r.Status() != referral.StatusAssigned {
				continue
			}
		} else if today.Before(cs.nextContact) && today.Before(cs.dischargeAt) && (cs.handoff == "" || today.Before(cs.hAt)) {
			continue // nothing due today
		}
		*minute++
		d.at(dayStart, *minute%(8*60))
		if d.clk.Now().After(end) {
			return nil
		}
		if cs.assigned.IsZero() {
			cs.assigned = d.clk.Now()
			cs.nextContact = cs.assigned.Add(time.Duration(1+d.rng.IntN(6)) * 24 * time.Hour)
			cs.dischargeAt = cs.assigned.AddDate(0, 0, 45+d.rng.IntN(50))
		}
		if err := d.advance(cs, today); err != nil {
			return fmt.Errorf("case %s: %w", id, err)
		}
	}
	return nil
}

// advance does what is due on one case today.
func (d *loader) advance(cs *caseState, today time.Time) error {
	ctx, r := d.ctx, d.rng
	c := cmd(staff)
	if cs.handoff != "" {
		if err := d.partnerAnswer(cs, today); err != nil {
			return err
		}
	}
	if today.After(cs.dischargeAt) {
		if cs.baseline {
			if _, err := d.intake.MeasureOutcome(ctx, cs.id, c, d.measure(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP)); err != nil {
				return err
			}
		}
		reason := pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET
		switch x := r.IntN(100); {
		case x < 12:
			reason = pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED
		case x < 18:
			reason = pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED
		case x < 21:
			reason = pathwayv1.DischargeReason_DISCHARGE_REASON_MOVED_AWAY
		}
		if _, err := d.intake.Discharge(ctx, cs.id, c, reason, "synthetic demo discharge"); err != nil {
			return err
		}
		delete(d.cases, cs.id)
		return nil
	}
	if today.Before(cs.nextContact) {
		return nil
	}
	kinds := []pathwayv1.ContactKind{pathwayv1.ContactKind_CONTACT_KIND_PHONE, pathwayv1.ContactKind_CONTACT_KIND_FACE_TO_FACE, pathwayv1.ContactKind_CONTACT_KIND_HOME_VISIT, pathwayv1.ContactKind_CONTACT_KIND_VIDEO}
	dna := r.IntN(10) == 0
	minutes := uint32(20 + r.IntN(40))
	if dna {
		minutes = 0
	}
	if _, err := d.intake.RecordContact(ctx, cs.id, c, &pathwayv1.ContactRecorded{ContactId: uuid.NewString(), Kind: kinds[r.IntN(len(kinds))],
		At: timestamppb.New(d.clk.Now()), DurationMinutes: minutes, DidNotAttend: dna, WhatMattersConversation: cs.contacts == 0 && !dna}); err != nil {
		return err
	}
	cs.nextContact = today.Add(time.Duration(5+r.IntN(12)) * 24 * time.Hour)
	if dna {
		return nil
	}
	cs.contacts++
	if cs.contacts == 1 && !cs.planned {
		if _, err := d.intake.AgreePlan(ctx, cs.id, c, "What matters: "+cs.needs[0], []*pathwayv1.Goal{{Id: "g1", Description: "Try one new community activity"}}); err != nil {
			return err
		}
		cs.planned = true
		if _, err := d.intake.MeasureOutcome(ctx, cs.id, c, d.measure(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE)); err != nil {
			return err
		}
		cs.baseline = true
		return nil
	}
	if cs.contacts >= 2 && cs.handoff == "" && r.IntN(10) < 8 {
		return d.requestHandoff(cs)
	}
	return nil
}

// measure is a synthetic ONS4 life-satisfaction measure: follow-ups tend
// to be better than baselines.
func (d *loader) measure(point pathwayv1.MeasurementPoint) *pathwayv1.OutcomeMeasured {
	r := d.rng
	base := 3 + r.IntN(3)
	if point == pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP {
		base = min(10, base+r.IntN(4))
	}
	return &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, Point: point, MeasuredAt: timestamppb.New(d.clk.Now()),
		Scores: &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: uint32(base), Worthwhile: uint32(min(10, base+1)),
			HappyYesterday: uint32(base), AnxiousYesterday: uint32(max(0, 8-base))}}}
}

// requestHandoff sends the person to a service meeting one of their needs.
func (d *loader) requestHandoff(cs *caseState) error {
	var fits []int
	for i, needs := range serviceNeeds {
		for _, n := range needs {
			if slices.Contains(cs.needs, n) {
				fits = append(fits, i)
				break
			}
		}
	}
	if len(fits) == 0 {
		fits = []int{15} // telephone befriending suits most people
	}
	svc := d.services[fits[d.rng.IntN(len(fits))]]
	id, _, err := d.handoffs.RequestHandoff(d.ctx, cs.id, handoffs.HandoffInput{ServiceID: svc, Consent: true, ConfirmCapacity: true,
		Shared: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME, pathwayv1.SharedField_SHARED_FIELD_PHONE, pathwayv1.SharedField_SHARED_FIELD_NEEDS}}, cmd(staff))
	if err != nil {
		return err
	}
	d.sum.Handoffs++
	// Partners mostly answer within days (one to four, now and then a
	// week or more); most accept, some have no room, and a few never
	// answer, so their handoffs expire at the deadline.
	wait := 1 + d.rng.IntN(4)
	if d.rng.IntN(8) == 0 {
		wait = 5 + d.rng.IntN(6)
	}
	cs.handoff, cs.hStatus, cs.hAt = id, handoff.StatusRequested, d.clk.Now().Add(time.Duration(wait)*24*time.Hour)
	switch x := d.rng.IntN(100); {
	case x < 80:
		cs.hAnswer = "accept"
	case x < 96:
		cs.hAnswer = "reject"
	default:
		cs.hAnswer = "none" // left to expire
	}
	return nil
}

func partnerNeedName(n pathwayv1.Need) string {
	return referral.WireName(n.String(), "NEED_")
}

// partnerAnswer plays the partner's side of a case's handoff.
func (d *loader) partnerAnswer(cs *caseState, today time.Time) error {
	if today.Before(cs.hAt) {
		return nil
	}
	partnerActor := cmd(&pathwayv1.Actor{Id: "demo-partner", Role: pathwayv1.Role_ROLE_PARTNER})
	act := func(a handoff.Action, reason, outcome string, next time.Duration) error {
		_, st, err := d.handoffs.Act(d.ctx, cs.handoff, a, reason, outcome, "", partnerActor, nil)
		if errors.Is(err, handoff.ErrConflict) {
			// The clock expired it first: the link worker cancels it.
			h, lerr := handoffs.LoadHandoff(d.ctx, d.store, cs.handoff)
			if lerr != nil {
				return lerr
			}
			cs.hStatus = h.Status()
			return d.closeExpired(cs)
		}
		if err != nil {
			return err
		}
		cs.hStatus, cs.hAt = st, today.Add(next)
		return nil
	}
	r := d.rng
	switch cs.hStatus {
	case handoff.StatusRequested:
		switch cs.hAnswer {
		case "accept":
			return act(handoff.ActionAccept, "", "", time.Duration(2+r.IntN(5))*24*time.Hour)
		case "reject":
			return act(handoff.ActionReject, []string{"no-capacity", "not-eligible", "RRNA"}[r.IntN(3)], "", 0)
		default:
			h, err := handoffs.LoadHandoff(d.ctx, d.store, cs.handoff)
			if err != nil {
				return err
			}
			cs.hStatus = h.Status()
			if cs.hStatus == handoff.StatusExpired && r.IntN(3) == 0 {
				return d.closeExpired(cs)
			}
		}
	case handoff.StatusAccepted:
		return act(handoff.ActionStart, "", "", time.Duration(10+r.IntN(30))*24*time.Hour)
	case handoff.StatusInProgress:
		if r.IntN(10) == 0 {
			return act(handoff.ActionFail, "FC", "", 0)
		}
		return act(handoff.ActionComplete, "", []string{"support_completed", "connected_to_group", "ongoing_support"}[r.IntN(3)], 0)
	}
	return nil
}

// closeExpired has the link worker cancel an expired handoff.
func (d *loader) closeExpired(cs *caseState) error {
	if cs.hStatus != handoff.StatusExpired {
		return nil
	}
	_, st, err := d.handoffs.Act(d.ctx, cs.handoff, handoff.ActionCancel, "RRNA", "", "partner did not answer in time", cmd(staff), nil)
	if err != nil {
		return err
	}
	cs.hStatus = st
	return nil
}
