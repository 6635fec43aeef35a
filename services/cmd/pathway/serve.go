package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/directorysync"
	"github.com/pathway-sp/pathway/services/metrics"
	"github.com/pathway-sp/pathway/services/retention"
	"github.com/pathway-sp/pathway/services/supervisor"
	"github.com/pathway-sp/pathway/services/tracing"
	"github.com/pathway-sp/pathway/services/triage"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"
)

// serveConfig is the configuration of `pathway serve`. Defaults come from
// defaultServeConfig, then environment variables, then flags.
type serveConfig struct {
	DataDir    string
	HTTPAddr   string
	NATSListen string
	NATSCert   string // the embedded server's TLS certificate (PEM); required beyond loopback
	NATSKey    string // its private key (PEM)
	NATSURL    string
	NATSCreds  string
	NATSNkey   string // an NKey seed file, for an external NATS
	NATSUser   string
	NATSPass   string
	NATSToken  string
	Fsync      bool
	Replicas   int

	// TLSCert and TLSKey are the PEM certificate (chain) and private key
	// of HTTPS; without them HTTP is plain (behind a TLS proxy).
	TLSCert, TLSKey string
	// NATSCA, NATSClientCert and NATSClientKey are the TLS of an external
	// NATS: the authorities its servers' certificates chain to, and
	// pathway's client certificate and key for mutual TLS.
	NATSCA, NATSClientCert, NATSClientKey string
	// OTLPEndpoint is the OpenTelemetry collector's OTLP/HTTP URL; empty:
	// the OTEL_EXPORTER_OTLP_* environment decides, and without it there
	// are no traces.
	OTLPEndpoint string
	// tracingBatch is how long finished spans wait to be sent (tests);
	// tracer makes the spans, a no-op one unless tracing is on.
	tracingBatch time.Duration
	tracer       trace.TracerProvider

	// ShutdownTimeout bounds a clean stop after SIGINT or SIGTERM.
	ShutdownTimeout time.Duration
	// Services are the services to run; default all.
	Services []string
	// RulesFile is the triage rules file; empty means the built-in rules.
	RulesFile string
	// WaitTarget is the waitlist wait after which an entry is a breach.
	WaitTarget time.Duration
	// HandoffDeadline is how long a partner has to answer a handoff.
	HandoffDeadline time.Duration
	// Demo loads the synthetic demo region first when the log is empty.
	Demo bool
	// WebhookAllowPrivate lets partners' webhook endpoints be on loopback,
	// private and link-local addresses.
	WebhookAllowPrivate bool
	// Retention is the retention period of closed episodes per outcome.
	Retention retention.Policy
	// alertConfig holds the alerts on waiting urgent and safeguarding
	// referrals (alerts.go).
	alertConfig
	// envErrs are environment variables that could not be read.
	envErrs []error
	// MasterKey is the file of the master key that wraps the data keys;
	// default master.key in DataDir (PATHWAY_MASTER_KEY wins over both).
	MasterKey string
	// getenv reads the environment (the master key may be there).
	getenv func(string) string
	// master is the loaded master key; keys the data keys, once open.
	master *keyring.Local
	keys   *keyring.Ring
	// clearPersonal appends personal fields unsealed: for the benchmark
	// that measures what sealing costs, never from a flag.
	clearPersonal bool
	// HTTP server limits: how long a client may take to send a request's
	// headers and its whole request, how long a response may take to
	// write (the dashboard's live stream sets its own deadline per write),
	// how long an idle keep-alive connection stays open, and how many
	// connections are served at once (more wait to be accepted).
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
	HTTPMaxConns          int
	// TrustedProxies are CIDR prefixes or addresses of reverse proxies
	// whose Forwarded, X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string
	// LogFormat is how log lines are written: text (slog's key=value) or
	// json (one JSON object a line, for a log collector).
	LogFormat string
	// ORUKRequireKey makes the Open Referral UK endpoints (/oruk/) need an
	// API key; by default anyone may read the directory there.
	ORUKRequireKey bool
	// DirectorySync are Open Referral UK APIs the directory is synced
	// from every DirectorySyncEvery (services/directorysync), by a process
	// that runs intake.
	DirectorySync      []string
	DirectorySyncEvery time.Duration
	syncHeader         string // PATHWAY_SYNC_HEADER, sent to the sources
	// AccessLog writes one line per HTTP request (no query, no headers).
	AccessLog bool
	// MetricsListen, when set, serves GET /metrics there without a key
	// (for a Prometheus on the same network); the HTTP port serves them
	// to ops and admin keys either way.
	MetricsListen string
	// demoOut receives the demo's progress and keys; default discard.
	demoOut io.Writer
	// demo sizes the demo region; zero values take demo.Load's defaults.
	demo demoConfig
	// demoStaged is set once stageDemo has put the demo region in place.
	demoStaged bool
	// rules are the compiled triage rules, loaded before start.
	rules *triage.Rules
	// bulkLoad lets a command that opens the data directory itself skip
	// the fsync of every write (pathway demo: a load that is simply run
	// again if the machine crashes); a clean stop still flushes it all.
	bulkLoad bool
	// createData lets a command other than serve make the data directory
	// when there is none (pathway demo); the others refuse it.
	createData bool
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		DataDir:            "./data",
		DirectorySyncEvery: time.Hour,
		HTTPAddr:           ":8080",
		NATSListen:         "127.0.0.1:4222",
		Fsync:              true,
		Replicas:           1,
		ShutdownTimeout:    10 * time.Second,
		Services:           allServices,
		WaitTarget:         28 * 24 * time.Hour,
		HandoffDeadline:    14 * 24 * time.Hour,
		Retention:          retention.DefaultPolicy(),
		LogFormat:          "text",
		AccessLog:          true,

		HTTPReadHeaderTimeout: 10 * time.Second,
		HTTPReadTimeout:       30 * time.Second,
		HTTPWriteTimeout:      60 * time.Second,
		HTTPIdleTimeout:       60 * time.Second,
		HTTPMaxConns:          1024,
	}
}

// Validate reports every problem with c at once.
func (c serveConfig) Validate() error {
	errs := append([]error(nil), c.envErrs...)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: must be text or json", c.LogFormat))
	}
	if c.NATSURL == "" {
		if c.DataDir == "" {
			errs = append(errs, errors.New("--data: a data directory is required for the embedded NATS server"))
		}
		host, _, err := net.SplitHostPort(c.NATSListen)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--nats-listen %q: want host:port (port 0 picks a free one)", c.NATSListen))
		case (c.NATSCert == "") != (c.NATSKey == ""):
			errs = append(errs, errors.New("--nats-cert and --nats-key go together: the embedded server's TLS certificate and its private key"))
		case c.NATSCert == "" && !embedded.Loopback(host):
			errs = append(errs, fmt.Errorf("--nats-listen %q is not a loopback address: NATS clients would reach the log over the network, so give --nats-cert and --nats-key for TLS (clients also need the credentials in %s)",
				c.NATSListen, filepath.Join(c.DataDir, embedded.CredentialsFile)))
		}
	} else {
		if c.NATSCert != "" || c.NATSKey != "" {
			errs = append(errs, errors.New("--nats-cert and --nats-key are for the embedded server; with --nats-url configure TLS on that NATS"))
		}
		for _, u := range strings.Split(c.NATSURL, ",") {
			if !strings.Contains(u, "://") {
				errs = append(errs, fmt.Errorf("--nats-url %q: want nats://host:port[,nats://host:port...]", u))
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: want [host]:port", c.HTTPAddr))
	}
	if err := (tracing.Config{Endpoint: c.OTLPEndpoint}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together: the HTTPS certificate and its private key"))
	}
	if c.NATSToken != "" && (c.NATSUser != "" || c.NATSCreds != "") {
		errs = append(errs, errors.New("--nats-token cannot be combined with --nats-user or --nats-creds"))
	}
	if c.NATSNkey != "" && (c.NATSUser != "" || c.NATSCreds != "" || c.NATSToken != "") {
		errs = append(errs, errors.New("--nats-nkey cannot be combined with --nats-user, --nats-creds or --nats-token"))
	}
	errs = append(errs, c.validateNATSClient()...)
	if c.NATSPass != "" && c.NATSUser == "" {
		errs = append(errs, errors.New("a NATS password needs --nats-user"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("--replicas %d: want 1 (single server) to 5; 3 on a cluster", c.Replicas))
	}
	if c.HandoffDeadline < time.Hour {
		errs = append(errs, errors.New("--handoff-deadline must be at least 1h, e.g. 336h for two weeks"))
	}
	if c.WaitTarget <= 0 {
		errs = append(errs, errors.New("--wait-target must be positive, e.g. 672h for four weeks"))
	}
	if len(c.Services) == 0 {
		errs = append(errs, fmt.Errorf("--services: name at least one of %s", strings.Join(allServices, ",")))
	}
	for _, svc := range c.Services {
		if !slices.Contains(allServices, svc) {
			errs = append(errs, fmt.Errorf("--services: unknown service %q; known: %s", svc, strings.Join(allServices, ",")))
		}
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown timeout must be positive"))
	}
	errs = append(errs, c.alertConfig.validate(c.WebhookAllowPrivate)...)
	for flag, d := range map[string]time.Duration{"--http-read-header-timeout": c.HTTPReadHeaderTimeout, "--http-read-timeout": c.HTTPReadTimeout,
		"--http-write-timeout": c.HTTPWriteTimeout, "--http-idle-timeout": c.HTTPIdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, e.g. 30s", flag))
		}
	}
	if c.HTTPMaxConns < 1 {
		errs = append(errs, fmt.Errorf("--http-max-conns %d: want at least 1, and below the process's open-file limit", c.HTTPMaxConns))
	}
	if _, err := edge.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	for _, src := range c.DirectorySync {
		if _, err := directorysync.ParseSource(src); err != nil {
			errs = append(errs, fmt.Errorf("--directory-sync: %w", err))
		}
	}
	if len(c.DirectorySync) > 0 && c.DirectorySyncEvery < time.Minute {
		errs = append(errs, fmt.Errorf("--directory-sync-every %s: sync at most once a minute, e.g. 1h", c.DirectorySyncEvery))
	}
	if _, err := directorysync.ParseHeader(c.syncHeader); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", syncHeaderEnv, err))
	}
	return errors.Join(errs...)
}

// env maps each setting to its environment variable.
var envNames = map[string]string{
	"data":                  "PATHWAY_DATA",
	"http":                  "PATHWAY_HTTP",
	"tls-cert":              "PATHWAY_TLS_CERT",
	"tls-key":               "PATHWAY_TLS_KEY",
	"nats-listen":           "PATHWAY_NATS_LISTEN",
	"nats-cert":             "PATHWAY_NATS_CERT",
	"nats-key":              "PATHWAY_NATS_KEY",
	"nats-url":              "PATHWAY_NATS_URL",
	"nats-creds":            "PATHWAY_NATS_CREDS",
	"nats-nkey":             "PATHWAY_NATS_NKEY",
	"nats-ca":               "PATHWAY_NATS_CA",
	"nats-client-cert":      "PATHWAY_NATS_CLIENT_CERT",
	"nats-client-key":       "PATHWAY_NATS_CLIENT_KEY",
	"nats-user":             "PATHWAY_NATS_USER",
	"nats-password":         "PATHWAY_NATS_PASSWORD",
	"nats-token":            "PATHWAY_NATS_TOKEN",
	"fsync":                 "PATHWAY_FSYNC",
	"replicas":              "PATHWAY_REPLICAS",
	"services":              "PATHWAY_SERVICES",
	"rules":                 "PATHWAY_RULES",
	"wait-target":           "PATHWAY_WAIT_TARGET",
	"handoff-deadline":      "PATHWAY_HANDOFF_DEADLINE",
	"demo":                  "PATHWAY_DEMO",
	"webhook-allow-private": "PATHWAY_WEBHOOK_ALLOW_PRIVATE",
	"master-key":            "PATHWAY_MASTER_KEY_FILE",
	"retention":             "PATHWAY_RETENTION",
	"alert-after":           "PATHWAY_ALERT_AFTER",
	"ops-webhook":           "PATHWAY_OPS_WEBHOOK",

	"http-read-header-timeout": "PATHWAY_HTTP_READ_HEADER_TIMEOUT",
	"http-read-timeout":        "PATHWAY_HTTP_READ_TIMEOUT",
	"http-write-timeout":       "PATHWAY_HTTP_WRITE_TIMEOUT",
	"http-idle-timeout":        "PATHWAY_HTTP_IDLE_TIMEOUT",
	"http-max-conns":           "PATHWAY_HTTP_MAX_CONNS",
	"trusted-proxies":          "PATHWAY_TRUSTED_PROXIES",
	"log-format":               "PATHWAY_LOG_FORMAT",
	"access-log":               "PATHWAY_ACCESS_LOG",
	"oruk-require-key":         "PATHWAY_ORUK_REQUIRE_KEY",
	"directory-sync":           "PATHWAY_DIRECTORY_SYNC",
	"directory-sync-every":     "PATHWAY_DIRECTORY_SYNC_EVERY",
	"metrics-listen":           "PATHWAY_METRICS_LISTEN",
	"otlp-endpoint":            "PATHWAY_OTLP_ENDPOINT",
}

const serveHelp = `Usage: pathway serve [flags]

Runs every pathway service in one process. By default it starts an
embedded NATS server with JetStream that stores the event log under --data
and accepts NATS clients on this machine only, and only with the
credentials it generates on its first start into --data/` + embedded.CredentialsFile + `
(an NKey seed, mode 0600; for the nats CLI: nats --nkey FILE), which
pathway uses too. A --nats-listen address that is not loopback also
needs TLS: --nats-cert and --nats-key. With --nats-url it connects to
an external NATS (for example a three-node JetStream cluster, with
--replicas 3) and starts no server: TLS with --nats-ca, mutual TLS with
--nats-client-cert and --nats-client-key, credentials with --nats-creds
or --nats-nkey. A server that refuses these stops the start with its
error; one not up yet is tried again until it is.

HTTP: GET /healthz answers while the process is up; GET /readyz answers 200
only when JetStream is reachable, the event stream is ready and the views
commands are decided from have caught up with the log, otherwise 503 with
the reason. SIGINT or SIGTERM stops everything within 10 seconds.
The server closes a connection that is slow to send its request
(--http-read-header-timeout, --http-read-timeout) or to take its answer
(--http-write-timeout; the dashboard's live stream extends its own
deadline at each write), or idle between requests (--http-idle-timeout),
and serves at most --http-max-conns connections at once (keep it below
the process's open-file limit; more wait to be accepted). Failed API key
checks and dashboard sign-ins are limited per client address and per key
(429 with Retry-After).

HTTPS: --tls-cert and --tls-key serve TLS 1.2 or later on --http. The
files are read again on the first connection after either changes, so a
renewed certificate needs no restart (a pair that does not load is logged
and the previous one kept). Behind a reverse proxy that terminates TLS
instead, name it in --trusted-proxies: its Forwarded header (RFC 7239:
for=, proto=) or, without one, its X-Forwarded-For then gives the client
address (in the access log and to the limits above), and proto=https or
X-Forwarded-Proto: https makes the dashboard's cookies Secure.

Traces: off unless --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT names an
OpenTelemetry collector (OTLP/HTTP); then a referral's request, its append
and triage's and assignment's handling form one trace, the trace context
carried in the events' headers. Spans hold no personal data.

Durability: every write is fsynced before it is acknowledged (--fsync,
the default). --fsync=false lets JetStream fsync every 2 minutes instead:
appends get faster, but an acknowledged event can be lost if the machine
(not only the process) crashes or loses power within that window. A
cluster with --replicas 3 is durable through the other replicas.

Every flag can also be set by the environment variable shown; a flag wins.

Flags:
`

func serveFlags(getenv func(string) string, out io.Writer) (*flag.FlagSet, *serveConfig) {
	cfg := defaultServeConfig()
	fromEnv := func(name, def string) string {
		if v := getenv(envNames[name]); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	desc := func(name, text string) string { return text + " (env " + envNames[name] + ")" }
	fs.StringVar(&cfg.DataDir, "data", fromEnv("data", cfg.DataDir), desc("data", "data directory of the embedded NATS file store and its credentials"))
	fs.StringVar(&cfg.HTTPAddr, "http", fromEnv("http", cfg.HTTPAddr), desc("http", "HTTP listen address"))
	fs.StringVar(&cfg.TLSCert, "tls-cert", fromEnv("tls-cert", ""), desc("tls-cert", "serve HTTPS with this certificate (PEM, the chain after it); read again when it or the key changes"))
	fs.StringVar(&cfg.TLSKey, "tls-key", fromEnv("tls-key", ""), desc("tls-key", "private key (PEM) of --tls-cert"))
	fs.StringVar(&cfg.NATSListen, "nats-listen", fromEnv("nats-listen", cfg.NATSListen), desc("nats-listen", "client address of the embedded NATS server; port 0 picks a free port"))
	fs.StringVar(&cfg.NATSCert, "nats-cert", fromEnv("nats-cert", ""), desc("nats-cert", "TLS certificate (PEM) of the embedded NATS server; with --nats-key, required when --nats-listen is not loopback"))
	fs.StringVar(&cfg.NATSKey, "nats-key", fromEnv("nats-key", ""), desc("nats-key", "TLS private key (PEM) of the embedded NATS server"))
	fs.StringVar(&cfg.NATSURL, "nats-url", fromEnv("nats-url", ""), desc("nats-url", "external NATS URL(s), comma-separated; starts no embedded server"))
	natsClientFlags(fs, &cfg, getenv)
	fs.StringVar(&cfg.NATSUser, "nats-user", fromEnv("nats-user", ""), desc("nats-user", "NATS user name for --nats-url; the password comes from the environment"))
	fs.StringVar(&cfg.NATSToken, "nats-token", "", "NATS token for --nats-url (prefer env "+envNames["nats-token"]+": a flag shows in the process list)")
	fs.BoolVar(&cfg.Fsync, "fsync", fromEnv("fsync", "true") != "false", desc("fsync", "fsync every write before acknowledging it"))
	replicas, _ := strconv.Atoi(fromEnv("replicas", "1"))
	fs.IntVar(&cfg.Replicas, "replicas", replicas, desc("replicas", "replicas of the event stream: 1, or 3 on a cluster"))
	cfg.Services = splitList(fromEnv("services", strings.Join(cfg.Services, ",")))
	fs.Func("services", desc("services", "comma-separated services to run: "+strings.Join(allServices, ",")+" (default all)"), func(v string) error {
		cfg.Services = splitList(v)
		return nil
	})
	if d, err := time.ParseDuration(fromEnv("wait-target", "")); err == nil {
		cfg.WaitTarget = d
	}
	fs.DurationVar(&cfg.WaitTarget, "wait-target", cfg.WaitTarget, desc("wait-target", "waitlist wait after which an entry counts as a breach"))
	if d, err := time.ParseDuration(fromEnv("handoff-deadline", "")); err == nil {
		cfg.HandoffDeadline = d
	}
	fs.DurationVar(&cfg.HandoffDeadline, "handoff-deadline", cfg.HandoffDeadline, desc("handoff-deadline", "how long a VCSE partner has to answer a handoff before it expires (reminders go 7 and 2 days before)"))
	fs.BoolVar(&cfg.Demo, "demo", fromEnv("demo", "false") == "true", desc("demo", "on an empty log, first load a synthetic demo region (see pathway help demo) and print its API keys: ops for the dashboard, triage, a referrer and link workers"))
	fs.BoolVar(&cfg.WebhookAllowPrivate, "webhook-allow-private", fromEnv("webhook-allow-private", "false") == "true", desc("webhook-allow-private", "let partners register webhook endpoints on loopback, private and link-local addresses (plain http only to loopback); off, such endpoints are refused so a partner cannot reach this network"))
	fs.Func("retention", desc("retention", "retention periods of closed episodes, per outcome: outcome=period,... with outcomes "+
		"discharged, declined, signposted, redirected, revoked, entered_in_error, merged and periods like 8y, 90d, 6w; "+
		"once a period ends pathway erases the episode's personal data for good. Default "+retention.DefaultPolicy().String()), func(v string) error {
		p, err := retention.ParsePolicy(v)
		if err != nil {
			return err
		}
		cfg.Retention = p
		return nil
	})
	if v := fromEnv("retention", ""); v != "" {
		p, err := retention.ParsePolicy(v)
		if err != nil {
			cfg.envErrs = append(cfg.envErrs, fmt.Errorf("%s: %w", envNames["retention"], err))
		}
		cfg.Retention = p
	}
	fs.StringVar(&cfg.MasterKey, "master-key", fromEnv("master-key", ""), desc("master-key", "file of the master key that wraps the data keys sealing personal data (base64 of 32 bytes; made on first start); default master.key in --data. "+keyring.MasterEnv+" holding the key itself wins. Keep it apart from the data and its backups"))
	fs.StringVar(&cfg.RulesFile, "rules", fromEnv("rules", ""), desc("rules", "triage rules file (YAML); default the built-in rules"))
	alertFlags(fs, &cfg, fromEnv, desc, getenv)
	for _, d := range []struct {
		name, text string
		v          *time.Duration
	}{
		{"http-read-header-timeout", "how long a client may take to send a request's headers", &cfg.HTTPReadHeaderTimeout},
		{"http-read-timeout", "how long a client may take to send a whole request, body included", &cfg.HTTPReadTimeout},
		{"http-write-timeout", "how long an answer may take to write (the dashboard's live stream extends it per write)", &cfg.HTTPWriteTimeout},
		{"http-idle-timeout", "how long an idle keep-alive connection stays open", &cfg.HTTPIdleTimeout},
	} {
		if v, err := time.ParseDuration(fromEnv(d.name, "")); err == nil {
			*d.v = v
		}
		fs.DurationVar(d.v, d.name, *d.v, desc(d.name, d.text))
	}
	if n, err := strconv.Atoi(fromEnv("http-max-conns", "")); err == nil {
		cfg.HTTPMaxConns = n
	}
	fs.IntVar(&cfg.HTTPMaxConns, "http-max-conns", cfg.HTTPMaxConns, desc("http-max-conns", "most HTTP connections served at once; more wait to be accepted"))
	cfg.TrustedProxies = splitList(fromEnv("trusted-proxies", ""))
	fs.Func("trusted-proxies", desc("trusted-proxies", "comma-separated CIDR prefixes or addresses of reverse proxies whose Forwarded (RFC 7239), X-Forwarded-For and X-Forwarded-Proto are believed (default none)"), func(v string) error {
		cfg.TrustedProxies = splitList(v)
		return nil
	})
	fs.StringVar(&cfg.LogFormat, "log-format", fromEnv("log-format", "text"), desc("log-format", "log lines as text (key=value) or json (one object a line, for a log collector); neither holds personal data"))
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", fromEnv("metrics-listen", ""), desc("metrics-listen", "also serve GET /metrics (Prometheus) on this address, without a key: bind it where only the metrics collector reaches (the HTTP port serves them to ops and admin keys)"))
	fs.BoolVar(&cfg.ORUKRequireKey, "oruk-require-key", fromEnv("oruk-require-key", "false") == "true", desc("oruk-require-key", "serve the VCSE directory as Open Referral UK (GET /oruk/...) only to callers with an API key of any role; by default anyone may read it, as directory data is not personal data"))
	cfg.DirectorySync = splitList(fromEnv("directory-sync", ""))
	fs.Func("directory-sync", desc("directory-sync", "comma-separated base URLs of Open Referral UK APIs to keep the directory in step with, every --directory-sync-every, as pathway directory sync does (give it to one process that runs intake; the sources' key, if any, in "+syncHeaderEnv+")"), func(v string) error {
		cfg.DirectorySync = splitList(v)
		return nil
	})
	if v, err := time.ParseDuration(fromEnv("directory-sync-every", "")); err == nil {
		cfg.DirectorySyncEvery = v
	}
	fs.DurationVar(&cfg.DirectorySyncEvery, "directory-sync-every", cfg.DirectorySyncEvery, desc("directory-sync-every", "how often --directory-sync syncs (at least 1m)"))
	cfg.syncHeader = getenv(syncHeaderEnv)
	fs.BoolVar(&cfg.AccessLog, "access-log", fromEnv("access-log", "true") != "false", desc("access-log", "log one line per HTTP request: method, route, status, bytes, duration, X-Request-ID and client address (never the query string or a key)"))
	fs.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", fromEnv("otlp-endpoint", ""), desc("otlp-endpoint", "send OpenTelemetry traces to this collector's OTLP/HTTP URL, e.g. http://otel-collector:4318 (default none: no traces unless "+tracing.EnvEndpoint+" or "+tracing.EnvTracesEndpoint+" is set; the other OTEL_EXPORTER_OTLP_* variables apply too)"))
	fs.Usage = func() {
		fmt.Fprint(out, serveHelp)
		fs.PrintDefaults()
	}
	cfg.NATSPass = getenv(envNames["nats-password"])
	if cfg.NATSToken == "" {
		cfg.NATSToken = getenv(envNames["nats-token"])
	}
	return fs, &cfg
}

func serveCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cfg := serveFlags(getenv, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pathway serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if tok := getenv(envNames["nats-token"]); tok != "" && cfg.NATSToken == "" {
		cfg.NATSToken = tok
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.RulesFile != "" {
		rules, err := triage.LoadRules(cfg.RulesFile)
		if err != nil {
			return fmt.Errorf("triage rules %s: %w", cfg.RulesFile, err)
		}
		cfg.rules = rules
	} else {
		cfg.rules = triage.DefaultRules()
	}
	log := newLogger(cfg.LogFormat, stderr)
	cfg.getenv = getenv
	cfg.demoOut = stdout
	return serve(ctx, *cfg, log)
}

// serve runs pathway until ctx ends, then stops within cfg.ShutdownTimeout.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	if cfg.getenv == nil {
		cfg.getenv = func(string) string { return "" }
	}
	master, err := loadMaster(masterKeyPath(cfg.MasterKey, cfg.DataDir, cfg.NATSURL), cfg.getenv, true, log)
	if err != nil {
		return err
	}
	cfg.master = master
	proxies, err := edge.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	var certs *edge.Certificates
	if cfg.TLSCert != "" {
		if certs, err = edge.LoadCertificates(cfg.TLSCert, cfg.TLSKey, log.With("service", "https")); err != nil {
			return err
		}
	}
	tr, err := tracing.New(ctx, tracing.Config{Endpoint: cfg.OTLPEndpoint, Getenv: cfg.getenv, Version: buildVersion(), BatchTimeout: cfg.tracingBatch})
	if err != nil {
		return err
	}
	if tr.On() {
		log.Info("OpenTelemetry traces on", "exporter", "otlp/http")
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("traces not all sent", "err", err)
		}
	}()
	cfg.tracer = tr.Provider()
	natsURL := cfg.NATSURL
	if cfg.Demo && natsURL == "" {
		// A new data directory gets the region loaded before its server
		// starts, without an fsync per write, then flushed once.
		out := cfg.demoOut
		if out == nil {
			out = io.Discard
		}
		ks, staged, err := stageDemo(ctx, cfg.DataDir, master, cfg.demo, cfg.rules, out, log)
		if err != nil {
			return err
		}
		if staged {
			cfg.demoStaged = true
			ks.print(out, displayAddr(cfg.HTTPAddr))
		}
	}
	var srv *embedded.Server
	if natsURL == "" {
		var err error
		srv, err = embedded.Start(embedded.Config{DataDir: cfg.DataDir, Listen: cfg.NATSListen, NoSync: !cfg.Fsync, CertFile: cfg.NATSCert, KeyFile: cfg.NATSKey})
		if err != nil {
			return err
		}
		natsURL = srv.ClientURL()
		log.Info("embedded NATS started", "nats_url", natsURL, "data", cfg.DataDir, "fsync", cfg.Fsync, "tls", cfg.NATSCert != "")
		// Tell `pathway keys` where the running server is.
		urlFile := filepath.Join(cfg.DataDir, urlFileName)
		if err := os.WriteFile(urlFile, []byte(natsURL+"\n"), 0o600); err != nil {
			log.Warn("cannot record the NATS URL for pathway keys", "err", err)
		}
		defer os.Remove(urlFile)
	}

	opts := natsOptions(cfg, log)
	if srv != nil {
		// Over loopback (or TLS), with the credentials the server
		// generated. Not in process: the in-process pipe has no buffer, so
		// under a loaded CPU a bulk catch-up holds back the consumers'
		// heartbeats and the start stalls.
		opts = append(opts, srv.ClientOptions()...)
	} else {
		auth, err := natsOptionsAuth(cfg)
		if err != nil {
			return err
		}
		opts = append(opts, auth...)
	}
	nc, err := connectNATS(natsURL, opts)
	if err != nil {
		shutdownServer(srv, cfg.ShutdownTimeout, log)
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		shutdownServer(srv, cfg.ShutdownTimeout, log)
		return fmt.Errorf("jetstream: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		nc.Close()
		shutdownServer(srv, cfg.ShutdownTimeout, log)
		return fmt.Errorf("HTTP listen on %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("HTTP listening", "addr", ln.Addr().String(), "max_conns", cfg.HTTPMaxConns, "tls", certs != nil)
	ln = netutil.LimitListener(ln, cfg.HTTPMaxConns)

	setup := &setupState{}
	var handler atomic.Pointer[http.Handler]
	ready := func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS not connected (%s)", nc.Status())
		}
		if err := setup.err(); err != nil {
			return err
		}
		if handler.Load() == nil {
			return errors.New("services starting")
		}
		return events.Ready(ctx, js, events.DefaultStream)
	}
	starting := httpapi.New(httpapi.Config{Version: buildVersion(), Logger: log, Ready: ready, Starting: true})
	var accessLog *slog.Logger
	if cfg.AccessLog {
		accessLog = log.With("service", "http")
	}
	var met atomic.Pointer[metrics.Metrics] // once the services started
	observe := func(method, route string, status int, d time.Duration) {
		if m := met.Load(); m != nil {
			m.ObserveRequest(method, route, status, d)
		}
	}
	httpSrv := &http.Server{
		Handler: tr.HTTP(proxies.Requests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := handler.Load(); h != nil {
				(*h).ServeHTTP(w, r)
				return
			}
			starting.ServeHTTP(w, r)
		}), accessLog, observe)),
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if certs != nil {
		httpSrv.TLSConfig = certs.TLSConfig()
	}

	// Every background part runs under one supervisor: transient failures
	// are retried with back-off, a broken invariant stops the process.
	sup := supervisor.New(ctx, supervisor.Options{Logger: log, MaxBackoff: 10 * time.Second, StopTimeout: cfg.ShutdownTimeout})
	sup.Go("http", supervisor.Func(func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() {
			if certs != nil {
				served <- httpSrv.ServeTLS(ln, "", "")
				return
			}
			served <- httpSrv.Serve(ln)
		}()
		select {
		case err := <-served:
			// The listener failed: nothing can serve on it again.
			return fmt.Errorf("%w: HTTP: %w", events.ErrBroken, err)
		case <-ctx.Done():
		}
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return httpSrv.Shutdown(sctx)
	}))
	sup.Go("start", supervisor.Func(func(ctx context.Context) error {
		if err := setup.run(ctx, js, events.StreamConfig{Replicas: cfg.Replicas}, log); err != nil {
			return err
		}
		if cfg.keys == nil { // once, though the part may run again
			ring, err := openDataKeys(ctx, js, cfg.master, cfg.Replicas)
			if err != nil {
				return err
			}
			cfg.keys = ring
			sup.Go("data-keys", supervisor.Func(ring.Watch))
		}
		if cfg.Demo {
			if err := serveDemo(ctx, js, cfg, log); err != nil {
				return err
			}
		}
		h, m, err := startServices(ctx, sup, cfg, js, log, ready)
		if err != nil {
			return err
		}
		met.Store(m)
		if cfg.MetricsListen != "" {
			if err := serveMetrics(ctx, sup, cfg.MetricsListen, m, log); err != nil {
				return err
			}
		}
		handler.Store(&h)
		log.Info("services started", "services", strings.Join(cfg.Services, ","))
		return nil
	}))
	runErr := sup.Wait()

	if err := nc.Drain(); err != nil {
		log.Warn("NATS drain", "err", err)
	}
	waitClosed(nc, cfg.ShutdownTimeout/2)
	shutdownServer(srv, cfg.ShutdownTimeout, log)
	log.Info("stopped")
	return runErr
}

// setupState sets up the event stream, and remembers the last failure
// for /readyz while the supervisor tries again.
type setupState struct {
	mu       sync.Mutex
	done     bool
	lastErr  error
	attempts int // failed in a row
}

func (s *setupState) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	if s.lastErr != nil {
		return fmt.Errorf("event stream setup pending: %w", s.lastErr)
	}
	return errors.New("event stream setup pending")
}

// run sets the stream up once; its error is transient (NATS or the
// cluster not yet available).
//
// An attempt gets 2 s, and 10 s after five failures in a row: a request
// that reached a stream leader as it died is never answered, so a start
// during an election (which lasts up to about 10 s) tries again soon after
// the new leader is elected (docs/RELIABILITY.md), and a setup that is
// only slow still gets its time.
func (s *setupState) run(ctx context.Context, js jetstream.JetStream, cfg events.StreamConfig, log *slog.Logger) error {
	s.mu.Lock()
	wait := 2 * time.Second
	if s.attempts >= 5 {
		wait = 10 * time.Second
	}
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, wait)
	err := events.Setup(sctx, js, cfg)
	cancel()
	s.mu.Lock()
	s.done, s.lastErr = err == nil, err
	if err != nil {
		s.attempts++
	} else {
		s.attempts = 0
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("event stream setup: %w", err)
	}
	log.Info("event stream ready", "stream", events.DefaultStream, "replicas", max(cfg.Replicas, 1))
	return nil
}

func natsOptions(cfg serveConfig, log *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name("pathway"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "server", redactURL(nc.ConnectedUrl())) }),
	}
	return opts
}

// natsOptionsAuth are the options of cfg's credentials and TLS for an
// external NATS. An NKey seed file, a CA file or a client certificate
// that cannot be read is an error.
func natsOptionsAuth(cfg serveConfig) ([]nats.Option, error) {
	opts, err := natsOptionsTLS(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSNkey != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NATSNkey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey %s: %w", cfg.NATSNkey, err)
		}
		opts = append(opts, o)
	}
	if cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPass))
	}
	if cfg.NATSToken != "" {
		opts = append(opts, nats.Token(cfg.NATSToken))
	}
	return opts, nil
}

// redactURL drops any user information from a NATS URL before logging it.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u[i+3:], "@"); j >= 0 {
			return u[:i+3] + "***@" + u[i+3+j+1:]
		}
	}
	return u
}

func waitClosed(nc *nats.Conn, d time.Duration) {
	deadline := time.Now().Add(d)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	nc.Close()
}

func shutdownServer(srv *embedded.Server, timeout time.Duration, log *slog.Logger) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("embedded NATS shutdown", "err", err)
	}
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// newLogger returns the process's logger, writing format ("text" or
// "json") to w.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// serveMetrics serves m at GET /metrics on addr, without a key, under sup
// until ctx ends.
func serveMetrics(ctx context.Context, sup *supervisor.Supervisor, addr string, m *metrics.Metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Info("metrics listening", "addr", ln.Addr().String())
	sup.Go("metrics-http", supervisor.Func(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}))
	return nil
}
