package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// auditLog is what the endpoints use of the audit log.
type auditLog interface {
	Record(ctx context.Context, r audit.Record) error
	Query(ctx context.Context, f audit.Filter) ([]audit.Record, error)
}

var _ auditLog = (*audit.Log)(nil)

// HeaderAccessReason carries why a reader reads a referral outside their
// everyday access (break-glass): a link worker may then read a referral
// not on their caseload or their PCN's waitlist, and the read is audited
// with the reason.
const HeaderAccessReason = "Pathway-Access-Reason"

// accessReason is the break-glass reason of r: empty, or checked text of at
// most 200 characters. Its error is kernel Invalid.
func accessReason(r *http.Request) (string, error) {
	reason := strings.TrimSpace(r.Header.Get(HeaderAccessReason))
	if reason == "" {
		return "", nil
	}
	if len(reason) > 200 {
		return "", kernel.InvalidFields(kernel.FieldError{Field: HeaderAccessReason, Reason: "at most 200 characters"})
	}
	if errs := kernel.Line(HeaderAccessReason, reason); len(errs) > 0 {
		return "", kernel.InvalidFields(errs...)
	}
	return reason, nil
}

// audit records that the caller of r read the personal data of referral
// (or of handoff) and returns its error: a read the audit log cannot
// record is not served. Without an audit log (tests of other things) it
// records nothing.
func (a *api) audit(r *http.Request, referral, handoff, reason string) error {
	if a.auditLog == nil {
		return nil
	}
	key := principalFrom(r.Context()).key
	rec := audit.Record{At: a.now().UTC(), KeyID: key.ID, Role: string(key.Role), Organisation: key.Organisation,
		Referral: referral, Handoff: handoff, Route: r.Pattern, Reason: reason, RequestID: correlationID(r), Status: http.StatusOK}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.auditLog.Record(ctx, rec); err != nil {
		a.log.Error("audit record failed: the read is refused", "route", r.Pattern, "err", err)
		return kernel.Errorf(kernel.Unavailable, "the read could not be recorded in the audit log; try again")
	}
	return nil
}

// auditQuery handles GET /v1/audit?referral=ID or ?key=ID (admins): the
// recorded reads of a referral's personal data, or a key's reads, oldest
// first (since=RFC 3339 time, limit=N).
func (a *api) auditQuery(w http.ResponseWriter, r *http.Request) {
	if a.auditLog == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the audit log is not served here"))
		return
	}
	q := r.URL.Query()
	f := audit.Filter{Referral: q.Get("referral"), KeyID: q.Get("key")}
	var errs []kernel.FieldError
	if f.Referral == "" && f.KeyID == "" {
		errs = append(errs, kernel.FieldError{Field: "referral", Reason: "give referral=ID or key=ID", Missing: true})
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			errs = append(errs, kernel.FieldError{Field: "since", Reason: "must be an RFC 3339 time"})
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			errs = append(errs, kernel.FieldError{Field: "limit", Reason: "must be a positive number"})
		}
		f.Limit = n
	}
	for _, v := range []struct{ field, id string }{{"referral", f.Referral}, {"key", f.KeyID}} {
		if strings.ContainsAny(v.id, ".*> ") {
			errs = append(errs, kernel.FieldError{Field: v.field, Reason: "is not an id"})
		}
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	recs, err := a.auditLog.Query(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "total": len(recs)})
}

// breakGlass reports whether key may read a referral it does not reach
// when it gives a reason: a link worker may.
func breakGlass(key keys.Key) bool { return key.Role == keys.RoleLinkWorker }
