package keyring

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
)

// Blocks. Making a data key for every new aggregate would cost a stored,
// fsynced write each, as much as the event itself. So a Ring makes keys
// ahead, SlotsPerBlock at a time, in one bucket entry (block.<uuid>: the
// slots' secrets, wrapped whole by the master key), and hands out one slot
// to each new aggregate; the events the slot's key seals name it
// (Envelope.key_ref, "<block uuid>/<slot>"). The key of a slot is derived
// from its secret and the aggregate's key name, so a slot opens only its
// own aggregate's events.
//
// Destroying a slot (erasure) rewrites its block with the slot's secret
// zeroed, then securely deletes every older revision of the block (the
// bucket keeps two revisions a key, so the old one is still there to be
// overwritten), and leaves the aggregate's tombstone as for a key of its
// own. A slot is never handed out twice: a process starts a new block
// when it starts, and the slots it did not use stay unused.

// SlotsPerBlock is how many data keys one stored block holds.
const SlotsPerBlock = 256

// blockPrefix names the bucket entries that hold blocks.
const blockPrefix = "block."

// formBlock is the stored form of a block: the version byte, then the
// wrapped secrets (SlotsPerBlock × 32 bytes).
const formBlock byte = 2

// secretSize is the size of one slot's secret.
const secretSize = 32

// maxBlocks bounds the unwrapped blocks a Ring keeps in memory.
const maxBlocks = 1024

// block is a block's secrets, unwrapped.
type block struct {
	id      string
	secrets []byte // SlotsPerBlock × secretSize; a destroyed slot is zeros
}

func (b *block) secret(slot int) []byte {
	return b.secrets[slot*secretSize : (slot+1)*secretSize]
}

// slotKey derives the data key of the aggregate named id from a slot's
// secret.
func slotKey(secret []byte, id string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pathway data key\x00" + id))
	return gcm(m.Sum(nil))
}

// parseRef splits a key ref into its block id and slot.
func parseRef(ref string) (string, int, error) {
	bid, s, ok := strings.Cut(ref, "/")
	slot, err := strconv.Atoi(s)
	if !ok || err != nil || slot < 0 || slot >= SlotsPerBlock || uuid.Validate(bid) != nil {
		return "", 0, fmt.Errorf("keyring: %q is not a key ref", ref)
	}
	return bid, slot, nil
}

// NewKey returns the data key for sealing a new event of the aggregate
// named id, and its ref: the key this Ring used for id last while it is
// cached, otherwise the next unused slot of the Ring's block (making and
// storing a new block when it has none left). Unless fresh (the aggregate
// has no events yet), a destroyed key of id is refused with
// events.ErrErased.
func (r *Ring) NewKey(ctx context.Context, id string, fresh bool) (cipher.AEAD, string, error) {
	if e := r.cachedEntry(id); e != nil && e.ref != "" {
		return e.aead, e.ref, nil
	}
	gen := r.generation()
	if !fresh {
		if err := r.refuseErased(ctx, id); err != nil {
			return nil, "", err
		}
	}
	b, slot, err := r.nextSlot(ctx)
	if err != nil {
		return nil, "", err
	}
	a, err := slotKey(b.secret(slot), id)
	if err != nil {
		return nil, "", err
	}
	ref := b.id + "/" + strconv.Itoa(slot)
	r.rememberRef(id, a, ref, gen)
	return a, ref, nil
}

// refuseErased answers events.ErrErased when id has a tombstone.
func (r *Ring) refuseErased(ctx context.Context, id string) error {
	e, err := r.kv.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("keyring: get %s: %w", id, err)
	case len(e.Value()) == 0 || e.Value()[0] == formTombstone:
		return fmt.Errorf("keyring: %s: %w", id, events.ErrErased)
	}
	return nil
}

// nextSlot takes the next unused slot, making a block when needed.
func (r *Ring) nextSlot(ctx context.Context) (*block, int, error) {
	r.slotMu.Lock()
	defer r.slotMu.Unlock()
	if r.cur == nil || r.next == SlotsPerBlock {
		b, err := r.makeBlock(ctx)
		if err != nil {
			return nil, 0, err
		}
		r.cur, r.next = b, 0
	}
	slot := r.next
	r.next++
	return r.cur, slot, nil
}

// makeBlock makes and stores a new block.
func (r *Ring) makeBlock(ctx context.Context) (*block, error) {
	b := &block{id: uuid.NewString(), secrets: make([]byte, SlotsPerBlock*secretSize)}
	if _, err := rand.Read(b.secrets); err != nil {
		return nil, err
	}
	name := blockPrefix + b.id
	wrapped, err := r.master.Wrap(ctx, name, b.secrets)
	if err != nil {
		return nil, fmt.Errorf("keyring: wrap %s: %w", name, err)
	}
	if _, err := r.kv.Create(ctx, name, append([]byte{formBlock}, wrapped...)); err != nil {
		return nil, fmt.Errorf("keyring: store %s: %w", name, err)
	}
	r.keepBlock(b, r.generation())
	return b, nil
}

// KeyAt returns the data key of the aggregate named id kept at ref.
// Errors: events.ErrErased when the slot was destroyed.
func (r *Ring) KeyAt(ctx context.Context, id, ref string) (cipher.AEAD, error) {
	if e := r.cachedEntry(id); e != nil && e.ref == ref {
		return e.aead, nil
	}
	gen := r.generation()
	bid, slot, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	b, err := r.blockOf(ctx, bid, gen)
	if err != nil {
		return nil, err
	}
	secret := b.secret(slot)
	if isZero(secret) {
		return nil, fmt.Errorf("keyring: %s at %s: %w", id, ref, events.ErrErased)
	}
	a, err := slotKey(secret, id)
	if err != nil {
		return nil, err
	}
	r.rememberRef(id, a, ref, gen)
	return a, nil
}

// blockOf returns the block named bid, from memory or the bucket (kept
// unless a key was destroyed since gen).
func (r *Ring) blockOf(ctx context.Context, bid string, gen uint64) (*block, error) {
	r.mu.Lock()
	b := r.blocks[bid]
	r.mu.Unlock()
	if b != nil {
		return b, nil
	}
	name := blockPrefix + bid
	e, err := r.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("keyring: no block %s (is this the key bucket the log was written with?): %w", bid, events.ErrErased)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: get %s: %w", name, err)
	}
	b, err = r.unwrapBlock(ctx, bid, e.Value())
	if err != nil {
		return nil, err
	}
	r.keepBlock(b, gen)
	return b, nil
}

func (r *Ring) unwrapBlock(ctx context.Context, bid string, v []byte) (*block, error) {
	name := blockPrefix + bid
	if len(v) == 0 || v[0] != formBlock {
		return nil, fmt.Errorf("keyring: %s: not a block", name)
	}
	secrets, err := r.master.Unwrap(ctx, name, v[1:])
	if err != nil {
		return nil, fmt.Errorf("keyring: unwrap %s (is this the master key the log was written with?): %w", name, err)
	}
	if len(secrets) != SlotsPerBlock*secretSize {
		return nil, fmt.Errorf("keyring: %s: %d bytes of secrets, want %d", name, len(secrets), SlotsPerBlock*secretSize)
	}
	return &block{id: bid, secrets: secrets}, nil
}

// keepBlock keeps b in memory, dropping the others when there are too
// many, unless a key was destroyed since gen (b may be an older revision
// that still holds its slot).
func (r *Ring) keepBlock(b *block, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if len(r.blocks) >= maxBlocks {
		clear(r.blocks)
	}
	r.blocks[b.id] = b
}

// destroySlots zeroes the slots named by refs, each in a new revision of
// its block, and securely deletes every older revision of those blocks.
func (r *Ring) destroySlots(ctx context.Context, stream jetstream.Stream, id string, refs []string) (changed bool, err error) {
	for _, ref := range refs {
		bid, slot, err := parseRef(ref)
		if err != nil {
			return changed, err
		}
		name := blockPrefix + bid
		for attempt := 0; ; attempt++ {
			if attempt == 10 {
				return changed, fmt.Errorf("keyring: destroy %s at %s: %w: the block kept changing", id, ref, events.ErrConcurrency)
			}
			e, err := r.kv.Get(ctx, name)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				break // never stored: nothing to destroy
			}
			if err != nil {
				return changed, fmt.Errorf("keyring: destroy %s at %s: %w", id, ref, err)
			}
			b, err := r.unwrapBlock(ctx, bid, e.Value())
			if err != nil {
				return changed, err
			}
			if isZero(b.secret(slot)) {
				break
			}
			clear(b.secret(slot))
			wrapped, err := r.master.Wrap(ctx, name, b.secrets)
			if err != nil {
				return changed, fmt.Errorf("keyring: wrap %s: %w", name, err)
			}
			if _, err := r.kv.Update(ctx, name, append([]byte{formBlock}, wrapped...), e.Revision()); err != nil {
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					continue // another destroy rewrote the block: again
				}
				return changed, fmt.Errorf("keyring: destroy %s at %s: %w", id, ref, err)
			}
			changed = true
			break
		}
		if err := r.shredOlder(ctx, stream, name); err != nil {
			return changed, fmt.Errorf("keyring: destroy %s at %s: %w", id, ref, err)
		}
	}
	return changed, nil
}

// shredOlder securely deletes every revision of the entry name but the
// newest.
func (r *Ring) shredOlder(ctx context.Context, stream jetstream.Stream, name string) error {
	hist, err := r.kv.History(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range hist[:max(len(hist)-1, 0)] {
		if err := stream.SecureDeleteMsg(ctx, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
