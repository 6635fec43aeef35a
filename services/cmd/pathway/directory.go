package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

const directoryUsage = `Usage: pathway directory import FILE [--data DIR | --nats-url URL]

Imports VCSE partners and their services into the directory from an Open
Referral UK / HSDS 3.0 JSON file: an array of service records with their
organization nested, or a page {"contents": [...]} as the Open Referral UK
API returns it. Each organization becomes a partner whose id is the HSDS
organization id (the organisation of that partner's API keys: pathway
keys create --role partner --org ID).

The import is idempotent: a record already in the directory as it is is
unchanged, one that changed is updated. It prints what it created, updated
and skipped, and why. It talks to a running pathway serve on the same
data directory, or opens the directory itself when none runs.
`

func directoryCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, directoryUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
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
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	recs, err := partner.ParseHSDS(raw)
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
		line := fmt.Sprintf("record %d", r.Index)
		if r.HSDSID != "" {
			line += " (" + r.HSDSID + ")"
		}
		line += ": " + r.Action
		if r.ServiceID != "" {
			line += " service " + r.ServiceID
		}
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "%d created, %d updated, %d unchanged, %d skipped; %d new partners\n", rep.Created, rep.Updated, rep.Unchanged, rep.Skipped, rep.Partners)
	return nil
}
