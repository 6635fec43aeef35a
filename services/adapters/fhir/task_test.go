package fhir_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/adapters/fhir/fhirtest"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

// referralAfter is a referral of Sam Example from A81001 after events.
func referralAfter(events ...proto.Message) *referral.Referral {
	sub := referral.Submission{Source: "gp_practice", Referrer: referral.Referrer{Name: "Dr A Example", Organisation: "A81001"},
		Person:     referral.Person{NHSNumber: "9434765919", GivenName: "Sam", FamilyName: "Example", DateOfBirth: "1956-03-14", Postcode: "TS1 3BA", Phone: "07700900123"},
		GPPractice: "A81001", Needs: []string{"loneliness"}, Urgency: "routine", Consent: referral.Consent{Given: true, RecordedBy: "Dr A Example", RecordedAt: "2026-11-20T10:00:00Z"}}
	received, errs := sub.Event(now)
	if len(errs) > 0 {
		panic(fmt.Sprint("the test's submission is invalid: ", errs))
	}
	all := append([]proto.Message{received}, events...)
	changes := make([]kernel.Change, len(all))
	for i, e := range all {
		changes[i] = kernel.Change{Sequence: uint64(10 + i), At: now.Add(time.Duration(i) * time.Hour), Payload: e}
	}
	return referral.Replay("0b0e5f52-6a7e-4f4b-9d3a-1f7c2e7d9a10", changes)
}

func triaged(d pathwayv1.TriageDecision) *pathwayv1.ReferralTriaged {
	return &pathwayv1.ReferralTriaged{Decision: d, DeclineReason: "out-of-area", RedirectDestination: "community mental health team", Reason: "staff words"}
}

func view(ref *referral.Referral, pseudonymised bool) fhir.View {
	v := fhir.View{ID: ref.ID(), Status: ref.FHIRStatus(), Stage: fhir.StageOf(ref, pseudonymised), Submission: referral.FromEvent(ref.Received()),
		AuthoredOn: ref.ReceivedAt(), LastUpdated: ref.UpdatedAt(), VersionID: "7"}
	if pseudonymised {
		ps := v.Submission.Pseudonymised()
		v.Submission, v.Pseudonym = referral.Submission{}, &ps
	}
	return v
}

type taskJSON struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Status       string `json:"status"`
	StatusReason *struct {
		Coding []struct{ Code string } `json:"coding"`
		Text   string                  `json:"text"`
	} `json:"statusReason"`
	BusinessStatus struct {
		Coding []struct{ System, Code string } `json:"coding"`
	} `json:"businessStatus"`
	Focus struct{ Reference string } `json:"focus"`
	For   *struct {
		Identifier struct{ System, Value string } `json:"identifier"`
	} `json:"for"`
	Output []struct {
		ValueCodeableConcept struct {
			Coding []struct{ System, Code string } `json:"coding"`
		} `json:"valueCodeableConcept"`
	} `json:"output"`
	Meta struct{ VersionID string } `json:"meta"`
}

// TestTaskOfEveryStatus encodes the Task and the ServiceRequest of a
// referral in each status: both are valid R4, the statuses are the map's,
// and a referral that closed before it was done says why in both.
func TestTaskOfEveryStatus(t *testing.T) {
	accept := pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT
	covered := map[referral.Status]bool{}
	defer func() {
		for _, st := range referral.Statuses {
			if !covered[st] {
				t.Errorf("status %s has no case here", st)
			}
		}
	}()
	for _, tc := range []struct {
		events          []proto.Message
		stage           referral.Status
		request, task   string
		reason, outcome string
	}{
		{nil, referral.StatusReceived, "active", "requested", "", ""},
		{[]proto.Message{triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_MANUAL)}, referral.StatusManualTriage, "active", "received", "", ""},
		{[]proto.Message{triaged(accept)}, referral.StatusAccepted, "active", "accepted", "", ""},
		{[]proto.Message{triaged(accept), &pathwayv1.ReferralWaitlisted{Queue: "U12345"}}, referral.StatusWaitlisted, "active", "accepted", "", ""},
		{[]proto.Message{triaged(accept), &pathwayv1.ReferralAssigned{WorkerId: "w1"}}, referral.StatusAssigned, "active", "in-progress", "", ""},
		{[]proto.Message{triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST)}, referral.StatusSignposted, "completed", "completed", "", ""},
		{[]proto.Message{triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE)}, referral.StatusDeclined, "revoked", "rejected", "declined", ""},
		{[]proto.Message{triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_REDIRECT)}, referral.StatusRedirected, "revoked", "rejected", "redirected", ""},
		{[]proto.Message{triaged(accept), &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED,
			Code: &pathwayv1.Coded{System: fhir.SystemSNOMED, Code: "871711000000103", Display: "Social prescribing declined"}}}, referral.StatusDischarged, "completed", "completed", "", "871711000000103"},
		{[]proto.Message{triaged(accept), &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET}}, referral.StatusDischarged, "completed", "completed", "", "goals_met"},
		{[]proto.Message{&pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED}}, referral.StatusCancelled, "revoked", "cancelled", "revoked", ""},
		{[]proto.Message{&pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}}, referral.StatusCancelled, "entered-in-error", "entered-in-error", "entered-in-error", ""},
		{[]proto.Message{&pathwayv1.ReferralMerged{IntoReferralId: "other"}}, referral.StatusMerged, "revoked", "cancelled", "merged", ""},
	} {
		covered[tc.stage] = true
		t.Run(string(tc.stage)+" "+tc.task+" "+tc.outcome, func(t *testing.T) {
			ref := referralAfter(tc.events...)
			if ref.Status() != tc.stage {
				t.Fatalf("the referral is %s, want %s", ref.Status(), tc.stage)
			}
			body, err := fhir.EncodeTask(view(ref, false))
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Validate(t, body)
			var got taskJSON
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.ResourceType != "Task" || got.ID != ref.ID() || got.Focus.Reference != "ServiceRequest/"+ref.ID() || got.Meta.VersionID != "7" {
				t.Errorf("got %s/%s focus %s version %s, want Task/%s focus ServiceRequest/%s version 7", got.ResourceType, got.ID, got.Focus.Reference, got.Meta.VersionID, ref.ID(), ref.ID())
			}
			if got.Status != tc.task || len(got.BusinessStatus.Coding) != 1 || got.BusinessStatus.Coding[0].Code != string(tc.stage) {
				t.Errorf("got Task status %s business %+v, want %s and %s", got.Status, got.BusinessStatus, tc.task, tc.stage)
			}
			if got.For == nil || got.For.Identifier.Value != "9434765919" {
				t.Errorf("got for %+v, want the NHS number", got.For)
			}
			gotReason := ""
			if got.StatusReason != nil {
				gotReason = got.StatusReason.Coding[0].Code
			}
			if gotReason != tc.reason {
				t.Errorf("got statusReason %q, want %q", gotReason, tc.reason)
			}
			gotOutcome := ""
			for _, o := range got.Output {
				for _, c := range o.ValueCodeableConcept.Coding {
					if c.Code == tc.outcome {
						gotOutcome = c.Code
					}
				}
			}
			if gotOutcome != tc.outcome {
				t.Errorf("got output %+v, want %q", got.Output, tc.outcome)
			}

			sr, err := fhir.EncodeServiceRequest(view(ref, false))
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Validate(t, sr)
			var srGot struct {
				Status    string `json:"status"`
				Extension []struct {
					URL                  string `json:"url"`
					ValueCodeableConcept struct {
						Coding []struct{ Code string } `json:"coding"`
					} `json:"valueCodeableConcept"`
				} `json:"extension"`
			}
			if err := json.Unmarshal(sr, &srGot); err != nil {
				t.Fatal(err)
			}
			if srGot.Status != tc.request {
				t.Errorf("got ServiceRequest status %s, want %s", srGot.Status, tc.request)
			}
			srReason := ""
			for _, e := range srGot.Extension {
				if e.URL == fhir.ExtensionStatusReason {
					srReason = e.ValueCodeableConcept.Coding[0].Code
				}
			}
			if srReason != tc.reason {
				t.Errorf("got the ServiceRequest's status reason %q, want %q", srReason, tc.reason)
			}
		})
	}
}

// TestDeclinedTaskSaysWhy: a declined referral's Task is rejected with
// the triage's reason; a pseudonymised one keeps the code and leaves out
// the words, and the person.
func TestDeclinedTaskSaysWhy(t *testing.T) {
	ref := referralAfter(triaged(pathwayv1.TriageDecision_TRIAGE_DECISION_DECLINE))
	body, _ := fhir.EncodeTask(view(ref, false))
	var got taskJSON
	json.Unmarshal(body, &got)
	if got.Status != "rejected" || got.StatusReason == nil || got.StatusReason.Text != "out-of-area" {
		t.Fatalf("got %s %+v, want rejected because out-of-area", got.Status, got.StatusReason)
	}
	body, _ = fhir.EncodeTask(view(ref, true))
	fhirtest.Validate(t, body)
	if strings.Contains(string(body), "out-of-area") || strings.Contains(string(body), "9434765919") || strings.Contains(string(body), "staff words") {
		t.Fatalf("the pseudonymised Task shows the triage's words or the NHS number: %s", body)
	}
	json.Unmarshal(body, &got)
	if got.StatusReason == nil || got.StatusReason.Coding[0].Code != "declined" {
		t.Fatalf("the pseudonymised Task: statusReason %+v, want the code declined", got.StatusReason)
	}
}

// TestCapabilityStatementIsValid: the statement is valid R4 and lists
// what the front door supports.
func TestCapabilityStatementIsValid(t *testing.T) {
	body := fhir.CapabilityStatement("1.2.3")
	fhirtest.Validate(t, body)
	for _, want := range []string{`"fhirVersion":"4.0.1"`, `"kind":"instance"`, `"version":"1.2.3"`, `"process-message"`, `"versioned-update"`,
		`"name":"subject"`, `"name":"_lastUpdated"`, `"name":"status"`, `"name":"identifier"`, `"type":"Task"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the CapabilityStatement has no %s", want)
		}
	}
}
