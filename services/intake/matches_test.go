package intake_test

import (
	"context"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/intake"
)

// TestSelfReferralFoundByTheMatchesView: with the Matches view, a referral
// with an NHS number is written on no person aggregate but its NHS
// number's, and a self-referral without an NHS number that matches it on
// name, date of birth and postcode, sent straight after its answer, is
// flagged as its possible duplicate; once it is closed, a new one is not.
func TestSelfReferralFoundByTheMatchesView(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := projections.OpenCheckpoints(ctx, l.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	engine := projections.NewEngine(l.Store, obj, intake.NewMatches(), projections.Options{})
	go engine.Run(ctx)
	k := keyer(t)
	svc := intake.New(l.Store, k, intake.Options{Now: clock, Matches: intake.FindMatches(l.Store, engine)})

	gp := submission(nhsNumber(t, 1))
	first, err := svc.Submit(ctx, gp)
	if err != nil {
		t.Fatal(err)
	}
	p := gp.Person
	dob, _ := time.Parse(time.DateOnly, p.DateOfBirth)
	mid := k.ByMatch(p.GivenName, p.FamilyName, &pathwayv1.Date{Year: int32(dob.Year()), Month: int32(dob.Month()), Day: int32(dob.Day())}, p.Postcode)
	if mid == "" {
		t.Fatal("no match id for the person")
	}
	if v, err := l.Store.Version(ctx, aggregate.Person.Aggregate(mid)); err != nil || v != 0 {
		t.Errorf("the person's match aggregate is at version %d (%v), want nothing written to it", v, err)
	}

	self := submission("")
	self.Source = "self"
	self.Referrer.Organisation = "X26"
	self.Person.Postcode = "ts13ba" // written differently
	flagged, err := svc.Submit(ctx, self)
	if err != nil {
		t.Fatal(err)
	}
	if flagged.PossibleDuplicateOf != first.ID {
		t.Errorf("self-referral flagged as a duplicate of %q, want %s", flagged.PossibleDuplicateOf, first.ID)
	}

	// Both closed: a third, again without an NHS number, matches nothing.
	for _, id := range []string{first.ID, flagged.ID} {
		if _, err := svc.Cancel(ctx, id, events.Command{Actor: gp.Actor}, pathwayv1.CancelReason_CANCEL_REASON_REVOKED, ""); err != nil {
			t.Fatal(err)
		}
	}
	self.IdempotencyKey = "third"
	third, err := svc.Submit(ctx, self)
	if err != nil {
		t.Fatal(err)
	}
	if third.PossibleDuplicateOf != "" {
		t.Errorf("after both were closed, a self-referral was flagged as a duplicate of %s", third.PossibleDuplicateOf)
	}
}
