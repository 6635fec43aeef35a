package events_test

import (
	"context"
	"crypto/cipher"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/conformance"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/events/keyring"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
)

// slowKeys is a ring whose KeyAt, once armed, gets the key and then waits
// for the test before handing it back: a load caught with the key in hand.
type slowKeys struct {
	*keyring.Ring
	reached chan struct{}
	release chan struct{}
}

func (k *slowKeys) KeyAt(ctx context.Context, id, ref string) (cipher.AEAD, error) {
	a, err := k.Ring.KeyAt(ctx, id, ref)
	if k.reached != nil {
		k.reached <- struct{}{}
		<-k.release
	}
	return a, err
}

// TestForgetDuringALoad: a load that opened an aggregate's events just
// before its key was destroyed does not leave them in the store's memory:
// every load after the destroy shows them erased.
func TestForgetDuringALoad(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ring := eventstest.Keys(t, l.JS)
	keys := &slowKeys{Ring: ring}
	store := events.New(l.JS, events.Options{Keys: keys})
	ring.OnDestroy(store.Forget)

	agg := conformance.NewReferral()
	plan := &pathwayv1.SupportPlanAgreed{WhatMatters: "Quiet walks", Goals: []*pathwayv1.Goal{{Id: "g1", Description: "Sing with the Zabrowski choir"}}}
	if _, err := store.Append(ctx, agg, 0, events.Event{Payload: plan}); err != nil {
		t.Fatal(err)
	}
	refs, err := store.KeyRefs(ctx, agg)
	if err != nil || len(refs) != 1 {
		t.Fatalf("key refs: %v, %v", refs, err)
	}
	store.Forget(events.KeyID(agg)) // the next load reads the log, not what was kept

	keys.reached, keys.release = make(chan struct{}), make(chan struct{})
	loaded := make(chan []events.Record, 1)
	go func() {
		recs, _, err := store.Load(ctx, agg)
		if err != nil {
			t.Error(err)
		}
		loaded <- recs
	}()
	<-keys.reached
	if err := ring.Destroy(ctx, events.KeyID(agg), refs...); err != nil {
		t.Fatal(err)
	}
	keys.reached = nil
	close(keys.release)
	if recs := <-loaded; len(recs) == 1 && !recs[0].Erased {
		t.Log("the load begun before the destroy opened the plan, as it may")
	}

	recs, _, err := store.Load(ctx, agg)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !recs[0].Erased || proto.Equal(recs[0].Payload, plan) {
		t.Errorf("a load after the destroy: %v, want the plan erased (what a load begun before it opened was kept)", recs)
	}
}
