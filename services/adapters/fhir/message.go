package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/domain/referral"
)

// The BaRS message vocabulary pathway takes.
const (
	SystemMessageEvents = "https://fhir.nhs.uk/CodeSystem/message-events-bars"
	SystemMessageReason = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
	// EventServiceRequest is the one event pathway receives: a referral
	// (servicerequest-request), new, updated or cancelled.
	EventServiceRequest = "servicerequest-request"
)

// What a message asks for.
const (
	// KindNew: reason new, a referral to make.
	KindNew = "new"
	// KindUpdate: reason update with an active ServiceRequest, new details
	// of a referral already made.
	KindUpdate = "update"
	// KindCancel: reason update (or delete) with the ServiceRequest
	// revoked or entered-in-error.
	KindCancel = "cancel"
)

// Message is a BaRS message Bundle as pathway reads it.
type Message struct {
	// ID is the Bundle's id: the sender keeps it for the whole
	// conversation, so it names the request the response answers.
	ID string
	// Kind is KindNew, KindUpdate or KindCancel; empty when Issues say why
	// none.
	Kind string
	// Status is the focus ServiceRequest's status (revoked or
	// entered-in-error for a cancellation).
	Status string
	// ServiceRequestID is the focus ServiceRequest's id as sent: in an
	// update or cancellation, BaRS has it be the receiver's id.
	ServiceRequestID string
	// References are the sender's own names of its ServiceRequest: its
	// fullUrl, then system|value of each identifier. A new referral keeps
	// the first (Submission.SenderReference); a later message names the
	// referral by any of them.
	References []string
	// Organisation is the sender's ODS code: the requester's organisation,
	// or the MessageHeader's sender.
	Organisation string
	// Submission is the referral a new message makes.
	Submission referral.Submission
	// SocialPrescribing: the service asked for is social prescribing.
	SocialPrescribing bool
	// SourceEndpoint is the sender's endpoint (MessageHeader.source).
	SourceEndpoint string
	// Issues are the message's structure problems (Submission still needs
	// Validate: AllIssues).
	Issues []Issue
}

type messageHeader struct {
	ResourceType string           `json:"resourceType"`
	ID           string           `json:"id,omitempty"`
	EventCoding  *coding          `json:"eventCoding,omitempty"`
	Reason       *codeableConcept `json:"reason,omitempty"`
	Sender       *reference       `json:"sender,omitempty"`
	Focus        []reference      `json:"focus,omitempty"`
	Source       *struct {
		Endpoint string `json:"endpoint,omitempty"`
	} `json:"source,omitempty"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Type         string        `json:"type,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

// DecodeMessage reads a BaRS message Bundle: its MessageHeader (event
// servicerequest-request, reason new or update, or delete for a
// cancellation), and the focus ServiceRequest with the resources it
// references, resolved within the Bundle (urn:uuid fullUrls, relative
// Type/id, contained #id). Other resources are ignored. It never panics.
func DecodeMessage(body []byte) Message {
	var m Message
	var b bundle
	if issues := unmarshalResource(body, &b, "Bundle"); issues != nil {
		m.Issues = issues
		return m
	}
	m.ID = b.ID
	if b.Type != "message" {
		m.Issues = append(m.Issues, issue("value", "Bundle.type", "a message Bundle has type message"))
	}
	var h messageHeader
	if len(b.Entry) == 0 || json.Unmarshal(b.Entry[0].Resource, &h) != nil || h.ResourceType != "MessageHeader" {
		m.Issues = append(m.Issues, issue("required", "Bundle.entry", "the first entry of a message is its MessageHeader"))
		return m
	}
	if h.EventCoding == nil || h.EventCoding.System != SystemMessageEvents || h.EventCoding.Code != EventServiceRequest {
		m.Issues = append(m.Issues, issue("not-supported", "MessageHeader.eventCoding", "pathway receives the BaRS event %s (system %s) only", EventServiceRequest, SystemMessageEvents))
		return m
	}
	if h.Source != nil {
		m.SourceEndpoint = h.Source.Endpoint
	}
	reason := ""
	if h.Reason != nil {
		for _, cd := range h.Reason.Coding {
			if cd.System == SystemMessageReason {
				reason = cd.Code
			}
		}
	}
	rs := &resolver{}
	rs.index(b.Entry)
	var sr serviceRequest
	var focusURL string
	for _, f := range h.Focus {
		if rs.resolveAs(&f, "ServiceRequest", &sr) {
			focusURL = f.Reference
			break
		}
	}
	if focusURL == "" {
		m.Issues = append(m.Issues, issue("required", "MessageHeader.focus", "the message's focus is the ServiceRequest, sent as an entry"))
		return m
	}
	rs.contained = containedOf(sr.Contained)
	m.Status, m.ServiceRequestID = sr.Status, sr.ID
	if !strings.HasPrefix(focusURL, "#") {
		m.References = append(m.References, focusURL)
	}
	for _, id := range sr.Identifier {
		if id.System != "" && id.Value != "" {
			m.References = append(m.References, id.System+"|"+id.Value)
		}
	}
	switch {
	case (reason == "update" || reason == "delete") && (sr.Status == "revoked" || sr.Status == "entered-in-error"):
		m.Kind = KindCancel
		var sub referral.Submission
		fillReferrer(&sub, sr.Requester, rs, h.Sender)
		m.Organisation = sub.Referrer.Organisation
		return m
	case reason == "new":
		m.Kind = KindNew
	case reason == "update":
		m.Kind = KindUpdate
	default:
		m.Issues = append(m.Issues, issue("value", "MessageHeader.reason", "reason must be new, or update (with the ServiceRequest active, or revoked or entered-in-error to cancel it), in system %s", SystemMessageReason))
		return m
	}
	d := decodeRequest(sr, rs, requestOptions{source: "other", sender: h.Sender, bundleConsent: true})
	m.Submission, m.SocialPrescribing = d.sub, d.social
	m.Organisation = d.sub.Referrer.Organisation
	if len(m.References) > 0 {
		m.Submission.SenderReference = m.References[0]
	} else if m.Kind == KindNew {
		d.issues = append(d.issues, issue("required", "Bundle.entry.fullUrl", "the ServiceRequest needs a fullUrl or an identifier, by which later messages name it"))
	}
	m.Issues = append(m.Issues, d.issues...)
	return m
}

// Response is pathway's answer to a message that it processed.
type Response struct {
	// ID is the response Bundle's id; MessageHeaderID its MessageHeader's.
	ID, MessageHeaderID string
	// RequestID is the request Bundle's id (MessageHeader.response.identifier).
	RequestID string
	// Endpoint is pathway's $process-message URL (MessageHeader.source).
	Endpoint string
	// Destination is the sender's endpoint, when it gave one.
	Destination string
	// ServiceRequest is the referral as it now stands (EncodeServiceRequest).
	ServiceRequest []byte
	// ServiceRequestID is its id.
	ServiceRequestID string
	// At is when the response was made.
	At time.Time
}

// EncodeResponse returns the BaRS response message: a Bundle of type
// message whose MessageHeader (event servicerequest-request, response
// code ok, identifier the request Bundle's id) has the ServiceRequest as
// it now stands as its focus, the Bundle's second entry.
func EncodeResponse(r Response) ([]byte, error) {
	type response struct {
		Identifier string `json:"identifier"`
		Code       string `json:"code"`
	}
	type endpoint struct {
		Endpoint string `json:"endpoint"`
	}
	srURL := "urn:uuid:" + r.ServiceRequestID
	h := struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		EventCoding  coding      `json:"eventCoding"`
		Destination  []endpoint  `json:"destination,omitempty"`
		Source       endpoint    `json:"source"`
		Response     response    `json:"response"`
		Focus        []reference `json:"focus"`
	}{
		ResourceType: "MessageHeader", ID: r.MessageHeaderID,
		EventCoding: coding{System: SystemMessageEvents, Code: EventServiceRequest},
		Source:      endpoint{Endpoint: r.Endpoint},
		Response:    response{Identifier: r.RequestID, Code: "ok"},
		Focus:       []reference{{Reference: srURL}},
	}
	if r.Destination != "" {
		h.Destination = []endpoint{{Endpoint: r.Destination}}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out := struct {
		ResourceType string        `json:"resourceType"`
		ID           string        `json:"id"`
		Type         string        `json:"type"`
		Timestamp    string        `json:"timestamp"`
		Entry        []bundleEntry `json:"entry"`
	}{"Bundle", r.ID, "message", r.At.UTC().Format(time.RFC3339Nano), []bundleEntry{
		{FullURL: "urn:uuid:" + r.MessageHeaderID, Resource: hj},
		{FullURL: srURL, Resource: bytes.TrimSpace(r.ServiceRequest)},
	}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
