// Package backup copies pathway's JetStream streams to a directory and
// back: the event log (PATHWAY), the streams beside it (PATHWAY_AUDIT,
// PATHWAY_PARKED) and every key-value and object bucket pathway keeps
// (data keys, API keys, secrets, webhook bookkeeping, read-model
// checkpoints), each stream as the server's own snapshot of it.
//
// A snapshot ($JS.API.STREAM.SNAPSHOT, as `nats stream backup` takes) is
// the stream's store at one point, with its durable consumers, taken by
// the server while it goes on serving; the restore
// ($JS.API.STREAM.RESTORE) rebuilds the stream with the same sequences,
// so positions, aggregate versions and checkpoints mean what they meant.
// The streams are taken one after the other, in an order that keeps the
// copy consistent (see Order). With a master key the files are encrypted
// (age, a fresh file key for each file wrapped by the master key); the
// manifest (manifest.json, written last) lists the files with their
// SHA-256 and holds no personal data.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
)

// Format is the version of the backup layout this package writes and
// reads.
const Format = 1

// Kind names a pathway backup in its manifest.
const Kind = "pathway-backup"

// ManifestFile is the manifest's name in a backup directory.
const ManifestFile = "manifest.json"

var (
	// ErrNotBackup reports a directory that holds no pathway backup (no
	// manifest, or another program's).
	ErrNotBackup = errors.New("backup: not a pathway backup")
	// ErrCorrupt reports a backup whose files are missing, truncated or
	// altered: their checksums do not match the manifest.
	ErrCorrupt = errors.New("backup: corrupt")
	// ErrNoMasterKey reports an encrypted backup restored without the
	// master key that wrapped its keys, or with another one.
	ErrNoMasterKey = errors.New("backup: the backup is encrypted and needs the master key it was made with")
	// ErrExists reports a target that already holds a stream of the
	// backup: a restore never overwrites.
	ErrExists = errors.New("backup: the target already holds pathway's streams")
	// ErrUnencrypted reports a backup asked for without a master key of a
	// log that holds personal data (sealed under data keys, or in clear in
	// a log written before sealing): its backup is encrypted.
	ErrUnencrypted = errors.New("backup: the log holds personal data: its backup needs the master key, to be encrypted")
)

// Manifest describes a backup. It holds no personal data: stream names,
// configurations (subjects, limits), message counts and checksums.
type Manifest struct {
	Kind   string `json:"kind"`
	Format int    `json:"format"`
	// Pathway is the version of pathway that wrote it.
	Pathway string `json:"pathway_version"`
	// Server is the version of the NATS server it was taken from.
	Server    string    `json:"nats_server_version,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Encrypted bool      `json:"encrypted"`
	// MasterKeyInData reports that the source kept its master key in its
	// data directory (master.key), so a restore into a new data directory
	// puts it there too.
	MasterKeyInData bool     `json:"master_key_in_data_directory,omitempty"`
	Streams         []Stream `json:"streams"`
}

// Stream is one stream's snapshot in a backup.
type Stream struct {
	Name string `json:"name"`
	File string `json:"file"`
	// Bytes and SHA256 are those of the file as written (encrypted when
	// the backup is).
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Messages, FirstSeq and LastSeq are the stream's at the snapshot.
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Config and State are the server's, as it gave them with the
	// snapshot and takes them back to restore it.
	Config json.RawMessage `json:"config"`
	State  json.RawMessage `json:"state"`
}

// Progress reports a stream being copied: about every Options.Every while
// it runs, and once when it is done.
type Progress struct {
	Stream string
	// Messages is how many messages the stream's snapshot holds.
	Messages uint64
	// Bytes is how much of the snapshot has been moved so far; Total the
	// whole (0 while a backup runs: the server does not say beforehand).
	Bytes, Total int64
	Elapsed      time.Duration
	Done         bool
}

// Options configure Write.
type Options struct {
	// Master, when set, encrypts the files: each file's key is wrapped by
	// it. Nil writes them as the server gives them, and is refused for a
	// log that holds personal data (ErrUnencrypted).
	Master keyring.Master
	// MasterKeyInData is recorded in the manifest (see Manifest).
	MasterKeyInData bool
	// Version is pathway's version, recorded in the manifest.
	Version string
	// Progress, when set, is called as each stream is copied.
	Progress func(Progress)
	// Every is how often Progress is called while a stream is copied;
	// default one second.
	Every time.Duration
	// Idle is how long a chunk may take to come before the copy fails;
	// default 30 seconds.
	Idle time.Duration
}

func (o *Options) defaults() {
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 30 * time.Second
	}
}

// Streams returns the names of pathway's streams on js, in the order a
// backup takes them (Order).
func Streams(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var names []string
	l := js.StreamNames(ctx)
	for n := range l.Name() {
		if ours(n) {
			names = append(names, n)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("backup: list streams: %w", err)
	}
	Order(names)
	return names, nil
}

// ours reports whether a stream is pathway's: the log, a stream named
// PATHWAY_..., or the stream of a key-value or object bucket so named.
func ours(name string) bool {
	for _, p := range []string{"", "KV_", "OBJ_"} {
		if rest, ok := strings.CutPrefix(name, p); ok && (rest == events.DefaultStream || strings.HasPrefix(rest, events.DefaultStream+"_")) {
			return true
		}
	}
	return false
}

// Order sorts stream names into the order a backup takes them, which
// makes the copy consistent though the streams are taken one after the
// other while pathway runs: the object buckets (read-model checkpoints)
// first, so no checkpoint is ahead of the log; then the log; then the
// rest (the data keys among them), so every event in the copy has its
// key (a key is made before its first event is appended), and an erasure
// in between is in the copy as a destroyed key, never the reverse.
func Order(names []string) {
	rank := func(n string) int {
		switch {
		case strings.HasPrefix(n, "OBJ_"):
			return 0
		case n == events.DefaultStream:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// Write takes a backup of pathway's streams on js into dir, which must be
// empty or not exist, while pathway goes on serving. The manifest is
// written last, so a directory without one is no backup. On an error the
// files written so far are removed. Errors: ErrUnencrypted without a
// master key for a log that holds personal data; the server's, the file
// system's, and ctx's.
func Write(ctx context.Context, js jetstream.JetStream, dir string, opts Options) (*Manifest, error) {
	opts.defaults()
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	names, err := Streams(ctx, js)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, events.DefaultStream) {
		return nil, fmt.Errorf("backup: no event log (stream %s) on this server", events.DefaultStream)
	}
	if opts.Master == nil {
		if held, err := holdsPersonalData(ctx, js); err != nil {
			return nil, err
		} else if held {
			return nil, ErrUnencrypted
		}
	}
	m := &Manifest{Kind: Kind, Format: Format, Pathway: opts.Version, Server: js.Conn().ConnectedServerVersion(),
		Started: time.Now().UTC(), Encrypted: opts.Master != nil, MasterKeyInData: opts.MasterKeyInData}
	ok := false
	defer func() {
		if !ok {
			for _, s := range m.Streams {
				_ = os.Remove(filepath.Join(dir, s.File))
			}
		}
	}()
	for _, name := range names {
		s, err := snapshot(ctx, js, dir, name, opts)
		if s != nil {
			m.Streams = append(m.Streams, *s)
		}
		if err != nil {
			return nil, err
		}
	}
	m.Finished = time.Now().UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, ManifestFile), append(b, '\n')); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	ok = true
	return m, nil
}

// holdsPersonalData reports whether the log on js holds personal data:
// sealed under data keys (it has a data key, made or destroyed: keyring's
// entries are named <type>.<id>, where an API key sharing the bucket is
// one token), or in clear, in a log written before sealing (an event with
// a personal field set; found by reading the log, which only a log without
// data keys needs).
func holdsPersonalData(ctx context.Context, js jetstream.JetStream) (bool, error) {
	st, err := js.Stream(ctx, "KV_"+keyring.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return false, fmt.Errorf("backup: the data keys: %w", err)
	default:
		_, err = st.GetLastMsgForSubject(ctx, "$KV."+keyring.Bucket+".*.*")
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return false, fmt.Errorf("backup: the data keys: %w", err)
		}
	}
	for rec, err := range events.New(js, events.Options{}).Read(ctx, 1, events.AllSubjects) {
		if err != nil {
			var de *events.DecodeError
			if errors.As(err, &de) {
				return true, nil // unreadable: take it to hold some
			}
			return false, fmt.Errorf("backup: read the log: %w", err)
		}
		if events.CarriesPersonal(rec.Payload) {
			return true, nil
		}
	}
	return false, nil
}

// snapshotRequest and snapshotResponse are the JetStream API's.
type snapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
}

type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d)", e.Description, e.ErrCode) }

type snapshotResponse struct {
	Error  *apiError       `json:"error"`
	Config json.RawMessage `json:"config"`
	State  json.RawMessage `json:"state"`
}

type streamState struct {
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// snapshot copies stream name into a file of dir. The Stream it returns
// names the file even on an error, so that Write can remove it.
func snapshot(ctx context.Context, js jetstream.JetStream, dir, name string, opts Options) (*Stream, error) {
	nc := js.Conn()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server clamps the window; it sends at most 8 MiB ahead.
	if err := sub.SetPendingLimits(-1, 64<<20); err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	req, _ := json.Marshal(snapshotRequest{DeliverSubject: inbox, ChunkSize: 128 << 10})
	rctx, cancel := context.WithTimeout(ctx, opts.Idle)
	msg, err := nc.RequestWithContext(rctx, events.APIPrefix(js)+"STREAM.SNAPSHOT."+name, req)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("backup %s: ask for a snapshot: %w", name, err)
	}
	var resp snapshotResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("backup %s: the server's answer: %w", name, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("backup %s: the server refused the snapshot: %w", name, resp.Error)
	}
	var st streamState
	if err := json.Unmarshal(resp.State, &st); err != nil {
		return nil, fmt.Errorf("backup %s: the stream's state: %w", name, err)
	}
	s := &Stream{Name: name, File: name + ".snap", Messages: st.Messages, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Config: resp.Config, State: resp.State}
	if opts.Master != nil {
		s.File += ".age"
	}
	f, err := os.OpenFile(filepath.Join(dir, s.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	defer f.Close()
	sum := sha256.New()
	counted := &countWriter{w: io.MultiWriter(f, sum)}
	var w io.Writer = counted
	var enc io.WriteCloser
	if opts.Master != nil {
		if enc, err = age.Encrypt(counted, &recipient{ctx: ctx, master: opts.Master, id: fileKeyID(s.Name)}); err != nil {
			return s, fmt.Errorf("backup %s: encrypt: %w", name, err)
		}
		w = enc
	}
	start := time.Now()
	last := start
	var moved int64
	report := func(done bool) {
		if opts.Progress != nil {
			opts.Progress(Progress{Stream: name, Messages: st.Messages, Bytes: moved, Elapsed: time.Since(start), Done: done})
		}
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, opts.Idle)
		m, err := sub.NextMsgWithContext(cctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return s, ctx.Err()
			}
			return s, fmt.Errorf("backup %s: no chunk of the snapshot for %s: %w", name, opts.Idle, err)
		}
		if len(m.Data) == 0 {
			// The end: 204 when whole, else the server's reason.
			if code := m.Header.Get("Status"); code != "" && code != "204" {
				return s, fmt.Errorf("backup %s: the server stopped the snapshot: %s %s", name, code, m.Header.Get("Description"))
			}
			break
		}
		if _, err := w.Write(m.Data); err != nil {
			return s, fmt.Errorf("backup %s: %w", name, err)
		}
		moved += int64(len(m.Data))
		if m.Reply != "" {
			// The flow control: the server sends the next chunks once
			// these are acknowledged.
			if err := m.Respond(nil); err != nil {
				return s, fmt.Errorf("backup %s: %w", name, err)
			}
		}
		if time.Since(last) >= opts.Every {
			last = time.Now()
			report(false)
		}
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return s, fmt.Errorf("backup %s: encrypt: %w", name, err)
		}
	}
	if err := f.Sync(); err != nil {
		return s, fmt.Errorf("backup %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return s, fmt.Errorf("backup %s: %w", name, err)
	}
	s.Bytes, s.SHA256 = counted.n, hex.EncodeToString(sum.Sum(nil))
	report(true)
	return s, nil
}

// fileKeyID is the name a file's key is wrapped under by the master key.
func fileKeyID(stream string) string { return "backup/" + stream }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// emptyDir makes dir, or checks that it is an empty directory.
func emptyDir(dir string) error {
	if dir == "" {
		return errors.New("backup: no directory given")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("backup: %s is not empty: give a new directory for each backup", dir)
	}
	return nil
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}
