package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/services/cmd/pathway/demo"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
)

// demoStaging is the directory, inside a data directory, where a demo
// region is loaded before it becomes the data directory's log.
const demoStaging = "demo-loading"

// stageDemo loads the demo region into a data directory that has no log
// yet, the fast way, and reports whether it did: false, with nothing
// done, when data already has a log directory (the caller then loads in
// place, or refuses a log with events).
//
// The region is loaded into a log of its own under data/demo-loading,
// served by an embedded server that does not fsync each write (the load
// runs the same services and commands as ever, so the log is the one
// they would write at any durability). Once loaded, that server stops
// (flushing every file), each file and directory of its store is fsynced
// once, and the store is renamed into place as data/jetstream, then the
// data directory is fsynced: the rename is the commit. So the data
// directory's log is either absent or the whole region. A process killed
// during the load leaves only data/demo-loading, which the next start
// removes before it loads the region again (it logs that it does);
// killed after the rename, it leaves a complete region, served as it is,
// whose keys were not printed (pathway keys create makes more).
func stageDemo(ctx context.Context, data string, master *keyring.Local, dc demoConfig, rules *triage.Rules, out io.Writer, log *slog.Logger) (demoKeys, bool, error) {
	logDir := filepath.Join(data, "jetstream")
	staging := filepath.Join(data, demoStaging)
	if entries, err := os.ReadDir(logDir); err == nil && len(entries) > 0 {
		if err := os.RemoveAll(staging); err != nil { // left by a kill after the rename
			return demoKeys{}, false, fmt.Errorf("demo: remove %s: %w", staging, err)
		}
		return demoKeys{}, false, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return demoKeys{}, false, fmt.Errorf("demo: %w", err)
	}
	if _, err := os.Stat(staging); err == nil {
		log.Warn("demo: found the log of an interrupted demo load; loading the region again", "dir", staging)
	}
	if err := os.RemoveAll(staging); err != nil {
		return demoKeys{}, false, fmt.Errorf("demo: remove %s: %w", staging, err)
	}
	if err := os.RemoveAll(logDir); err != nil { // an empty directory
		return demoKeys{}, false, fmt.Errorf("demo: %w", err)
	}
	log.Info("demo: loading a synthetic region into a new log, flushed to disk once at the end")
	ks, err := loadStaged(ctx, staging, master, dc, rules, out, log)
	if err != nil {
		return demoKeys{}, false, fmt.Errorf("demo: %w", err)
	}
	start := time.Now()
	if err := syncTree(filepath.Join(staging, "jetstream")); err != nil {
		return demoKeys{}, false, fmt.Errorf("demo: flush the loaded log: %w", err)
	}
	if err := os.Rename(filepath.Join(staging, "jetstream"), logDir); err != nil {
		return demoKeys{}, false, fmt.Errorf("demo: move the loaded log into place: %w", err)
	}
	if err := syncPath(data); err != nil {
		return demoKeys{}, false, fmt.Errorf("demo: %w", err)
	}
	if err := os.RemoveAll(staging); err != nil {
		log.Warn("demo: could not remove the staging directory", "dir", staging, "err", err)
	}
	log.Info("demo: region flushed to disk and in place", "took", time.Since(start).Round(time.Millisecond))
	return ks, true, nil
}

// loadStaged loads the region into a new log under dir, on an embedded
// server without fsync, and stops the server.
func loadStaged(ctx context.Context, dir string, master *keyring.Local, dc demoConfig, rules *triage.Rules, out io.Writer, log *slog.Logger) (demoKeys, error) {
	// The load makes much short-lived garbage and little that lives: a
	// rarer garbage collection saves a sixth of its CPU (docs/PERFORMANCE.md).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		return demoKeys{}, err
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.ClientOptions()...)
	if err != nil {
		_ = stop()
		return demoKeys{}, err
	}
	ks, err := func() (demoKeys, error) {
		js, err := jetstream.New(nc)
		if err != nil {
			return demoKeys{}, err
		}
		if err := events.Setup(ctx, js, events.StreamConfig{}); err != nil {
			return demoKeys{}, fmt.Errorf("event log: %w", err)
		}
		ring, err := openDataKeys(ctx, js, master, 1)
		if err != nil {
			return demoKeys{}, err
		}
		return loadDemo(ctx, js, ring, master, dc, rules, out, log)
	}()
	nc.Close()
	if serr := stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop the loading server: %w", serr)
	}
	return ks, err
}

// syncTree fsyncs every file and directory under root.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		return syncPath(path)
	})
}

// syncPath fsyncs one file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	if err := f.Close(); serr == nil {
		serr = err
	}
	return serr
}

// demoKeys are the API keys made for a demo region, shown once: one for
// each workspace a newcomer may try.
type demoKeys struct {
	Ops, Triage string
	// Referrer is a key of the practice ReferrerOrg.
	Referrer, ReferrerOrg string
	// Workers are keys of one link worker in each PCN.
	Workers []demoWorkerKey
}

// demoWorkerKey is a link worker's key and whose it is.
type demoWorkerKey struct {
	Key    string
	Worker demo.Worker
}

// demoReferrerOrg is the practice the demo's referrer key refers for
// (Riverside PCN's first practice).
const demoReferrerOrg = "A81001"

// makeDemoKeys makes the demo's API keys in the key store of js: ops,
// triage, a referrer, and the first link worker of each PCN in staff.
func makeDemoKeys(ctx context.Context, js jetstream.JetStream, staff []demo.Worker) (demoKeys, error) {
	ks, err := keys.Open(ctx, js, keys.Options{})
	if err != nil {
		return demoKeys{}, err
	}
	create := func(sp keys.Spec) (string, error) {
		plain, _, err := ks.Create(ctx, sp)
		return plain, err
	}
	var out demoKeys
	if out.Ops, err = create(keys.Spec{Role: keys.RoleOps, Label: "demo dashboard"}); err != nil {
		return out, err
	}
	if out.Triage, err = create(keys.Spec{Role: keys.RoleTriage, Label: "demo triage"}); err != nil {
		return out, err
	}
	out.ReferrerOrg = demoReferrerOrg
	if out.Referrer, err = create(keys.Spec{Role: keys.RoleReferrer, Organisation: demoReferrerOrg, Label: "demo referrer"}); err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for _, w := range staff {
		if seen[w.PCN] {
			continue
		}
		seen[w.PCN] = true
		k, err := create(keys.Spec{Role: keys.RoleLinkWorker, Worker: w.ID, Label: "demo link worker " + w.Name})
		if err != nil {
			return out, err
		}
		out.Workers = append(out.Workers, demoWorkerKey{Key: k, Worker: w})
	}
	return out, nil
}

// print writes the keys to w, labelled, ops first; with addr, the
// dashboard's address too.
func (k demoKeys) print(w io.Writer, addr string) {
	if addr != "" {
		fmt.Fprintf(w, "Dashboard: http://%s/\n", addr)
	}
	fmt.Fprintf(w, "ops key for the dashboard (shown once): %s\n", k.Ops)
	fmt.Fprintln(w, "more demo keys, each shown once (pathway keys create makes others):")
	fmt.Fprintf(w, "  triage (the manual triage queue):        %s\n", k.Triage)
	fmt.Fprintf(w, "  referrer for practice %s:            %s\n", k.ReferrerOrg, k.Referrer)
	for _, wk := range k.Workers {
		fmt.Fprintf(w, "  link worker %s, %s (worker %s): %s\n", wk.Worker.Name, wk.Worker.PCNName, wk.Worker.ID, wk.Key)
	}
}
