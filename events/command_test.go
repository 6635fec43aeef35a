package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// caseload is a test aggregate: the referrals a worker took on, in order.
type caseload struct {
	id    string
	cases []string
}

func (c *caseload) apply(rec events.Record) {
	if e, ok := rec.Payload.(*pathwayv1.WorkerCaseAssigned); ok {
		c.cases = append(c.cases, e.GetReferralId())
	}
}

func kinds() map[string]events.Kind[*caseload] {
	plain := events.Kind[*caseload]{Type: "worker", New: func(id string) *caseload { return &caseload{id: id} }, Apply: (*caseload).apply}
	snapshotting := plain
	snapshotting.Clone = func(c *caseload) *caseload { return &caseload{id: c.id, cases: slices.Clone(c.cases)} }
	return map[string]events.Kind[*caseload]{"folded": plain, "snapshots": snapshotting}
}

func take(referral string) func(*caseload) ([]proto.Message, error) {
	return func(*caseload) ([]proto.Message, error) {
		return []proto.Message{&pathwayv1.WorkerCaseAssigned{ReferralId: referral}}, nil
	}
}

// TestCommandPathLoadsAsTheLogIs: for a kind that folds its events and for
// one whose states the store keeps between loads (Kind.Clone), a load
// after more events sees all of them in order, a state a caller changed
// does not leak into the next load, another store (no snapshot) sees the
// same, a retried key answers with the original sequence and appends
// nothing, and concurrent commands each apply once.
func TestCommandPathLoadsAsTheLogIs(t *testing.T) {
	for name, k := range kinds() {
		t.Run(name, func(t *testing.T) {
			l := eventstest.Start(t, false)
			ctx := context.Background()
			id := uuid.NewString()
			for i := range 300 {
				if _, err := events.Do(ctx, l.Store, k, id, events.Command{}, take(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			st, v, err := events.Get(ctx, l.Store, k, id)
			if err != nil || len(st.cases) != 300 {
				t.Fatalf("after 300 commands: %d cases, %v; want 300", len(st.cases), err)
			}
			st.cases[0] = "changed by a caller"
			key := events.Command{IdempotencyKey: "once"}
			first, err := events.Do(ctx, l.Store, k, id, key, take("keyed"))
			if err != nil {
				t.Fatal(err)
			}
			again, err := events.Do(ctx, l.Store, k, id, key, take("keyed"))
			if err != nil || again != first {
				t.Fatalf("retried key: %d, %v; want the original %d", again, err, first)
			}
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					if _, err := events.Do(ctx, l.Store, k, id, events.Command{}, take(fmt.Sprint("concurrent-", i))); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			got, v2, err := events.Get(ctx, l.Store, k, id)
			if err != nil || v2 <= v {
				t.Fatal(err)
			}
			other, _, err := events.Get(ctx, events.New(l.JS, events.Options{}), k, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.cases) != 321 || got.cases[0] != "0" || got.cases[300] != "keyed" || !slices.Equal(got.cases, other.cases) {
				t.Fatalf("%d cases (first %q, 301st %q), another store's %d; want 321, first \"0\", 301st \"keyed\", the same",
					len(got.cases), got.cases[0], got.cases[300], len(other.cases))
			}
			if _, _, err := events.Get(ctx, l.Store, k, uuid.NewString()); !errors.Is(err, events.ErrNotFound) {
				t.Errorf("an aggregate with no events: %v, want ErrNotFound", err)
			}
		})
	}
}
