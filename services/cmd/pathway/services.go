package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/timeseries"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/adapters/dashboard"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/erasure"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/retention"
	"github.com/pathway-sp/pathway/services/sar"
	"github.com/pathway-sp/pathway/services/triage"
	"golang.org/x/sync/errgroup"
)

// allServices are the services `pathway serve` can run; --services picks
// some of them.
var allServices = []string{"intake", "triage", "assignment", "handoffs", "webhooks"}

// startServices starts the selected services under g and returns the HTTP
// handler that serves them. It runs after the event stream is set up.
func startServices(ctx context.Context, g *errgroup.Group, cfg serveConfig, js jetstream.JetStream, log *slog.Logger, ready httpapi.ReadyFunc) (http.Handler, error) {
	store := events.New(js, events.Options{Keys: cfg.keys, Clear: cfg.clearPersonal})
	cfg.keys.OnDestroy(store.Forget)
	obj, err := projections.OpenCheckpoints(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	// The views commands are decided from: /readyz answers 503 until each
	// has caught up with the log, naming the one behind.
	var writePath []*projections.Engine
	hc := httpapi.Config{Version: buildVersion(), Logger: log, Ready: func(ctx context.Context) error {
		if err := ready(ctx); err != nil {
			return err
		}
		return projections.Ready(ctx, writePath...)
	}}
	var dash dashboard.Config // the operations dashboard, with intake
	// One throttle of failed key checks for the API and the dashboard's
	// sign-in, counting clients behind the trusted proxies.
	proxies, err := edge.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	throttle := edge.NewThrottle(edge.ThrottleOptions{})
	hc.Throttle, hc.Proxies = throttle, proxies

	if slices.Contains(cfg.Services, "intake") {
		ks, err := keys.Open(ctx, js, keys.Options{Replicas: cfg.Replicas})
		if err != nil {
			return nil, fmt.Errorf("open API keys: %w", err)
		}
		auth := ks.Authenticator()
		g.Go(func() error { return auth.Run(ctx) })
		select {
		case <-auth.Loaded():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		queue := projections.NewEngine(store, obj, intake.NewIndex(), projections.Options{Logger: log})
		g.Go(func() error { return queue.Run(ctx) })
		hc.Auth = auth
		people, err := intake.OpenPersonKeyer(ctx, js, cfg.Replicas, cfg.master)
		if err != nil {
			return nil, err
		}
		in := intake.New(store, people, nil)
		if err := in.Backfill(ctx, js, log); err != nil {
			return nil, err
		}
		eraser := erasure.New(store, cfg.keys, people)
		auditLog, err := audit.Open(ctx, js, audit.Options{Replicas: cfg.Replicas})
		if err != nil {
			return nil, err
		}
		hc.Referrals = httpapi.Referrals{Store: store, Intake: in, TriageQueue: queue, Erasure: eraser, Audit: auditLog}
		ret := retention.New(store, eraser, retention.Options{Policy: cfg.Retention, Logger: log, Checkpoints: obj})
		g.Go(func() error { return ret.Run(ctx) })
		log.Info("retention policy", "policy", cfg.Retention.String())
		wl := projections.NewEngine(store, obj, waitlists.New(), projections.Options{Logger: log})
		g.Go(func() error { return wl.Run(ctx) })
		cl := projections.NewEngine(store, obj, caseloads.New(), projections.Options{Logger: log})
		g.Go(func() error { return cl.Run(ctx) })
		fn := projections.NewEngine(store, obj, funnel.New(), projections.Options{Logger: log})
		g.Go(func() error { return fn.Run(ctx) })
		hc.Referrals.SAR = sar.New(store, people, auditLog, sarViews(map[string]func(fn func(p projections.Projection)){
			intake.IndexName: engineRead(queue), waitlists.Name: engineRead(wl), caseloads.Name: engineRead(cl), funnel.Name: engineRead(fn),
		}), nil)
		hc.Reads = httpapi.ReadModels{Waitlists: wl, Caseloads: cl, Funnel: fn, WaitTarget: cfg.WaitTarget}
		ts := projections.NewEngine(store, obj, timeseries.New(), projections.Options{Logger: log})
		g.Go(func() error { return ts.Run(ctx) })
		ini := projections.NewEngine(store, obj, dashboard.NewInitials(), projections.Options{Logger: log})
		g.Go(func() error { return ini.Run(ctx) })
		secret, err := dashboard.OpenSecret(ctx, js, cfg.Replicas, cfg.master)
		if err != nil {
			return nil, err
		}
		dash = dashboard.Config{Audit: auditLog, Waitlists: wl, Caseloads: cl, Funnel: fn, Series: ts, Initials: ini, Keys: dashboard.NewKeyBucket(ks, auth), Secret: secret,
			WaitTarget: cfg.WaitTarget, Location: time.Local, Done: ctx.Done(), Logger: log, Forms: dashboard.NewUsedForms(js, cfg.Replicas), Throttle: throttle, Proxies: proxies}
	}
	if slices.Contains(cfg.Services, "triage") {
		svc := triage.NewService(store, cfg.rules, nil, log)
		g.Go(func() error { return svc.Run(ctx) })
		log.Info("triage rules loaded", "version", cfg.rules.Version())
	}
	if slices.Contains(cfg.Services, "assignment") {
		svc := assignment.New(store, assignment.Options{Logger: log, Checkpoints: obj})
		writePath = append(writePath, svc.ViewEngine())
		g.Go(func() error { return svc.Run(ctx) })
	}
	v, err := startVCSE(ctx, g, cfg, js, store, obj, log, &writePath)
	if err != nil {
		return nil, err
	}
	hc.VCSE = v
	if slices.Contains(cfg.Services, "intake") {
		startAlerts(ctx, g, cfg, store, obj, log, v.Webhooks, &hc, &dash)
	}
	if dash.Keys != nil {
		dash.Partners = v.Partners
		hc.UI = dashboard.New(dash)
	}
	return httpapi.New(hc), nil
}
