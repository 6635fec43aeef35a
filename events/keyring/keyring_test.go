package keyring_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
)

func master(t *testing.T, b byte) *keyring.Local {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = b
	}
	m, err := keyring.NewLocal(key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func open(t *testing.T, js jetstream.JetStream, m keyring.Master) *keyring.Ring {
	t.Helper()
	r, err := keyring.Open(context.Background(), js, m, keyring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// roundTrip seals with one ring's key and opens with another's.
func roundTrip(t *testing.T, a, b *keyring.Ring, id string) error {
	t.Helper()
	ctx := context.Background()
	ka, err := a.Key(ctx, id, true)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, ka.NonceSize())
	sealed := ka.Seal(nil, nonce, []byte("secret"), nil)
	kb, err := b.Key(ctx, id, false)
	if err != nil {
		return err
	}
	if got, err := kb.Open(nil, nonce, sealed, nil); err != nil || string(got) != "secret" {
		t.Fatalf("opened %q, %v with the other ring's key", got, err)
	}
	return nil
}

func TestKeysAreSharedAndDestroyedForGood(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	a, b := open(t, l.JS, master(t, 1)), open(t, l.JS, master(t, 1))
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Watch(watchCtx)
	dropped := make(chan string, 4)
	b.OnDestroy(func(id string) { dropped <- id })

	if err := roundTrip(t, a, b, "referral.r1"); err != nil {
		t.Fatalf("a key made by one ring, read by another: %v", err)
	}
	if _, err := a.Key(ctx, "referral.none", false); !errors.Is(err, events.ErrErased) {
		t.Errorf("a key never made, not to be made: %v, want ErrErased", err)
	}
	if err := a.Destroy(ctx, "referral.r1"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-dropped:
		if id != "referral.r1" {
			t.Errorf("the other ring was told of %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other ring was not told of the destroyed key")
	}
	for _, r := range []*keyring.Ring{a, b} {
		if _, err := r.Key(ctx, "referral.r1", false); !errors.Is(err, events.ErrErased) {
			t.Errorf("a destroyed key: %v, want ErrErased", err)
		}
		if _, err := r.Key(ctx, "referral.r1", true); !errors.Is(err, events.ErrErased) {
			t.Errorf("making a destroyed key again: %v, want ErrErased", err)
		}
	}
	if err := a.Destroy(ctx, "referral.r1"); err != nil {
		t.Errorf("destroying it again: %v, want nil", err)
	}
	// Nothing of the key is left in the bucket's stream but the tombstone
	// and the announcement.
	st, _ := l.JS.Stream(ctx, "KV_"+keyring.Bucket)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 2 {
		t.Errorf("the bucket holds %d messages, want only the tombstone and the announcement", info.State.Msgs)
	}
}

func TestAnotherMasterKeyCannotUnwrap(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	if _, err := open(t, l.JS, master(t, 1)).Key(ctx, "referral.r1", true); err != nil {
		t.Fatal(err)
	}
	_, err := open(t, l.JS, master(t, 2)).Key(ctx, "referral.r1", false)
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("unwrap with another master key: %v, want an error naming the master key", err)
	}
}

func TestLoadMaster(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "master.key")
	none := func(string) string { return "" }
	if _, _, err := keyring.LoadMaster(path, none, false); err == nil {
		t.Error("no key and not to make one: want an error")
	}
	m1, created, err := keyring.LoadMaster(path, none, true)
	if err != nil || !created {
		t.Fatalf("make: %v, created %v", err, created)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	m2, created, err := keyring.LoadMaster(path, none, true)
	if err != nil || created {
		t.Fatalf("load again: %v, created %v", err, created)
	}
	w, _ := m1.Wrap(context.Background(), "x", make([]byte, 32))
	if _, err := m2.Unwrap(context.Background(), "x", w); err != nil {
		t.Errorf("the file's key does not unwrap what it wrapped: %v", err)
	}
	env := func(k string) string {
		if k == keyring.MasterEnv {
			return base64.StdEncoding.EncodeToString(make([]byte, 32))
		}
		return ""
	}
	m3, _, err := keyring.LoadMaster(path, env, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m3.Unwrap(context.Background(), "x", w); err == nil {
		t.Error("the environment's key should win over the file's")
	}
	bad := func(k string) string { return "not base64!" }
	if _, _, err := keyring.LoadMaster(path, bad, false); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("a bad key in the environment: %v, want an error that does not repeat it", err)
	}
}

func TestPreload(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	a := open(t, l.JS, master(t, 1))
	for _, id := range []string{"referral.a", "referral.b", "referral.c"} {
		if _, err := a.Key(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Destroy(ctx, "referral.c"); err != nil {
		t.Fatal(err)
	}
	b := open(t, l.JS, master(t, 1))
	if n, err := b.Preload(ctx); err != nil || n != 2 {
		t.Fatalf("preload: %d, %v; want the 2 keys not destroyed", n, err)
	}
	if _, err := b.Key(ctx, "referral.c", false); !errors.Is(err, events.ErrErased) {
		t.Errorf("a destroyed key after a preload: %v, want ErrErased", err)
	}
}

// TestOnDestroyHookRemoved: a hook removed is not called again, and the
// others still are (a failed start gives up its store's hook).
func TestOnDestroyHookRemoved(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	r := open(t, l.JS, master(t, 1))
	var gone, kept []string
	remove := r.OnDestroy(func(id string) { gone = append(gone, id) })
	r.OnDestroy(func(id string) { kept = append(kept, id) })
	if err := r.Destroy(ctx, "referral.r1"); err != nil {
		t.Fatal(err)
	}
	remove()
	if err := r.Destroy(ctx, "referral.r2"); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gone) != "[referral.r1]" || fmt.Sprint(kept) != "[referral.r1 referral.r2]" {
		t.Fatalf("the removed hook saw %v, the kept one %v; want [referral.r1] and both", gone, kept)
	}
}
