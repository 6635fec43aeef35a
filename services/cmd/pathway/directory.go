package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

const directoryUsage = `Usage: pathway directory import FILE|FOLDER [--data DIR | --nats-url URL]
       pathway directory sync URL [--every DURATION] [--full] [--data DIR | --nats-url URL]

Imports VCSE partners and their services into the directory from an Open
Referral UK / HSDS 3.0 JSON file, in any shape the standard publishes: a
page of services ({"contents": [...]}, as GET /services answers), one full
service (GET /services/{id}), an array of services, an organization with
its services nested (GET /organizations/{id}), a page of organizations,
a page of service_at_location records, or the tabular form (one array
per CSV table). A FOLDER, or a .csv FILE, is the CSV form: the standard's
data package, one CSV file a table (organizations.csv, services.csv,
locations.csv, ...). Each organization becomes a partner whose id is the HSDS
organization id (the organisation of that partner's API keys: pathway
keys create --role partner --org ID).

Each record is checked on its own. A record that cannot be imported is
skipped and every reason printed with its JSON path; a part of a record
that is wrong (a location outside the UK, a phone number that is not one)
is left out, saying why, and the rest imported. A service the file marks
inactive or defunct is retired from the directory (no new handoffs; those
open stay), and one marked active again is reinstated.

The import is idempotent: a record already in the directory as it is is
unchanged, one that changed is updated. It talks to a running pathway
serve on the same data directory, or opens the directory itself when none
runs. It exits 1 only for a file it cannot read as JSON.

sync keeps the directory in step with an Open Referral UK API at URL
(its base address: URL/services is the service list). See
pathway directory sync --help.
`

func directoryCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, directoryUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] == "sync" {
		return directorySyncCommand(ctx, args[1:], getenv, stdout, stderr)
	}
	if args[0] != "import" {
		fmt.Fprintf(stderr, "pathway directory: unknown command %q\n\n%s", args[0], directoryUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("directory import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, directoryUsage) }
	def := defaultServeConfig()
	data := fs.String("data", firstNonEmpty(getenv(envNames["data"]), def.DataDir), "data directory of the embedded event store")
	natsURL := fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s)")
	auth := externalNATS(fs, getenv)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "pathway directory import: want one FILE\n\n%s", directoryUsage)
		return errUsage
	}
	recs, err := readDirectoryFile(pos[0])
	if err != nil {
		msg := err.Error()
		if ke, ok := errors.AsType[*kernel.Error](err); ok {
			msg = ke.Message
		}
		return fmt.Errorf("%s: %s", pos[0], msg)
	}
	js, closeFn, err := keysConnect(*data, *natsURL, *auth)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	svc := directory.New(events.New(js, events.Options{}))
	cmd := events.Command{Actor: &pathwayv1.Actor{Id: "pathway-directory-import", Role: pathwayv1.Role_ROLE_ADMIN}}
	rep, err := svc.Import(ctx, recs, cmd, func(done, total int) {
		fmt.Fprintf(stderr, "\rimporting %d/%d records", done, total)
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	for _, r := range rep.Results {
		line := fmt.Sprintf("record %d %s", r.Index, r.Path)
		if r.HSDSID != "" {
			line += " (" + r.HSDSID + ")"
		}
		line += ": " + r.Action
		if r.ServiceID != "" {
			line += " service " + r.ServiceID
		} else if r.PartnerID != "" && r.Action != directory.ActionSkipped {
			line += " partner " + r.PartnerID
		}
		fmt.Fprintln(stdout, line)
		for _, p := range r.Reasons {
			fmt.Fprintf(stdout, "  %s: %s\n", p.Path, p.Reason)
		}
		for _, p := range r.Dropped {
			fmt.Fprintf(stdout, "  left out %s: %s\n", p.Path, p.Reason)
		}
	}
	fmt.Fprintf(stdout, "%d created, %d updated, %d unchanged, %d retired, %d reinstated, %d skipped; %d new partners\n",
		rep.Created, rep.Updated, rep.Unchanged, rep.Retired, rep.Reinstated, rep.Skipped, rep.Partners)
	return nil
}

// readDirectoryFile reads an Open Referral UK import: a JSON file, or the
// CSV form (a folder of CSV files, or one .csv file).
func readDirectoryFile(path string) ([]partner.Record, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() && !strings.EqualFold(filepath.Ext(path), ".csv") {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return partner.ParseHSDS(raw)
	}
	names := []string{path}
	if info.IsDir() {
		if names, err = filepath.Glob(filepath.Join(path, "*.csv")); err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, partner.ErrInvalid.Errorf("no .csv files in the folder: want a JSON file or a folder of Open Referral UK CSV tables")
		}
	}
	files := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files[strings.ToLower(filepath.Base(n))] = data
	}
	return partner.ParseHSDSTables(files)
}
