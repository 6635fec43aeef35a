package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
)

// messageKeyPrefix scopes the idempotency key a message's referral is
// made with: the sender's reference of its ServiceRequest, so that a
// resent message, an update and a cancellation all find the referral the
// first message made (intake.ReferralID).
const messageKeyPrefix = "bars:"

// fhirProcessMessage handles POST /fhir/r4/$process-message: a BaRS
// message Bundle that makes a referral (reason new), cancels one (update
// or delete, the ServiceRequest revoked or entered-in-error), or updates
// one (not taken: 422). Success is 200 with a response message Bundle, as
// BaRS has it; every error an OperationOutcome.
func (a *api) fhirProcessMessage(w http.ResponseWriter, r *http.Request) {
	r, cancel := a.bounded(r)
	defer cancel()
	body, ok := readFHIRBody(w, r, "the message Bundle")
	if !ok {
		return
	}
	m := fhir.DecodeMessage(body)
	switch {
	case m.Kind == "" || m.Kind == fhir.KindCancel && len(m.Issues) > 0:
		status := http.StatusBadRequest
		if len(m.Issues) == 1 && m.Issues[0].Code == "not-supported" {
			status = http.StatusUnprocessableEntity
		}
		writeOutcome(w, status, m.Issues)
	case m.Kind == fhir.KindCancel:
		a.cancelByMessage(w, r, m)
	case !m.SocialPrescribing:
		// Not pathway's service: the rest of the message is moot.
		writeOutcome(w, http.StatusUnprocessableEntity, []fhir.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: "pathway receives referrals to social prescribing only: SNOMED CT " + fhir.CodeSocialPrescribing +
				" (Referral to social prescribing service) in ServiceRequest.code, or in the type of the HealthcareService its performer names",
			Expression: []string{"ServiceRequest.code"}}})
	case m.Kind == fhir.KindUpdate:
		a.updateByMessage(w, r, m)
	default:
		a.createByMessage(w, r, m)
	}
}

// readFHIRBody reads a FHIR JSON body, answering 415, 413 or 400 as
// fhirCreate does when it cannot.
func readFHIRBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, bool) {
	if !hasMediaType(r, fhirType, jsonType) {
		writeOutcome(w, http.StatusUnsupportedMediaType, []fhir.Issue{{Severity: "error", Code: "not-supported",
			Diagnostics: "send " + what + " as " + fhirType + " or " + jsonType + " (with charset=utf-8, or no charset)"}})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		writeOutcome(w, http.StatusRequestEntityTooLarge, []fhir.Issue{{Severity: "error", Code: "too-long", Diagnostics: fmt.Sprintf("the body must be at most %d bytes", MaxBodyBytes)}})
		return nil, false
	}
	if err := checkJSONText(body); err != nil {
		writeOutcome(w, http.StatusBadRequest, []fhir.Issue{{Severity: "error", Code: "structure", Diagnostics: err.Error()}})
		return nil, false
	}
	return body, true
}

// createByMessage makes the referral of a new message. The referral's id
// comes from the sender's organisation and its reference of the
// ServiceRequest, so a resent message makes nothing: it is answered 409
// duplicate with the referral it made, as BaRS has a receiver answer a
// message it already processed.
func (a *api) createByMessage(w http.ResponseWriter, r *http.Request, m fhir.Message) {
	if issues := fhir.AllIssues(m.Submission, m.Issues, a.now()); len(issues) > 0 {
		writeOutcome(w, http.StatusBadRequest, issues)
		return
	}
	cmd, err := a.commandOf(r, noKey)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	cmd.IdempotencyKey = messageKeyPrefix + m.Submission.SenderReference
	res, err := a.submitReferral(r, m.Submission, cmd, "fhir")
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	if !res.Created {
		w.Header().Set("Link", fmt.Sprintf("</fhir/r4/ServiceRequest/%s>; rel=\"related\"", res.ID))
		writeOutcome(w, http.StatusConflict, []fhir.Issue{{Severity: "error", Code: "duplicate",
			Diagnostics: "this message was processed already: its referral is ServiceRequest/" + res.ID, Expression: []string{"Bundle.entry.fullUrl"}}})
		return
	}
	a.writeResponse(w, r, m, res.ID, http.StatusCreated)
}

// updateByMessage answers an update: pathway does not change a
// referral's details after it is made, so the referral the message names
// stays as it was (422). An update of a referral the sender never made
// here is taken as new; one naming pathway's id of a referral the caller
// may not reach is 404.
func (a *api) updateByMessage(w http.ResponseWriter, r *http.Request, m fhir.Message) {
	ref, held, err := a.referralOfMessage(r, m)
	if errors.Is(err, events.ErrNotFound) && !held {
		// An update carries the whole referral ("Update Full"): of a
		// referral pathway does not hold (the first message lost, say),
		// it makes the referral as a new message does. One naming a
		// referral the caller may not reach stays 404.
		a.createByMessage(w, r, m)
		return
	}
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	writeOutcome(w, http.StatusUnprocessableEntity, []fhir.Issue{{Severity: "error", Code: "not-supported",
		Diagnostics: "pathway does not take updates of a referral's details: ServiceRequest/" + ref.ID() +
			" is unchanged; to change it, cancel it (status revoked) and refer again", Expression: []string{"MessageHeader.reason"}}})
}

var cancelStatuses = map[string]pathwayv1.CancelReason{
	"revoked":          pathwayv1.CancelReason_CANCEL_REASON_REVOKED,
	"entered-in-error": pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR,
}

// cancelByMessage cancels the referral a cancellation message names, by
// the command /v1/referrals/{id}/cancel runs. Only an active referral can
// be cancelled: another cancellation is 409.
func (a *api) cancelByMessage(w http.ResponseWriter, r *http.Request, m fhir.Message) {
	ref, _, err := a.referralOfMessage(r, m)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	cmd, err := a.commandOf(r, keyAsSent)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	if _, err := a.referrals.Cancel(r.Context(), ref.ID(), cmd, cancelStatuses[m.Status], ""); err != nil {
		a.fhirError(w, r, err)
		return
	}
	a.writeResponse(w, r, m, ref.ID(), http.StatusOK)
}

// referralOfMessage finds the referral an update or cancellation names:
// by the ServiceRequest's id when it is pathway's (BaRS has the sender
// send back the receiver's id), else by the sender's references of its
// ServiceRequest (fullUrl, identifiers), which the referral's id was made
// from. Only a referral the caller may reach counts: others are
// events.ErrNotFound, as a missing one, with held set when pathway holds
// one the message names.
func (a *api) referralOfMessage(r *http.Request, m fhir.Message) (_ *referral.Referral, held bool, _ error) {
	key := principalFrom(r.Context()).key
	org := m.Organisation
	if key.Role == keys.RoleReferrer {
		org = key.Organisation
	}
	var ids []string
	if _, err := uuid.Parse(m.ServiceRequestID); err == nil {
		ids = append(ids, m.ServiceRequestID)
	}
	for _, ref := range m.References {
		ids = append(ids, intake.ReferralID(org, messageKeyPrefix+ref))
	}
	for _, id := range ids {
		ref, _, err := events.Get(r.Context(), a.store, aggregate.Referral, id)
		if errors.Is(err, events.ErrNotFound) || err == nil && !ref.Exists() {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		held = true
		if ok, err := a.visible(r.Context(), key, ref); err != nil {
			return nil, held, err
		} else if ok {
			return ref, held, nil
		}
	}
	return nil, held, events.ErrNotFound
}

// writeResponse answers a processed message with the BaRS response
// message and the referral as it now stands; Location names it. A new
// referral is 201 Created (BaRS's test kit lists 200; both are a success
// to a sender, and 201 says a resource was made), a cancellation 200.
func (a *api) writeResponse(w http.ResponseWriter, r *http.Request, m fhir.Message, id string, status int) {
	ref, _, err := events.Get(r.Context(), a.store, aggregate.Referral, id)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	sr, err := fhir.EncodeServiceRequest(a.serviceRequestView(r, ref))
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	body, err := fhir.EncodeResponse(fhir.Response{ID: uuid.NewString(), MessageHeaderID: uuid.NewString(), RequestID: m.ID,
		Endpoint: scheme + "://" + r.Host + "/fhir/r4/$process-message", Destination: m.SourceEndpoint,
		ServiceRequest: sr, ServiceRequestID: ref.ID(), At: a.now()})
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Location", "/fhir/r4/ServiceRequest/"+ref.ID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
