package fhir

import (
	"bytes"
	"encoding/json"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Code systems of the status back to the sender: pathway's own stages
// (Task.businessStatus), the reasons a referral closed before it was
// done (Task.statusReason), the outputs of a Task and the discharge
// reasons; and the R4 extension that carries a request's status reason
// on the ServiceRequest, which has no statusReason element in R4.
const (
	SystemStage           = "https://pathway.example/fhir/CodeSystem/referral-stage"
	SystemStatusReason    = "https://pathway.example/fhir/CodeSystem/status-reason"
	SystemTaskOutput      = "https://pathway.example/fhir/CodeSystem/task-output"
	SystemDischargeReason = "https://pathway.example/fhir/CodeSystem/discharge-reason"
	SystemTaskCode        = "http://hl7.org/fhir/CodeSystem/task-code"
	ExtensionStatusReason = "http://hl7.org/fhir/StructureDefinition/request-statusReason"
)

// Stage is where a referral is, as FHIR says it: the ServiceRequest's
// status (referral.FHIRStatus), the Task's, pathway's own stage, and why
// it closed or how it ended.
type Stage struct {
	// Request is the ServiceRequest's status.
	Request string
	// Task is the Task's status (http://hl7.org/fhir/task-status).
	Task string
	// Business is pathway's stage, the Task's businessStatus.
	Business referral.Status
	// Reason is why the referral closed before it was done (declined,
	// redirected, cancelled, merged): the Task's statusReason and the
	// ServiceRequest's request-statusReason extension. Nil otherwise.
	Reason *Reason
	// Outcome is how a discharged referral ended: the Task's output.
	Outcome *Outcome
}

// Reason is why a referral closed: a code of SystemStatusReason with its
// display, and the triage's own words (the decline reason, the
// destination of a redirect), left out of pseudonymised views.
type Reason struct {
	Code, Display, Text string
}

// Outcome is how a discharged referral ended: the discharge reason (a
// code of SystemDischargeReason) and the code that goes back to the GP
// record, when there is one (SNOMED CT 871711000000103 for a person who
// declined social prescribing).
type Outcome struct {
	Reason, ReasonDisplay string
	System, Code, Display string
}

// taskStatus maps a referral's status to its Task's status, in the
// Gravity closed-loop referral style: requested until triage takes it up,
// received while a person triages it, accepted while it waits for a link
// worker, in-progress once one has it; completed when signposted or
// discharged; rejected when triage declined or redirected it; cancelled
// when withdrawn or merged (entered-in-error when cancelled as such).
var taskStatus = map[referral.Status]string{
	referral.StatusReceived:     "requested",
	referral.StatusManualTriage: "received",
	referral.StatusAccepted:     "accepted",
	referral.StatusWaitlisted:   "accepted",
	referral.StatusAssigned:     "in-progress",
	referral.StatusSignposted:   "completed",
	referral.StatusDeclined:     "rejected",
	referral.StatusRedirected:   "rejected",
	referral.StatusDischarged:   "completed",
	referral.StatusCancelled:    "cancelled",
	referral.StatusMerged:       "cancelled",
}

// stageDisplays are the displays of SystemStage's codes, which are
// referral.Status values.
var stageDisplays = map[referral.Status]string{
	referral.StatusReceived:     "Received, awaiting triage",
	referral.StatusManualTriage: "Being triaged",
	referral.StatusAccepted:     "Accepted for a link worker",
	referral.StatusWaitlisted:   "Accepted, on a waitlist for a link worker",
	referral.StatusAssigned:     "Assigned to a link worker",
	referral.StatusSignposted:   "Signposted",
	referral.StatusDeclined:     "Declined at triage",
	referral.StatusRedirected:   "Redirected to another service",
	referral.StatusDischarged:   "Discharged",
	referral.StatusCancelled:    "Cancelled",
	referral.StatusMerged:       "Merged into another referral",
}

// dischargeDisplays are the displays of SystemDischargeReason's codes.
var dischargeDisplays = map[pathwayv1.DischargeReason]string{
	pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET:  "Goals met",
	pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED: "Disengaged",
	pathwayv1.DischargeReason_DISCHARGE_REASON_DECLINED:   "Declined social prescribing",
	pathwayv1.DischargeReason_DISCHARGE_REASON_MOVED_AWAY: "Moved away",
	pathwayv1.DischargeReason_DISCHARGE_REASON_REDIRECTED: "Redirected to another service",
	pathwayv1.DischargeReason_DISCHARGE_REASON_DIED:       "Died",
	pathwayv1.DischargeReason_DISCHARGE_REASON_OTHER:      "Other",
}

// StageOf is the Stage of ref. A pseudonymised view leaves out the
// triage's words (Reason.Text), as the JSON API's does.
func StageOf(ref *referral.Referral, pseudonymised bool) Stage {
	st := ref.Status()
	s := Stage{Request: ref.FHIRStatus(), Task: taskStatus[st], Business: st}
	t := ref.Triage()
	switch st {
	case referral.StatusDeclined:
		s.Reason = &Reason{Code: "declined", Display: "Declined at triage", Text: t.GetDeclineReason()}
	case referral.StatusRedirected:
		s.Reason = &Reason{Code: "redirected", Display: "Redirected to another service", Text: t.GetRedirectDestination()}
	case referral.StatusMerged:
		s.Reason = &Reason{Code: "merged", Display: "A duplicate, merged into another referral for the same person"}
	case referral.StatusCancelled:
		s.Reason = &Reason{Code: "revoked", Display: "Revoked: no longer needed"}
		if ref.CancelReason() == pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR {
			s.Task = "entered-in-error"
			s.Reason = &Reason{Code: "entered-in-error", Display: "Entered in error"}
		}
	case referral.StatusDischarged:
		d := ref.Discharged()
		s.Outcome = &Outcome{Reason: referral.WireName(d.GetReason().String(), "DISCHARGE_REASON_"), ReasonDisplay: dischargeDisplays[d.GetReason()],
			System: d.GetCode().GetSystem(), Code: d.GetCode().GetCode(), Display: d.GetCode().GetDisplay()}
	}
	if s.Reason != nil && pseudonymised {
		s.Reason.Text = ""
	}
	return s
}

// concept is the CodeableConcept of r; nil for none.
func (r *Reason) concept() *codeableConcept {
	if r == nil {
		return nil
	}
	return &codeableConcept{Coding: []coding{{System: SystemStatusReason, Code: r.Code, Display: r.Display}}, Text: r.Text}
}

type extension struct {
	URL                  string           `json:"url"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept,omitempty"`
}

type taskOutput struct {
	Type                 codeableConcept `json:"type"`
	ValueCodeableConcept codeableConcept `json:"valueCodeableConcept"`
}

type task struct {
	ResourceType   string           `json:"resourceType"`
	ID             string           `json:"id"`
	Meta           *meta            `json:"meta,omitempty"`
	Status         string           `json:"status"`
	StatusReason   *codeableConcept `json:"statusReason,omitempty"`
	BusinessStatus *codeableConcept `json:"businessStatus,omitempty"`
	Intent         string           `json:"intent"`
	Code           *codeableConcept `json:"code,omitempty"`
	Focus          *reference       `json:"focus,omitempty"`
	For            *reference       `json:"for,omitempty"`
	AuthoredOn     string           `json:"authoredOn,omitempty"`
	LastModified   string           `json:"lastModified,omitempty"`
	Requester      *reference       `json:"requester,omitempty"`
	Output         []taskOutput     `json:"output,omitempty"`
}

// EncodeTask returns the Task that follows the referral of v (its Stage):
// id the referral's id (Task/{id} follows ServiceRequest/{id}), status
// and businessStatus, statusReason when it closed before it was done,
// intent order, code fulfill, focus the ServiceRequest, for the person
// by NHS number (left out when pseudonymised, erased or unknown),
// requester the referring organisation, authoredOn when it was received,
// lastModified and meta when it last changed, and for a discharge the
// output "discharge-reason": the reason and the code for the GP record.
func EncodeTask(v View) ([]byte, error) {
	s := v.Submission
	if v.Pseudonym != nil {
		s = v.Pseudonym.Submission()
	}
	st := v.Stage
	t := task{
		ResourceType:   "Task",
		ID:             v.ID,
		Status:         st.Task,
		StatusReason:   st.Reason.concept(),
		BusinessStatus: &codeableConcept{Coding: []coding{{System: SystemStage, Code: string(st.Business), Display: stageDisplays[st.Business]}}},
		Intent:         "order",
		Code:           &codeableConcept{Coding: []coding{{System: SystemTaskCode, Code: "fulfill", Display: "Fulfill the focal request"}}},
		Focus:          &reference{Reference: "ServiceRequest/" + v.ID},
	}
	if s.Person.NHSNumber != "" && v.Pseudonym == nil {
		t.For = &reference{Identifier: &identifier{System: SystemNHSNumber, Value: s.Person.NHSNumber}}
	}
	if s.Referrer.Organisation != "" {
		t.Requester = &reference{Identifier: &identifier{System: SystemODS, Value: s.Referrer.Organisation}}
	}
	if !v.AuthoredOn.IsZero() {
		t.AuthoredOn = v.AuthoredOn.UTC().Format(time.RFC3339)
	}
	if !v.LastUpdated.IsZero() {
		t.LastModified = v.LastUpdated.UTC().Format(time.RFC3339Nano)
	}
	t.Meta = metaOf(v)
	if o := st.Outcome; o != nil {
		out := taskOutput{Type: codeableConcept{Coding: []coding{{System: SystemTaskOutput, Code: "discharge-reason", Display: "Discharge reason"}}}}
		if o.Reason != "" && o.Reason != "unspecified" {
			out.ValueCodeableConcept.Coding = append(out.ValueCodeableConcept.Coding, coding{System: SystemDischargeReason, Code: o.Reason, Display: o.ReasonDisplay})
		}
		if o.Code != "" {
			out.ValueCodeableConcept.Coding = append(out.ValueCodeableConcept.Coding, coding{System: o.System, Code: o.Code, Display: o.Display})
		}
		if len(out.ValueCodeableConcept.Coding) > 0 {
			t.Output = []taskOutput{out}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// metaOf is the meta of a resource of v: its version, when it last
// changed, and the tag of an erasure; nil when there is none of them.
func metaOf(v View) *meta {
	if v.VersionID == "" && v.LastUpdated.IsZero() && !v.Erased {
		return nil
	}
	m := &meta{VersionID: v.VersionID}
	if !v.LastUpdated.IsZero() {
		m.LastUpdated = v.LastUpdated.UTC().Format(time.RFC3339Nano)
	}
	if v.Erased {
		m.Tag = []coding{{System: SystemDataProtection, Code: TagErased, Display: "Personal data erased"}}
	}
	return m
}
