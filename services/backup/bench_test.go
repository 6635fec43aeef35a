package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/backup"
)

// BenchmarkBackupRestore backs up and restores a log of
// PATHWAY_BENCH_EVENTS events (default 100,000; twelve to an aggregate, as
// an episode has about a dozen, each with its sealed person), encrypted.
// It reports the events per second of each and the backup's size.
//
//	go test -run XXX -bench BackupRestore -benchtime 1x ./backup
func BenchmarkBackupRestore(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PATHWAY_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	l := eventstest.Start(b, false)
	ctx := context.Background()
	const perAggregate = 12
	for i := 0; i < n; i += perAggregate {
		evs := make([]events.Event, min(perAggregate, n-i))
		for j := range evs {
			evs[j] = events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", WhatMatters: "Wants to get out of the house and meet people again",
				Person: &pathwayv1.Person{NhsNumber: nhs, GivenName: "Sam", FamilyName: "Example", Postcode: "TS1 3BA"}}}
		}
		if _, err := l.Store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var backupTime, restoreTime time.Duration
	var size int64
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		start := time.Now()
		m, err := backup.Write(ctx, l.JS, dir, backup.Options{Master: eventstest.Master()})
		if err != nil {
			b.Fatal(err)
		}
		backupTime += time.Since(start)
		size = 0
		for _, s := range m.Streams {
			size += s.Bytes
		}
		b.StopTimer()
		dst := emptyServer(b)
		b.StartTimer()
		start = time.Now()
		if err := backup.Restore(ctx, dst, dir, m, backup.RestoreOptions{Master: eventstest.Master()}); err != nil {
			b.Fatal(err)
		}
		restoreTime += time.Since(start)
	}
	runs := float64(b.N)
	b.ReportMetric(float64(n)*runs/backupTime.Seconds(), "backup-events/s")
	b.ReportMetric(float64(n)*runs/restoreTime.Seconds(), "restore-events/s")
	b.ReportMetric(float64(size)/(1<<20), "backup-MiB")
}
