package conformance_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections/conformance"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// TestEpisodesAreSeededAndCoverTheDomain: the same seed gives the same
// history, another seed another; a history of the default size holds every
// kind of event the suite promises to exercise.
func TestEpisodesAreSeededAndCoverTheDomain(t *testing.T) {
	a, b := conformance.Episodes(7, 600), conformance.Episodes(7, 600)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d and %d commands", len(a), len(b))
	}
	for i := range a {
		if !a[i].At.Equal(b[i].At) || len(a[i].Changes) != len(b[i].Changes) {
			t.Fatalf("same seed: command %d differs", i)
		}
		for j, ch := range a[i].Changes {
			other := b[i].Changes[j]
			if ch.Aggregate != other.Aggregate || len(ch.Events) != len(other.Events) || !proto.Equal(ch.Events[0], other.Events[0]) {
				t.Fatalf("same seed: command %d change %d differs", i, j)
			}
		}
	}
	if c := conformance.Episodes(8, 600); c[len(c)-1].Changes[0].Aggregate == a[len(a)-1].Changes[0].Aggregate {
		t.Errorf("another seed ends with the same aggregate")
	}

	h := conformance.Episodes(1, 1000)
	if n := conformance.Len(h); n < 1000 || n > 1010 {
		t.Errorf("history of %d events, want about 1000", n)
	}
	seen := map[string]bool{}
	multi := 0
	prev := time.Time{}
	for _, c := range h {
		if c.At.Before(prev) {
			t.Fatalf("recorded times go back at %v", c.At)
		}
		prev = c.At
		if len(c.Changes) > 1 {
			multi++
		}
		for _, ch := range c.Changes {
			for _, p := range ch.Events {
				name := events.TypeOf(p)
				if d, ok := p.(*pathwayv1.ReferralTriaged); ok {
					name += "/" + d.GetDecision().String()
				}
				seen[name] = true
			}
		}
	}
	if multi == 0 {
		t.Error("no command spans aggregates (assignments use AppendAll)")
	}
	var missing []string
	for _, p := range []proto.Message{
		&pathwayv1.ReferralReceived{}, &pathwayv1.SafeguardingEscalated{}, &pathwayv1.ReferralWaitlisted{}, &pathwayv1.ReferralAssigned{},
		&pathwayv1.ReferralReassigned{}, &pathwayv1.ContactRecorded{}, &pathwayv1.SupportPlanAgreed{}, &pathwayv1.OutcomeMeasured{},
		&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralMerged{}, &pathwayv1.ReferralReopened{},
		&pathwayv1.HandoffRequested{}, &pathwayv1.HandoffAccepted{}, &pathwayv1.HandoffRejected{}, &pathwayv1.HandoffStarted{},
		&pathwayv1.HandoffPutOnHold{}, &pathwayv1.HandoffCompleted{}, &pathwayv1.HandoffFailed{}, &pathwayv1.HandoffCancelled{},
		&pathwayv1.HandoffExpired{}, &pathwayv1.HandoffReminderSent{}, &pathwayv1.HandoffEnteredInError{},
		&pathwayv1.WorkerRegistered{}, &pathwayv1.WorkerCapacityChanged{}, &pathwayv1.WorkerAvailabilityChanged{},
		&pathwayv1.WorkerCaseAssigned{}, &pathwayv1.WorkerCaseReleased{},
		&pathwayv1.PartnerRegistered{}, &pathwayv1.PartnerUpdated{}, &pathwayv1.ServiceRegistered{}, &pathwayv1.ServiceUpdated{},
		&pathwayv1.ServiceCapacityChanged{}, &pathwayv1.ServiceRetired{}, &pathwayv1.ServiceReinstated{},
	} {
		if !seen[events.TypeOf(p)] {
			missing = append(missing, events.TypeOf(p))
		}
	}
	for _, d := range []string{"ACCEPT", "DECLINE", "SIGNPOST", "MANUAL", "REDIRECT"} {
		if !seen[events.TypeOf(&pathwayv1.ReferralTriaged{})+"/TRIAGE_DECISION_"+d] {
			missing = append(missing, "triage "+d)
		}
	}
	if len(missing) > 0 {
		t.Errorf("history lacks %s", strings.Join(missing, ", "))
	}
}

type model struct {
	Items   map[string]*item
	List    []string
	At      time.Time
	private int
}

type item struct {
	Name string
	Tags map[string]bool
}

// TestDump: nil and empty maps and slices are the same state, unexported
// fields are not state, and a difference reads as a path.
func TestDump(t *testing.T) {
	at := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	a := model{Items: map[string]*item{"b": {Name: "B"}, "a": {Name: "A", Tags: map[string]bool{}}}, List: []string{}, At: at, private: 1}
	b := model{Items: map[string]*item{"a": {Name: "A"}, "b": {Name: "B"}}, At: at, private: 2}
	if conformance.Dump(&a) != conformance.Dump(&b) {
		t.Fatalf("equal states dump differently:\n%s\n---\n%s", conformance.Dump(&a), conformance.Dump(&b))
	}
	b.Items["b"].Tags = map[string]bool{"x": true}
	if got, want := conformance.Dump(&b), `.Items["b"].Tags["x"] = true`; !strings.Contains(got, want) {
		t.Fatalf("got %s, want a line %s", got, want)
	}
	b.Items["b"].Tags = nil
	b.At = at.Add(time.Nanosecond)
	if conformance.Dump(&a) == conformance.Dump(&b) {
		t.Fatal("times a nanosecond apart dump the same")
	}
}
