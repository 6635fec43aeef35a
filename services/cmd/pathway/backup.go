package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/services/backup"
	"github.com/pathway-sp/pathway/services/erasure"
)

const backupUsage = `Usage:
  pathway backup --out DIR [--data DIR | --nats-url URL] [--master-key FILE]

Writes a consistent copy of pathway's event log and of everything kept
beside it (data keys, API keys, secrets, webhook bookkeeping, audit,
read-model checkpoints) into DIR, a new or empty directory, while pathway
goes on serving. Each stream is the NATS server's own snapshot of it; a
manifest (manifest.json, written last) lists the files with their SHA-256.
Progress (messages and bytes per stream) is shown on stderr; the manifest
is printed on stdout.

When the master key exists the files are encrypted (age, a fresh key per
file wrapped by the master key), so a copy of DIR reveals nothing without
it. The master key is never written into the backup: keep it apart, as you
already must. A log that holds personal data is never backed up without
its master key; one that never did (no data keys) is written as it is.

With --data (default ./data, env PATHWAY_DATA) it works on that data
directory's event store: if pathway serve is running on it, the command
talks to it; otherwise it opens the directory itself. With --nats-url (env
PATHWAY_NATS_URL) it talks to an external NATS. The master key comes from
PATHWAY_MASTER_KEY or --master-key (default master.key in --data).

A backup is the log at the moment it was taken: whatever happens after it
(new referrals, case work, erasures) is not in it. Restore it with
'pathway restore'.
`

const restoreUsage = `Usage:
  pathway restore --from DIR --data NEWDIR [--master-key FILE]
  pathway restore --from DIR --nats-url URL [--replicas N] [--master-key FILE]

Rebuilds pathway from a backup made by 'pathway backup': into NEWDIR, a new
or empty data directory that 'pathway serve --data NEWDIR' then runs on,
or into an external NATS (a cluster) that holds no pathway streams yet.
Nothing is ever overwritten. The backup's files are checked against the
manifest's checksums before anything is restored. A restore that fails
part-way leaves NEWDIR empty again; on --nats-url the streams restored so
far stay, and must be deleted before trying again.

The events keep their positions; the read models resume from the
checkpoints in the backup and catch up from the log when pathway starts.
Then every erasure recorded in the restored log is applied again to the
data keys, so a restored log never holds a live key of an erased person
(an erasure made after the backup was taken is not in it, and must be run
again: see the README's point-in-time recovery).

An encrypted backup needs the master key it was made with: --master-key
FILE or PATHWAY_MASTER_KEY. When the backed-up data directory kept its
master key in it (master.key), the restore puts a copy into NEWDIR.

--replicas sets each stream's replicas on a cluster (default: as backed
up). The NATS credentials are those of the other commands (env
PATHWAY_NATS_CREDS and the like).
`

func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, data, natsURL, masterKey, auth := personalFlags("backup", backupUsage, getenv, stderr)
	out := fs.String("out", "", "new or empty directory to write the backup into")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	var problems []string
	if strings.TrimSpace(*out) == "" {
		problems = append(problems, "--out DIR is required")
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "pathway backup: %s\n\n%s", strings.Join(problems, "; "), backupUsage)
		return errUsage
	}
	path := masterKeyPath(*masterKey, *data, *natsURL)
	var master keyring.Master
	switch _, err := os.Stat(path); {
	case getenv(keyring.MasterEnv) != "", *masterKey != "", path != "" && err == nil:
		m, err := loadMaster(path, getenv, false, nil)
		if err != nil {
			return err
		}
		master = m
	}
	js, closeFn, err := connectLog(ctx, *data, *natsURL, *auth)
	if err != nil {
		return err
	}
	defer closeFn()
	m, err := backup.Write(ctx, js, *out, backup.Options{
		Master: master, Version: buildVersion(), Progress: progressTo(stderr, "backup"),
		MasterKeyInData: *natsURL == "" && *masterKey == "" && getenv(keyring.MasterEnv) == "",
	})
	if errors.Is(err, backup.ErrUnencrypted) {
		return fmt.Errorf("%w: give --master-key FILE or set %s", err, keyring.MasterEnv)
	}
	if err != nil {
		return err
	}
	how := "not encrypted: there was no master key, and the log holds no personal data"
	if m.Encrypted {
		how = "encrypted with the master key, which is not in it"
	}
	fmt.Fprintf(stderr, "pathway backup: %d streams written to %s (%s)\n", len(m.Streams), *out, how)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

func restoreCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, restoreUsage) }
	from := fs.String("from", "", "directory of the backup")
	data := fs.String("data", "", "new or empty data directory to restore into")
	natsURL := fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s) to restore into")
	auth := externalNATS(fs, getenv)
	masterKey := fs.String("master-key", getenv(envNames["master-key"]), "file of the master key the backup was made with ("+keyring.MasterEnv+" wins)")
	replicas := fs.Int("replicas", 0, "replicas of each stream on --nats-url (default: as backed up)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	var problems []string
	if strings.TrimSpace(*from) == "" {
		problems = append(problems, "--from DIR is required")
	}
	if (*data == "") == (*natsURL == "") {
		problems = append(problems, "give exactly one of --data NEWDIR and --nats-url URL")
	}
	if *replicas < 0 || *replicas > 5 || *replicas > 1 && *natsURL == "" {
		problems = append(problems, "--replicas: 1 to 5, and above 1 only on --nats-url")
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "pathway restore: %s\n\n%s", strings.Join(problems, "; "), restoreUsage)
		return errUsage
	}

	m, err := backup.Open(*from)
	if err != nil {
		return err
	}
	var master keyring.Master
	fromEnv := getenv(keyring.MasterEnv) != ""
	if fromEnv || *masterKey != "" {
		l, err := loadMaster(*masterKey, getenv, false, nil)
		if err != nil {
			return err
		}
		master = l
	} else if m.Encrypted {
		return fmt.Errorf("%w: give --master-key FILE (the master.key of the data directory it came from) or set %s", backup.ErrNoMasterKey, keyring.MasterEnv)
	}
	opts := backup.RestoreOptions{Replicas: *replicas, Progress: progressTo(stderr, "restore")}
	if m.Encrypted {
		opts.Master = master
	}
	if *data != "" {
		opts.Replicas = 1
		if entries, err := os.ReadDir(*data); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s is not empty: restore only into a new data directory (nothing is ever overwritten)", *data)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	cfg := *auth
	cfg.createData = true
	// Into a new data directory the server writes without an fsync each
	// time (with one, a slow disk can stall the server's restore past its
	// five-second watchdog); the files are fsynced once at the end.
	cfg.bulkLoad = *data != ""
	js, closeFn, err := keysConnect(*data, *natsURL, cfg)
	if err != nil {
		return err
	}
	defer func() { closeFn() }()
	// The restore, then the erasures recorded in the log, which hold
	// whatever the copy of the keys caught: a failure of either leaves a
	// new data directory empty, never restored with keys an erasure
	// destroyed.
	var n, destroyed int
	reapply := func() error {
		if err := backup.Restore(ctx, js, *from, m, opts); err != nil {
			return err
		}
		if master == nil {
			// A plain backup: its log held no personal data, so no data
			// keys and no erasure to apply again.
			return nil
		}
		ring, err := openDataKeys(ctx, js, master, max(*replicas, 1))
		if err != nil {
			return err
		}
		if n, destroyed, err = erasure.Reapply(ctx, events.New(js, events.Options{Keys: ring}), ring); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "pathway restore: %d erasures in the restored log; their %d keys are destroyed\n", n, destroyed)
		return nil
	}
	if err := reapply(); err != nil {
		if *data != "" {
			// The directory was new or empty: leave it so, for the
			// next try, rather than half restored.
			closeFn()
			closeFn = func() {}
			if rerr := clearDir(*data); rerr != nil {
				return fmt.Errorf("%w (and %s could not be emptied: %w)", err, *data, rerr)
			}
		}
		return err
	}

	if *data != "" {
		// Stopping the server flushes its files; then each is fsynced
		// once, before the restore is reported done.
		closeFn()
		closeFn = func() {}
		if err := syncTree(*data); err != nil {
			return fmt.Errorf("fsync the restored data directory: %w", err)
		}
		if err := syncPath(filepath.Dir(filepath.Clean(*data))); err != nil {
			return fmt.Errorf("fsync the restored data directory: %w", err)
		}
		switch {
		case m.MasterKeyInData && !fromEnv && *masterKey != "":
			if err := copyMasterKey(*masterKey, filepath.Join(*data, masterKeyFile)); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "pathway restore: the master key copied to %s, where the backed-up data directory kept it\n", filepath.Join(*data, masterKeyFile))
		case m.Encrypted || fromEnv:
			fmt.Fprintf(stderr, "pathway restore: serve it with the master key as before (%s or --master-key)\n", keyring.MasterEnv)
		}
		fmt.Fprintf(stderr, "pathway restore: %d streams restored into %s: run pathway serve --data %s\n", len(m.Streams), *data, *data)
	} else {
		fmt.Fprintf(stderr, "pathway restore: %d streams restored into %s\n", len(m.Streams), redactURL(*natsURL))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"streams": len(m.Streams), "erasures": n, "keys_destroyed": destroyed, "backup_started": m.Started})
}

// clearDir removes everything in dir, keeping dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyMasterKey copies the master key file to a new data directory,
// readable only by its owner.
func copyMasterKey(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressTo prints a stream's progress to w: while it runs and when it
// is done.
func progressTo(w io.Writer, verb string) func(backup.Progress) {
	return func(p backup.Progress) {
		switch {
		case p.Done:
			fmt.Fprintf(w, "%s %s: %d messages, %s in %s\n", verb, p.Stream, p.Messages, size(p.Bytes), p.Elapsed.Round(1e6))
		case p.Total > 0:
			fmt.Fprintf(w, "%s %s: %d messages, %s of %s\n", verb, p.Stream, p.Messages, size(p.Bytes), size(p.Total))
		case p.Bytes > 0:
			fmt.Fprintf(w, "%s %s: %d messages, %s so far\n", verb, p.Stream, p.Messages, size(p.Bytes))
		}
	}
}

// size is n bytes for people to read.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
