package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/feed"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/timeseries"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/adapters/dashboard"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/erasure"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/metrics"
	"github.com/pathway-sp/pathway/services/retention"
	"github.com/pathway-sp/pathway/services/sar"
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/triage"
)

// allServices are the services `pathway serve` can run; --services picks
// some of them.
var allServices = []string{"intake", "triage", "assignment", "handoffs", "webhooks"}

// startServices opens the selected services and starts their parts under
// sup, and returns the HTTP handler that serves them once the API keys
// are loaded. It runs after the event stream is set up. It opens
// everything before it starts anything, so after an error (a transient
// one: sup runs it again) nothing of it runs.
func startServices(ctx context.Context, sup *supervisor.Supervisor, cfg serveConfig, js jetstream.JetStream, log *slog.Logger, ready httpapi.ReadyFunc) (_ http.Handler, _ *metrics.Metrics, err error) {
	appends := metrics.NewAppends()
	store := events.New(js, events.Options{Keys: cfg.keys, Clear: cfg.clearPersonal, OnAppend: appends.Observe, Tracer: cfg.tracer})
	forget := cfg.keys.OnDestroy(store.Forget)
	defer func() {
		if err != nil {
			forget() // this store is given up: the next attempt makes its own
		}
	}()
	obj, err := projections.OpenCheckpoints(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, nil, err
	}
	// The views commands are decided from: /readyz answers 503 until each
	// has caught up with the log, naming the one behind.
	var writePath []*projections.Engine
	hc := httpapi.Config{Version: buildVersion(), Logger: log, Ready: func(ctx context.Context) error {
		if err := ready(ctx); err != nil {
			return err
		}
		if err := store.Refusing(); err != nil {
			return err
		}
		return projections.Ready(ctx, writePath...)
	}}
	var dash dashboard.Config         // the operations dashboard, with intake
	var parts []part                  // started once everything is open
	var engines []*projections.Engine // for the metrics' lag
	engine := func(p projections.Projection) *projections.Engine {
		e := projections.NewEngine(store, obj, p, projections.Options{Logger: log})
		parts = append(parts, part{p.Name(), e})
		engines = append(engines, e)
		return e
	}
	var auth *keys.Authenticator
	var cases *intake.Service // intake's case work, for the link worker workspace
	// One throttle of failed key checks for the API and the dashboard's
	// sign-in, counting clients behind the trusted proxies.
	proxies, err := edge.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	throttle := edge.NewThrottle(edge.ThrottleOptions{})
	hc.Throttle, hc.Proxies = throttle, proxies

	if slices.Contains(cfg.Services, "intake") {
		ks, err := keys.Open(ctx, js, keys.Options{Replicas: cfg.Replicas})
		if err != nil {
			return nil, nil, fmt.Errorf("open API keys: %w", err)
		}
		auth = ks.Authenticator()
		parts = append(parts, part{"api-keys", auth})
		hc.Auth = auth
		people, err := intake.OpenPersonKeyer(ctx, js, cfg.Replicas, cfg.master)
		if err != nil {
			return nil, nil, err
		}
		// Which open referrals a self-referral may duplicate: a view, so
		// that a referral with an NHS number is one write fewer. In
		// /readyz, as the other views commands are decided from.
		matches := engine(intake.NewMatches())
		writePath = append(writePath, matches)
		in := intake.New(store, people, intake.Options{Matches: intake.FindMatches(store, matches)})
		cases = in
		if err := in.Backfill(ctx, js, log); err != nil {
			return nil, nil, err
		}
		eraser := erasure.New(store, cfg.keys, people)
		auditLog, err := audit.Open(ctx, js, audit.Options{Replicas: cfg.Replicas})
		if err != nil {
			return nil, nil, err
		}
		queue := engine(intake.NewIndex())
		hc.Referrals = httpapi.Referrals{Store: store, Intake: in, TriageQueue: queue, Erasure: eraser, Audit: auditLog}
		ret := retention.New(store, eraser, retention.Options{Policy: cfg.Retention, Logger: log, Checkpoints: obj})
		parts = append(parts, part{"retention", supervisor.Signalled(ret, ret.Engine().Running())})
		log.Info("retention policy", "policy", cfg.Retention.String())
		wl, cl, fn, ac := engine(waitlists.New()), engine(caseloads.New()), engine(funnel.New()), engine(activity.New())
		dm := engine(demand.New())
		hc.Referrals.SAR = sar.New(store, people, auditLog, sarViews(map[string]func(fn func(p projections.Projection)){
			intake.IndexName: engineRead(queue), waitlists.Name: engineRead(wl), caseloads.Name: engineRead(cl), funnel.Name: engineRead(fn),
			activity.Name: engineRead(ac), demand.Name: engineRead(dm),
		}), nil)
		// The referrers' status feed: in /readyz too, so that a referrer
		// polling it after a restart is never answered from a view still
		// catching up.
		rf := engine(feed.New())
		writePath = append(writePath, rf)
		hc.Reads = httpapi.ReadModels{Waitlists: wl, Caseloads: cl, Funnel: fn, Referrers: rf, Activity: ac, Demand: dm, WaitTarget: cfg.WaitTarget}
		secret, err := dashboard.OpenSecret(ctx, js, cfg.Replicas, cfg.master)
		if err != nil {
			return nil, nil, err
		}
		dash = dashboard.Config{Audit: auditLog, Waitlists: wl, Caseloads: cl, Funnel: fn, Demand: dm, Series: engine(timeseries.New()), Initials: engine(dashboard.NewInitials()),
			Keys: dashboard.NewKeyBucket(ks, auth), Secret: secret, WaitTarget: cfg.WaitTarget, Location: kernel.UKTime(), Done: ctx.Done(), Logger: log,
			Forms: dashboard.NewUsedForms(js, cfg.Replicas), Throttle: throttle, Proxies: proxies}
		// Triage staff work the manual queue with the API's triage command.
		dash.Triage = &dashboard.TriageDesk{Store: store, Queue: queue, Decider: in}
	}
	var starts []func(*supervisor.Supervisor)
	if slices.Contains(cfg.Services, "triage") {
		svc := triage.New(store, cfg.rules, triage.Options{Logger: log})
		starts = append(starts, svc.Start)
	}
	if slices.Contains(cfg.Services, "assignment") {
		svc := assignment.New(store, assignment.Options{Logger: log, Checkpoints: obj})
		writePath = append(writePath, svc.ViewEngine())
		starts = append(starts, svc.Start)
	}
	v, vstarts, err := openVCSE(ctx, cfg, js, store, obj, log, &writePath, engine)
	if err != nil {
		return nil, nil, err
	}
	starts = append(starts, vstarts...)
	hc.VCSE = v
	if v.Partners != nil {
		// The directory as Open Referral UK, beside the API.
		hc.ORUK = oruk.New(oruk.Config{Store: store, Partners: v.Partners, Services: engine(oruk.NewView()), Logger: log})
		hc.ORUKRequireKey = cfg.ORUKRequireKey
		syncs, err := directorySyncParts(ctx, cfg, js, store, log)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, syncs...)
	}
	if slices.Contains(cfg.Services, "intake") {
		parts = append(parts, part{"alerts", startAlerts(cfg, store, obj, log, v.Webhooks, &hc, &dash)})
	}
	if dash.Keys != nil {
		dash.Partners = v.Partners
		// The link worker workspace runs the API's commands.
		dash.Workspace = &dashboard.Workspace{Store: store, Cases: cases, Handoffs: v.Handoffs}
		hc.UI = dashboard.New(dash)
	}

	for _, p := range parts {
		sup.Go(p.name, p.Part)
	}
	for _, start := range starts {
		start(sup)
	}
	if slices.Contains(cfg.Services, "triage") {
		log.Info("triage rules loaded", "version", cfg.rules.Version())
	}
	if auth != nil {
		// The API answers once it knows the keys.
		select {
		case <-auth.Running():
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	for _, e := range writePath { // the services' views, beside the read models
		if !slices.Contains(engines, e) {
			engines = append(engines, e)
		}
	}
	mc := metrics.Config{Store: store, Engines: engines, Waitlists: hc.Reads.Waitlists, WaitTarget: cfg.WaitTarget, Appends: appends}
	if v.Webhooks != nil {
		mc.Webhooks = v.Webhooks
	}
	m := metrics.New(mc)
	hc.Metrics = m.Handler()
	return httpapi.New(hc), m, nil
}

// part is a part to start, with its name.
type part struct {
	name string
	supervisor.Part
}
