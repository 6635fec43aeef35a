package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/intake"
)

// masterKeyFile is the master key's file in the data directory when no
// other place is given.
const masterKeyFile = "master.key"

// masterKeyPath is where the master key is read from: path when given,
// else master.key in the data directory of the embedded server, else
// nowhere (then only the environment can give it).
func masterKeyPath(path, dataDir, natsURL string) string {
	if path != "" {
		return path
	}
	if natsURL == "" && dataDir != "" {
		return filepath.Join(dataDir, masterKeyFile)
	}
	return ""
}

// loadMaster loads the master key that wraps the data keys (see
// keyring.LoadMaster): PATHWAY_MASTER_KEY, else the file at path, made on
// first use when create is set.
func loadMaster(path string, getenv func(string) string, create bool, log *slog.Logger) (*keyring.Local, error) {
	if path == "" && getenv(keyring.MasterEnv) == "" {
		return nil, errors.New("no master key: set " + keyring.MasterEnv + " (base64 of 32 bytes) or --master-key FILE; with --nats-url there is no data directory to keep one in")
	}
	m, created, err := keyring.LoadMaster(path, getenv, create)
	if err != nil {
		return nil, err
	}
	if created && log != nil {
		log.Warn("made a new master key: keep a copy apart from the data directory and its backups; without it no personal data in the log can be read", "file", path)
	}
	return m, nil
}

// openDataKeys opens the data keys of the log on js under master.
func openDataKeys(ctx context.Context, js jetstream.JetStream, master keyring.Master, replicas int) (*keyring.Ring, error) {
	ring, err := keyring.Open(ctx, js, master, keyring.Options{Replicas: replicas})
	if err != nil {
		return nil, fmt.Errorf("open the data keys: %w", err)
	}
	return ring, nil
}

// personalLog is a command's way into a log's personal data: the log, its
// data keys, and the keyer of person ids, under the master key.
type personalLog struct {
	js     jetstream.JetStream
	ring   *keyring.Ring
	people person.Keyer
	close  func()
}

// openPersonalLog connects to the log at data (through a running serve,
// or on its own) or natsURL, and opens its data keys and person keyer
// with the master key from getenv or the file (masterKey, default
// master.key in data). It never makes a master key: a command on a log
// without one has nothing to open.
func openPersonalLog(ctx context.Context, data, natsURL, masterKey string, auth serveConfig, getenv func(string) string) (*personalLog, error) {
	js, closeFn, err := connectLog(ctx, data, natsURL, auth)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*personalLog, error) {
		closeFn()
		return nil, err
	}
	master, err := loadMaster(masterKeyPath(masterKey, data, natsURL), getenv, false, nil)
	if err != nil {
		return fail(err)
	}
	ring, err := openDataKeys(ctx, js, master, 1)
	if err != nil {
		return fail(err)
	}
	people, err := intake.OpenPersonKeyer(ctx, js, 1, master)
	if err != nil {
		return fail(err)
	}
	return &personalLog{js: js, ring: ring, people: people, close: closeFn}, nil
}

// connectLog connects to the log at data (through a running serve, or on
// its own) or natsURL, as keysConnect does, and checks there is an event
// log there.
func connectLog(ctx context.Context, data, natsURL string, auth serveConfig) (jetstream.JetStream, func(), error) {
	js, closeFn, err := keysConnect(data, natsURL, auth)
	if err != nil {
		return nil, nil, err
	}
	if err := events.Ready(ctx, js, ""); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("no event log here: %w", err)
	}
	return js, closeFn, nil
}

// personalFlags is the flag set of a command that opens a log's personal
// data (openPersonalLog), with its --data, --nats-url and --master-key, and
// the credentials and TLS of an external NATS.
func personalFlags(name, usage string, getenv func(string) string, stderr io.Writer) (fs *flag.FlagSet, data, natsURL, masterKey *string, auth *serveConfig) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	data = fs.String("data", firstNonEmpty(getenv(envNames["data"]), defaultServeConfig().DataDir), "data directory of the embedded event store")
	natsURL = fs.String("nats-url", getenv(envNames["nats-url"]), "external NATS URL(s)")
	masterKey = fs.String("master-key", getenv(envNames["master-key"]), "file of the master key (default master.key in --data; "+keyring.MasterEnv+" wins)")
	auth = externalNATS(fs, getenv)
	return fs, data, natsURL, masterKey, auth
}
