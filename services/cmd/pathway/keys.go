package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/keys"
)

// urlFileName is the file in the data directory where a running
// `pathway serve` records its embedded NATS URL.
const urlFileName = "nats.url"

const keysUsage = `Usage:
  pathway keys create --role ROLE [--org CODE] [--worker ID] [--scope SCOPE] [--label TEXT] [--data DIR | --nats-url URL]
  pathway keys list [--data DIR | --nats-url URL]
  pathway keys revoke ID [--data DIR | --nats-url URL]

Manages the API keys of pathway's HTTP API. A key is printed once, when it
is created; pathway stores only a hash of it. Roles: referrer, triage,
link_worker, ops, partner, admin. Referrer keys need --org, the ODS code of
the referring organisation (e.g. A81001); partner keys need --org, the
partner's organisation id. Link worker keys need --worker, the id of the
link worker on the roster they act for: such a key reads and acts only on
that worker's caseload and its PCN's waitlist. Scopes widen that:
--scope team gives a link worker key every referral of its worker's PCN,
--scope personal_data gives an ops key the person's details where it
otherwise sees initials. A revoked key stops working within a second,
without a restart.

With --data (default ./data, env PATHWAY_DATA) the keys live in that data
directory's event store: if pathway serve is running on it, the command
talks to it, with the NATS credentials its embedded server keeps in the
directory (run it as the user who owns the directory); otherwise it opens
the directory itself. With --nats-url (env PATHWAY_NATS_URL) it talks to an
external NATS, with the same credentials options as serve (--nats-creds,
--nats-nkey, --nats-user; the password and a token from the environment).
`

func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, keysUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	def := defaultServeConfig()
	data := fs.String("data", firstNonEmpty(getenv(envNames["data"]), def.DataDir), "data directory of the embedded event store")
	natsURL := fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s)")
	auth := externalNATS(fs, getenv)
	var role, org, worker, scopes, label string
	switch sub {
	case "create":
		fs.StringVar(&role, "role", "", "role of the key: referrer, triage, link_worker, ops, partner, admin")
		fs.StringVar(&org, "org", "", "organisation: ODS code for a referrer, organisation id for a partner")
		fs.StringVar(&worker, "worker", "", "the id of the link worker a link_worker key acts for")
		fs.StringVar(&scopes, "scope", "", "scopes, comma-separated: team (link_worker), personal_data (ops)")
		fs.StringVar(&label, "label", "", "a note on what the key is for (no personal data)")
	case "list", "revoke":
	default:
		fmt.Fprintf(stderr, "pathway keys: unknown command %q\n\n%s", sub, keysUsage)
		return errUsage
	}
	// Flags may come before or after the key id.
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	var id string
	switch {
	case sub == "revoke" && len(pos) == 1:
		id = pos[0]
	case sub == "revoke":
		fmt.Fprintln(stderr, "pathway keys revoke: give the id of one key to revoke (see pathway keys list)")
		return errUsage
	case len(pos) > 0:
		fmt.Fprintf(stderr, "pathway keys %s: unexpected argument %q\n", sub, pos[0])
		return errUsage
	}
	var spec keys.Spec
	if sub == "create" {
		r, err := keys.ParseRole(role)
		if err != nil {
			return err
		}
		spec = keys.Spec{Role: r, Organisation: org, Worker: worker, Label: label}
		for sc := range strings.SplitSeq(scopes, ",") {
			if sc = strings.TrimSpace(sc); sc == "" {
				continue
			}
			scope, err := keys.ParseScope(sc)
			if err != nil {
				return err
			}
			spec.Scopes = append(spec.Scopes, scope)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	js, closeFn, err := keysConnect(*data, *natsURL, *auth)
	if err != nil {
		return err
	}
	defer closeFn()
	replicas, _ := strconv.Atoi(firstNonEmpty(getenv(envNames["replicas"]), "1"))
	store, err := keys.Open(ctx, js, keys.Options{Replicas: replicas})
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		about := orgSuffix(spec.Organisation)
		if spec.Role == keys.RoleLinkWorker {
			pcn, err := rosterPCN(ctx, js, spec.Worker)
			if err != nil {
				return err
			}
			about = ", worker " + spec.Worker + " of PCN " + pcn
		}
		plain, k, err := store.Create(ctx, spec)
		if err != nil {
			return err
		}
		for _, sc := range k.Scopes {
			about += ", scope " + string(sc)
		}
		fmt.Fprintf(stderr, "Created key %s (role %s%s). It is shown only now; keep it secret:\n", k.ID, k.Role, about)
		fmt.Fprintln(stdout, plain)
	case "list":
		ks, err := store.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tORGANISATION\tWORKER\tSCOPES\tCREATED\tREVOKED\tLABEL")
		for _, k := range ks {
			revoked := "-"
			if k.Revoked() {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			var scopes []string
			for _, sc := range k.Scopes {
				scopes = append(scopes, string(sc))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, firstNonEmpty(k.Organisation, "-"), firstNonEmpty(k.Worker, "-"),
				firstNonEmpty(strings.Join(scopes, ","), "-"), k.CreatedAt.UTC().Format(time.RFC3339), revoked, k.Label)
		}
		return tw.Flush()
	case "revoke":
		k, err := store.Revoke(ctx, id)
		if errors.Is(err, keys.ErrNotFound) {
			return fmt.Errorf("no key with id %q (see pathway keys list)", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked key %s (role %s%s).\n", k.ID, k.Role, orgSuffix(k.Organisation))
	}
	return nil
}

// rosterPCN returns the PCN of the link worker with id, refusing an id
// that names no worker on the roster, so a key is never bound to a typo.
func rosterPCN(ctx context.Context, js jetstream.JetStream, id string) (string, error) {
	if _, err := uuid.Parse(id); err != nil {
		return "", fmt.Errorf("%w: a link_worker key needs --worker, the id of the link worker it acts for", keys.ErrInvalid)
	}
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		return "", fmt.Errorf("event log: %w", err)
	}
	wk, _, err := events.Get(ctx, events.New(js, events.Options{}), aggregate.Worker, id)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return "", fmt.Errorf("read link worker %s: %w", id, err)
	}
	if err != nil || !wk.Registered() {
		return "", fmt.Errorf("no link worker with id %s is on the roster (see POST /v1/workers)", id)
	}
	return wk.PCN(), nil
}

func orgSuffix(org string) string {
	if org == "" {
		return ""
	}
	return ", organisation " + org
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// keysConnect connects to the external NATS, or to the pathway serve
// running on the data directory (with the credentials the embedded server
// keeps there), or starts an embedded server on it. A serve that runs but
// refuses the connection is an error: the directory is never opened under
// it. A data directory that does not exist is an error unless
// cfg.createData is set.
func keysConnect(data, natsURL string, cfg serveConfig) (jetstream.JetStream, func(), error) {
	var srv *embedded.Server
	url := natsURL
	opts := []nats.Option{nats.Name("pathway keys")}
	if url == "" {
		if b, err := os.ReadFile(filepath.Join(data, urlFileName)); err == nil {
			js, err := connectRunning(data, strings.TrimSpace(string(b)))
			if err == nil {
				return js, func() { js.Conn().Close() }, nil
			}
			if !errors.Is(err, nats.ErrNoServers) {
				return nil, nil, err
			}
			// Nothing listens there: a serve that stopped without
			// removing its URL file.
		}
		if _, err := os.Stat(data); errors.Is(err, fs.ErrNotExist) && !cfg.createData {
			// Run from another folder, the default ./data is not the one
			// meant: never make an empty log there and report success.
			abs, _ := filepath.Abs(data)
			return nil, nil, fmt.Errorf("no data directory %s: pass --data with the directory pathway serve uses (or set PATHWAY_DATA), or --nats-url for an external NATS; `pathway serve` makes a new one", abs)
		}
		var err error
		srv, err = embedded.Start(embedded.Config{DataDir: data, Listen: "127.0.0.1:0", NoSync: cfg.bulkLoad})
		if err != nil {
			return nil, nil, fmt.Errorf("open the data directory %s: %w", data, err)
		}
		url = srv.ClientURL()
		opts = append(opts, srv.ClientOptions()...)
	} else {
		cfg.NATSURL = natsURL
		auth, err := natsOptionsAuth(cfg)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, auth...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if srv != nil {
			_ = srv.Shutdown(context.Background())
		}
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w%s", redactURL(url), err, natsHint(err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, func() {
		nc.Close()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
	}, nil
}

// connectRunning connects to the pathway serve that recorded url in the
// data directory data. The error wraps nats.ErrNoServers when nothing
// answers at url.
func connectRunning(data, url string) (jetstream.JetStream, error) {
	opts, err := embedded.ClientOptions(data)
	if err != nil {
		return nil, fmt.Errorf("pathway serve runs on %s (it recorded %s), but: %w", data, urlFileName, err)
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("pathway keys"), nats.Timeout(2*time.Second))...)
	if errors.Is(err, nats.ErrNoServers) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the pathway serve running on %s at %s (if none runs, remove %s): %w", data, redactURL(url), filepath.Join(data, urlFileName), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return js, nil
}

// parseInterspersed parses flags that may stand before or after the
// positional arguments, and returns those arguments. A bad flag is
// errUsage (the flag package has printed why); -h is flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
