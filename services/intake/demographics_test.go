package intake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/intake"
)

// TestSexEthnicityAndAgeBand: intake refuses a sex or an ethnic category
// outside the NHS Data Dictionary's sets, naming both fields and writing
// nothing; it records valid ones, and the age band on the UK date of
// receipt from its clock, in clear (coded), while the date of birth is
// sealed.
func TestSexEthnicityAndAgeBand(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	// 23:30 UTC on 30 June 2026 is 00:30 BST on 1 July: the person born on
	// 1 July 1951 is 75 that day.
	at := time.Date(2026, 6, 30, 23, 30, 0, 0, time.UTC)
	svc := intake.New(l.Store, keyer(t), intake.Options{Now: func() time.Time { return at }})

	bad := submission(nhsNumber(t, 1))
	bad.Person.Sex, bad.Person.Ethnicity = "F", "white"
	bad.Consent.RecordedAt = "2026-06-30T10:00:00Z"
	_, err := svc.Submit(ctx, bad)
	var ke *kernel.Error
	if !errors.As(err, &ke) || ke.Kind != kernel.Invalid || len(ke.Fields) != 2 || ke.Fields[0].Field != "person.sex" || ke.Fields[1].Field != "person.ethnicity" {
		t.Fatalf("bad sex and ethnicity: %v, want Invalid naming person.sex and person.ethnicity", err)
	}
	if n := received(t, l.Store); n != 0 {
		t.Fatalf("a refused referral left %d in the log", n)
	}

	good := submission(nhsNumber(t, 2))
	good.Person.Sex, good.Person.Ethnicity, good.Person.DateOfBirth = "male", "J", "1951-07-01"
	good.Consent.RecordedAt = "2026-06-30T10:00:00Z"
	res, err := svc.Submit(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	// Read without opening sealed fields: what a projection sees.
	found := false
	for rec, err := range l.Store.ReadWith(ctx, events.ReadOptions{Subject: events.TypeSubject("referral")}) {
		if err != nil {
			t.Fatal(err)
		}
		ev, ok := rec.Payload.(*pathwayv1.ReferralReceived)
		if !ok || rec.Aggregate.ID != res.ID {
			continue
		}
		found = true
		p := ev.GetPerson()
		if p.GetSex() != pathwayv1.Sex_SEX_MALE || p.GetEthnicCategory() != "J" || p.GetAgeBand() != "75-84" {
			t.Errorf("in clear: sex %v, ethnic category %q, age band %q; want male, J, 75-84", p.GetSex(), p.GetEthnicCategory(), p.GetAgeBand())
		}
		if p.GetDateOfBirth() != nil || p.GetGivenName() != "" {
			t.Errorf("the date of birth or the name is in clear: %v", p)
		}
	}
	if !found {
		t.Fatal("the referral is not in the log")
	}
}
