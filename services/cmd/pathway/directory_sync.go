package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/directorysync"
	"github.com/pathway-sp/pathway/services/supervisor"
)

const directorySyncUsage = `Usage: pathway directory sync URL [--every DURATION] [--full] [--per-page N]
                              [--data DIR | --nats-url URL]

Keeps the VCSE directory in step with an Open Referral UK API. URL is the
API's base address: URL/services is its service list (for example
https://directory.example.org/api). The sync pages through URL/services
asking only for what changed since the last complete sync of URL
(modified_after, less 5 minutes for clocks that differ), fetches each
listed service in full from URL/services/{id}, and imports it: a new
service is created, a changed one updated, one the source marks inactive
or defunct retired (its open handoffs stay; new ones are refused), one
marked active again reinstated; the rest are unchanged, or skipped with
the reason. It prints what became of each service and the counts.
Running it again changes nothing that has not changed at the source.

When a sync has gone through every page its start time is remembered for
URL (in the event log's NATS, bucket PATHWAY_DIRECTORY_SYNC), so the next
asks only for changes since; a sync that fails part way is not
remembered, and the next asks again from the same time.

  --every DURATION  sync now and then every DURATION (for example 1h) until
                    stopped (Ctrl-C); a failed sync is reported and the next
                    one tries again
  --full            ask for every service, not only those changed
  --per-page N      services per page asked of the source (default 100)

Progress goes to stderr. An API key the source needs is sent as a header
from the environment: PATHWAY_SYNC_HEADER="Name: value" (for example
"Authorization: Bearer ..." or "x-api-key: ..."), never a flag.
It talks to a running pathway serve on the same data directory, or opens
the directory itself when none runs.
`

// syncHeaderEnv holds the header a source's API key is sent in.
const syncHeaderEnv = "PATHWAY_SYNC_HEADER"

func directorySyncCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("directory sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: help to stdout, a mistake's to stderr
	def := defaultServeConfig()
	data := fs.String("data", firstNonEmpty(getenv(envNames["data"]), def.DataDir), "data directory of the embedded event store")
	natsURL := fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s)")
	auth := externalNATS(fs, getenv)
	every := fs.Duration("every", 0, "sync again every DURATION until stopped")
	full := fs.Bool("full", false, "ask for every service, not only those changed")
	perPage := fs.Int("per-page", 100, "services per page asked of the source")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, directorySyncUsage)
		} else {
			fmt.Fprint(stderr, "\n"+directorySyncUsage)
		}
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "pathway directory sync: want one URL\n\n%s", directorySyncUsage)
		return errUsage
	}
	source, err := directorysync.ParseSource(pos[0])
	if err != nil {
		return err
	}
	if *every != 0 && *every < time.Minute {
		return fmt.Errorf("--every %s: sync at most once a minute", *every)
	}
	if *perPage < 1 || *perPage > 1000 {
		return fmt.Errorf("--per-page %d: must be 1 to 1000", *perPage)
	}
	header, err := directorysync.ParseHeader(getenv(syncHeaderEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", syncHeaderEnv, err)
	}
	js, closeFn, err := keysConnect(*data, *natsURL, *auth)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	state, err := directorysync.OpenState(ctx, js, 1)
	if err != nil {
		return err
	}
	progress := func(p directorysync.Progress) {
		switch {
		case p.Stage == "listing" && p.Total > 0:
			fmt.Fprintf(stderr, "\rlisting changed services: page %d of %d   ", p.Done, p.Total)
		case p.Stage == "listing":
			fmt.Fprintf(stderr, "\rlisting changed services: page %d   ", p.Done)
		default:
			fmt.Fprintf(stderr, "\rimporting services: %d of %d   ", p.Done, p.Total)
		}
	}
	sy := directorysync.New(directory.New(events.New(js, events.Options{})), state, directorysync.Options{Header: header, PerPage: *perPage, Progress: progress,
		Actor: events.Command{Actor: &pathwayv1.Actor{Id: "pathway-directory-sync", Role: pathwayv1.Role_ROLE_ADMIN}}})
	if *every == 0 {
		rep, err := sy.Sync(ctx, source, *full)
		fmt.Fprintln(stderr)
		printSync(stdout, rep, err == nil)
		return err
	}
	err = sy.Every(ctx, source, *every, func(rep directorysync.Report, err error) {
		fmt.Fprintln(stderr)
		printSync(stdout, rep, err == nil)
		if err != nil {
			fmt.Fprintf(stderr, "pathway directory sync: %v; trying again in %s\n", err, *every)
		}
	})
	if errors.Is(err, context.Canceled) {
		return nil // stopped by the operator
	}
	return err
}

// printSync prints what a sync did to each service, then the counts.
func printSync(w io.Writer, rep directorysync.Report, complete bool) {
	if rep.Source == "" {
		return // it did not start
	}
	for _, r := range rep.Results {
		line := fmt.Sprintf("service %s: %s", r.HSDSID, r.Action)
		if r.ServiceID != "" {
			line += " (" + r.ServiceID + ")"
		}
		if r.Reason != "" && len(r.Reasons) == 0 {
			line += ": " + r.Reason
		}
		fmt.Fprintln(w, line)
		// Paths are within the service as /services/{id} gave it.
		for _, p := range r.Reasons {
			fmt.Fprintf(w, "  %s: %s\n", p.Path, p.Reason)
		}
		for _, p := range r.Dropped {
			fmt.Fprintf(w, "  left out %s: %s\n", p.Path, p.Reason)
		}
	}
	since := "everything"
	if !rep.Since.IsZero() {
		since = "changes since " + rep.Since.Format(time.RFC3339)
	}
	status := ""
	if !complete {
		status = " (stopped part way; the next sync asks again)"
	}
	fmt.Fprintf(w, "%s at %s: %d listed (%s): %d created, %d updated, %d retired, %d reinstated, %d unchanged, %d skipped%s\n",
		rep.Source, rep.StartedAt.Format(time.RFC3339), rep.Listed, since, rep.Created, rep.Updated, rep.Retired, rep.Reinstated, rep.Unchanged, rep.Skipped, status)
}

// directorySyncParts are the scheduled syncs of serve's --directory-sync:
// one part per source, each syncing at once and then every
// --directory-sync-every, logging what each sync did (counts, never a
// record) and going on after a failed one.
func directorySyncParts(ctx context.Context, cfg serveConfig, js jetstream.JetStream, store *events.Store, log *slog.Logger) ([]part, error) {
	if len(cfg.DirectorySync) == 0 {
		return nil, nil
	}
	state, err := directorysync.OpenState(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	header, err := directorysync.ParseHeader(cfg.syncHeader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", syncHeaderEnv, err)
	}
	sy := directorysync.New(directory.New(store), state, directorysync.Options{Header: header,
		Actor: events.Command{Actor: &pathwayv1.Actor{Id: "pathway-directory-sync", Role: pathwayv1.Role_ROLE_ADMIN}}})
	var parts []part
	for i, raw := range cfg.DirectorySync {
		src, err := directorysync.ParseSource(raw)
		if err != nil {
			return nil, fmt.Errorf("--directory-sync: %w", err)
		}
		slog := log.With("source", src)
		parts = append(parts, part{fmt.Sprintf("directory-sync-%d", i+1), supervisor.Func(func(ctx context.Context) error {
			err := sy.Every(ctx, src, cfg.DirectorySyncEvery, func(rep directorysync.Report, err error) {
				if err != nil {
					slog.Warn("directory sync failed; the next one asks again from the last complete sync", "err", err, "next_in", cfg.DirectorySyncEvery)
					return
				}
				slog.Info("directory synced", "listed", rep.Listed, "created", rep.Created, "updated", rep.Updated, "retired", rep.Retired,
					"reinstated", rep.Reinstated, "unchanged", rep.Unchanged, "skipped", rep.Skipped)
			})
			if ctx.Err() != nil {
				return nil
			}
			return err
		})})
	}
	return parts, nil
}
