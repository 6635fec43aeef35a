package sar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/sar"
)

type waitlistView struct{}

func (waitlistView) Name() string { return "waitlists" }
func (waitlistView) Of(id string) (any, bool) {
	return map[string]any{"queue": "U12345", "position": 3}, id == "0b9d6f3e-1111-4111-8111-111111111111"
}

func TestExportHoldsEverything(t *testing.T) {
	l := eventstest.Start(t, false)
	ctx := context.Background()
	keyer, err := person.NewKeyer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, l.JS, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const nhs, rid, hid = "9434765919", "0b9d6f3e-1111-4111-8111-111111111111", "0b9d6f3e-2222-4222-8222-222222222222"
	must := func(_ uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	s := l.Store
	must(s.Append(ctx, aggregate.Person.Aggregate(keyer.ByNHS(nhs)), 0, events.Event{Payload: &pathwayv1.PersonEpisodeOpened{ReferralId: rid}}))
	must(s.Append(ctx, aggregate.Referral.Aggregate(rid), 0, events.Event{Payload: &pathwayv1.ReferralReceived{GpPractice: "A81001",
		Person: &pathwayv1.Person{NhsNumber: nhs, GivenName: "Quillonetta", FamilyName: "Zabrowski"}, WhatMatters: "her allotment"}}))
	must(s.Append(ctx, aggregate.Handoff.Aggregate(hid), 0, events.Event{Payload: &pathwayv1.HandoffRequested{ReferralId: rid, PartnerId: "org-a", ServiceId: "walk",
		SharedFields: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME}, Shared: &pathwayv1.SharedData{GivenName: "Quillonetta"}}}))
	for _, route := range []string{"GET /v1/referrals/{id}", "GET /v1/referrals/{id}/timeline", "GET /fhir/r4/ServiceRequest/{id}"} {
		if err := log.Record(ctx, audit.Record{KeyID: "k1", Role: "link_worker", Referral: rid, Route: route, Status: 200}); err != nil {
			t.Fatal(err)
		}
	}

	svc := sar.New(s, keyer, log, []sar.View{waitlistView{}}, nil)
	x, err := svc.Person(ctx, nhs, audit.Record{KeyID: "admin-1", Role: "admin", Route: "pathway sar"})
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Referrals) != 1 || x.Referrals[0].ID != rid || len(x.Referrals[0].Events) != 1 {
		t.Fatalf("referrals: %+v, want the one with its event", x.Referrals)
	}
	b, _ := json.Marshal(x)
	for _, want := range []string{"Zabrowski", "her allotment", `"position":3`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the export lacks %q", want)
		}
	}
	if len(x.Handoffs) != 1 || x.Handoffs[0].Shared["given_name"] != "Quillonetta" || x.Handoffs[0].PartnerID != "org-a" {
		t.Errorf("handoffs: %+v, want the one with what was shared", x.Handoffs)
	}
	if len(x.Audit) != 3 {
		t.Errorf("audit: %d records, want the 3 reads", len(x.Audit))
	}
	// The export is on the record.
	after, _ := log.Query(ctx, audit.Filter{Referral: rid})
	if len(after) != 4 || after[3].Route != "pathway sar" || after[3].KeyID != "admin-1" {
		t.Errorf("audit after the export: %+v, want the export last", after)
	}
	var page bytes.Buffer
	if err := sar.WriteHTML(&page, x); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Zabrowski", "org-a", "Who looked at your record (3)", "GET /fhir/r4/ServiceRequest/{id}"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	if _, err := svc.Person(ctx, "4010232137", audit.Record{KeyID: "admin-1"}); err == nil {
		t.Error("an NHS number with nothing held: want not found")
	}
}
