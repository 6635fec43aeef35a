package waitlists_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)

type feed struct {
	wl  *waitlists.Waitlists
	seq uint64
}

func (f *feed) at(day int, id string, p proto.Message) {
	f.seq++
	f.wl.Apply(events.Record{Sequence: f.seq, Aggregate: events.Aggregate{Type: "referral", ID: id}, Payload: p,
		Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.New(t0.Add(time.Duration(day) * 24 * time.Hour))}})
}

func TestWaitlistOrderAndFigures(t *testing.T) {
	f := &feed{wl: waitlists.New()}
	routine, urgent := pathwayv1.Priority_PRIORITY_ROUTINE, pathwayv1.Priority_PRIORITY_URGENT
	f.at(0, "a", &pathwayv1.ReferralReceived{Urgency: routine})
	f.at(0, "a", &pathwayv1.ReferralWaitlisted{Queue: "U12345"})
	f.at(1, "b", &pathwayv1.ReferralReceived{Urgency: routine})
	f.at(1, "b", &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: routine})
	f.at(5, "c", &pathwayv1.ReferralReceived{Urgency: routine})
	f.at(5, "c", &pathwayv1.SafeguardingEscalated{})
	f.at(5, "c", &pathwayv1.ReferralWaitlisted{Queue: "U12345"})
	f.at(6, "d", &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: routine})
	f.at(7, "x", &pathwayv1.ReferralWaitlisted{Queue: "unmatched", Priority: routine})
	// Two leave for a worker, one is cancelled.
	f.at(8, "a", &pathwayv1.ReferralAssigned{WorkerId: "w"})
	f.at(9, "d", &pathwayv1.ReferralCancelled{})
	f.at(10, "e", &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: routine})
	f.at(11, "e", &pathwayv1.ReferralAssigned{WorkerId: "w"})

	got := f.wl.Ordered("U12345")
	if len(got) != 2 || got[0].ID != "c" || got[0].Priority != urgent || got[1].ID != "b" {
		t.Fatalf("order %+v, want c (urgent) then b", got)
	}
	now := t0.Add(31 * 24 * time.Hour)
	s := f.wl.Summarise("U12345", now, 28*24*time.Hour)
	if s.Size != 2 || s.ByPriority["urgent"] != 1 || s.ByPriority["routine"] != 1 {
		t.Fatalf("summary %+v", s)
	}
	if time.Duration(s.OldestWait) != 30*24*time.Hour || time.Duration(s.MedianWait) != 28*24*time.Hour {
		t.Fatalf("oldest %v median %v, want 30 and 28 days", time.Duration(s.OldestWait), time.Duration(s.MedianWait))
	}
	if s.Breaches != 1 {
		t.Fatalf("breaches %d, want 1 (b waited 30 days against 28)", s.Breaches)
	}
	if s.PerWeek != 0.5 || s.EstimateNew == nil || time.Duration(*s.EstimateNew) != 42*24*time.Hour {
		t.Fatalf("throughput %v estimate %v, want 0.5/week and 6 weeks for the third place", s.PerWeek, s.EstimateNew)
	}
	if q := f.wl.Queues(); len(q) != 2 || q[0] != "U12345" || q[1] != "unmatched" {
		t.Fatalf("queues %v", q)
	}
	// A snapshot restores to the same state.
	var buf bytes.Buffer
	if err := f.wl.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	back := waitlists.New()
	if err := back.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if b := back.Summarise("U12345", now, 28*24*time.Hour); b.Size != s.Size || b.Breaches != s.Breaches || b.PerWeek != s.PerWeek {
		t.Fatalf("restored %+v, want %+v", b, s)
	}
}
