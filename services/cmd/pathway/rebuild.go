package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/feed"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/projections/timeseries"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/adapters/dashboard"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/retention"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// readModels are the projections `pathway rebuild` knows, by name.
var readModels = map[string]func() projections.Projection{
	waitlists.Name:         func() projections.Projection { return waitlists.New() },
	caseloads.Name:         func() projections.Projection { return caseloads.New() },
	funnel.Name:            func() projections.Projection { return funnel.New() },
	demand.Name:            func() projections.Projection { return demand.New() },
	activity.Name:          func() projections.Projection { return activity.New() },
	feed.Name:              func() projections.Projection { return feed.New() },
	partners.Name:          func() projections.Projection { return partners.New() },
	oruk.ViewName:          func() projections.Projection { return oruk.NewView() },
	timeseries.Name:        func() projections.Projection { return timeseries.New() },
	dashboard.InitialsName: func() projections.Projection { return dashboard.NewInitials() },
	// The views commands are decided from.
	intake.IndexName:       func() projections.Projection { return intake.NewIndex() },
	intake.MatchesName:     func() projections.Projection { return intake.NewMatches() },
	assignment.ViewName:    func() projections.Projection { return assignment.NewView(assignment.ViewName) },
	handoffs.DeadlinesName: func() projections.Projection { return handoffs.NewDeadlines() },
	retention.ViewName:     func() projections.Projection { return retention.NewView() },
	alerts.ViewName:        func() projections.Projection { return alerts.NewView() },
	webhooks.ViewName:      func() projections.Projection { return webhooks.NewView(webhooks.ViewName) },
}

const rebuildUsage = `Usage: pathway rebuild [NAME...] [--data DIR | --nats-url URL]

Rebuilds read models from sequence 1 of the event log and replaces their
checkpoints, showing progress. Without NAME it rebuilds all of them:
%s. A rebuild gives exactly the state that applying the log event by event
gives; use it after changing a read model's code, or to check one.
A running pathway serve keeps its state until restarted.
`

func rebuildCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range readModels {
			if !yield(n) {
				return
			}
		}
	})
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, rebuildUsage, strings.Join(names, ", ")) }
	def := defaultServeConfig()
	data := fs.String("data", firstNonEmpty(getenv(envNames["data"]), def.DataDir), "data directory of the embedded event store")
	natsURL := fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s)")
	auth := externalNATS(fs, getenv)
	masterKey := fs.String("master-key", getenv(envNames["master-key"]), "file of the master key (default master.key in --data; "+keyring.MasterEnv+" wins)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		pos = names
	}
	for _, n := range pos {
		if readModels[n] == nil {
			fmt.Fprintf(stderr, "pathway rebuild: unknown read model %q; known: %s\n", n, strings.Join(names, ", "))
			return errUsage
		}
	}
	js, closeFn, err := connectLog(ctx, *data, *natsURL, *auth)
	if err != nil {
		return err
	}
	defer closeFn()
	// Read models that show something of a person (the dashboard's
	// initials) need the data keys; the others read only what is in clear.
	var dataKeys events.Keys
	if master, err := loadMaster(masterKeyPath(*masterKey, *data, *natsURL), getenv, false, nil); err == nil {
		ring, err := openDataKeys(ctx, js, master, 1)
		if err != nil {
			return err
		}
		// One pass over the keys, not a lookup per referral.
		if _, err := ring.Preload(ctx); err != nil {
			return err
		}
		dataKeys = ring
	} else {
		for _, n := range pos {
			if _, ok := readModels[n]().(projections.Personal); ok {
				return fmt.Errorf("rebuild %s: it reads personal data, sealed in the log: %w", n, err)
			}
		}
	}
	store := events.New(js, events.Options{Keys: dataKeys})
	obj, err := projections.OpenCheckpoints(ctx, js, 1)
	if err != nil {
		return err
	}
	for _, n := range pos {
		start := time.Now()
		bar := progressBar(stderr, n)
		seq, err := projections.NewEngine(store, obj, readModels[n](), projections.Options{}).Rebuild(ctx, bar)
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", n, err)
		}
		elapsed := time.Since(start)
		fmt.Fprintf(stdout, "%s: rebuilt to sequence %d in %v\n", n, seq, elapsed.Round(time.Millisecond))
	}
	return nil
}

// progressBar draws "name [#####.....]  52%  5200/10000" on one line.
func progressBar(w io.Writer, name string) projections.Progress {
	last := -1
	return func(done, total uint64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct == last {
			return
		}
		last = pct
		filled := pct / 5
		fmt.Fprintf(w, "\r%-10s [%s%s] %3d%%  %d/%d events", name, strings.Repeat("#", filled), strings.Repeat(".", 20-filled), pct, done, total)
	}
}
