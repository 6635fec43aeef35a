package fhir

import (
	"encoding/json"
	"errors"
	"strings"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// An update (PUT ServiceRequest/{id}) only cancels: BaRS cancels a
// referral by setting its status to revoked (no longer needed) or
// entered-in-error, and nothing else about a referral can be changed: a
// sender that needs to change one revokes it and refers again. So an
// update is read for its id, its status and the elements that say which
// referral it is (subject.identifier, requester.identifier, code): those
// that are sent must be the referral's, and those left out are not
// changed. Every other element is the sender's copy and is not read.

// requestStatuses are the codes of http://hl7.org/fhir/request-status.
var requestStatuses = map[string]bool{"draft": true, "active": true, "on-hold": true, "revoked": true,
	"completed": true, "entered-in-error": true, "unknown": true}

// cancelReasons maps the status an update sets to the domain's reason.
var cancelReasons = map[string]pathwayv1.CancelReason{
	"revoked":          pathwayv1.CancelReason_CANCEL_REASON_REVOKED,
	"entered-in-error": pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR,
}

// Update is a ServiceRequest sent to update a referral.
type Update struct {
	ID, Status string
	sr         serviceRequest
}

// DecodeUpdate reads a ServiceRequest sent to update the referral id. Its
// issues (the body is not a ServiceRequest, its id is not id, its status
// is not a request status) answer 400; every one is reported.
func DecodeUpdate(body []byte, id string) (Update, []Issue) {
	var u Update
	if err := json.Unmarshal(body, &u.sr); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return u, []Issue{issue("structure", "ServiceRequest."+te.Field, "element %s has the wrong JSON type: want %s", te.Field, te.Type.Kind())}
		}
		return u, []Issue{issue("structure", "ServiceRequest", "the body is not a JSON object")}
	}
	if u.sr.ResourceType != "ServiceRequest" {
		return u, []Issue{issue("invalid", "ServiceRequest.resourceType", "resourceType must be ServiceRequest")}
	}
	u.ID, u.Status = u.sr.ID, u.sr.Status
	var issues []Issue
	if u.ID != id {
		issues = append(issues, issue("invalid", "ServiceRequest.id", "id must be the id in the URL (%s)", id))
	}
	if !requestStatuses[u.Status] {
		issues = append(issues, issue("value", "ServiceRequest.status", "status must be a request status; to cancel, revoked or entered-in-error"))
	}
	return u, issues
}

// Cancellation is the cancellation u asks of the referral held (as the
// front door shows it, not pseudonymised): the domain's reason for the
// status it sets, or the issues that refuse it (422): a status other than
// revoked or entered-in-error, and every identifying element sent that is
// not the referral's (compared only with what is held: nothing is after
// an erasure).
func (u Update) Cancellation(held referral.Submission) (pathwayv1.CancelReason, []Issue) {
	var issues []Issue
	reason, ok := cancelReasons[u.Status]
	if !ok {
		issues = append(issues, issue("not-supported", "ServiceRequest.status",
			"an update can only cancel the referral, with status revoked or entered-in-error; status %s cannot be set by update, "+
				"and the referral's details cannot be changed: revoke it and refer again", u.Status))
	}
	if id := u.sr.Subject.identifierOf(); id != nil && held.Person.NHSNumber != "" && (!isNHSNumberSystem(id.System) || id.Value != held.Person.NHSNumber) {
		issues = append(issues, issue("business-rule", "ServiceRequest.subject.identifier", "the subject cannot be changed: it must be the referral's NHS number, or be left out"))
	}
	if id := u.sr.Requester.identifierOf(); id != nil && held.Referrer.Organisation != "" && (!isODSSystem(id.System) || !strings.EqualFold(id.Value, held.Referrer.Organisation)) {
		issues = append(issues, issue("business-rule", "ServiceRequest.requester.identifier", "the requester cannot be changed: it must be the referral's ODS code, or be left out"))
	}
	if u.sr.Code != nil && !hasCoding(u.sr.Code, SystemSNOMED, CodeSocialPrescribing) {
		issues = append(issues, issue("business-rule", "ServiceRequest.code",
			"the code cannot be changed: it must include SNOMED CT %s, or be left out", CodeSocialPrescribing))
	}
	return reason, issues
}

func (r *reference) identifierOf() *identifier {
	if r == nil {
		return nil
	}
	return r.Identifier
}

// isNHSNumberSystem and isODSSystem match the identifier systems as the
// NHS publishes them, in both spellings in use (Id and id).
func isNHSNumberSystem(s string) bool { return strings.EqualFold(s, SystemNHSNumber) }
func isODSSystem(s string) bool       { return strings.EqualFold(s, SystemODS) }
