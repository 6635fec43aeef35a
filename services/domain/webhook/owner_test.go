package webhook_test

import (
	"testing"

	"github.com/pathway-sp/pathway/services/domain/webhook"
)

// TestOwnerKeysNeverCollide: a partner's key is its id, as before there
// were other owners; a referring organisation with the same code has
// another key and another aggregate, and each aggregate names its owner.
func TestOwnerKeysNeverCollide(t *testing.T) {
	p, r := webhook.Partner("A81001"), webhook.Referrer("A81001")
	if p.Key() != "A81001" || r.Key() != "@referrer:A81001" || (webhook.Owner{Kind: "ops"}).Key() != "@ops" {
		t.Fatalf("keys %q, %q", p.Key(), r.Key())
	}
	if p.AggregateType() == r.AggregateType() {
		t.Fatalf("a partner's and a referrer's endpoints share the aggregate type %q", p.AggregateType())
	}
	for _, o := range []webhook.Owner{p, r} {
		if got, ok := webhook.OwnerOf(o.AggregateType(), o.ID); !ok || got != o {
			t.Errorf("OwnerOf(%q, %q) = %v, %v, want %v", o.AggregateType(), o.ID, got, ok, o)
		}
	}
	if _, ok := webhook.OwnerOf("referral", "x"); ok {
		t.Error("a referral is nobody's endpoints")
	}
}
