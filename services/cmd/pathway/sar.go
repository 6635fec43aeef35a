package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/sar"
)

// readModelView shows what one read model holds of a referral, for a
// subject access export: from a running engine, or from a projection
// replayed for the purpose.
type readModelView struct {
	name string
	read func(fn func(p projections.Projection))
	of   func(p projections.Projection, id string) (any, bool)
}

func (v readModelView) Name() string { return v.name }

func (v readModelView) Of(id string) (got any, ok bool) {
	v.read(func(p projections.Projection) { got, ok = v.of(p, id) })
	return got, ok
}

// sarModels are the read models that keep something of a referral, which
// a subject access export shows.
var sarModels = []string{intake.IndexName, waitlists.Name, caseloads.Name, funnel.Name, activity.Name, demand.Name}

// sarViews are the read models a subject access export shows, each read
// through read (an engine's Read, or a replayed projection).
func sarViews(read map[string]func(fn func(p projections.Projection))) []sar.View {
	ofs := map[string]func(p projections.Projection, id string) (any, bool){
		waitlists.Name: func(p projections.Projection, id string) (any, bool) {
			w := p.(*waitlists.Waitlists)
			e, ok := w.Entries[id]
			if !ok {
				return nil, false
			}
			pos := slices.IndexFunc(w.Ordered(e.Queue), func(o waitlists.Entry) bool { return o.ID == id })
			return map[string]any{"queue": e.Queue, "waiting_since": e.Since, "priority": e.Priority.String(), "position": pos + 1}, true
		},
		caseloads.Name: func(p projections.Projection, id string) (any, bool) {
			c := p.(*caseloads.Caseloads)
			for _, w := range c.Summaries() {
				for _, cs := range c.CasesOf(w.ID) {
					if cs.ID == id {
						return map[string]any{"link_worker_id": w.ID, "pcn": w.PCN, "stage": cs.Stage()}, true
					}
				}
			}
			return nil, false
		},
		funnel.Name: func(p projections.Projection, id string) (any, bool) {
			r, ok := p.(*funnel.Funnel).Referrals[id]
			return r, ok
		},
		activity.Name: func(p projections.Projection, id string) (any, bool) {
			r, ok := p.(*activity.Report).Referrals[id]
			return r, ok
		},
		demand.Name: func(p projections.Projection, id string) (any, bool) {
			d := p.(*demand.Demand)
			practice, ok := d.Practice[id]
			if !ok {
				return nil, false
			}
			out := map[string]any{"gp_practice": practice, "status": d.Status[id]}
			if h := d.Held[id]; h != nil {
				out["pcn"], out["on_caseload"] = h.PCN, h.Caseload
			}
			return out, true
		},
		intake.IndexName: func(p projections.Projection, id string) (any, bool) {
			for _, e := range p.(*intake.Index).ManualTriageQueue() {
				if e.ID == id {
					return map[string]any{"awaiting_manual_triage_since": e.ReceivedAt, "safeguarding_escalated": e.Escalated}, true
				}
			}
			return nil, false
		},
	}
	var out []sar.View
	for _, name := range sarModels {
		if r, ok := read[name]; ok {
			out = append(out, readModelView{name: name, read: r, of: ofs[name]})
		}
	}
	return out
}

// engineRead reads a running engine's projection.
func engineRead(e *projections.Engine) func(fn func(p projections.Projection)) {
	return func(fn func(p projections.Projection)) { e.Read(func(p projections.Projection, _ uint64) { fn(p) }) }
}

const sarUsage = `Usage:
  pathway sar --nhs-number N --out FILE --by ID [--data DIR | --nats-url URL]

Answers a subject access request: exports everything pathway holds about
the person with the NHS number. FILE gets the machine-readable JSON (every
event of their referrals and handoffs, decrypted; each referral as the read
models show it; what each partner was shared; the audit of who read their
record), and FILE with the extension .html a readable summary to give the
person. Making the export is recorded in the audit log, as --by (an
identifier of who asked, not a name).

With --data (default ./data, env PATHWAY_DATA) it works on that data
directory's event store, through a running pathway serve or on its own;
with --nats-url (env PATHWAY_NATS_URL) on an external NATS. The master key
comes from PATHWAY_MASTER_KEY or --master-key (default master.key in --data).
The export holds personal data: keep FILE as you keep the record itself.
`

func sarCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, data, natsURL, masterKey, auth := personalFlags("sar", sarUsage, getenv, stderr)
	nhs := fs.String("nhs-number", "", "NHS number of the person")
	out := fs.String("out", "", "file to write the JSON export to")
	by := fs.String("by", "", "identifier of who asked for the export (not a name)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	var problems []string
	if !referral.ValidNHSNumber(referral.NormaliseNHSNumber(*nhs)) {
		problems = append(problems, "--nhs-number: a valid NHS number is required")
	}
	if *out == "" {
		problems = append(problems, "--out FILE is required")
	}
	if strings.TrimSpace(*by) == "" {
		problems = append(problems, "--by is required")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "pathway sar: %s\n\n%s", strings.Join(problems, "; "), sarUsage)
		return errUsage
	}
	l, err := openPersonalLog(ctx, *data, *natsURL, *masterKey, *auth, getenv)
	if err != nil {
		return err
	}
	defer l.close()
	js, ring, people := l.js, l.ring, l.people
	log, err := audit.Open(ctx, js, audit.Options{})
	if err != nil {
		return err
	}
	store := events.New(js, events.Options{Keys: ring})
	// The read models, replayed from the log for the export.
	read := map[string]func(fn func(p projections.Projection)){}
	for _, name := range sarModels {
		p := readModels[name]()
		fmt.Fprintf(stderr, "reading %s\n", name)
		if _, err := projections.Replay(ctx, store, p, 0, nil); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		read[name] = func(fn func(projections.Projection)) { fn(p) }
	}
	x, err := sar.New(store, people, log, sarViews(read), nil).Person(ctx, referral.NormaliseNHSNumber(*nhs),
		audit.Record{KeyID: "cli:" + strings.TrimSpace(*by), Role: "admin", Route: "pathway sar"})
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o600); err != nil {
		return err
	}
	page := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".html"
	f, err := os.OpenFile(page, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := sar.WriteHTML(f, x); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d referrals, %d handoffs and %d recorded reads to %s and %s\n", len(x.Referrals), len(x.Handoffs), len(x.Audit), *out, page)
	return nil
}
