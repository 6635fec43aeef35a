package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/erasure"
	"github.com/pathway-sp/pathway/services/retention"
	"google.golang.org/protobuf/proto"
)

func TestViewConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return retention.NewView() },
		View: func(p projections.Projection) any { return p.(*retention.View).Contents() },
	})
}

func TestParsePolicy(t *testing.T) {
	p, err := retention.ParsePolicy("discharged=10y, declined=2y30d,entered_in_error=6w")
	if err != nil {
		t.Fatal(err)
	}
	want := map[retention.Outcome]retention.Period{
		retention.Discharged: {Years: 10}, retention.Declined: {Years: 2, Days: 30}, retention.EnteredInError: {Days: 42},
		retention.Merged: {Years: 8}, // not named: the default
	}
	for o, w := range want {
		if p[o] != w {
			t.Errorf("%s: got %v, want %v", o, p[o], w)
		}
	}
	for _, bad := range []string{"discharged", "closed=8y", "discharged=8", "discharged=8h", "discharged=0d", "discharged=y"} {
		if _, err := retention.ParsePolicy(bad); err == nil {
			t.Errorf("ParsePolicy(%q): want an error", bad)
		}
	}
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func TestSweepErasesEpisodesPastTheirPeriod(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	t0 := time.Date(2018, 1, 10, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	store := events.New(l.JS, events.Options{Now: clk.Now, Keys: l.Keys})
	l.Keys.OnDestroy(store.Forget)
	episode := func(id string, closing proto.Message) {
		t.Helper()
		received := &pathwayv1.ReferralReceived{GpPractice: "A81001", Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Quillonetta"}}
		if _, err := store.Append(ctx, aggregate.Referral.Aggregate(id), 0, events.Event{Payload: received}); err != nil {
			t.Fatal(err)
		}
		v, _ := store.Version(ctx, aggregate.Referral.Aggregate(id))
		if _, err := store.Append(ctx, aggregate.Referral.Aggregate(id), v, events.Event{Payload: closing}); err != nil {
			t.Fatal(err)
		}
	}
	discharged := &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}
	episode("11111111-1111-4111-8111-111111111111", discharged)                                                                                  // closed 2018
	episode("22222222-2222-4222-8222-222222222222", &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}) // in error, 2018
	clk.t = t0.AddDate(7, 0, 0)
	episode("33333333-3333-4333-8333-333333333333", discharged) // closed 2025
	clk.t = t0.AddDate(8, 0, -30)
	episode("44444444-4444-4444-8444-444444444444", &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}) // 31 days before the sweep
	if _, err := store.Append(ctx, aggregate.Handoff.Aggregate("55555555-5555-4555-8555-555555555555"), 0, events.Event{Payload: &pathwayv1.HandoffRequested{
		ReferralId: "11111111-1111-4111-8111-111111111111", Shared: &pathwayv1.SharedData{GivenName: "Quillonetta"}}}); err != nil {
		t.Fatal(err)
	}

	// 8 years and a day after the first two closed: the 2025 discharge has
	// 7 years to go, the last referral in error 59 days.
	clk.t = t0.AddDate(8, 0, 1)
	svc := retention.New(store, erasure.New(store, l.Keys, nil), retention.Options{Now: clk.Now})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go svc.Engine().Run(runCtx)
	n, err := svc.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("sweep: erased %d, %v; want 2 (the 2018 discharge, the 2018 referral in error)", n, err)
	}
	for id, want := range map[string]bool{
		"11111111-1111-4111-8111-111111111111": true, "22222222-2222-4222-8222-222222222222": true,
		"33333333-3333-4333-8333-333333333333": false, "44444444-4444-4444-8444-444444444444": false,
	} {
		r, _, err := events.Get(ctx, store, aggregate.Referral, id)
		if err != nil {
			t.Fatal(err)
		}
		erased, e, _ := r.Erased()
		if erased != want {
			t.Errorf("%s: erased %v, want %v", id, erased, want)
		}
		if erased && (e.GetGround() != pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION || r.Received().GetPerson().GetGivenName() != "") {
			t.Errorf("%s: erasure %v, name %q; want on retention with no name left", id, e, r.Received().GetPerson().GetGivenName())
		}
	}
	h, _, err := events.Get(ctx, store, aggregate.Handoff, "55555555-5555-4555-8555-555555555555")
	if err != nil || !h.Erased() {
		t.Errorf("the erased referral's handoff: erased %v, %v; want erased", h.Erased(), err)
	}
	// The next sweep finds nothing more until the others' time comes.
	if n, err := svc.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v; want 0", n, err)
	}
	clk.t = t0.AddDate(15, 0, 1)
	if n, err := svc.Sweep(ctx); err != nil || n != 2 {
		t.Errorf("sweep 15 years on: %d, %v; want the other 2", n, err)
	}
}
