package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/services/audit"
)

func TestRecordAndQuery(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	log, err := audit.Open(ctx, l.JS, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	refA, refB := "0b9d6f3e-1111-4111-8111-111111111111", "0b9d6f3e-2222-4222-8222-222222222222"
	reads := []audit.Record{
		{At: t0, KeyID: "k1", Role: "link_worker", Referral: refA, Route: "GET /v1/referrals/{id}", Status: 200},
		{At: t0.Add(time.Minute), KeyID: "k1", Role: "link_worker", Referral: refA, Route: "GET /v1/referrals/{id}/timeline", Status: 200},
		{At: t0.Add(2 * time.Minute), KeyID: "k2", Role: "admin", Referral: refB, Route: "GET /fhir/r4/ServiceRequest/{id}", Status: 200, Reason: "safeguarding review"},
		{At: t0.Add(3 * time.Minute), KeyID: "k2", Role: "admin", Referral: refA, Route: "pathway sar"},
	}
	for _, r := range reads {
		if err := log.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		f      audit.Filter
		routes []string
	}{
		{"by referral", audit.Filter{Referral: refA}, []string{"GET /v1/referrals/{id}", "GET /v1/referrals/{id}/timeline", "pathway sar"}},
		{"by key", audit.Filter{KeyID: "k2"}, []string{"GET /fhir/r4/ServiceRequest/{id}", "pathway sar"}},
		{"by both", audit.Filter{Referral: refA, KeyID: "k2"}, []string{"pathway sar"}},
		{"limited", audit.Filter{Referral: refA, Limit: 2}, []string{"GET /v1/referrals/{id}", "GET /v1/referrals/{id}/timeline"}},
		{"none", audit.Filter{KeyID: "k3"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := log.Query(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.routes) {
				t.Fatalf("got %d records %+v, want %d", len(got), got, len(tc.routes))
			}
			for i, r := range got {
				if r.Route != tc.routes[i] || r.Sequence == 0 {
					t.Errorf("record %d: %+v, want route %q with its sequence", i, r, tc.routes[i])
				}
			}
		})
	}
	// The log is append-only.
	st, _ := l.JS.Stream(ctx, audit.Stream)
	if err := st.DeleteMsg(ctx, 1); err == nil {
		t.Error("a record could be deleted")
	}
	if err := st.Purge(ctx); err == nil {
		t.Error("the audit log could be purged")
	}
	if err := log.Record(ctx, audit.Record{KeyID: "k1", Referral: "a.b", Route: "x"}); err == nil {
		t.Error("an id that is not a subject token was accepted")
	}
}
