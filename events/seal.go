package events

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Keys holds the data keys that seal the personal fields of events, one
// per aggregate, apart from the log (events/keyring keeps them in a
// key-value bucket, wrapped by a master key). Implementations must be safe
// for concurrent use.
type Keys interface {
	// Key returns the AEAD of the data key named id (KeyID of an
	// aggregate), making the key first when there is none and create is
	// set. Errors: ErrErased when the key was destroyed, or when there is
	// none and create is not set; otherwise the storage's error.
	Key(ctx context.Context, id string, create bool) (cipher.AEAD, error)
}

// BlockKeys is Keys that can also hand out data keys made ahead, several
// to one stored block, so that a new aggregate's key costs no write of its
// own: the events it seals name the key (Envelope.key_ref).
// events/keyring.Ring implements it.
type BlockKeys interface {
	Keys
	// NewKey returns the key for sealing a new event of the aggregate
	// whose data key is named id, and its ref: the one this process used
	// for it last, or one not used before. fresh says the aggregate has no
	// events yet; otherwise a destroyed key of id (an erased aggregate) is
	// refused with ErrErased.
	NewKey(ctx context.Context, id string, fresh bool) (aead cipher.AEAD, ref string, err error)
	// KeyAt returns the key named by ref for the aggregate named id.
	// Errors: ErrErased when it was destroyed.
	KeyAt(ctx context.Context, id, ref string) (cipher.AEAD, error)
}

// KeyID names the data key of an aggregate: "referral.<id>".
func KeyID(agg Aggregate) string { return agg.Type + "." + agg.ID }

// Forget drops what the store keeps in memory of the aggregate whose data
// key is named id (KeyID): its opened events and its state. Call it when
// the key is destroyed (keyring.Ring.OnDestroy), so that no personal data
// of an erased aggregate stays readable from memory. Unknown ids are
// ignored.
func (s *Store) Forget(id string) {
	typ, aid, ok := strings.Cut(id, ".")
	if !ok {
		return
	}
	agg := Aggregate{Type: typ, ID: aid}
	s.cache.drop(agg)
	s.snapshots.drop(agg)
}

// Sealing. A field classified CLASSIFICATION_PERSONAL or
// CLASSIFICATION_SPECIAL_CATEGORY in the schema is sealed: before an event
// is appended, every such field set in its payload (at any depth) is moved
// into a message of the payload's type that holds only them, which is
// encrypted with the data key of the event's aggregate into
// Envelope.sealed. The payload in the log keeps the other fields in clear,
// so readers that do not need personal data (read models, counts) never
// decrypt. A list or map of messages that hold sealed fields is sealed
// whole.

// sealedField reports whether the schema classifies fd as sealed.
func sealedField(fd protoreflect.FieldDescriptor) bool {
	c, _ := proto.GetExtension(fd.Options(), pathwayv1.E_Classification).(pathwayv1.Classification)
	return c == pathwayv1.Classification_CLASSIFICATION_PERSONAL || c == pathwayv1.Classification_CLASSIFICATION_SPECIAL_CATEGORY
}

var holdsSealed sync.Map // protoreflect.FullName -> bool

// hasSealed reports whether messages of type md can carry a sealed field.
func hasSealed(md protoreflect.MessageDescriptor) bool {
	if v, ok := holdsSealed.Load(md.FullName()); ok {
		return v.(bool)
	}
	holdsSealed.Store(md.FullName(), false) // a cycle counts as none
	found := false
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if sealedField(fd) {
			found = true
			break
		}
		if m := fd.Message(); m != nil {
			if fd.IsMap() {
				m = fd.MapValue().Message()
			}
			if m != nil && hasSealed(m) {
				found = true
				break
			}
		}
	}
	holdsSealed.Store(md.FullName(), found)
	return found
}

// split moves the sealed fields set in m into a new message of m's type
// and returns it, or nil when m has none set. It changes m.
func split(m protoreflect.Message) protoreflect.Message {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	var out protoreflect.Message
	for _, fd := range fields {
		msg := fd.Message()
		if fd.IsMap() {
			msg = fd.MapValue().Message()
		}
		whole := sealedField(fd) || (fd.IsList() || fd.IsMap()) && msg != nil && hasSealed(msg)
		var part protoreflect.Value
		switch {
		case whole:
			// Kept before the field is cleared: a list or map that Get
			// returns is a view of m's own field, which Clear empties.
			if out == nil {
				out = m.Type().New()
			}
			out.Set(fd, m.Get(fd))
			m.Clear(fd)
			continue
		case msg != nil && hasSealed(msg):
			sub := split(m.Mutable(fd).Message())
			if sub == nil {
				continue
			}
			part = protoreflect.ValueOfMessage(sub)
		default:
			continue
		}
		if out == nil {
			out = m.Type().New()
		}
		out.Set(fd, part)
	}
	return out
}

// CarriesPersonal reports whether payload has a field set that the schema
// classifies as personal or special category (one Store seals): in a log
// written before sealing, such fields are in clear.
func CarriesPersonal(payload proto.Message) bool {
	if payload == nil || !hasSealed(payload.ProtoReflect().Descriptor()) {
		return false
	}
	return split(proto.Clone(payload).ProtoReflect()) != nil
}

// sealAAD binds a sealed part to its event.
func sealAAD(subject, eventID string) []byte { return []byte(subject + "\x00" + eventID) }

// seal returns the payload to store in clear, its sealed part and the ref
// of the key that sealed it for an event of agg with id eventID: the
// payload itself and nil when it has no sealed field set. fresh says agg
// has no events yet. payload is not changed.
func (s *Store) seal(ctx context.Context, agg Aggregate, fresh bool, eventID string, payload proto.Message) (proto.Message, []byte, string, error) {
	if s.clear || !hasSealed(payload.ProtoReflect().Descriptor()) {
		return payload, nil, "", nil
	}
	clear := proto.Clone(payload)
	part := split(clear.ProtoReflect())
	if part == nil {
		return payload, nil, "", nil
	}
	if s.keys == nil {
		return nil, nil, "", invalidf("%s carries personal data and the store has no data keys to seal it", TypeOf(payload))
	}
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(part.Interface())
	if err != nil {
		return nil, nil, "", err
	}
	var aead cipher.AEAD
	var ref string
	if bk, ok := s.keys.(BlockKeys); ok {
		aead, ref, err = bk.NewKey(ctx, KeyID(agg), fresh)
	} else {
		aead, err = s.keys.Key(ctx, KeyID(agg), true)
	}
	if err != nil {
		if s.noteFull(err) || transient(err) {
			// The key store could not take a new key now (out of
			// storage, an election): as unavailable as the log.
			err = fmt.Errorf("%w (%w)", ErrUnavailable, err)
		}
		return nil, nil, "", fmt.Errorf("data key: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, "", err
	}
	return clear, aead.Seal(nonce, nonce, plain, sealAAD(agg.Subject(), eventID)), ref, nil
}

// KeyRefs returns the refs of the data keys that sealed the events of agg
// (Envelope.key_ref; keys stored under the aggregate's own name have
// none), for an erasure to destroy them all.
func (s *Store) KeyRefs(ctx context.Context, agg Aggregate) ([]string, error) {
	recs, _, err := s.load(ctx, agg)
	if err != nil {
		return nil, fmt.Errorf("key refs of %s: %w", agg, err)
	}
	var refs []string
	for _, rec := range recs {
		if ref := rec.Envelope.GetKeyRef(); ref != "" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// open puts the sealed fields of rec back into its payload, which must be
// rec's own (fresh from Decode). When the data
// key was destroyed it marks the record Erased and leaves the payload with
// its clear fields only. Records with nothing sealed are left as they are.
func (s *Store) open(ctx context.Context, rec *Record) error {
	sealed := rec.Envelope.GetSealed()
	if len(sealed) == 0 || rec.Payload == nil {
		return nil
	}
	if s.keys == nil {
		return fmt.Errorf("open %s at %d: %w: the store has no data keys", rec.Aggregate, rec.Sequence, ErrInvalid)
	}
	var aead cipher.AEAD
	var err error
	if ref := rec.Envelope.GetKeyRef(); ref != "" {
		bk, ok := s.keys.(BlockKeys)
		if !ok {
			return fmt.Errorf("open %s at %d: %w: the store's data keys keep no blocks", rec.Aggregate, rec.Sequence, ErrInvalid)
		}
		aead, err = bk.KeyAt(ctx, KeyID(rec.Aggregate), ref)
	} else {
		aead, err = s.keys.Key(ctx, KeyID(rec.Aggregate), false)
	}
	if errors.Is(err, ErrErased) {
		rec.Erased = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s at %d: data key: %w", rec.Aggregate, rec.Sequence, err)
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return &DecodeError{Sequence: rec.Sequence, Subject: rec.Aggregate.Subject(), Err: fmt.Errorf("%w: sealed part too short", ErrCorrupt)}
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], sealAAD(rec.Aggregate.Subject(), rec.Envelope.GetEventId()))
	if err != nil {
		return &DecodeError{Sequence: rec.Sequence, Subject: rec.Aggregate.Subject(), Err: fmt.Errorf("%w: sealed part does not open with the aggregate's key", ErrCorrupt)}
	}
	// The sealed part holds only fields cleared from the payload: merge
	// it in as it is decoded. rec is fresh from Decode, shared with no one.
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(plain, rec.Payload); err != nil {
		return &DecodeError{Sequence: rec.Sequence, Subject: rec.Aggregate.Subject(), Err: fmt.Errorf("%w: sealed part: %v", ErrCorrupt, err)}
	}
	return nil
}

// decode decodes a message of the log and, when open is set, opens its
// sealed fields.
func (s *Store) decode(ctx context.Context, seq uint64, subject, headerType string, data []byte, open bool) (Record, error) {
	rec, err := Decode(seq, subject, headerType, data)
	if err != nil || !open {
		return rec, err
	}
	if err := s.open(ctx, &rec); err != nil {
		return Record{Sequence: seq}, err
	}
	return rec, nil
}
