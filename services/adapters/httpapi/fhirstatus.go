package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
)

// The status of a referral in FHIR, and its cancellation: GET
// /fhir/r4/Task/{id} follows ServiceRequest/{id}, and PUT
// /fhir/r4/ServiceRequest/{id} with status revoked or entered-in-error
// cancels it (fhir.Update says what an update may and may not do).

// versionedCanceller cancels a referral only while it is at the version
// the caller read: what the FHIR update asks of intake.
type versionedCanceller interface {
	CancelAt(ctx context.Context, id string, version uint64, cmd events.Command, reason pathwayv1.CancelReason, note string) (uint64, error)
}

var _ versionedCanceller = (*intake.Service)(nil)

// fhirTask handles GET /fhir/r4/Task/{id}: the Task of the referral {id},
// read (and audited) as its ServiceRequest is.
func (a *api) fhirTask(w http.ResponseWriter, r *http.Request) {
	ref, err := a.loadVisible(r)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	body, err := fhir.EncodeTask(a.serviceRequestView(r, ref))
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	writeResource(w, ref, http.StatusOK, body)
}

// fhirUpdate handles PUT /fhir/r4/ServiceRequest/{id}: a version-aware
// update that cancels the referral, through the same command as POST
// /v1/referrals/{id}/cancel, for the same callers (cancellers; a referrer
// only its own organisation's, others' are 404). In order: 415, 413, 400
// for a body that is not a ServiceRequest of this id with a request
// status; 404; 422 for anything but a cancellation, or an identifying
// element that is not the referral's; 412 without If-Match (FHIR's
// version-aware update: a server that requires it answers 412) or with a
// version that is no longer the latest; 409 when the referral is no
// longer active. It answers 200 with the ServiceRequest as it now is
// (audited as a read), or nothing with Prefer: return=minimal.
func (a *api) fhirUpdate(w http.ResponseWriter, r *http.Request) {
	r, cancel := a.bounded(r)
	defer cancel()
	body, ok := readFHIRBody(w, r, "the ServiceRequest")
	if !ok {
		return
	}
	u, issues := fhir.DecodeUpdate(body, r.PathValue("id"))
	if len(issues) > 0 {
		writeOutcome(w, http.StatusBadRequest, issues)
		return
	}
	ref, err := a.loadVisible(r)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	reason, issues := u.Cancellation(referral.FromEvent(ref.Received()))
	if len(issues) > 0 {
		writeOutcome(w, http.StatusUnprocessableEntity, issues)
		return
	}
	version, ok := ifMatch(r)
	if !ok {
		writeOutcome(w, http.StatusPreconditionFailed, []fhir.Issue{{Severity: "error", Code: "required",
			Diagnostics: `an update needs If-Match: W/"<versionId>", the ETag of the version of the ServiceRequest it was made from`}})
		return
	}
	cmd, err := a.commandOf(r, keyAsSent)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	if _, err := a.canceller.CancelAt(r.Context(), ref.ID(), version, cmd, reason, ""); err != nil {
		a.fhirError(w, r, err)
		return
	}
	if ref, _, err = events.Get(r.Context(), a.store, aggregate.Referral, ref.ID()); err != nil {
		a.fhirError(w, r, err)
		return
	}
	if preferMinimal(r) {
		writeResource(w, ref, http.StatusOK, nil)
		return
	}
	if err := a.audit(r, ref.ID(), "", ""); err != nil {
		// Cancelled, but the read of the result cannot be recorded: say
		// so without the person.
		a.log.Error("audit of an update's answer failed", "route", r.Pattern, "referral", ref.ID(), "err", err)
		body := fhir.OperationOutcome([]fhir.Issue{{Severity: "information", Code: "informational",
			Diagnostics: "the referral is cancelled (" + ref.FHIRStatus() + "); read it to see it"}})
		writeResource(w, ref, http.StatusOK, body)
		return
	}
	a.writeServiceRequest(w, r, ref, http.StatusOK)
}

// ifMatch is the version an If-Match header names: W/"<version>" (or the
// strong form); false when there is none or it names no version.
func ifMatch(r *http.Request) (uint64, bool) {
	tag := strings.TrimSpace(r.Header.Get("If-Match"))
	tag = strings.TrimPrefix(tag, "W/")
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseUint(tag[1:len(tag)-1], 10, 64)
	return v, err == nil && v > 0
}

// preferMinimal reports whether the caller asked for no body (Prefer:
// return=minimal).
func preferMinimal(r *http.Request) bool {
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "return=minimal") {
				return true
			}
		}
	}
	return false
}
