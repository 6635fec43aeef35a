package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FormBucket is the JetStream key-value bucket that remembers the sign-in
// forms already used, so that each is used once however many pathway
// processes serve the dashboard.
const FormBucket = "PATHWAY_SIGNIN_FORMS"

// formTTL is how long a sign-in form can be used; the bucket keeps a used
// form's id a little longer.
const formTTL = time.Hour

// ErrFormUsed reports a sign-in form that was used before.
var ErrFormUsed = errors.New("dashboard: this sign-in form was already used")

// Forms records which sign-in forms were used. *UsedForms implements it.
type Forms interface {
	// Use marks the form id used; ErrFormUsed when it already was.
	Use(ctx context.Context, id string) error
}

// UsedForms is Forms on FormBucket: an id is a key created once (a second
// create fails), and the bucket forgets it after two hours, when its form
// has long expired. The bucket is opened (and created when missing) at the
// first Use, not at start, so that a busy JetStream at start-up delays no
// service; a failed open is tried again at the next Use. It is safe for
// concurrent use.
type UsedForms struct {
	js       jetstream.JetStream
	replicas int

	mu sync.Mutex
	kv jetstream.KeyValue
}

var _ Forms = (*UsedForms)(nil)

// NewUsedForms returns the used-forms ledger on FormBucket of js, with
// replicas replicas when it creates the bucket.
func NewUsedForms(js jetstream.JetStream, replicas int) *UsedForms {
	return &UsedForms{js: js, replicas: max(replicas, 1)}
}

// bucket opens FormBucket once, creating it when missing.
func (u *UsedForms) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.kv != nil {
		return u.kv, nil
	}
	kv, err := u.js.KeyValue(ctx, FormBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = u.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      FormBucket,
			Description: "pathway dashboard: sign-in forms already used",
			History:     1,
			TTL:         2 * formTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    u.replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", FormBucket, err)
	}
	u.kv = kv
	return kv, nil
}

// Use marks id used. Errors: ErrFormUsed, or the bucket's error.
func (u *UsedForms) Use(ctx context.Context, id string) error {
	kv, err := u.bucket(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Create(ctx, "form."+id, nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrFormUsed
	}
	if err != nil {
		return fmt.Errorf("record a used sign-in form: %w", err)
	}
	return nil
}
