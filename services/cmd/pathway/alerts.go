package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/adapters/dashboard"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// opsSecretEnv holds the secret that signs the operations webhook's
// deliveries: from the environment only, as a flag would show in ps.
const opsSecretEnv = "PATHWAY_OPS_WEBHOOK_SECRET"

// alertConfig configures the alerts on urgent and safeguarding referrals
// that wait too long (package alerts; docs/SAFETY.md).
type alertConfig struct {
	// AlertAfter is how long an urgent or safeguarding referral may wait
	// to be triaged or given a link worker before it is an alert.
	AlertAfter time.Duration
	// OpsWebhook is where each alert is sent once, signed with the secret
	// in opsSecretEnv; empty sends none (the dashboard and GET /v1/alerts
	// list them all the same).
	OpsWebhook string
	opsSecret  string
	// alertEvery and alertNow let tests check often on their own clock;
	// never from a flag.
	alertEvery time.Duration
	alertNow   func() time.Time
}

// ops is the operations endpoint the webhook services are given.
func (c alertConfig) ops() webhooks.Ops {
	return webhooks.Ops{URL: c.OpsWebhook, Secret: c.opsSecret}
}

// validate reports the problems of c; allowPrivate is
// --webhook-allow-private.
func (c alertConfig) validate(allowPrivate bool) []error {
	var errs []error
	if c.AlertAfter < time.Minute {
		errs = append(errs, errors.New("--alert-after must be at least 1m, e.g. 4h"))
	}
	switch {
	case c.OpsWebhook == "" && c.opsSecret != "":
		errs = append(errs, fmt.Errorf("%s is set but --ops-webhook is not", opsSecretEnv))
	case c.OpsWebhook != "" && c.opsSecret == "":
		errs = append(errs, fmt.Errorf("--ops-webhook needs %s, the secret that signs its deliveries (16 to 256 printable characters)", opsSecretEnv))
	case c.OpsWebhook != "":
		if err := c.ops().Validate(allowPrivate); err != nil {
			errs = append(errs, fmt.Errorf("--ops-webhook: %w", err))
		}
	}
	return errs
}

// alertFlags adds the alert flags to fs, with their environment
// variables, and reads the secret from the environment.
func alertFlags(fs *flag.FlagSet, cfg *serveConfig, fromEnv func(name, def string) string, desc func(name, text string) string, getenv func(string) string) {
	cfg.AlertAfter = alerts.DefaultAfter
	if d, err := time.ParseDuration(fromEnv("alert-after", "")); err == nil {
		cfg.AlertAfter = d
	}
	fs.DurationVar(&cfg.AlertAfter, "alert-after", cfg.AlertAfter, desc("alert-after",
		"how long an urgent or safeguarding referral may wait to be triaged or given a link worker before it is an alert: listed at the top of the dashboard and by GET /v1/alerts, and sent to --ops-webhook"))
	fs.StringVar(&cfg.OpsWebhook, "ops-webhook", fromEnv("ops-webhook", ""), desc("ops-webhook",
		"URL that each alert is POSTed to once, signed as partners' webhooks are with the secret in "+opsSecretEnv+"; it must be a public https host unless --webhook-allow-private. Every process that runs webhooks must be given it"))
	cfg.opsSecret = getenv(opsSecretEnv)
}

// startAlerts opens the alerts service, sending each alert to the
// operations webhook through wh (nil: none), shows the alerts on the API
// and the dashboard, and returns the service as a part to run.
func startAlerts(cfg serveConfig, store *events.Store, obj jetstream.ObjectStore, log *slog.Logger,
	wh *webhooks.Service, hc *httpapi.Config, dash *dashboard.Config) supervisor.Part {
	opts := alerts.Options{After: cfg.AlertAfter, Now: cfg.alertNow, Every: cfg.alertEvery, Logger: log, Checkpoints: obj}
	if wh != nil && cfg.OpsWebhook != "" {
		opts.Notifier = wh
	}
	svc := alerts.New(store, opts)
	hc.Reads.Alerts, hc.Reads.AlertAfter = svc.Engine(), svc.After()
	dash.Alerts, dash.AlertAfter = svc.Engine(), svc.After()
	if cfg.alertNow != nil {
		hc.Referrals.Now, dash.Now = cfg.alertNow, cfg.alertNow
	}
	where := "the dashboard and GET /v1/alerts only (no --ops-webhook)"
	if opts.Notifier != nil {
		where = "the dashboard, GET /v1/alerts and the operations webhook"
	}
	log.Info("alerts on urgent and safeguarding referrals", "after", svc.After().String(), "shown_on", where)
	return supervisor.Signalled(svc, svc.Engine().Running())
}
