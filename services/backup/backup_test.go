package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/embedded/cluster"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/backup"
)

const nhs = "9434765919"

// source is a log with referrals (their personal fields sealed), a
// key-value bucket, and (from three referrals) a durable consumer
// part-way through the log.
type source struct {
	log *eventstest.Log
	ids []string
}

func newSource(t *testing.T, n int) source {
	t.Helper()
	l := eventstest.Start(t, false)
	ctx := t.Context()
	var ids []string
	for i := range n {
		id := uuid.NewString()
		ids = append(ids, id)
		ev := events.Event{Payload: &pathwayv1.ReferralReceived{
			GpPractice: "A81001",
			Person:     &pathwayv1.Person{NhsNumber: nhs, GivenName: fmt.Sprintf("Given%d", i), FamilyName: "Example"},
		}}
		if _, err := l.Store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0, ev); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := l.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "PATHWAY_TESTBUCKET"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "setting", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		return source{log: l, ids: ids}
	}
	cons, err := l.JS.CreateConsumer(ctx, events.DefaultStream, jetstream.ConsumerConfig{Durable: "follower", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return source{log: l, ids: ids}
}

// emptyServer is a NATS server with JetStream and nothing in it.
func emptyServer(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

type progressLog struct {
	mu   sync.Mutex
	seen []backup.Progress
}

func (p *progressLog) add(pr backup.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, pr)
}

func (p *progressLog) done() map[string]backup.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]backup.Progress{}
	for _, pr := range p.seen {
		if pr.Done {
			out[pr.Stream] = pr
		}
	}
	return out
}

// TestBackupRestoreRoundTrip: a backup restored into an empty server gives
// the same log (sequences, events, sealed fields opened with the same
// master key), the same buckets and the durable consumer where it was.
func TestBackupRestoreRoundTrip(t *testing.T) {
	src := newSource(t, 40)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "b")
	var prog progressLog
	m, err := backup.Write(ctx, src.log.JS, dir, backup.Options{Master: eventstest.Master(), Version: "test", Progress: prog.add})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Streams {
		names = append(names, s.Name)
	}
	// The log before the data keys (consistency), the test bucket among
	// the rest.
	if want := []string{"PATHWAY", "KV_PATHWAY_KEYS", "KV_PATHWAY_TESTBUCKET", "PATHWAY_PARKED"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("streams backed up %v, want %v", names, want)
	}
	if !m.Encrypted || m.Streams[0].Messages != 40 || m.Streams[0].LastSeq != 40 {
		t.Errorf("manifest: encrypted %v, log %d messages to %d; want encrypted, 40 to 40", m.Encrypted, m.Streams[0].Messages, m.Streams[0].LastSeq)
	}
	done := prog.done()
	for _, n := range names {
		if pr, ok := done[n]; !ok || pr.Bytes == 0 {
			t.Errorf("no progress reported for %s: %+v", n, pr)
		}
	}
	if done["PATHWAY"].Messages != 40 {
		t.Errorf("progress of PATHWAY: %+v, want its 40 messages", done["PATHWAY"])
	}

	opened, err := backup.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	dst := emptyServer(t)
	if err := backup.Restore(ctx, dst, dir, opened, backup.RestoreOptions{Master: eventstest.Master(), Replicas: 1}); err != nil {
		t.Fatal(err)
	}

	ring, err := keyring.Open(ctx, dst, eventstest.Master(), keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := events.New(dst, events.Options{Keys: ring})
	var got []string
	for r, err := range store.ReadWith(ctx, events.ReadOptions{Open: true}) {
		if err != nil {
			t.Fatal(err)
		}
		p := r.Payload.(*pathwayv1.ReferralReceived)
		got = append(got, fmt.Sprintf("%d %s %s %s", r.Sequence, r.Aggregate.ID, p.GetPerson().GetNhsNumber(), p.GetPerson().GetGivenName()))
	}
	if len(got) != 40 {
		t.Fatalf("restored log has %d events, want 40", len(got))
	}
	for i, id := range src.ids {
		if want := fmt.Sprintf("%d %s %s Given%d", i+1, id, nhs, i); got[i] != want {
			t.Errorf("restored event %d: %q, want %q", i+1, got[i], want)
		}
	}
	kv, err := dst.KeyValue(ctx, "PATHWAY_TESTBUCKET")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "setting"); err != nil || string(e.Value()) != "kept" {
		t.Errorf("restored bucket: %v %v, want kept", e, err)
	}
	cons, err := dst.Consumer(ctx, events.DefaultStream, "follower")
	if err != nil {
		t.Fatalf("the durable consumer was not restored: %v", err)
	}
	if info := cons.CachedInfo(); info.AckFloor.Stream != 3 || info.NumPending != 37 {
		t.Errorf("restored consumer: ack floor %d, %d pending; want 3 and 37", info.AckFloor.Stream, info.NumPending)
	}
	// The restored log takes new events after the old ones.
	seq, err := store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001"}})
	if err != nil || seq != 41 {
		t.Errorf("append after restore: sequence %d, %v; want 41", seq, err)
	}
}

// TestEncryptedBackupHoldsNothingInClear: with a master key no file of the
// backup holds even what the log keeps in clear (the referral ids in its
// subjects); a log without personal data backed up without a master key
// does (so the scan does read the files); and a log with personal data is
// never backed up unencrypted.
func TestEncryptedBackupHoldsNothingInClear(t *testing.T) {
	src := newSource(t, 5)
	ctx := t.Context()
	enc := filepath.Join(t.TempDir(), "enc")
	if _, err := backup.Write(ctx, src.log.JS, enc, backup.Options{Master: eventstest.Master()}); err != nil {
		t.Fatal(err)
	}
	if n := countIn(t, enc, src.ids[0]); n != 0 {
		t.Errorf("the encrypted backup holds a referral id in %d files", n)
	}
	if _, err := backup.Write(ctx, src.log.JS, filepath.Join(t.TempDir(), "refused"), backup.Options{}); !errors.Is(err, backup.ErrUnencrypted) {
		t.Errorf("a backup of personal data without a master key: %v, want ErrUnencrypted", err)
	}

	// A log without personal data: no data keys, so no master key needed.
	clear := eventstest.Start(t, false)
	id := uuid.NewString()
	if _, err := clear.Store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0, events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001"}}); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	m, err := backup.Write(ctx, clear.JS, plain, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Encrypted {
		t.Errorf("a backup without a master key says it is encrypted")
	}
	if n := countIn(t, plain, id); n == 0 {
		t.Errorf("the plain backup holds no referral id: the scan reads nothing")
	}
}

// countIn counts the files under dir that hold s.
func countIn(t *testing.T, dir, s string) int {
	t.Helper()
	n := 0
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			n++
		}
	}
	return n
}

// TestRestoreRefuses: a directory that is no backup, a damaged file,
// another master key and a target that already has the streams are each
// refused with their error, before anything is restored.
func TestRestoreRefuses(t *testing.T) {
	src := newSource(t, 3)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := backup.Write(ctx, src.log.JS, dir, backup.Options{Master: eventstest.Master()}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Write(ctx, src.log.JS, dir, backup.Options{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a backup into a used directory: %v, want refused", err)
	}

	if _, err := backup.Open(t.TempDir()); !errors.Is(err, backup.ErrNotBackup) {
		t.Errorf("open an empty directory: %v, want ErrNotBackup", err)
	}
	if _, err := backup.Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, backup.ErrNotBackup) {
		t.Errorf("open a missing directory: %v, want ErrNotBackup", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, backup.ManifestFile), []byte(`{"kind":"something-else"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Open(foreign); !errors.Is(err, backup.ErrNotBackup) {
		t.Errorf("open another program's manifest: %v, want ErrNotBackup", err)
	}

	m, err := backup.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Another master key cannot open it.
	other, err := keyring.NewLocal(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Restore(ctx, emptyServer(t), dir, m, backup.RestoreOptions{Master: other}); !errors.Is(err, backup.ErrNoMasterKey) {
		t.Errorf("restore with another master key: %v, want ErrNoMasterKey", err)
	}
	if err := backup.Restore(ctx, emptyServer(t), dir, m, backup.RestoreOptions{}); !errors.Is(err, backup.ErrNoMasterKey) {
		t.Errorf("restore with no master key: %v, want ErrNoMasterKey", err)
	}
	// The server it came from has the streams.
	if err := backup.Restore(ctx, src.log.JS, dir, m, backup.RestoreOptions{Master: eventstest.Master()}); !errors.Is(err, backup.ErrExists) {
		t.Errorf("restore over the log: %v, want ErrExists", err)
	}

	// One byte changed in the log's file.
	path := filepath.Join(dir, m.Streams[0].File)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Open(dir); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("open a damaged backup: %v, want ErrCorrupt", err)
	}
	// Cut short.
	if err := os.WriteFile(path, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Open(dir); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("open a truncated backup: %v, want ErrCorrupt", err)
	}
}

// readAll reads the log on js with its data keys, opening the sealed
// fields: one line per event, or the test fails on an event whose key is
// missing.
func readAll(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ring, err := keyring.Open(t.Context(), js, eventstest.Master(), keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for r, err := range events.New(js, events.Options{Keys: ring}).ReadWith(t.Context(), events.ReadOptions{Open: true}) {
		if err != nil {
			t.Fatalf("event %d: %v", r.Sequence, err)
		}
		p := r.Payload.(*pathwayv1.ReferralReceived)
		got = append(got, fmt.Sprintf("%d %s %s", r.Sequence, r.Aggregate.ID, p.GetPerson().GetNhsNumber()))
	}
	return got
}

// TestBackupWhileWriting: a backup taken while referrals keep coming in
// is a consistent copy: a prefix of the log, every event of it with the
// data key that sealed it (the log is copied before the keys).
func TestBackupWhileWriting(t *testing.T) {
	src := newSource(t, 0)
	ctx, cancel := context.WithCancel(t.Context())
	written := make(chan int)
	go func() {
		n := 0
		defer func() { written <- n }()
		for ctx.Err() == nil {
			ev := events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: &pathwayv1.Person{NhsNumber: nhs}}}
			if _, err := src.log.Store.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, ev); err != nil {
				return
			}
			n++
		}
	}()
	// Let the writer run, then back up under it, three times.
	var dirs []string
	for i := range 3 {
		time.Sleep(100 * time.Millisecond)
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		if _, err := backup.Write(ctx, src.log.JS, dir, backup.Options{Master: eventstest.Master()}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	cancel()
	total := <-written
	full := readAll(t, src.log.JS)
	for i, dir := range dirs {
		m, err := backup.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		dst := emptyServer(t)
		if err := backup.Restore(t.Context(), dst, dir, m, backup.RestoreOptions{Master: eventstest.Master()}); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, dst)
		if len(got) == 0 || len(got) > len(full) || strings.Join(got, "\n") != strings.Join(full[:len(got)], "\n") {
			t.Errorf("backup %d: %d events, not a prefix of the log's %d", i, len(got), len(full))
		}
		t.Logf("backup %d: %d of %d events written in all", i, len(got), total)
	}
}

// TestBackupAndRestoreOnACluster: a backup restores into a three-server
// cluster with every stream on all three, and a backup taken from that
// cluster (its stream leaders answer) restores into one server again.
func TestBackupAndRestoreOnACluster(t *testing.T) {
	src := newSource(t, 20)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := backup.Write(ctx, src.log.JS, dir, backup.Options{Master: eventstest.Master()}); err != nil {
		t.Fatal(err)
	}
	want := readAll(t, src.log.JS)
	m, err := backup.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Config{SkipSetup: true})
	_, js := c.Connect(t, 1)
	if err := backup.Restore(ctx, js, dir, m, backup.RestoreOptions{Master: eventstest.Master(), Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Streams {
		// A replica answering just after the restore may still be
		// catching up: ask again for a while.
		var info *jetstream.StreamInfo
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st, err := js.Stream(ctx, s.Name)
			if err != nil {
				t.Fatal(err)
			}
			if info, err = st.Info(ctx); err != nil {
				t.Fatal(err)
			}
			if info.Config.Replicas == 3 && info.State.Msgs == s.Messages || time.Now().After(deadline) {
				break
			}
		}
		if info.Config.Replicas != 3 || info.State.Msgs != s.Messages {
			t.Errorf("%s on the cluster: R%d with %d messages, want R3 with %d", s.Name, info.Config.Replicas, info.State.Msgs, s.Messages)
		}
	}
	if got := readAll(t, js); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the cluster's log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	again := filepath.Join(t.TempDir(), "again")
	if _, err := backup.Write(ctx, js, again, backup.Options{Master: eventstest.Master()}); err != nil {
		t.Fatal(err)
	}
	m2, err := backup.Open(again)
	if err != nil {
		t.Fatal(err)
	}
	one := emptyServer(t)
	if err := backup.Restore(ctx, one, again, m2, backup.RestoreOptions{Master: eventstest.Master(), Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, one); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("restored from the cluster's backup: %d events, want the %d", len(got), len(want))
	}
}

// TestBackupOfAnUnsealedLogNeedsTheMasterKey: a log written before sealing
// (personal fields in clear, no data keys) holds personal data, so it is
// not backed up unencrypted.
func TestBackupOfAnUnsealedLogNeedsTheMasterKey(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := t.Context()
	old := events.New(l.JS, events.Options{Clear: true})
	person := &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Quillonetta", FamilyName: "Zabrowski"}
	if _, err := old.Append(ctx, events.Aggregate{Type: "referral", ID: uuid.NewString()}, 0, events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: person}}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Write(ctx, l.JS, filepath.Join(t.TempDir(), "refused"), backup.Options{}); !errors.Is(err, backup.ErrUnencrypted) {
		t.Errorf("a backup of a log with names in clear, without a master key: %v, want ErrUnencrypted", err)
	}
}
