package directorysync_test

import (
	"context"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// One pathway syncs from another's /oruk/: what the first serves, the
// second imports whole, and a retirement at the first reaches the second.
func TestSyncFromPathway(t *testing.T) {
	ctx := t.Context()
	a := eventstest.Start(t, false)
	url, eng, view := oruktest.Serve(t, a.Store, a.JS)
	wait := func(seq uint64) {
		t.Helper()
		wctx, stop := context.WithTimeout(ctx, 10*time.Second)
		defer stop()
		for _, e := range []*projections.Engine{eng, view} {
			if err := e.WaitFor(wctx, seq); err != nil {
				t.Fatal(err)
			}
		}
	}

	src := oruktest.NewSource(t, "Walking group")
	first := syncer(t, a.Store, a, nil)
	rep, err := first.Sync(ctx, src.URL, false)
	if err != nil || rep.Created != 1 {
		t.Fatalf("first pathway's sync: %+v %v", countsOf(rep), err)
	}
	id := partner.ServiceIDFor(oruktest.SourceID(1))
	svcA, seq, err := events.Get(ctx, a.Store, aggregate.Service, id)
	if err != nil {
		t.Fatal(err)
	}
	wait(seq)

	b := eventstest.Start(t, false)
	second := syncer(t, b.Store, b, nil)
	rep, err = second.Sync(ctx, url+"/oruk", false)
	if err != nil || countsOf(rep) != (counts{listed: 1, created: 1}) {
		t.Fatalf("second pathway's sync from the first: %+v %v %+v", countsOf(rep), err, rep.Results)
	}
	svcB, _, err := events.Get(ctx, b.Store, aggregate.Service, partner.ServiceIDFor(id))
	if err != nil {
		t.Fatal(err)
	}
	da, db := svcA.Details(), svcB.Details()
	if db.GetName() != da.GetName() || db.GetDescription() != da.GetDescription() || db.GetFeesDescription() != da.GetFeesDescription() ||
		db.GetApplicationProcess() != da.GetApplicationProcess() || db.GetEligibility().GetDescription() != da.GetEligibility().GetDescription() ||
		db.GetEligibility().GetMinAge() != da.GetEligibility().GetMinAge() || len(db.GetSchedules()) != len(da.GetSchedules()) ||
		len(db.GetLanguages()) != len(da.GetLanguages()) || len(db.GetLocations()) != len(da.GetLocations()) || len(db.GetCostOptions()) != len(da.GetCostOptions()) {
		t.Errorf("the second pathway's copy differs:\n got %v\nwant %v", db, da)
	}
	if la, lb := da.GetLocations()[0], db.GetLocations()[0]; lb.GetPostcode() != la.GetPostcode() || lb.GetCity() != la.GetCity() || lb.GetLatitude() != la.GetLatitude() {
		t.Errorf("location: got %v, want %v", lb, la)
	}

	src.Change(1, func(m map[string]any) { m["status"] = "defunct" })
	if rep, err := first.Sync(ctx, src.URL, false); err != nil || rep.Retired != 1 {
		t.Fatalf("first pathway's sync of the retirement: %+v %v", countsOf(rep), err)
	}
	_, seq, _ = events.Get(ctx, a.Store, aggregate.Service, id)
	wait(seq)
	rep, err = second.Sync(ctx, url+"/oruk", false)
	if err != nil || rep.Retired != 1 {
		t.Fatalf("second pathway's sync after the retirement: %+v %v %+v", countsOf(rep), err, rep.Results)
	}
	if svcB, _, _ := events.Get(ctx, b.Store, aggregate.Service, partner.ServiceIDFor(id)); svcB.Retired() != "defunct" {
		t.Errorf("the second pathway's copy: retired %q, want defunct", svcB.Retired())
	}
}
