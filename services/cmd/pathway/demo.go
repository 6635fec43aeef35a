package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/cmd/pathway/demo"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
)

const demoUsage = `Usage: pathway demo [--data DIR] [--days N] [--per-day N] [--seed N]

Loads a synthetic region into an empty data directory: three primary care
networks with their practices, twenty link workers, thirty VCSE services
of twelve partners, and about 1,100 referrals at every stage over the past
three months, all through the same commands the API uses. Two networks
have room and the third is under pressure, with a waitlist beyond the
wait target; partners mostly answer within days. Every person is
synthetic (NHS numbers from the 999 test range).

A new data directory is loaded beside its log (in DIR/demo-loading)
without an fsync per write, flushed to disk once and moved into place:
about 10 to 25 seconds on two shared cores. If the load is stopped, no
log is left, and the next pathway demo or serve --demo loads it again. A
data directory whose log has events is refused.

It prints API keys, each once: ops (the dashboard), triage, a referrer of
practice A81001, and one link worker of each network.

Then run pathway serve on the same data directory; or run
pathway serve --demo, which does both.

Flags:
`

// demoConfig are the knobs of a demo load.
type demoConfig struct {
	Days   int
	PerDay float64
	Seed   uint64
}

func demoFlags(fs *flag.FlagSet) *demoConfig {
	c := &demoConfig{}
	fs.IntVar(&c.Days, "days", 90, "days of history, ending now")
	fs.Float64Var(&c.PerDay, "per-day", 16, "mean referrals a weekday (a quarter of it at weekends)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed: the same seed gives the same region in outline")
	return c
}

func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := defaultServeConfig()
	data := fs.String("data", firstNonEmpty(getenv(envNames["data"]), def.DataDir), "data directory of the embedded event store")
	dc := demoFlags(fs)
	fs.Usage = func() { fmt.Fprint(stderr, demoUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pathway demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if _, err := os.Stat(filepath.Join(*data, urlFileName)); err != nil {
		// No serve runs on it: a new data directory is loaded the fast
		// way (demostage.go).
		master, err := loadMaster(masterKeyPath("", *data, ""), getenv, true, nil)
		if err != nil {
			return err
		}
		ks, staged, err := stageDemo(ctx, *data, master, *dc, triage.DefaultRules(), stderr, slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			return err
		}
		if staged {
			ks.print(stdout, "")
			return nil
		}
	}
	js, closeFn, err := keysConnect(*data, "", serveConfig{bulkLoad: true, createData: true})
	if err != nil {
		return err
	}
	defer closeFn()
	if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	master, err := loadMaster(masterKeyPath("", *data, ""), getenv, true, nil)
	if err != nil {
		return err
	}
	ring, err := openDataKeys(ctx, js, master, 1)
	if err != nil {
		return err
	}
	ks, err := loadDemo(ctx, js, ring, master, *dc, triage.DefaultRules(), stderr, nil)
	if err != nil {
		return err
	}
	ks.print(stdout, "")
	return nil
}

// loadDemo loads the demo region into js with a progress bar on w, and
// makes the API keys a newcomer needs to try every workspace.
func loadDemo(ctx context.Context, js jetstream.JetStream, dataKeys events.Keys, master keys.Wrapper, dc demoConfig, rules *triage.Rules, w io.Writer, log *slog.Logger) (demoKeys, error) {
	start := time.Now()
	last := -1
	sum, err := demo.Load(ctx, js, demo.Options{Keys: dataKeys, Master: master, Days: dc.Days, PerDay: dc.PerDay, Seed: dc.Seed, Rules: rules, Logger: log,
		Progress: func(day, days int) {
			pct := day * 100 / max(days, 1)
			if pct == last {
				return
			}
			last = pct
			fmt.Fprintf(w, "\rdemo region [%s%s] %3d%%  day %d of %d", strings.Repeat("#", pct/5), strings.Repeat(".", 20-pct/5), pct, day, days)
		}})
	fmt.Fprintln(w)
	if err != nil {
		return demoKeys{}, err
	}
	fmt.Fprintf(w, "demo region loaded in %v: %d PCNs, %d practices, %d link workers, %d partners with %d services, %d referrals, %d handoffs, %d events\n",
		time.Since(start).Round(time.Second), sum.PCNs, sum.Practices, sum.Workers, sum.Partners, sum.Services, sum.Referrals, sum.Handoffs, sum.Events)
	return makeDemoKeys(ctx, js, sum.Staff)
}

// serveDemo loads the demo region for pathway serve --demo into the
// running log when it is empty, before the services start, and prints
// the demo's API keys. It is the way for a log directory that existed
// before the start (or an external NATS): loaded in place, through the
// durability the log was opened with. A new data directory's region was
// loaded by stageDemo (cfg.demoStaged) and is left as it is.
func serveDemo(ctx context.Context, js jetstream.JetStream, cfg serveConfig, log *slog.Logger) error {
	if cfg.demoStaged {
		return nil
	}
	n, err := events.New(js, events.Options{}).LastSequence(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("demo: the log already has events; serving them as they are", "events", n)
		return nil
	}
	log.Info("demo: loading a synthetic region into the existing, empty log, each event fsynced as it is written; a new data directory loads faster")
	out := cfg.demoOut
	if out == nil {
		out = io.Discard
	}
	ks, err := loadDemo(ctx, js, cfg.keys, cfg.master, cfg.demo, cfg.rules, out, log)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log.Info("demo: region loaded")
	ks.print(out, displayAddr(cfg.HTTPAddr))
	return nil
}

// displayAddr is a browsable form of a listen address.
func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}
