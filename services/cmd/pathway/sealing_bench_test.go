package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/keys"
)

// BenchmarkSealing measures what sealing personal fields costs, against
// the same build appending them in clear (events.Options.Clear): POST
// /v1/referrals at concurrency 16 on each, taking turns, then a replay of
// every read model (what pathway rebuild does) on each log, taking turns.
//
//	PATHWAY_BENCH_REQUESTS  requests per intake window (default 1500)
//	PATHWAY_BENCH_ROUNDS    turns of each (default 3)
func BenchmarkSealing(b *testing.B) {
	requests := envInt("PATHWAY_BENCH_REQUESTS", 1500)
	rounds := envInt("PATHWAY_BENCH_ROUNDS", 3)
	client := benchClient()
	type variant struct {
		name     string
		p        *pathway
		ref, ops string
		intake   window
		settled  time.Duration
		rebuild  time.Duration
		cpu      time.Duration
		events   uint64
	}
	start := func(name string, clear bool) *variant {
		cfg := defaultServeConfig()
		cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = b.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
		cfg.clearPersonal = clear
		p := startPathwayWith(b, cfg)
		v := &variant{name: name, p: p, ref: p.key(keys.RoleReferrer, "A81001"), ops: p.key(keys.RoleOps, "")}
		if w := drive(client, p.base, v.ref, 4, 40, time.Minute); w.codes[201] != 40 {
			b.Fatalf("%s warm-up: %v", name, w.codes)
		}
		settle(b, client, p, v.ops)
		return v
	}
	vs := []*variant{start("sealed", false), start("clear", true)}
	for r := range rounds {
		for i := range vs {
			v := vs[(i+r)%len(vs)] // alternate who goes first
			v.intake.add(drive(client, v.p.base, v.ref, 16, requests, 30*time.Second))
			v.settled += settle(b, client, v.p, v.ops)
		}
	}
	for r := range rounds {
		for i := range vs {
			v := vs[(i+r)%len(vs)]
			d, cpu, n := replayAll(b, v.p)
			v.rebuild += d
			v.cpu += cpu
			v.events = n
		}
	}
	for _, v := range vs {
		b.Run(v.name+"/intake-c16", func(b *testing.B) { v.intake.report(b) })
		b.Run(v.name+"/rebuild", func(b *testing.B) {
			b.ReportMetric(float64(v.events), "events")
			b.ReportMetric(ms(v.rebuild)/float64(rounds), "ms/rebuild")
			b.ReportMetric(float64(v.cpu.Microseconds())/float64(rounds)/float64(max(v.events, 1)), "cpu-us/event")
			b.ReportMetric(0, "ns/op")
		})
	}
	s, c := vs[0], vs[1]
	rate := func(w window) float64 { return float64(w.codes[201]) / w.elapsed.Seconds() }
	b.Logf("sealed / clear: intake %.3f (req/s), %.3f (CPU per request); rebuild %.3f (time), %.3f (CPU per event)",
		rate(s.intake)/rate(c.intake),
		(float64(s.intake.cpu)/float64(len(s.intake.lat)))/(float64(c.intake.cpu)/float64(len(c.intake.lat))),
		float64(s.rebuild)/float64(c.rebuild), (float64(s.cpu)/float64(s.events))/(float64(c.cpu)/float64(c.events)))
}

// replayAll replays every read model that pathway rebuild knows from the
// start of p's log, with the data keys (the dashboard's initials open
// sealed fields), and returns the time, the process CPU and the log's
// length.
func replayAll(tb testing.TB, p *pathway) (time.Duration, time.Duration, uint64) {
	tb.Helper()
	ctx := context.Background()
	js := p.connect()
	master, _, err := keyring.LoadMaster(masterKeyPath("", p.data, ""), func(string) string { return "" }, false)
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := keyring.Open(ctx, js, master, keyring.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	store := events.New(js, events.Options{Keys: ring})
	n, err := store.LastSequence(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	cpu0, t0 := processCPU(), time.Now()
	for _, name := range slices.Sorted(maps.Keys(readModels)) {
		if _, err := projections.Replay(ctx, store, readModels[name](), 0, nil); err != nil {
			tb.Fatal(fmt.Errorf("replay %s: %w", name, err))
		}
	}
	return time.Since(t0), processCPU() - cpu0, n
}
