package httpapi

// The referrer's status feed: GET /v1/referrals?updated_since=, its own
// organisation's referrals in the order they last changed, paged by an
// opaque cursor, from the referrers view.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/feed"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/keys"
)

// feedItem is one referral in the status feed: ids, codes and times, no
// personal data (so a listing needs no audit record).
type feedItem struct {
	ID string `json:"id"`
	// Status is the FHIR ServiceRequest status, as the FHIR read shows it.
	Status string `json:"status"`
	// Stage is pathway's status, as GET /v1/referrals/{id} shows it in
	// its status member.
	Stage             string    `json:"stage"`
	UpdatedAt         time.Time `json:"updated_at"`
	ExternalReference string    `json:"external_reference,omitempty"`
	// Version is the sequence of the referral's last event (the read's
	// sequence, the FHIR versionId).
	Version uint64 `json:"version"`
	Erased  bool   `json:"erased,omitempty"`
	Link    string `json:"link"`
}

// feedQuery is a status-feed request, its parameters checked.
type feedQuery struct {
	organisation string
	after        uint64
	limit        int
}

// feedParams names a front door's paging parameters and bounds its pages.
type feedParams struct {
	// limit, cursor and organisation are the parameters' names;
	// organisation "" when the front door takes none.
	limit, cursor, organisation string
	// def and most are the default and the largest page.
	def, most int
}

var (
	jsonFeed = feedParams{limit: "limit", cursor: "cursor", organisation: "organisation", def: 50, most: 500}
	// fhirFeed pages the FHIR search, whose every entry is a read of
	// personal data (loaded, audited): smaller pages.
	fhirFeed = feedParams{limit: "_count", cursor: "_cursor", def: 20, most: 100}
)

// parseFeedQuery reads the paging parameters the JSON feed and the FHIR
// search share, named as fp says, and the organisation. A referrer always
// sees its own organisation's referrals only; staff (admin) see every
// organisation's, or (JSON) one's with organisation=ODS.
func parseFeedQuery(r *http.Request, fp feedParams) (feedQuery, []kernel.FieldError) {
	q := r.URL.Query()
	key := principalFrom(r.Context()).key
	fq := feedQuery{limit: fp.def}
	var errs []kernel.FieldError
	if v := q.Get(fp.limit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > fp.most {
			errs = append(errs, kernel.FieldError{Field: fp.limit, Reason: "must be 1 to " + strconv.Itoa(fp.most)})
		}
		fq.limit = n
	}
	if v := q.Get(fp.cursor); v != "" {
		n, ok := parseCursor(v)
		if !ok {
			errs = append(errs, kernel.FieldError{Field: fp.cursor, Reason: "must be a cursor from a next link, as given"})
		}
		fq.after = n
	}
	if fp.organisation != "" {
		fq.organisation = q.Get(fp.organisation)
	}
	if key.Role == keys.RoleReferrer {
		if fq.organisation != "" && fq.organisation != key.Organisation {
			errs = append(errs, kernel.FieldError{Field: fp.organisation, Reason: "a referrer sees only its own organisation's referrals; leave it out"})
		}
		fq.organisation = key.Organisation
	}
	return fq, errs
}

// cursorPrefix versions the cursor's form.
const cursorPrefix = "v1."

// cursorOf is the opaque cursor after the referral of version seq.
func cursorOf(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatUint(seq, 10)))
}

func parseCursor(s string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n > 0
}

// nextLink is the request's URL with the cursor after seq.
func nextLink(r *http.Request, seq uint64) string {
	q := r.URL.Query()
	q.Set(jsonFeed.cursor, cursorOf(seq))
	return (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String()
}

// parseInstant reads an RFC 3339 time; a '+' sent unencoded in a query
// arrives as a space, and is read as the '+' it was.
func parseInstant(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
	return t, err == nil
}

// listReferrals handles GET /v1/referrals: the caller's organisation's
// referrals (every organisation's, or organisation=ODS's, for an admin)
// whose last change was recorded at or after updated_since (RFC 3339;
// without it, all), in the order they last changed (oldest change first,
// by the position of the referral's last event in the log), limit at a
// time (default 50, at most 500), with a next link carrying an opaque
// cursor while there are more. A referral that changes while a client
// pages moves to the end, so it is seen again, never missed. Like the
// other views it takes ?min_seq and ?as_of_seq.
func (a *api) listReferrals(w http.ResponseWriter, r *http.Request) {
	if a.reads.Referrers == nil {
		a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the referral feed is not served by this process"))
		return
	}
	fq, errs := parseFeedQuery(r, jsonFeed)
	var since time.Time
	if v := r.URL.Query().Get("updated_since"); v != "" {
		t, ok := parseInstant(v)
		if !ok {
			errs = append(errs, kernel.FieldError{Field: "updated_since", Reason: "must be an RFC 3339 date and time with its offset, e.g. 2026-01-31T09:00:00Z"})
		}
		since = t
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	a.readView(w, r, a.reads.Referrers, func() projections.Projection { return feed.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		pg := p.(*feed.View).Page(feed.Query{Organisation: fq.organisation, After: fq.after, Limit: fq.limit,
			Match: func(ref feed.Referral) bool { return !ref.UpdatedAt.Before(since) }})
		items := make([]feedItem, len(pg.Referrals))
		for i, ref := range pg.Referrals {
			items[i] = feedItem{ID: ref.ID, Status: ref.Status(), Stage: string(ref.Stage), UpdatedAt: ref.UpdatedAt,
				ExternalReference: ref.ExternalReference, Version: ref.Version, Erased: ref.Erased, Link: "/v1/referrals/" + ref.ID}
		}
		out := map[string]any{"sequence": seq, "as_of": now, "total": pg.Total, "limit": fq.limit, "referrals": items}
		if pg.Next != 0 {
			out["cursor"], out["next"] = cursorOf(pg.Next), nextLink(r, pg.Next)
		}
		return out
	})
}
