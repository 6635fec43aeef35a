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
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// openVCSE opens the VCSE parts cfg selects: the directory and handoff
// API with the partners read model (intake), the handoff deadline clock
// (handoffs) and webhook delivery (webhooks). It returns what the HTTP API
// needs (its fields are nil when intake does not run here) and the
// services' Start functions; engine makes a read model's engine and
// starts it with the rest.
func openVCSE(ctx context.Context, cfg serveConfig, js jetstream.JetStream, store *events.Store, obj jetstream.ObjectStore, log *slog.Logger,
	writePath *[]*projections.Engine, engine func(projections.Projection) *projections.Engine) (httpapi.VCSE, []func(*supervisor.Supervisor), error) {
	api := slices.Contains(cfg.Services, "intake")
	svc := handoffs.New(store, handoffs.Options{Deadline: cfg.HandoffDeadline, Logger: log, Checkpoints: obj})
	var out httpapi.VCSE
	var starts []func(*supervisor.Supervisor)
	if slices.Contains(cfg.Services, "handoffs") {
		*writePath = append(*writePath, svc.ClockEngine())
		starts = append(starts, svc.Start)
	}
	deliver := slices.Contains(cfg.Services, "webhooks")
	if api || deliver {
		wh, err := webhooks.Open(ctx, js, store, webhooks.Options{Master: cfg.master, Replicas: cfg.Replicas, Logger: log, Deliver: deliver, AllowPrivate: cfg.WebhookAllowPrivate,
			Checkpoints: obj, Ops: cfg.ops()})
		if err != nil {
			return out, nil, fmt.Errorf("open webhooks: %w", err)
		}
		// The sender decides from the view: /readyz waits for it.
		*writePath = append(*writePath, wh.ViewEngine())
		starts = append(starts, wh.Start)
		out.Webhooks = wh
	}
	if api {
		out.Directory, out.Handoffs, out.Partners = directory.New(store), svc, engine(partners.New())
	}
	return out, starts, nil
}
