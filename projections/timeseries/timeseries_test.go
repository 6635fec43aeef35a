package timeseries_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/timeseries"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

type feed struct {
	s   *timeseries.Series
	seq uint64
}

// at applies p to referral id, recorded h hours after t0.
func (f *feed) at(h float64, id string, p proto.Message) {
	f.seq++
	f.s.Apply(events.Record{Sequence: f.seq, Aggregate: events.Aggregate{Type: "referral", ID: id}, Payload: p,
		Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(t0.Add(time.Duration(h * float64(time.Hour))))}})
}

func hour(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func TestSizesAndDays(t *testing.T) {
	f := &feed{s: timeseries.New()}
	accept := &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}
	for _, id := range []string{"a", "b", "c", "d"} {
		f.at(0, id, &pathwayv1.ReferralReceived{})
		f.at(0.1, id, accept)
	}
	f.at(0.2, "a", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	f.at(0.3, "b", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	f.at(0.4, "b", &pathwayv1.ReferralWaitlisted{Queue: "U1"}) // a repeat changes nothing
	f.at(2.5, "c", &pathwayv1.ReferralWaitlisted{Queue: "unmatched"})
	f.at(3.5, "c", &pathwayv1.ReferralWaitlisted{Queue: "U1"}) // moved, not a new entry
	f.at(5, "a", &pathwayv1.ReferralAssigned{WorkerId: "w"})
	f.at(6, "b", &pathwayv1.ReferralCancelled{})
	f.at(7, "e", &pathwayv1.ReferralReceived{})
	f.at(7.5, "e", &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE})
	f.at(30, "d", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	f.at(31, "d", &pathwayv1.ReferralMerged{IntoReferralId: "a"})
	f.at(32, "a", &pathwayv1.ReferralDischarged{})
	f.at(33, "a", &pathwayv1.ReferralDischarged{}) // closes once

	for _, c := range []struct {
		queue string
		h     int
		want  int
	}{
		{"U1", -1, 0}, {"U1", 0, 2}, {"U1", 2, 2}, {"U1", 3, 3}, {"U1", 4, 3}, {"U1", 5, 2}, {"U1", 6, 1}, {"U1", 29, 1},
		{"U1", 30, 2}, {"U1", 31, 1}, {"U1", 100, 1},
		{"unmatched", 2, 1}, {"unmatched", 3, 0}, {"nowhere", 3, 0},
	} {
		if got := f.s.SizeAt(c.queue, hour(c.h)); got != c.want {
			t.Errorf("%s at hour %d: got %d, want %d", c.queue, c.h, got, c.want)
		}
	}
	if q := f.s.Queues(); len(q) != 2 || q[0] != "U1" || q[1] != "unmatched" {
		t.Errorf("queues: got %v, want [U1 unmatched]", q)
	}
	pts := f.s.Sample("U1", hour(0), hour(6), 2*time.Hour)
	if len(pts) != 4 || pts[0].Size != 2 || pts[1].Size != 2 || pts[2].Size != 3 || pts[3].Size != 1 {
		t.Errorf("sample every 2h: got %+v, want sizes 2 2 3 1", pts)
	}

	day1, day2 := f.s.On(t0), f.s.On(t0.Add(24*time.Hour))
	if want := (timeseries.Day{In: 5, Out: 2, Waitlisted: 3, Assigned: 1}); day1 != want {
		t.Errorf("day 1: got %+v, want %+v", day1, want)
	}
	if want := (timeseries.Day{Out: 2, Waitlisted: 1}); day2 != want {
		t.Errorf("day 2: got %+v, want %+v", day2, want)
	}
	dates, days := f.s.DaysBetween(t0, t0.Add(48*time.Hour))
	if len(dates) != 3 || len(days) != 3 || days[0] != day1 || days[2] != (timeseries.Day{}) {
		t.Errorf("days between: got %v %+v", dates, days)
	}

	// A snapshot restores to the same state.
	var buf bytes.Buffer
	if err := f.s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	back := timeseries.New()
	if err := back.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := state(t, back), state(t, f.s); got != want {
		t.Fatalf("restored %s, want %s", got, want)
	}
}

func state(tb testing.TB, s *timeseries.Series) string {
	tb.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestRebuildEqualsIncremental runs the projection live on a real log,
// then replays the log into a fresh copy: both states are the same.
func TestRebuildEqualsIncremental(t *testing.T) {
	log := eventstest.Start(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obj, err := projections.OpenCheckpoints(ctx, log.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	live := timeseries.New()
	eng := projections.NewEngine(log.Store, obj, live, projections.Options{})
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()

	var last uint64
	for i, q := range []string{"U1", "U2", "U1", "unmatched", "U1"} {
		id := events.Aggregate{Type: "referral", ID: "00000000-0000-4000-8000-00000000000" + string(rune('1'+i))}
		seq, err := log.Store.Append(ctx, id, 0,
			events.Event{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_SELF}},
			events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}},
			events.Event{Payload: &pathwayv1.ReferralWaitlisted{Queue: q}})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if seq, err = log.Store.Append(ctx, id, seq, events.Event{Payload: &pathwayv1.ReferralAssigned{WorkerId: "w"}}); err != nil {
				t.Fatal(err)
			}
		}
		last = seq
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := eng.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	var incremental string
	eng.Read(func(p projections.Projection, _ uint64) { incremental = state(t, p.(*timeseries.Series)) })

	fresh := timeseries.New()
	if _, err := projections.Replay(ctx, log.Store, fresh, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := state(t, fresh); got != incremental {
		t.Fatalf("rebuild: got %s, want %s", got, incremental)
	}
	now := time.Now()
	if got := fresh.SizeAt("U1", now) + fresh.SizeAt("U2", now) + fresh.SizeAt("unmatched", now); got != 2 {
		t.Fatalf("waiting now: got %d, want 2", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestIgnoresUndeclaredTypes: every pathway.v1 message that EventTypes
// does not declare leaves the state unchanged, so a rebuild that skips
// them gives the same state.
func TestIgnoresUndeclaredTypes(t *testing.T) {
	f := &feed{s: timeseries.New()}
	f.at(0, "a", &pathwayv1.ReferralReceived{})
	f.at(0, "a", &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT})
	f.at(1, "a", &pathwayv1.ReferralWaitlisted{Queue: "U1"})
	before := state(t, f.s)
	declared := map[string]bool{}
	for _, typ := range f.s.EventTypes() {
		declared[typ] = true
	}
	checked := 0
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if mt.Descriptor().ParentFile().Package() != "pathway.v1" || declared[string(mt.Descriptor().FullName())] {
			return true
		}
		m := mt.New()
		fields := mt.Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); fd.Kind() == protoreflect.StringKind && fd.Cardinality() != protoreflect.Repeated && fd.ContainingOneof() == nil {
				m.Set(fd, protoreflect.ValueOfString("a"))
			}
		}
		f.at(2, "a", m.Interface())
		checked++
		return true
	})
	if checked < 20 {
		t.Fatalf("checked %d undeclared types, want every pathway.v1 message", checked)
	}
	if got := state(t, f.s); got != before {
		t.Fatalf("undeclared types changed the state:\n got %s\nwant %s", got, before)
	}
}

// TestDaysAreUKDays: a day runs midnight to midnight in UK time, so in
// British Summer Time 23:30 UTC is the next day, in winter it is the same
// day, and the day the clocks go back is 25 hours long.
func TestDaysAreUKDays(t *testing.T) {
	s := timeseries.New()
	seq := uint64(0)
	receive := func(id string, at time.Time) {
		seq++
		s.Apply(events.Record{Sequence: seq, Aggregate: events.Aggregate{Type: "referral", ID: id}, Payload: &pathwayv1.ReferralReceived{},
			Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(at)}})
	}
	// Summer: 23:30 UTC on 31 May is 00:30 BST on 1 June.
	receive("a", time.Date(2026, 5, 31, 23, 30, 0, 0, time.UTC))
	receive("b", time.Date(2026, 5, 31, 22, 30, 0, 0, time.UTC)) // 23:30 BST, still 31 May
	if got := s.On(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)).In; got != 1 {
		t.Errorf("1 June (BST) counts %d referrals in, want 1 (the one at 00:30 BST)", got)
	}
	if got := s.On(time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)).In; got != 1 {
		t.Errorf("31 May (BST) counts %d referrals in, want 1", got)
	}
	// Winter: 23:30 UTC on 1 December is 23:30 GMT, the same day.
	receive("c", time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC))
	if got := s.On(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)).In; got != 1 {
		t.Errorf("1 December (GMT) counts %d referrals in, want 1", got)
	}
	// 25 October 2026: the clocks go back at 02:00 BST, a 25-hour day.
	receive("d", time.Date(2026, 10, 24, 23, 15, 0, 0, time.UTC)) // 00:15 BST on the 25th
	receive("e", time.Date(2026, 10, 25, 23, 45, 0, 0, time.UTC)) // 23:45 GMT on the 25th
	receive("f", time.Date(2026, 10, 26, 0, 15, 0, 0, time.UTC))  // 00:15 GMT on the 26th
	dates, days := s.DaysBetween(time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC))
	var got []string
	for i, d := range dates {
		got = append(got, d.Format("Mon 2 Jan 15:04 MST")+" "+strconv.Itoa(days[i].In))
	}
	want := []string{"Sat 24 Oct 00:00 BST 0", "Sun 25 Oct 00:00 BST 2", "Mon 26 Oct 00:00 GMT 1"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("days between 24 and 26 October: got %q, want %q", got, want)
	}
}
