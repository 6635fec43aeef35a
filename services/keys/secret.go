package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Wrapper encrypts secrets at rest with a key held apart from JetStream:
// the master key (keyring.Local, or a KMS behind keyring.Master).
type Wrapper interface {
	Wrap(ctx context.Context, id string, secret []byte) ([]byte, error)
	Unwrap(ctx context.Context, id string, wrapped []byte) ([]byte, error)
}

// wrappedPrefix marks a secret stored wrapped; a value without it is a
// secret an older pathway stored in clear, which Secret wraps in place.
const wrappedPrefix = "pathway-wrapped-1:"

// WrapStored wraps v under id by w for storing: the stored form that
// UnwrapStored reads.
func WrapStored(ctx context.Context, w Wrapper, id string, v []byte) ([]byte, error) {
	wrapped, err := w.Wrap(ctx, id, v)
	if err != nil {
		return nil, fmt.Errorf("wrap %s: %w", id, err)
	}
	return append([]byte(wrappedPrefix), wrapped...), nil
}

// UnwrapStored reads a value stored by WrapStored under id; a value
// without its prefix was stored in clear by an older version and comes
// back as it is, with inClear set.
func UnwrapStored(ctx context.Context, w Wrapper, id string, stored []byte) (v []byte, inClear bool, err error) {
	wrapped, ok := bytes.CutPrefix(stored, []byte(wrappedPrefix))
	if !ok {
		return stored, true, nil
	}
	v, err = w.Unwrap(ctx, id, wrapped)
	if err != nil {
		return nil, false, fmt.Errorf("unwrap %s (is this the master key it was stored with?): %w", id, err)
	}
	return v, false, nil
}

// Secret returns the random secret stored under name in the key-value
// bucket, creating the bucket and a secret of size bytes when missing, so
// that every pathway process on one log uses the same one. Processes that
// race to create it all end with the one that won. The secret is stored
// wrapped by wrap, so that the bucket's files alone do not give it away;
// a secret found in clear (stored by an older version) is wrapped in
// place. Errors name the bucket and the secret, never its value.
func Secret(ctx context.Context, js jetstream.JetStream, bucket, name, description string, size, replicas int, wrap Wrapper) ([]byte, error) {
	if wrap == nil {
		return nil, fmt.Errorf("secret %s: no master key to wrap it", name)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: description,
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	id := bucket + "/" + name
	for range 3 {
		e, err := kv.Get(ctx, name)
		if err == nil {
			secret, inClear, err := UnwrapStored(ctx, wrap, id, e.Value())
			if err != nil || !inClear {
				return secret, err
			}
			// Stored in clear by an older version: wrap it in place.
			w, err := WrapStored(ctx, wrap, id, secret)
			if err != nil {
				return nil, err
			}
			if _, err := kv.Update(ctx, name, w, e.Revision()); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return nil, fmt.Errorf("store %s wrapped: %w", id, err)
			}
			continue // read it back as every other process will
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		secret := make([]byte, size)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		w, err := WrapStored(ctx, wrap, id, secret)
		if err != nil {
			return nil, err
		}
		if _, err := kv.Create(ctx, name, w); err == nil {
			return secret, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("store %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("store %s: too many concurrent creators", name)
}
