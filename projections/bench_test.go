package projections_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// benchEvents is the size of the generated history; PATHWAY_BENCH_EVENTS
// overrides it (the figures in docs/PERFORMANCE.md use 1,000,000).
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("PATHWAY_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// generate publishes a synthetic region's history: episodes of about a
// dozen events (received, triaged, waitlisted or assigned, contacts,
// discharged) over 20 workers, asynchronously for speed.
func generate(b *testing.B, js jetstream.JetStream, n int) {
	b.Helper()
	workers := make([]string, 20)
	for i := range workers {
		workers[i] = uuid.NewString()
	}
	t := time.Date(2025, 11, 24, 9, 0, 0, 0, time.UTC)
	publish := func(agg events.Aggregate, p proto.Message) {
		payload, _ := anypb.New(p)
		t = t.Add(time.Second)
		data, _ := proto.Marshal(&pathwayv1.Envelope{EventId: uuid.NewString(), AggregateType: agg.Type, AggregateId: agg.ID,
			EventType: events.TypeOf(p), SchemaVersion: 1, Payload: payload, RecordedAt: timestamppb.New(t), OccurredAt: timestamppb.New(t)})
		m := nats.NewMsg(agg.Subject())
		m.Data = data
		m.Header.Set(events.HeaderEventType, events.TypeOf(p))
		for {
			_, err := js.PublishMsgAsync(m)
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				// A slow moment of the server: let it catch up.
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(time.Minute):
					b.Fatal("publish stalled")
				}
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			break
		}
	}
	for i, w := range workers {
		publish(events.Aggregate{Type: "worker", ID: w}, &pathwayv1.WorkerRegistered{Name: fmt.Sprint("W", i), Pcn: "U12345", Practices: []string{"A81001"}, Capacity: 250})
	}
	sent := len(workers)
	for sent < n {
		ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
		w := workers[sent%len(workers)]
		episode := []struct {
			agg events.Aggregate
			p   proto.Message
		}{
			{ref, &pathwayv1.ReferralReceived{GpPractice: "A81001", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE, Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Sam", FamilyName: "Example", Postcode: "TS1 3BA"}, WhatMatters: "Wants to meet people"}},
			{ref, &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: pathwayv1.Priority_PRIORITY_ROUTINE, RuleId: "accept", RulesVersion: "1"}},
			{ref, &pathwayv1.ReferralWaitlisted{Queue: "U12345", Priority: pathwayv1.Priority_PRIORITY_ROUTINE}},
			{events.Aggregate{Type: "worker", ID: w}, &pathwayv1.WorkerCaseAssigned{ReferralId: ref.ID}},
			{ref, &pathwayv1.ReferralAssigned{WorkerId: w, Queue: "U12345"}},
		}
		for c := 0; c < 5; c++ {
			episode = append(episode, struct {
				agg events.Aggregate
				p   proto.Message
			}{ref, &pathwayv1.ContactRecorded{Kind: pathwayv1.ContactKind_CONTACT_KIND_PHONE, At: timestamppb.New(t), DurationMinutes: 30}})
		}
		episode = append(episode, struct {
			agg events.Aggregate
			p   proto.Message
		}{ref, &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}},
			struct {
				agg events.Aggregate
				p   proto.Message
			}{events.Aggregate{Type: "worker", ID: w}, &pathwayv1.WorkerCaseReleased{ReferralId: ref.ID}})
		for _, e := range episode {
			publish(e.agg, e.p)
		}
		sent += len(episode)
		if sent%50_000 < len(episode) {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish stalled")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publish stalled")
	}
}

// cpuTime is the CPU time (user and system) the process has used: the
// embedded server's as well as the reader's. Per event it moves far less
// than wall-clock rates on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the rate and the CPU time per event of a replay benchmark
// that started at cpu0.
func report(b *testing.B, events uint64, cpu0 time.Duration) {
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(events)/float64(b.N), "cpu-ns/event")
}

// untyped hides a projection's EventTypes, so a replay decodes everything.
type untyped struct{ projections.Projection }

// BenchmarkReplay measures, on one generated history, the raw ordered
// replay of the log (decode only) and the rebuild of each read model, as
// events per second. The ratio rebuild/raw is the design target's.
func BenchmarkReplay(b *testing.B) {
	e := start(b)
	n := benchEvents()
	generate(b, e.js, n)
	ctx := context.Background()
	last, _ := e.store.LastSequence(ctx)
	b.Logf("history: %d events", last)

	// Only the referral events (Read filters the aggregate type itself);
	// the rate counts every event of the log.
	b.Run("raw/referral", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			for _, err := range e.store.Read(ctx, 1, events.TypeSubject("referral")) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b, last, cpu0)
	})
	// An engine starting without a checkpoint catches up with a read, then
	// follows live; before, it caught up through its live subscription,
	// a consumer filtered on the wildcard subject (subscribe/referral).
	b.Run("catchup/waitlists", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			eng := projections.NewEngine(e.store, nil, waitlists.New(), projections.Options{})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- eng.Run(rctx) }()
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
			err := eng.WaitFor(wctx, last)
			wcancel()
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		report(b, last, cpu0)
	})
	b.Run("subscribe/referral", func(b *testing.B) {
		lastRef, err := e.store.LastSequenceOn(ctx, events.TypeSubject("referral"))
		if err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime()
		for b.Loop() {
			sctx, cancel := context.WithCancel(ctx)
			for rec, err := range e.store.Subscribe(sctx, 1, events.TypeSubject("referral")) {
				if err != nil {
					b.Fatal(err)
				}
				if rec.Sequence == lastRef {
					break
				}
			}
			cancel()
		}
		report(b, last, cpu0)
	})
	b.Run("raw", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			count := 0
			for _, err := range e.store.Read(ctx, 1, "") {
				if err != nil {
					b.Fatal(err)
				}
				count++
			}
			if uint64(count) != last {
				b.Fatalf("read %d of %d", count, last)
			}
		}
		report(b, last, cpu0)
	})
	for name, fresh := range map[string]func() projections.Projection{
		"waitlists": func() projections.Projection { return waitlists.New() },
		"caseloads": func() projections.Projection { return caseloads.New() },
		"funnel":    func() projections.Projection { return funnel.New() },
		// The same read model decoding every event: what declaring its
		// event types (projections.Typed) saves.
		"waitlists-decode-all": func() projections.Projection { return untyped{waitlists.New()} },
	} {
		b.Run("rebuild/"+name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := projections.Replay(ctx, e.store, fresh(), 0, nil); err != nil {
					b.Fatal(err)
				}
			}
			report(b, last, cpu0)
		})
	}
}

// BenchmarkMemoryPerActiveReferral measures the heap the read models hold
// per active (assigned) referral.
func BenchmarkMemoryPerActiveReferral(b *testing.B) {
	const active = 100_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		wl, cl := waitlists.New(), caseloads.New()
		seq := uint64(0)
		apply := func(agg events.Aggregate, p proto.Message) {
			seq++
			rec := events.Record{Sequence: seq, Aggregate: agg, Type: events.TypeOf(p), Payload: p, Envelope: &pathwayv1.Envelope{RecordedAt: timestamppb.Now()}}
			wl.Apply(rec)
			cl.Apply(rec)
		}
		w := events.Aggregate{Type: "worker", ID: uuid.NewString()}
		apply(w, &pathwayv1.WorkerRegistered{Name: "W", Pcn: "U12345", Capacity: active})
		for range active {
			ref := events.Aggregate{Type: "referral", ID: uuid.NewString()}
			apply(ref, &pathwayv1.ReferralReceived{Urgency: pathwayv1.Priority_PRIORITY_ROUTINE})
			apply(ref, &pathwayv1.ReferralWaitlisted{Queue: "U12345"})
			apply(w, &pathwayv1.WorkerCaseAssigned{ReferralId: ref.ID})
			apply(ref, &pathwayv1.ReferralAssigned{WorkerId: w.ID})
			apply(ref, &pathwayv1.ContactRecorded{At: timestamppb.Now()})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/active, "bytes/referral")
		runtime.KeepAlive(wl)
		runtime.KeepAlive(cl)
	}
}
