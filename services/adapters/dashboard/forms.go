package dashboard

import (
	"context"
	"errors"
	"fmt"
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
// has long expired. It is safe for concurrent use.
type UsedForms struct {
	kv jetstream.KeyValue
}

var _ Forms = (*UsedForms)(nil)

// OpenForms opens FormBucket, creating it when missing.
func OpenForms(ctx context.Context, js jetstream.JetStream, replicas int) (*UsedForms, error) {
	kv, err := js.KeyValue(ctx, FormBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      FormBucket,
			Description: "pathway dashboard: sign-in forms already used",
			History:     1,
			TTL:         2 * formTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", FormBucket, err)
	}
	return &UsedForms{kv: kv}, nil
}

// Use marks id used. Errors: ErrFormUsed, or the bucket's error.
func (u *UsedForms) Use(ctx context.Context, id string) error {
	_, err := u.kv.Create(ctx, "form."+id, nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrFormUsed
	}
	if err != nil {
		return fmt.Errorf("record a used sign-in form: %w", err)
	}
	return nil
}
