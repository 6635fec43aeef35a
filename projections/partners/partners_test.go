package partners_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// apply feeds events to the model as the engine would, with recorded
// times t0 + at.
func apply(tb testing.TB, m *partners.Partners, evs ...ev) {
	tb.Helper()
	for i, e := range evs {
		rec := events.Record{Sequence: uint64(i + 1), Aggregate: events.Aggregate{Type: e.typ, ID: e.id}, Type: events.TypeOf(e.p),
			Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(t0.Add(e.at))}, Payload: e.p}
		if err := m.Apply(rec); err != nil {
			tb.Fatal(err)
		}
	}
}

type ev struct {
	typ, id string
	at      time.Duration
	p       proto.Message
}

func directory() []ev {
	return []ev{
		{"partner", "org-a", 0, &pathwayv1.PartnerRegistered{Name: "Tees Walkers"}},
		{"partner", "org-b", 0, &pathwayv1.PartnerRegistered{Name: "Advice Centre"}},
		{"service", "walk", 0, &pathwayv1.ServiceRegistered{CapacityStatus: pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY, Details: &pathwayv1.ServiceDetails{
			PartnerId: "org-a", Name: "Walking group", Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_PHYSICAL_ACTIVITY},
			Eligibility: &pathwayv1.Eligibility{MinAge: 18, PostcodeDistricts: []string{"TS1", "TS5"}}}}},
		{"service", "choir", 0, &pathwayv1.ServiceRegistered{CapacityStatus: pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST, Details: &pathwayv1.ServiceDetails{
			PartnerId: "org-a", Name: "Community choir", Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_ARTS_AND_CULTURE},
			Locations: []*pathwayv1.Location{{Postcode: "TS1 2AB"}}}}},
		{"service", "debt", 0, &pathwayv1.ServiceRegistered{CapacityStatus: pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY, Details: &pathwayv1.ServiceDetails{
			PartnerId: "org-b", Name: "Money advice", Description: "Debt and benefits", Needs: []pathwayv1.Need{pathwayv1.Need_NEED_DEBT},
			Eligibility: &pathwayv1.Eligibility{PostcodeDistricts: []string{"DL"}}}}},
	}
}

func names(ss []partners.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestSearch(t *testing.T) {
	m := partners.New()
	apply(t, m, directory()...)
	for _, c := range []struct {
		name string
		q    partners.Query
		want string
	}{
		{"need, local location first", partners.Query{Need: "loneliness", District: "TS1"}, "[Community choir Walking group]"},
		{"district outside the walking group's area", partners.Query{Need: "loneliness", District: "TS3"}, "[Community choir]"},
		{"area match", partners.Query{District: "DL1"}, "[Community choir Money advice]"},
		{"text in the description", partners.Query{Text: "BENEFITS"}, "[Money advice]"},
		{"text in the partner's name", partners.Query{Text: "tees walkers"}, "[Community choir Walking group]"},
		{"too young for the walking group", partners.Query{Need: "physical_activity", Age: 16}, "[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmt.Sprint(names(m.Search(c.q))); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	apply(t, m, ev{"service", "choir", time.Hour, &pathwayv1.ServiceCapacityChanged{Status: pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY}})
	if got := m.Services["choir"].Capacity; got != "no-capacity" {
		t.Errorf("capacity %q, want no-capacity", got)
	}
}

func TestStatsAndAttention(t *testing.T) {
	m := partners.New()
	h := func(id, svc, partner string, at time.Duration) ev {
		return ev{"handoff", id, at, &pathwayv1.HandoffRequested{ServiceId: svc, PartnerId: partner, RespondBy: timestamppb.New(t0.Add(at + 14*24*time.Hour))}}
	}
	evs := append(directory(),
		h("h1", "walk", "org-a", 0), ev{"handoff", "h1", 2 * time.Hour, &pathwayv1.HandoffAccepted{}},
		ev{"handoff", "h1", 3 * time.Hour, &pathwayv1.HandoffStarted{}}, ev{"handoff", "h1", 48 * time.Hour, &pathwayv1.HandoffCompleted{Outcome: "connected_to_group"}},
		h("h2", "walk", "org-a", 0), ev{"handoff", "h2", 10 * time.Hour, &pathwayv1.HandoffRejected{Reason: "no-capacity"}},
		h("h3", "choir", "org-a", 0), ev{"handoff", "h3", 14 * 24 * time.Hour, &pathwayv1.HandoffExpired{}},
		h("h4", "choir", "org-a", time.Hour), // awaiting
		h("h5", "debt", "org-b", 0), ev{"handoff", "h5", 4 * time.Hour, &pathwayv1.HandoffEnteredInError{Reason: "duplicate"}},
	)
	apply(t, m, evs...)
	per, svc := m.Stats()
	if len(per) != 2 || per[1].ID != "org-a" {
		t.Fatalf("partners %+v, want Advice Centre then Tees Walkers", per)
	}
	a := per[1]
	if a.Requested != 4 || a.Accepted != 1 || a.Rejected != 1 || a.Expired != 1 || a.Awaiting != 1 || a.Completed != 1 {
		t.Errorf("org-a: %+v, want 4 requested, 1 each accepted, rejected, expired, awaiting, completed", a)
	}
	if a.AcceptanceRate != 0.333 {
		t.Errorf("acceptance rate %v, want 0.333 (1 of accepted, rejected and expired)", a.AcceptanceRate)
	}
	if a.FirstResponse.N != 2 || a.FirstResponse.P50 != 2 || a.FirstResponse.P90 != 10 {
		t.Errorf("first response %+v, want n 2, p50 2h, p90 10h", a.FirstResponse)
	}
	if a.Outcomes["connected_to_group"] != 1 {
		t.Errorf("outcomes %v", a.Outcomes)
	}
	if b := per[0]; b.Requested != 0 {
		t.Errorf("org-b counts its entered-in-error handoff: %+v", b)
	}
	var walk partners.Stat
	for _, s := range svc {
		if s.ID == "walk" {
			walk = s
		}
	}
	if walk.Requested != 2 || walk.AcceptanceRate != 0.5 || walk.PartnerID != "org-a" {
		t.Errorf("walking group: %+v, want 2 requested, rate 0.5", walk)
	}
	c := m.Attention(t0.Add(15 * 24 * time.Hour))
	if c.Awaiting != 1 || c.Overdue != 1 || c.Expired != 1 {
		t.Errorf("attention %+v, want 1 awaiting (overdue) and 1 expired", c)
	}
	if inbox := m.Inbox("org-a", "requested"); len(inbox) != 1 || inbox[0].ID != "h4" {
		t.Errorf("org-a's requested inbox %+v, want h4", inbox)
	}
	if inbox := m.Inbox("org-b", ""); len(inbox) != 1 || inbox[0].Status != "entered-in-error" {
		t.Errorf("org-b's inbox %+v", inbox)
	}
}

// TestRebuildEqualsIncremental runs the read model live over a random
// history of 10,000 directory and handoff events and compares it with a
// rebuild from sequence 1.
func TestRebuildEqualsIncremental(t *testing.T) {
	log := eventstest.Start(t, false)
	ctx := context.Background()
	obj, err := projections.OpenCheckpoints(ctx, log.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	eng := projections.NewEngine(log.Store, obj, partners.New(), projections.Options{CheckpointEvery: 1000})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx) }()

	rng := rand.New(rand.NewPCG(5, 9))
	partnerIDs := []string{"org-a", "org-b", "org-c"}
	var services, handoffs []string
	for _, p := range partnerIDs {
		append1(t, log.Store, "partner", p, &pathwayv1.PartnerRegistered{Name: "Partner " + p})
	}
	for i := range 30 {
		id := fmt.Sprintf("svc-%02d", i)
		services = append(services, id)
		append1(t, log.Store, "service", id, &pathwayv1.ServiceRegistered{Details: &pathwayv1.ServiceDetails{PartnerId: partnerIDs[i%3], Name: id,
			Needs: []pathwayv1.Need{pathwayv1.Need(1 + i%18)}}})
	}
	answers := []func() proto.Message{
		func() proto.Message { return &pathwayv1.HandoffAccepted{} },
		func() proto.Message { return &pathwayv1.HandoffRejected{Reason: "no-capacity"} },
		func() proto.Message { return &pathwayv1.HandoffStarted{} },
		func() proto.Message { return &pathwayv1.HandoffPutOnHold{Reason: "OTH"} },
		func() proto.Message { return &pathwayv1.HandoffCompleted{Outcome: "support_completed"} },
		func() proto.Message { return &pathwayv1.HandoffFailed{Reason: "FC"} },
		func() proto.Message { return &pathwayv1.HandoffCancelled{Reason: "OTH"} },
		func() proto.Message { return &pathwayv1.HandoffExpired{} },
		func() proto.Message { return &pathwayv1.HandoffReminderSent{ReminderNumber: 1} },
		func() proto.Message {
			return &pathwayv1.ServiceCapacityChanged{Status: pathwayv1.CapacityStatus(1 + rng.IntN(4))}
		},
	}
	for n := 33; n < 10_000; n++ {
		switch {
		case len(handoffs) == 0 || rng.IntN(4) == 0:
			id := fmt.Sprintf("h-%05d", n)
			i := rng.IntN(len(services))
			handoffs = append(handoffs, id)
			append1(t, log.Store, "handoff", id, &pathwayv1.HandoffRequested{ServiceId: services[i], PartnerId: partnerIDs[i%3],
				RespondBy: timestamppb.New(t0.Add(time.Duration(n) * time.Minute))})
		default:
			a := answers[rng.IntN(len(answers))]()
			if _, ok := a.(*pathwayv1.ServiceCapacityChanged); ok {
				append1(t, log.Store, "service", services[rng.IntN(len(services))], a)
				continue
			}
			append1(t, log.Store, "handoff", handoffs[rng.IntN(len(handoffs))], a)
		}
	}
	last, _ := log.Store.LastSequence(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := eng.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	var live bytes.Buffer
	eng.Read(func(p projections.Projection, _ uint64) { p.Snapshot(&live) })
	cancel()
	<-done
	rebuilt := partners.New()
	if _, err := projections.Replay(ctx, log.Store, rebuilt, 0, nil); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	rebuilt.Snapshot(&again)
	if live.String() != again.String() {
		t.Errorf("rebuild differs from incremental application (%d vs %d bytes)", live.Len(), again.Len())
	}
	if len(rebuilt.Handoffs) < 2000 {
		t.Errorf("only %d handoffs in the history; the test should cover thousands", len(rebuilt.Handoffs))
	}
}

func append1(tb testing.TB, s *events.Store, typ, id string, p proto.Message) {
	tb.Helper()
	if _, err := s.Append(context.Background(), events.Aggregate{Type: typ, ID: id}, events.AnyVersion, events.Event{Payload: p}); err != nil {
		tb.Fatal(err)
	}
}

// TestStatsSurviveACheckpoint: the stats after a snapshot and restore are
// the stats before it.
func TestStatsSurviveACheckpoint(t *testing.T) {
	m := partners.New()
	apply(t, m, append(directory(),
		ev{"handoff", "h1", 0, &pathwayv1.HandoffRequested{ServiceId: "walk", PartnerId: "org-a", RespondBy: timestamppb.New(t0.Add(14 * 24 * time.Hour))}},
		ev{"handoff", "h1", time.Hour, &pathwayv1.HandoffAccepted{}},
		ev{"handoff", "h1", 2 * time.Hour, &pathwayv1.HandoffStarted{}})...)
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored := partners.New()
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Stats()
	after, _ := restored.Stats()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("stats after restore:\n%v\nwant\n%v", after, before)
	}
	if after[1].Accepted != 1 || after[1].AcceptanceRate != 1 {
		t.Errorf("org-a after restore: %+v, want 1 accepted, rate 1", after[1])
	}
}

// TestSearchByPlace: a location's city and postcode district are found by
// text; a postcode the directory has coordinates for ranks by distance;
// one it has not ranks by district; a retired service is left out.
func TestSearchByPlace(t *testing.T) {
	m := partners.New()
	loc := func(city, postcode string, lat, lon float64) []*pathwayv1.Location {
		return []*pathwayv1.Location{{Name: "Hall", City: city, Postcode: postcode, Latitude: lat, Longitude: lon}}
	}
	apply(t, m,
		ev{"partner", "org-a", 0, &pathwayv1.PartnerRegistered{Name: "Tees Friends"}},
		ev{"service", "far", 0, &pathwayv1.ServiceRegistered{Details: &pathwayv1.ServiceDetails{PartnerId: "org-a", Name: "A far club",
			Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}, Locations: loc("Darlington", "DL1 1AA", 54.5235, -1.5530)}}},
		ev{"service", "near", 0, &pathwayv1.ServiceRegistered{Details: &pathwayv1.ServiceDetails{PartnerId: "org-a", Name: "Z near club",
			Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}, Locations: loc("Middlesbrough", "TS1 3BA", 54.5742, -1.2350),
			Eligibility: &pathwayv1.Eligibility{Description: "Carers of any age"}}}},
		ev{"service", "mid", 0, &pathwayv1.ServiceRegistered{Details: &pathwayv1.ServiceDetails{PartnerId: "org-a", Name: "M mid club",
			Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}, Locations: loc("Stockton-on-Tees", "TS18 1AA", 54.5650, -1.3180)}}},
		ev{"service", "gone", 0, &pathwayv1.ServiceRegistered{Details: &pathwayv1.ServiceDetails{PartnerId: "org-a", Name: "Gone club",
			Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}, Locations: loc("Middlesbrough", "TS1 2AB", 54.5750, -1.2360)}}},
		ev{"service", "gone", time.Hour, &pathwayv1.ServiceRetired{Status: "defunct"}},
	)
	for _, c := range []struct {
		name string
		q    partners.Query
		want string
	}{
		{"a city", partners.Query{Text: "middlesbrough"}, "[Z near club]"},
		{"a postcode district", partners.Query{Text: "ts18"}, "[M mid club]"},
		{"words from the eligibility and the partner", partners.Query{Text: "carers friends"}, "[Z near club]"},
		{"by distance from a postcode with coordinates", partners.Query{Postcode: "TS1 3BA", District: "TS1"}, "[Z near club M mid club A far club]"},
		{"by district from a postcode without", partners.Query{Postcode: "TS18 9ZZ", District: "TS18"}, "[M mid club Z near club A far club]"},
		{"retired included when asked", partners.Query{Text: "gone", Retired: true}, "[Gone club]"},
		{"retired left out", partners.Query{Text: "gone"}, "[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmt.Sprint(names(m.Search(c.q))); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	got := m.Search(partners.Query{Postcode: "TS1 3BA", District: "TS1"})
	if got[0].DistanceKM == nil || *got[0].DistanceKM != 0 || got[1].DistanceKM == nil || *got[1].DistanceKM < 5 || *got[1].DistanceKM > 6 {
		t.Errorf("distances: got %v and %v, want 0 and about 5.4 km", got[0].DistanceKM, got[1].DistanceKM)
	}
	if m.Services["gone"].Retired != "defunct" {
		t.Errorf("retired: got %q, want defunct", m.Services["gone"].Retired)
	}
}
