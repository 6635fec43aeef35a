package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
)

// writeOutcome answers with a FHIR OperationOutcome.
func writeOutcome(w http.ResponseWriter, status int, issues []fhir.Issue) {
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(fhir.OperationOutcome(issues))
}

// serviceRequestView is the referral as the FHIR front door shows it to
// the caller of r (a read, a search, a message's answer), pseudonymised
// for a key that sees pseudonyms.
func (a *api) serviceRequestView(r *http.Request, ref *referral.Referral) fhir.View {
	pseudo := pseudonymised(principalFrom(r.Context()).key)
	v := fhir.View{
		ID:          ref.ID(),
		Status:      ref.FHIRStatus(),
		Stage:       fhir.StageOf(ref, pseudo),
		Submission:  referral.FromEvent(ref.Received()),
		AuthoredOn:  ref.ReceivedAt(),
		LastUpdated: ref.UpdatedAt(),
		VersionID:   fmt.Sprint(ref.Version()),
		Erased:      erased(ref),
	}
	if pseudo {
		ps := v.Submission.Pseudonymised()
		v.Submission, v.Pseudonym = referral.Submission{}, &ps
	}
	return v
}

// writeServiceRequest answers with the referral as a ServiceRequest.
func (a *api) writeServiceRequest(w http.ResponseWriter, r *http.Request, ref *referral.Referral, status int) {
	body, err := fhir.EncodeServiceRequest(a.serviceRequestView(r, ref))
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	w.Header().Set("Location", "/fhir/r4/ServiceRequest/"+ref.ID())
	writeResource(w, ref, status, body)
}

// writeResource answers with a FHIR resource of ref: its version as the
// ETag (W/"<versionId>", as meta.versionId) and its last change as
// Last-Modified; nil body for none.
func writeResource(w http.ResponseWriter, ref *referral.Referral, status int, body []byte) {
	if body != nil {
		w.Header().Set("Content-Type", fhir.ContentType)
	}
	w.Header().Set("ETag", fmt.Sprintf(`W/"%d"`, ref.Version()))
	if at := ref.UpdatedAt(); !at.IsZero() {
		w.Header().Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fhirError answers a service error as an OperationOutcome, with the
// status and Retry-After of the JSON API for the same kind (problemKinds)
// and the issue codes of fhir.Issues; a version-aware update made against
// a version that is no longer the latest (referral.ErrStale) is 412.
// Internal errors are logged.
func (a *api) fhirError(w http.ResponseWriter, r *http.Request, err error) {
	e := edgeError(err, fhirResource(r))
	if e.Kind == kernel.Internal {
		a.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	if errors.Is(err, referral.ErrStale) {
		writeOutcome(w, http.StatusPreconditionFailed, []fhir.Issue{{Severity: "error", Code: "conflict", Diagnostics: e.Message}})
		return
	}
	pk := problemKinds[e.Kind]
	if pk.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pk.RetryAfter))
	}
	issues := fhir.Issues(e)
	if dup, ok := errors.AsType[*intake.DuplicateError](err); ok {
		diagnostics := possiblyKnown // another organisation's: nothing of it
		if mayKnowOf(principalFrom(r.Context()).key, dup) {
			w.Header().Set("Link", fmt.Sprintf("</fhir/r4/ServiceRequest/%s>; rel=\"related\"", dup.OpenID))
			diagnostics = "the person already has an open referral: ServiceRequest/" + dup.OpenID + "; revoke it before referring again"
		}
		issues = []fhir.Issue{{Severity: "error", Code: "duplicate", Diagnostics: diagnostics, Expression: []string{"ServiceRequest.subject"}}}
	}
	writeOutcome(w, pk.Status, issues)
}

// fhirCreate handles POST /fhir/r4/ServiceRequest.
func (a *api) fhirCreate(w http.ResponseWriter, r *http.Request) {
	r, cancel := a.bounded(r)
	defer cancel()
	body, ok := readFHIRBody(w, r, "the ServiceRequest")
	if !ok {
		return
	}
	sub, issues := fhir.DecodeServiceRequest(body)
	if len(issues) > 0 {
		// Report the structure's problems and the fields' together.
		writeOutcome(w, http.StatusBadRequest, fhir.AllIssues(sub, issues, a.now()))
		return
	}
	cmd, err := a.commandOf(r, keyAsSent)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	res, err := a.submitReferral(r, sub, cmd, "fhir")
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	ref, _, err := events.Get(r.Context(), a.store, aggregate.Referral, res.ID)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	a.writeServiceRequest(w, r, ref, createdStatus(res.Created))
}

// fhirRead handles GET /fhir/r4/ServiceRequest/{id}.
func (a *api) fhirRead(w http.ResponseWriter, r *http.Request) {
	ref, err := a.loadVisible(r)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	a.writeServiceRequest(w, r, ref, http.StatusOK)
}

// fhirResource is the resource type r's path names (/fhir/r4/<type>/...),
// for messages.
func fhirResource(r *http.Request) string {
	rest, _ := strings.CutPrefix(r.URL.Path, fhirPrefix+"r4/")
	t, _, _ := strings.Cut(rest, "/")
	if t == "" || strings.HasPrefix(t, "$") || t == "metadata" {
		return "resource"
	}
	return t
}

func erased(ref *referral.Referral) bool {
	e, _, _ := ref.Erased()
	return e
}
