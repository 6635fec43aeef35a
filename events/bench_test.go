package events_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The benchmarks run on the harness of the conformance suite: an embedded
// nats-server, file store in a temporary directory, every write fsynced.
// Each pair (store vs raw JetStream) uses the same stream, settings and
// message size, so the ratio shows the store's own cost. docs/PERFORMANCE.md
// records the figures.

func benchReferral() *pathwayv1.ReferralReceived {
	return &pathwayv1.ReferralReceived{
		Source:   pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE,
		Referrer: &pathwayv1.Referrer{Name: "Dr A Example", Role: "GP", Organisation: "A81001"},
		Person: &pathwayv1.Person{
			NhsNumber: "9434765919", GivenName: "Sam", FamilyName: "Example",
			DateOfBirth: &pathwayv1.Date{Year: 1956, Month: 3, Day: 14},
			Postcode:    "TS1 3BA", Phone: "07700900123", Language: "en",
		},
		GpPractice:  "A81001",
		Needs:       []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_MENTAL_HEALTH},
		WhatMatters: "Wants to get out of the house and meet people again",
		Urgency:     pathwayv1.Priority_PRIORITY_ROUTINE,
		Consent:     &pathwayv1.Consent{Given: true, RecordedBy: "Dr A Example"},
	}
}

var benchActor = &pathwayv1.Actor{Id: "key-1", Role: pathwayv1.Role_ROLE_REFERRER, Organisation: "A81001"}

// rawMsg is a message of the same size as the store writes, built once.
func rawMsg(b *testing.B, subject string) *nats.Msg {
	p, _ := anypb.New(benchReferral())
	data, err := proto.Marshal(&pathwayv1.Envelope{
		EventId: uuid.NewString(), AggregateType: "referral", AggregateId: uuid.NewString(),
		EventType: "pathway.v1.ReferralReceived", SchemaVersion: 1, Payload: p, Actor: benchActor,
		OccurredAt: timestamppb.Now(), RecordedAt: timestamppb.Now(),
	})
	if err != nil {
		b.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(events.HeaderEventType, "pathway.v1.ReferralReceived")
	return m
}

func BenchmarkAppend(b *testing.B) {
	benchAppend(b, startHarness(b))
}

// BenchmarkAppendNoFsync is BenchmarkAppend with --fsync=false: JetStream
// fsyncs every 2 minutes instead of on every write.
func BenchmarkAppendNoFsync(b *testing.B) {
	benchAppend(b, startHarnessSync(b, false))
}

func benchAppend(b *testing.B, h *natsHarness) {
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			evs := make([]events.Event, n)
			for i := range evs {
				evs[i] = events.Event{Payload: benchReferral(), Actor: benchActor}
			}
			b.ReportAllocs()
			for b.Loop() {
				agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
				if _, err := h.store.Append(ctx, agg, 0, evs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run("events="+strconv.Itoa(n)+"/parallel", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				evs := make([]events.Event, n)
				for i := range evs {
					evs[i] = events.Event{Payload: benchReferral(), Actor: benchActor}
				}
				for pb.Next() {
					agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
					if _, err := h.store.Append(ctx, agg, 0, evs...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkRawPublish(b *testing.B) {
	h := startHarness(b)
	ctx := context.Background()
	b.Run("events=1", func(b *testing.B) {
		for b.Loop() {
			m := rawMsg(b, "pathway.referral."+uuid.NewString())
			if _, err := h.js.PublishMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("events=1/parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m := rawMsg(b, "pathway.referral."+uuid.NewString())
				if _, err := h.js.PublishMsg(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("events=3", func(b *testing.B) {
		for b.Loop() {
			subj := "pathway.referral." + uuid.NewString()
			msgs := []*nats.Msg{rawMsg(b, subj), rawMsg(b, subj), rawMsg(b, subj)}
			if _, err := jetstreamext.PublishMsgBatch(ctx, h.js, msgs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*3)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkLoad loads a 12-event aggregate (a typical episode) from a log
// that holds 20,000 other events.
func BenchmarkLoad(b *testing.B) {
	h := startHarness(b)
	ctx := context.Background()
	filler := make([]events.Event, 20)
	for i := range filler {
		filler[i] = events.Event{Payload: benchReferral()}
	}
	for range 1000 {
		agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		if _, err := h.store.Append(ctx, agg, 0, filler...); err != nil {
			b.Fatal(err)
		}
	}
	agg := events.Aggregate{Type: "referral", ID: uuid.NewString()}
	var v uint64
	for range 12 {
		var err error
		if v, err = h.store.Append(ctx, agg, v, events.Event{Payload: benchReferral()}); err != nil {
			b.Fatal(err)
		}
		// Interleave: the aggregate's events are spread over the log.
		other := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		if _, err := h.store.Append(ctx, other, 0, filler...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.ReportAllocs()
	for b.Loop() {
		recs, _, err := h.store.Load(ctx, agg)
		if err != nil || len(recs) != 12 {
			b.Fatalf("load: %d events, %v", len(recs), err)
		}
	}
}

// BenchmarkCreateShapes compares three ways a create can reach the log,
// 16 creators at once on one fsynced server: one event alone (the floor),
// an atomic batch of two events on two aggregates (what intake does: the
// person's claim and the referral), and the same two events as two single
// appends one after the other. Each shape runs twice, alternating.
func BenchmarkCreateShapes(b *testing.B) {
	h := startHarness(b)
	ctx := context.Background()
	claim := events.Event{Payload: &pathwayv1.PersonEpisodeOpened{ReferralId: uuid.NewString()}, Actor: benchActor}
	received := events.Event{Payload: benchReferral(), Actor: benchActor}
	shapes := []struct {
		name   string
		create func() error
	}{
		{"single", func() error {
			_, err := h.store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, received)
			return err
		}},
		{"batch-of-two", func() error {
			_, err := h.store.AppendAll(ctx,
				events.Change{Aggregate: events.Aggregate{Type: "person", ID: uuid.NewString()}, Expected: 0, Events: []events.Event{claim}},
				events.Change{Aggregate: events.Aggregate{Type: "referral", ID: uuid.NewString()}, Expected: 0, Events: []events.Event{received}})
			return err
		}},
		{"two-appends", func() error {
			if _, err := h.store.Append(ctx, events.Aggregate{Type: "person", ID: uuid.NewString()}, 0, claim); err != nil {
				return err
			}
			_, err := h.store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, received)
			return err
		}},
	}
	for round := range 2 {
		for _, s := range shapes {
			b.Run(s.name+"/round="+strconv.Itoa(round+1), func(b *testing.B) {
				b.SetParallelism(8)
				cpu := processCPU()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.create(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-us/create")
			})
		}
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
