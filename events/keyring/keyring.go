// Package keyring keeps the data keys that seal the personal fields of
// events (events.Keys): one AES-256 key per aggregate, in a JetStream
// key-value bucket apart from the event stream, each wrapped by a master
// key that JetStream never holds (a file or the environment, see Local; a
// cloud KMS can stand in through Master).
//
// Destroying a key (erasure) overwrites its stored form where it lies on
// disk and leaves a tombstone, so that the key is never made again and
// every reader, in this process or another, finds the aggregate erased.
package keyring

import (
	"container/list"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
)

// Bucket is the key-value bucket that holds the wrapped data keys.
const Bucket = "PATHWAY_KEYS"

// DefaultCacheKeys is how many unwrapped data keys a Ring keeps in memory.
const DefaultCacheKeys = 100_000

// erasedPrefix names the entries that announce a destroyed key to the
// processes that watch (Watch): erased.<id>. Watching only these, a
// process is not sent every key made.
const erasedPrefix = "erased."

// Stored forms of a bucket entry: a version byte, then the wrapped key; or
// the tombstone of a destroyed key.
const (
	formWrapped   byte = 1
	formTombstone byte = 0
)

// Master wraps and unwraps data keys. Local implements it with a key held
// by pathway; a cloud KMS (AWS KMS, Azure Key Vault, GCP KMS) can
// implement it with its encrypt and decrypt calls. Implementations must be
// safe for concurrent use; id is the data key's name, to bind the
// wrapping to it.
type Master interface {
	Wrap(ctx context.Context, id string, key []byte) ([]byte, error)
	Unwrap(ctx context.Context, id string, wrapped []byte) ([]byte, error)
}

// Ring is the data keys of one pathway log. Create it with Open. It is safe
// for concurrent use.
type Ring struct {
	kv     jetstream.KeyValue
	js     jetstream.JetStream
	master Master

	mu        sync.Mutex
	max       int
	lru       *list.List // of *entry, most recent first
	byID      map[string]*list.Element
	onDestroy map[int]func(id string)
	hooks     int               // the number of the next OnDestroy hook
	blocks    map[string]*block // unwrapped blocks, by id
	// gen counts the keys destroyed: a key or block read before a destroy
	// is not kept after it (it may be the destroyed one).
	gen uint64

	slotMu sync.Mutex
	cur    *block // the block this Ring hands out slots from
	next   int    // its next unused slot
}

type entry struct {
	id   string
	aead cipher.AEAD
	ref  string // the key's slot (see NewKey); "" for a key of its own
}

var _ events.BlockKeys = (*Ring)(nil)

// Options configure a Ring. The zero value of each field picks its default.
type Options struct {
	// Replicas of the bucket; default 1. Use the stream's replicas.
	Replicas int
	// CacheKeys bounds the unwrapped keys kept in memory; default
	// DefaultCacheKeys.
	CacheKeys int
}

// Open opens the data keys of the log on js, creating their bucket when
// there is none, wrapped by master.
func Open(ctx context.Context, js jetstream.JetStream, master Master, opts Options) (*Ring, error) {
	if master == nil {
		return nil, errors.New("keyring: no master key")
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.CacheKeys <= 0 {
		opts.CacheKeys = DefaultCacheKeys
	}
	// The bucket's stream as a key-value bucket has it, but allowing
	// message deletes (which key-value buckets deny): Destroy overwrites a
	// key with a secure delete.
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              "KV_" + Bucket,
		Description:       "pathway data keys, wrapped by the master key: destroying one erases the personal data it sealed",
		Subjects:          []string{"$KV." + Bucket + ".>"},
		MaxMsgsPerSubject: history,
		MaxBytes:          -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Discard:           jetstream.DiscardNew,
		Storage:           jetstream.FileStorage,
		Replicas:          opts.Replicas,
		AllowRollup:       true,
		AllowDirect:       true,
		Duplicates:        2 * time.Minute,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		err = keepHistory(ctx, js)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: bucket %s: %w", Bucket, err)
	}
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("keyring: bucket %s: %w", Bucket, err)
	}
	return &Ring{kv: kv, js: js, master: master, max: opts.CacheKeys, lru: list.New(), byID: map[string]*list.Element{}, blocks: map[string]*block{}}, nil
}

// history is the revisions the bucket keeps of a key: two, so that the
// revision a block replaces is still there to be securely deleted.
const history = 2

// keepHistory raises the history of a bucket made when it kept one
// revision a key.
func keepHistory(ctx context.Context, js jetstream.JetStream) error {
	st, err := js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		return err
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxMsgsPerSubject >= history {
		return nil
	}
	cfg.MaxMsgsPerSubject = history
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// Key returns the AEAD (AES-256-GCM) of the data key named id, making and
// storing a new key first when there is none and create is set. Errors:
// events.ErrErased when the key was destroyed, or when there is none and
// create is not set; otherwise the bucket's or the master's error.
func (r *Ring) Key(ctx context.Context, id string, create bool) (cipher.AEAD, error) {
	if a := r.cached(id); a != nil {
		return a, nil
	}
	gen := r.generation()
	for attempt := 0; attempt < 5; attempt++ {
		if create && attempt == 0 {
			// A key is made for a new aggregate, which has none: try
			// that first, one round trip instead of two.
			a, err := r.make(ctx, id, gen)
			if err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
				return a, err
			}
		}
		e, err := r.kv.Get(ctx, id)
		switch {
		case err == nil:
			a, err := r.unwrap(ctx, id, e.Value())
			if err != nil {
				return nil, err
			}
			r.remember(id, a, gen)
			return a, nil
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, fmt.Errorf("keyring: get %s: %w", id, err)
		case !create:
			return nil, fmt.Errorf("keyring: %s: %w", id, events.ErrErased)
		}
		a, err := r.make(ctx, id, gen)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // made by another writer at the same time: use theirs
		}
		return a, err
	}
	return nil, fmt.Errorf("keyring: %s: %w: the key kept changing", id, events.ErrConcurrency)
}

// make makes and stores a new data key named id, and keeps it unless a
// key was destroyed since gen. Errors: jetstream.ErrKeyExists when there
// is one (or its tombstone).
func (r *Ring) make(ctx context.Context, id string, gen uint64) (cipher.AEAD, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	wrapped, err := r.master.Wrap(ctx, id, key)
	if err != nil {
		return nil, fmt.Errorf("keyring: wrap %s: %w", id, err)
	}
	if _, err := r.kv.Create(ctx, id, append([]byte{formWrapped}, wrapped...)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, err
		}
		return nil, fmt.Errorf("keyring: store %s: %w", id, err)
	}
	a, err := gcm(key)
	if err != nil {
		return nil, err
	}
	r.remember(id, a, gen)
	return a, nil
}

func (r *Ring) unwrap(ctx context.Context, id string, v []byte) (cipher.AEAD, error) {
	if len(v) == 0 || v[0] == formTombstone {
		return nil, fmt.Errorf("keyring: %s: %w", id, events.ErrErased)
	}
	if v[0] != formWrapped {
		return nil, fmt.Errorf("keyring: %s: unknown stored form %d", id, v[0])
	}
	key, err := r.master.Unwrap(ctx, id, v[1:])
	if err != nil {
		return nil, fmt.Errorf("keyring: unwrap %s (is this the master key the log was written with?): %w", id, err)
	}
	return gcm(key)
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Destroy destroys the data key named id, for good, and the slots named
// by refs (the key refs of the aggregate's events, events.Store.KeyRefs):
// it overwrites the stored key and the slots' secrets on disk (secure
// deletes in the bucket's stream), then leaves a tombstone, so Key and
// NewKey answer events.ErrErased from then on, here and in every process
// that runs Watch. Destroying a destroyed key, or one never made, leaves
// (or makes) the tombstone and succeeds.
func (r *Ring) Destroy(ctx context.Context, id string, refs ...string) error {
	stream, err := r.js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		return fmt.Errorf("keyring: destroy %s: %w", id, err)
	}
	slots, err := r.destroySlots(ctx, stream, id, refs)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 10; attempt++ {
		r.evict(id)
		e, err := r.kv.Get(ctx, id)
		switch {
		case err == nil && len(e.Value()) > 0 && e.Value()[0] == formTombstone:
			// Destroyed before, perhaps not announced (a crash between),
			// perhaps with slots this call destroyed.
			if err := r.announce(ctx, id, slots); err != nil {
				return err
			}
			r.destroyed(id)
			return nil
		case err == nil:
			if err := stream.SecureDeleteMsg(ctx, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("keyring: destroy %s: %w", id, err)
			}
			if err := r.shredOlder(ctx, stream, id); err != nil {
				return fmt.Errorf("keyring: destroy %s: %w", id, err)
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return fmt.Errorf("keyring: destroy %s: %w", id, err)
		}
		if _, err := r.kv.Create(ctx, id, []byte{formTombstone}); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // a key was made in between: destroy that too
			}
			return fmt.Errorf("keyring: destroy %s: tombstone: %w", id, err)
		}
		// Tell the other processes (Watch follows only these).
		if err := r.announce(ctx, id, slots); err != nil {
			return err
		}
		r.destroyed(id)
		return nil
	}
	return fmt.Errorf("keyring: destroy %s: %w: the key kept being made again", id, events.ErrConcurrency)
}

// announce tells the processes that watch that the key named id is
// destroyed: once, unless slots says this call destroyed slots of it, which
// they must drop even when an announcement was made before.
func (r *Ring) announce(ctx context.Context, id string, slots bool) error {
	var err error
	if slots {
		_, err = r.kv.Put(ctx, erasedPrefix+id, nil)
	} else if _, err = r.kv.Create(ctx, erasedPrefix+id, nil); errors.Is(err, jetstream.ErrKeyExists) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("keyring: destroy %s: announce: %w", id, err)
	}
	return nil
}

// Preload reads every data key of the bucket in one pass (up to the
// cache's bound), so that a reader about to open the events of many
// aggregates (a rebuild) looks up none of them one by one. It returns how
// many it loaded.
func (r *Ring) Preload(ctx context.Context) (int, error) {
	gen := r.generation()
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("keyring: preload: %w", err)
	}
	defer w.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return n, nil // all current entries seen
			}
			v := e.Value()
			if bid, ok := strings.CutPrefix(e.Key(), blockPrefix); ok {
				r.mu.Lock()
				full := len(r.blocks) >= maxBlocks
				r.mu.Unlock()
				if full {
					continue // the rest are read when needed, not kept to be dropped
				}
				b, err := r.unwrapBlock(ctx, bid, v)
				if err != nil {
					return n, err
				}
				r.keepBlock(b, gen)
				continue
			}
			if strings.HasPrefix(e.Key(), erasedPrefix) || len(v) == 0 || v[0] != formWrapped {
				continue
			}
			if n >= r.max {
				continue
			}
			a, err := r.unwrap(ctx, e.Key(), v)
			if err != nil {
				return n, err
			}
			r.remember(e.Key(), a, gen)
			n++
		}
	}
}

// OnDestroy registers f to be called with the id of every key destroyed,
// by this Ring or (while Watch runs) by another process: a cache of opened
// records drops what it holds of the aggregate. The function it returns
// unregisters f (for a store that is given up, say after a failed start).
func (r *Ring) OnDestroy(f func(id string)) (remove func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.onDestroy == nil {
		r.onDestroy = map[int]func(string){}
	}
	n := r.hooks
	r.hooks++
	r.onDestroy[n] = f
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.onDestroy, n)
	}
}

func (r *Ring) destroyed(id string) {
	// One locked step: a read that saw the new generation must not find
	// the key or a block that still holds its slot.
	r.mu.Lock()
	r.gen++
	if el, ok := r.byID[id]; ok {
		r.lru.Remove(el)
		delete(r.byID, id)
	}
	// The slot may be in a block kept here: read them again when needed.
	clear(r.blocks)
	hooks := make([]func(string), 0, len(r.onDestroy))
	for _, f := range r.onDestroy {
		hooks = append(hooks, f)
	}
	r.mu.Unlock()
	for _, f := range hooks {
		f(id)
	}
}

// Watch follows the bucket until ctx ends, so that keys another process
// destroys are dropped from this Ring's cache (and OnDestroy hooks run)
// within moments. It returns nil when ctx ends.
func (r *Ring) Watch(ctx context.Context) error {
	w, err := r.kv.Watch(ctx, erasedPrefix+">", jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("keyring: watch: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("keyring: watch ended")
			}
			if e == nil {
				continue
			}
			r.destroyed(strings.TrimPrefix(e.Key(), erasedPrefix))
		}
	}
}

// cached returns the key of its own named id, when in memory.
func (r *Ring) cached(id string) cipher.AEAD {
	if e := r.cachedEntry(id); e != nil && e.ref == "" {
		return e.aead
	}
	return nil
}

// cachedEntry returns the key in memory for id, of its own or a slot's.
func (r *Ring) cachedEntry(id string) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byID[id]; ok {
		r.lru.MoveToFront(el)
		return el.Value.(*entry)
	}
	return nil
}

// generation returns the count of keys destroyed so far, to give
// remember, rememberRef and keepBlock with what is read after it.
func (r *Ring) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

func (r *Ring) remember(id string, a cipher.AEAD, gen uint64) { r.rememberRef(id, a, "", gen) }

// rememberRef keeps the key of id (at ref, "" for a key of its own) in
// memory, in place of any other kept for id, unless a key was destroyed
// since gen (this one may be it).
func (r *Ring) rememberRef(id string, a cipher.AEAD, ref string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if el, ok := r.byID[id]; ok {
		r.lru.MoveToFront(el)
		el.Value = &entry{id: id, aead: a, ref: ref} // entries are read unlocked: never changed
		return
	}
	r.byID[id] = r.lru.PushFront(&entry{id: id, aead: a, ref: ref})
	for r.lru.Len() > r.max {
		el := r.lru.Back()
		r.lru.Remove(el)
		delete(r.byID, el.Value.(*entry).id)
	}
}

func (r *Ring) evict(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byID[id]; ok {
		r.lru.Remove(el)
		delete(r.byID, id)
	}
}
