package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/sar"
)

// exporter is what the subject access endpoint uses of the sar service.
type exporter interface {
	Person(ctx context.Context, nhs string, by audit.Record) (sar.Export, error)
}

var _ exporter = (*sar.Service)(nil)

type sarBody struct {
	NHSNumber string `json:"nhs_number"`
}

func (b *sarBody) check() []kernel.FieldError {
	b.NHSNumber = referral.NormaliseNHSNumber(b.NHSNumber)
	if !referral.ValidNHSNumber(b.NHSNumber) {
		return []kernel.FieldError{{Field: "nhs_number", Reason: "must be 10 digits with a valid check digit", Missing: b.NHSNumber == ""}}
	}
	return nil
}

// subjectAccess handles POST /v1/people/access-request (admins): the
// subject access export of the person with the NHS number, as JSON, or as
// the readable HTML summary when the request accepts text/html. Making it
// is recorded in the audit log.
func (a *api) subjectAccess(w http.ResponseWriter, r *http.Request) {
	var b sarBody
	if !decodeJSON(w, r, &b) {
		return
	}
	if errs := b.check(); len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	if a.exporter == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "subject access is not served here"))
		return
	}
	key := principalFrom(r.Context()).key
	x, err := a.exporter.Person(r.Context(), b.NHSNumber, audit.Record{KeyID: key.ID, Role: string(key.Role),
		Organisation: key.Organisation, Route: r.Pattern, RequestID: correlationID(r), Status: http.StatusOK})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if wantsHTML(r) {
		writeExportHTML(w, x)
		return
	}
	writeJSON(w, http.StatusOK, x)
}

// wantsHTML reports whether r prefers an HTML answer.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// writeExportHTML answers with the readable summary of x.
func writeExportHTML(w http.ResponseWriter, x sar.Export) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = sar.WriteHTML(w, x)
}
