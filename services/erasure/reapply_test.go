package erasure_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/erasure"
)

// TestReapplyDestroysEveryErasedKey: an erasure in the log whose keys
// were left (an erasure interrupted before its keys, or a backup of the
// keys taken in between) loses them to Reapply, with its handoffs'; a
// referral never erased keeps its key; a second run finds them gone and
// succeeds.
func TestReapplyDestroysEveryErasedKey(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := t.Context()
	erased, kept, h := uuid.NewString(), uuid.NewString(), uuid.NewString()
	ids := []string{
		events.KeyID(events.Aggregate{Type: referral.AggregateType, ID: erased}),
		events.KeyID(events.Aggregate{Type: handoff.AggregateType, ID: h}),
		events.KeyID(events.Aggregate{Type: referral.AggregateType, ID: kept}),
	}
	for _, id := range ids {
		if _, err := l.Keys.Key(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{erased, kept} {
		// Sealed personal data: its key comes from a block (the events name
		// the slot), beside the key of the aggregate's own name made above.
		if _, err := l.Store.Append(ctx, events.Aggregate{Type: referral.AggregateType, ID: id}, 0, events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: &pathwayv1.Person{GivenName: "Ada"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Store.Append(ctx, events.Aggregate{Type: referral.AggregateType, ID: erased}, events.AnyVersion, events.Event{Payload: &pathwayv1.ReferralErased{
		Ground: pathwayv1.ErasureGround_ERASURE_GROUND_SUBJECT_REQUEST, Reason: "DP-1", HandoffIds: []string{h}}}); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ {
		n, destroyed, err := erasure.Reapply(ctx, l.Store, l.Keys)
		if err != nil || n != 1 || destroyed != 2 {
			t.Fatalf("run %d: %d erasures, %d keys, %v; want 1 and 2", run, n, destroyed, err)
		}
		// Another ring reads the bucket, not this one's memory.
		ring := eventstest.Keys(t, l.JS)
		for _, id := range ids[:2] {
			if _, err := ring.Key(ctx, id, false); !errors.Is(err, events.ErrErased) {
				t.Errorf("run %d: key %s: %v, want erased", run, id, err)
			}
		}
		if _, err := ring.Key(ctx, ids[2], false); err != nil {
			t.Errorf("run %d: the key of a referral never erased: %v, want kept", run, err)
		}
		// The sealed name: gone for the erased referral, read for the other.
		other := events.New(l.JS, events.Options{Keys: ring})
		for rec, err := range other.ReadWith(ctx, events.ReadOptions{Subject: events.TypeSubject(referral.AggregateType), Open: true}) {
			if err != nil {
				t.Fatal(err)
			}
			r, ok := rec.Payload.(*pathwayv1.ReferralReceived)
			if !ok {
				continue
			}
			switch rec.Aggregate.ID {
			case erased:
				if !rec.Erased || r.GetPerson().GetGivenName() != "" {
					t.Errorf("run %d: the erased referral's name: erased %v, %q", run, rec.Erased, r.GetPerson().GetGivenName())
				}
			case kept:
				if rec.Erased || r.GetPerson().GetGivenName() != "Ada" {
					t.Errorf("run %d: the kept referral's name: erased %v, %q", run, rec.Erased, r.GetPerson().GetGivenName())
				}
			}
		}
	}
}
