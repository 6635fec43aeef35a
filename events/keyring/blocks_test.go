package keyring_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
)

// TestBlockKeys: keys handed out from blocks cost one stored entry per
// block, open only their own aggregate's data, are read by another
// process, and once destroyed are gone from the bucket and from every
// process, while the other keys of the block still open.
func TestBlockKeys(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	a, b := open(t, l.JS, master(t, 1)), open(t, l.JS, master(t, 1))
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Watch(watchCtx)

	k1, ref1, err := a.NewKey(ctx, "referral.r1", true)
	if err != nil {
		t.Fatal(err)
	}
	_, ref2, err := a.NewKey(ctx, "referral.r2", true)
	if err != nil {
		t.Fatal(err)
	}
	if ref1 == ref2 || strings.Split(ref1, "/")[0] != strings.Split(ref2, "/")[0] {
		t.Errorf("two new aggregates got %q and %q, want two slots of one block", ref1, ref2)
	}
	if _, again, _ := a.NewKey(ctx, "referral.r1", false); again != ref1 {
		t.Errorf("the next event of r1 got key %q, want its key %q", again, ref1)
	}
	nonce := make([]byte, k1.NonceSize())
	sealed := k1.Seal(nil, nonce, []byte("secret"), nil)
	opens := func(r *keyring.Ring, id, ref string) error {
		k, err := r.KeyAt(ctx, id, ref)
		if err != nil {
			return err
		}
		if got, err := k.Open(nil, nonce, sealed, nil); err != nil || string(got) != "secret" {
			return errors.New("does not open")
		}
		return nil
	}
	if err := opens(b, "referral.r1", ref1); err != nil {
		t.Fatalf("r1's key read by another process: %v", err)
	}
	if err := opens(b, "referral.r2", ref1); err == nil {
		t.Error("r1's slot opened r1's data as r2: a slot's key must be its aggregate's only")
	}

	// 300 keys in all: two blocks, two entries.
	for i := range 298 {
		if _, _, err := a.NewKey(ctx, "referral.n"+string(rune('a'+i%26))+time.Now().Format("150405.000000000"), true); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.JS.Stream(ctx, "KV_"+keyring.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 2 {
		t.Errorf("300 keys stored as %d entries, want 2 blocks", info.State.Msgs)
	}

	// Destroy r1: its slot, in both processes; r2 is untouched.
	block := "block." + strings.Split(ref1, "/")[0]
	before, err := a.KeyAt(ctx, "referral.r2", ref2)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := l.JS.KeyValue(ctx, keyring.Bucket)
	oldEntry, err := old.Get(ctx, block)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Destroy(ctx, "referral.r1", ref1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for opens(b, "referral.r1", ref1) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for name, r := range map[string]*keyring.Ring{"the destroying process": a, "another process": b} {
		if err := opens(r, "referral.r1", ref1); !errors.Is(err, events.ErrErased) {
			t.Errorf("%s: a destroyed slot gives %v, want ErrErased", name, err)
		}
		if _, _, err := r.NewKey(ctx, "referral.r1", false); !errors.Is(err, events.ErrErased) {
			t.Errorf("%s: a new key for an erased aggregate: %v, want ErrErased", name, err)
		}
		k2, err := r.KeyAt(ctx, "referral.r2", ref2)
		if err != nil {
			t.Errorf("%s: r2 after r1 was destroyed: %v", name, err)
			continue
		}
		s2 := before.Seal(nil, nonce, []byte("r2"), nil)
		if got, err := k2.Open(nil, nonce, s2, nil); err != nil || string(got) != "r2" {
			t.Errorf("%s: r2's key changed when r1's was destroyed", name)
		}
	}
	// The block's revision that held r1's secret is gone from the stream.
	if _, err := st.GetMsg(ctx, oldEntry.Revision()); err == nil {
		t.Errorf("the block's old revision %d, with the destroyed secret, is still stored", oldEntry.Revision())
	}
	hist, err := old.History(ctx, block)
	if err != nil || len(hist) != 1 {
		t.Errorf("the block has %d revisions (%v), want 1", len(hist), err)
	}
}

// gatedMaster holds each Unwrap of a block until the test lets it go, so
// that a read can be caught between fetching a key and keeping it.
type gatedMaster struct {
	keyring.Master
	reached chan struct{} // an Unwrap of a block has begun
	release chan struct{} // let it finish
}

func (g *gatedMaster) Unwrap(ctx context.Context, id string, wrapped []byte) ([]byte, error) {
	if strings.HasPrefix(id, "block.") && g.reached != nil {
		g.reached <- struct{}{}
		<-g.release
	}
	return g.Master.Unwrap(ctx, id, wrapped)
}

// TestDestroyDuringARead: a process that was reading an aggregate's key
// from the bucket when another process destroyed it does not keep the key
// it read (it read the block before the slot was zeroed): its next read
// is refused, as every later one.
func TestDestroyDuringARead(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	a := open(t, l.JS, master(t, 1))
	g := &gatedMaster{Master: master(t, 1)}
	b := open(t, l.JS, g)
	destroyed := make(chan string, 1)
	b.OnDestroy(func(id string) { destroyed <- id })
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Watch(watchCtx)

	_, ref, err := a.NewKey(ctx, "referral.r1", true)
	if err != nil {
		t.Fatal(err)
	}
	g.reached, g.release = make(chan struct{}), make(chan struct{})
	read := make(chan error, 1)
	go func() {
		_, err := b.KeyAt(ctx, "referral.r1", ref) // fetches the block, then waits
		read <- err
	}()
	<-g.reached
	if err := a.Destroy(ctx, "referral.r1", ref); err != nil {
		t.Fatal(err)
	}
	select {
	case <-destroyed: // b has dropped what it held
	case <-time.After(10 * time.Second):
		t.Fatal("the other process was not told of the destroy")
	}
	g.reached = nil
	close(g.release)
	if err := <-read; err != nil {
		t.Logf("the read begun before the destroy: %v", err)
	}
	if _, err := b.KeyAt(ctx, "referral.r1", ref); !errors.Is(err, events.ErrErased) {
		t.Errorf("a read after the destroy: %v, want ErrErased (the key read before it was kept)", err)
	}
}

// TestDestroyAgainTellsOfItsSlots: a Destroy run again with slots the
// first did not name (an erasure finishing one that stopped, or one that
// writes the tombstone before reading the refs) is announced again, so
// another process drops the slot's key it had read in between.
func TestDestroyAgainTellsOfItsSlots(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	a, b := open(t, l.JS, master(t, 1)), open(t, l.JS, master(t, 1))
	told := make(chan string, 4)
	b.OnDestroy(func(id string) { told <- id })
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Watch(watchCtx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-told:
		case <-time.After(10 * time.Second):
			t.Fatalf("the other process was not told of %s", what)
		}
	}

	_, ref, err := a.NewKey(ctx, "referral.r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Destroy(ctx, "referral.r1"); err != nil { // the tombstone only
		t.Fatal(err)
	}
	wait("the tombstone")
	if _, err := b.KeyAt(ctx, "referral.r1", ref); err != nil {
		t.Fatalf("the slot, not destroyed yet: %v", err)
	}
	if err := a.Destroy(ctx, "referral.r1", ref); err != nil {
		t.Fatal(err)
	}
	wait("the slot")
	if _, err := b.KeyAt(ctx, "referral.r1", ref); !errors.Is(err, events.ErrErased) {
		t.Errorf("the other process, after the slot was destroyed: %v, want ErrErased", err)
	}
}
