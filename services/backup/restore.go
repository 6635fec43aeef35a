package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
)

// Open reads the manifest of the backup in dir and checks every file it
// lists against its size and SHA-256, so that a restore finds a damaged
// backup before it touches the target. Errors: ErrNotBackup for a
// directory without a pathway manifest or of a format this version does
// not read; ErrCorrupt for a missing, truncated or altered file.
func Open(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotBackup, serr)
		}
		return nil, fmt.Errorf("%w: %s has no %s (a backup cut short has none)", ErrNotBackup, dir, ManifestFile)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Kind != Kind {
		return nil, fmt.Errorf("%w: %s in %s is not a pathway manifest", ErrNotBackup, ManifestFile, dir)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%w: format %d, and this pathway reads format %d", ErrNotBackup, m.Format, Format)
	}
	for _, s := range m.Streams {
		if !ours(s.Name) || s.File != filepath.Base(s.File) || strings.HasPrefix(s.File, ".") {
			return nil, fmt.Errorf("%w: the manifest names a stream %q in file %q", ErrCorrupt, s.Name, s.File)
		}
		if err := verify(dir, s); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

func verify(dir string, s Stream) error {
	f, err := os.Open(filepath.Join(dir, s.File))
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrCorrupt, s.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrCorrupt, s.Name, err)
	}
	if n != s.Bytes || hex.EncodeToString(h.Sum(nil)) != s.SHA256 {
		return fmt.Errorf("%w: %s is not the file the backup wrote (%d bytes, want %d, or another checksum)", ErrCorrupt, s.File, n, s.Bytes)
	}
	return nil
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Master is the master key the backup was made with; needed when it
	// is encrypted.
	Master keyring.Master
	// Replicas, when set, replaces each stream's replica count (1 for a
	// single server, 3 for a cluster); otherwise the backup's stands.
	Replicas int
	// Progress, when set, is called as each stream is restored.
	Progress func(Progress)
	// Every is how often Progress is called; default one second.
	Every time.Duration
	// Idle bounds how long the server may take to answer a chunk, and
	// ten times it to finish a stream; default 30 seconds.
	Idle time.Duration
}

// Restore rebuilds on js the streams of the backup m (from Open) in dir,
// with the sequences, messages and durable consumers they had. js must
// hold none of them: Restore checks them all first and returns ErrExists,
// restoring nothing. Errors: ErrNoMasterKey for an encrypted backup
// without its master key; ErrCorrupt for a file that does not decrypt;
// the server's.
func Restore(ctx context.Context, js jetstream.JetStream, dir string, m *Manifest, opts RestoreOptions) error {
	o := Options{Every: opts.Every, Idle: opts.Idle}
	o.defaults()
	opts.Every, opts.Idle = o.Every, o.Idle
	if m.Encrypted && opts.Master == nil {
		return ErrNoMasterKey
	}
	var there []string
	for _, s := range m.Streams {
		_, err := js.Stream(ctx, s.Name)
		switch {
		case err == nil:
			there = append(there, s.Name)
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("restore: look for stream %s: %w", s.Name, err)
		}
	}
	if len(there) > 0 {
		return fmt.Errorf("%w (%s): restore into a new data directory, or a NATS without them", ErrExists, strings.Join(there, ", "))
	}
	for _, s := range m.Streams {
		if err := restoreStream(ctx, js, dir, m, s, opts); err != nil {
			return err
		}
	}
	return nil
}

type restoreResponse struct {
	Error          *apiError `json:"error"`
	DeliverSubject string    `json:"deliver_subject"`
}

type createResponse struct {
	Error      *apiError `json:"error"`
	StreamInfo *struct {
		State streamState `json:"state"`
	} `json:"stream_info"`
}

func restoreStream(ctx context.Context, js jetstream.JetStream, dir string, m *Manifest, s Stream, opts RestoreOptions) error {
	nc := js.Conn()
	f, err := os.Open(filepath.Join(dir, s.File))
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrCorrupt, s.Name, err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 256<<10)
	if m.Encrypted {
		r, err = age.Decrypt(r, &identity{ctx: ctx, master: opts.Master, id: fileKeyID(s.Name)})
		if errors.Is(err, ErrNoMasterKey) {
			return fmt.Errorf("restore %s: %w", s.Name, err)
		}
		if err != nil {
			return fmt.Errorf("%w: stream %s does not decrypt: %w", ErrCorrupt, s.Name, err)
		}
	}
	var cfg map[string]any
	if err := json.Unmarshal(s.Config, &cfg); err != nil {
		return fmt.Errorf("%w: stream %s: its configuration: %w", ErrCorrupt, s.Name, err)
	}
	if cfg["name"] != s.Name {
		return fmt.Errorf("%w: stream %s: its configuration names %v", ErrCorrupt, s.Name, cfg["name"])
	}
	if opts.Replicas > 0 {
		cfg["num_replicas"] = opts.Replicas
	}
	req, err := json.Marshal(map[string]any{"config": cfg, "state": s.State})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, opts.Idle)
	msg, err := nc.RequestWithContext(rctx, events.APIPrefix(js)+"STREAM.RESTORE."+s.Name, req)
	cancel()
	if err != nil {
		return fmt.Errorf("restore %s: %w", s.Name, err)
	}
	var rr restoreResponse
	if err := json.Unmarshal(msg.Data, &rr); err != nil {
		return fmt.Errorf("restore %s: the server's answer: %w", s.Name, err)
	}
	if rr.Error != nil {
		return fmt.Errorf("restore %s: the server refused: %w", s.Name, rr.Error)
	}
	start := time.Now()
	last := start
	var moved int64
	report := func(done bool) {
		if opts.Progress != nil {
			opts.Progress(Progress{Stream: s.Name, Messages: s.Messages, Bytes: moved, Total: s.Bytes, Elapsed: time.Since(start), Done: done})
		}
	}
	chunk := make([]byte, 128<<10)
	for {
		n, rerr := io.ReadFull(r, chunk)
		if n > 0 {
			ack, err := sendChunk(ctx, nc, rr.DeliverSubject, chunk[:n], opts.Idle)
			if err != nil {
				return fmt.Errorf("restore %s: send a chunk: %w", s.Name, err)
			}
			if len(ack.Data) > 0 {
				var cr createResponse
				if json.Unmarshal(ack.Data, &cr) == nil && cr.Error != nil {
					return fmt.Errorf("restore %s: the server refused the snapshot: %w", s.Name, cr.Error)
				}
			}
			// Progress counts the file's bytes, as Total does.
			if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
				moved = pos
			}
			if time.Since(last) >= opts.Every {
				last = time.Now()
				report(false)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			// The file was checked whole by Open: a failure to decrypt is
			// an altered file or another master key.
			return fmt.Errorf("%w: stream %s: %w", ErrCorrupt, s.Name, rerr)
		}
	}
	// An empty chunk ends the upload; the answer comes once the server
	// has rebuilt the stream.
	fctx, cancel := context.WithTimeout(ctx, 10*opts.Idle)
	msg, err = nc.RequestWithContext(fctx, rr.DeliverSubject, nil)
	cancel()
	if err != nil {
		return fmt.Errorf("restore %s: finish: %w", s.Name, err)
	}
	var cr createResponse
	if err := json.Unmarshal(msg.Data, &cr); err != nil {
		return fmt.Errorf("restore %s: the server's answer: %w", s.Name, err)
	}
	if cr.Error != nil {
		return fmt.Errorf("restore %s: %w", s.Name, cr.Error)
	}
	if cr.StreamInfo != nil {
		got := cr.StreamInfo.State
		if got.Messages != s.Messages || got.LastSeq != s.LastSeq {
			return fmt.Errorf("%w: stream %s restored with %d messages to sequence %d, the backup had %d to %d", ErrCorrupt, s.Name, got.Messages, got.LastSeq, s.Messages, s.LastSeq)
		}
	}
	moved = s.Bytes
	report(true)
	return nil
}

// sendChunk sends one chunk of a restore and waits for the server's
// acknowledgement. On a cluster the subject the server restores from is
// subscribed on the server that took the restore request, and the
// interest reaches the server this connection is on a moment later: a
// chunk sent before that finds no responders, was not delivered, and is
// sent again.
func sendChunk(ctx context.Context, nc *nats.Conn, subject string, data []byte, idle time.Duration) (*nats.Msg, error) {
	deadline := time.Now().Add(idle)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, idle)
		ack, err := nc.RequestWithContext(cctx, subject, data)
		cancel()
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			return ack, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}
