package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/webhooks"
	"golang.org/x/sync/errgroup"
)

// startVCSE starts the VCSE parts cfg selects under g: the directory and
// handoff API with the partners read model (intake), the handoff deadline
// clock (handoffs) and webhook delivery (webhooks). It returns what the
// HTTP API needs; its fields are nil when intake does not run here.
func startVCSE(ctx context.Context, g *errgroup.Group, cfg serveConfig, js jetstream.JetStream, store *events.Store, obj jetstream.ObjectStore, log *slog.Logger, writePath *[]*projections.Engine) (httpapi.VCSE, error) {
	api := slices.Contains(cfg.Services, "intake")
	svc := handoffs.New(store, handoffs.Options{Deadline: cfg.HandoffDeadline, Logger: log, Checkpoints: obj})
	var out httpapi.VCSE
	if slices.Contains(cfg.Services, "handoffs") {
		*writePath = append(*writePath, svc.ClockEngine())
		g.Go(func() error { return svc.Run(ctx) })
	}
	deliver := slices.Contains(cfg.Services, "webhooks")
	if api || deliver {
		wh, err := webhooks.Open(ctx, js, store, webhooks.Options{Master: cfg.master, Replicas: cfg.Replicas, Logger: log, Deliver: deliver, AllowPrivate: cfg.WebhookAllowPrivate,
			Checkpoints: obj, Ops: cfg.ops()})
		if err != nil {
			return out, fmt.Errorf("open webhooks: %w", err)
		}
		// The sender decides from the view: /readyz waits for it.
		*writePath = append(*writePath, wh.ViewEngine())
		g.Go(func() error { return wh.Run(ctx) })
		out.Webhooks = wh
	}
	if api {
		eng := projections.NewEngine(store, obj, partners.New(), projections.Options{Logger: log})
		g.Go(func() error { return eng.Run(ctx) })
		out.Directory, out.Handoffs, out.Partners = directory.New(store), svc, eng
	}
	return out, nil
}
