package keys_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestSecretsAreWrappedAtRest: a secret is stored wrapped by the master
// key, so the bucket's files do not give it away; one an older version
// stored in clear is wrapped in place; another master key cannot read it.
func TestSecretsAreWrappedAtRest(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	master := eventstest.Master()
	secret, err := keys.Secret(ctx, l.JS, "PATHWAY_TEST_SECRETS", "signing", "test", 32, 1, master)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := l.JS.KeyValue(ctx, "PATHWAY_TEST_SECRETS")
	stored, _ := kv.Get(ctx, "signing")
	if bytes.Contains(stored.Value(), secret) {
		t.Fatal("the secret is stored in clear")
	}
	again, err := keys.Secret(ctx, l.JS, "PATHWAY_TEST_SECRETS", "signing", "test", 32, 1, master)
	if err != nil || !bytes.Equal(again, secret) {
		t.Fatalf("read again: %v; want the same secret", err)
	}
	other, _ := keyring.NewLocal(bytes.Repeat([]byte{9}, 32))
	if _, err := keys.Secret(ctx, l.JS, "PATHWAY_TEST_SECRETS", "signing", "test", 32, 1, other); err == nil {
		t.Error("another master key read the secret")
	}

	// A secret an older pathway stored in clear.
	legacy := bytes.Repeat([]byte{0x42}, 32)
	if _, err := kv.Create(ctx, "legacy", legacy); err != nil {
		t.Fatal(err)
	}
	got, err := keys.Secret(ctx, l.JS, "PATHWAY_TEST_SECRETS", "legacy", "test", 32, 1, master)
	if err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("legacy secret: %v; want it as it was", err)
	}
	if e, _ := kv.Get(ctx, "legacy"); bytes.Contains(e.Value(), legacy) {
		t.Error("the legacy secret is still in clear")
	}
}
