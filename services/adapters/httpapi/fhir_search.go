package httpapi

// The FHIR ServiceRequest search: GET /fhir/r4/ServiceRequest?identifier=
// &subject:identifier=&_lastUpdated=&status=, the caller's organisation's
// referrals as a searchset Bundle, from the referrers' status feed (the
// view), each entry loaded from the log and encoded as the read encodes
// it, and audited as a read.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/feed"
	"github.com/pathway-sp/pathway/services/adapters/fhir"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/intake"
)

// nhsIndex finds the referrals of an NHS number: intake's person
// aggregates, keyed by a keyed hash of the number, so no read model holds
// it.
type nhsIndex interface {
	ReferralsOfNHSNumber(ctx context.Context, nhs string) ([]string, error)
}

var _ nhsIndex = (*intake.Service)(nil)

// The search parameters pathway supports; with Prefer: handling=strict
// any other is refused, else ignored (FHIR's lenient default) and left
// out of the self link.
var fhirSearchParams = []string{"identifier", "subject:identifier", "_lastUpdated", "status", fhirFeed.limit, fhirFeed.cursor}

// The identifier systems a search matches: the external reference's, and
// the NHS number's in both spellings in use.
var (
	externalRefSystems = []string{fhir.SystemExternalRef}
	nhsNumberSystems   = []string{fhir.SystemNHSNumber, "https://fhir.nhs.uk/id/nhs-number"}
)

// token is a FHIR token search value: [system]|code, or a code alone
// (any system).
type token struct {
	system    string
	anySystem bool
	code      string
}

func parseToken(v string) token {
	system, code, ok := strings.Cut(v, "|")
	if !ok {
		return token{anySystem: true, code: v}
	}
	return token{system: system, code: code}
}

// matches reports whether an identifier of one of systems with value
// matches t. An empty value never does.
func (t token) matches(systems []string, value string) bool {
	return value != "" && t.code == value && (t.anySystem || slices.Contains(systems, t.system))
}

// fhirSearch is a search's parsed parameters.
type fhirSearch struct {
	page        feedQuery
	identifiers []token     // any of them (comma: OR)
	nhs         []token     // any of them
	statuses    []string    // any of them
	times       []timeBound // all of them (repeated: AND)
	used        url.Values  // for the self link
}

// timeBound is one _lastUpdated comparison.
type timeBound struct {
	prefix     string
	start, end time.Time // the value's range at its precision
}

// holds reports whether t meets the bound (FHIR's comparisons of a
// precise time with a value's range).
func (b timeBound) holds(t time.Time) bool {
	switch b.prefix {
	case "gt":
		return !t.Before(b.end)
	case "ge":
		return !t.Before(b.start)
	case "lt":
		return t.Before(b.start)
	case "le":
		return t.Before(b.end)
	}
	return false
}

// parseFHIRDateTime reads a FHIR dateTime (a year, a month, a date, or a
// time to the second or finer with its offset) as the range it stands
// for at its precision; a date without an offset is read in UTC.
func parseFHIRDateTime(v string) (start, end time.Time, ok bool) {
	v = strings.ReplaceAll(v, " ", "+") // a '+' sent unencoded
	for _, f := range []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
	} {
		if t, err := time.Parse(f.layout, v); err == nil {
			return t, f.next(t), true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, t.Add(time.Nanosecond), true
	}
	return time.Time{}, time.Time{}, false
}

// parseFHIRSearch reads the search's parameters, every invalid one at
// once; strict refuses parameters pathway does not support.
func parseFHIRSearch(r *http.Request, strict bool) (fhirSearch, []fhir.Issue) {
	q := r.URL.Query()
	var s fhirSearch
	var issues []fhir.Issue
	page, errs := parseFeedQuery(r, fhirFeed)
	s.page = page
	for _, e := range errs {
		issues = append(issues, fhir.Issue{Severity: "error", Code: "value", Diagnostics: e.Field + ": " + e.Reason, Expression: []string{e.Field}})
	}
	s.used = url.Values{}
	for name, vals := range q {
		if !slices.Contains(fhirSearchParams, name) {
			if strict {
				issues = append(issues, fhir.Issue{Severity: "error", Code: "not-supported",
					Diagnostics: name + ": not a search parameter pathway supports (Prefer: handling=strict); supported: " + strings.Join(fhirSearchParams, ", ")})
			}
			continue
		}
		for _, v := range vals {
			if v == "" {
				continue
			}
			if name != fhirFeed.cursor {
				s.used.Add(name, v)
			}
			switch name {
			case "identifier":
				for _, t := range strings.Split(v, ",") {
					s.identifiers = append(s.identifiers, parseToken(t))
				}
			case "subject:identifier":
				for _, t := range strings.Split(v, ",") {
					s.nhs = append(s.nhs, parseToken(t))
				}
			case "status":
				s.statuses = append(s.statuses, strings.Split(v, ",")...)
			case "_lastUpdated":
				prefix, value := v[:min(2, len(v))], v[min(2, len(v)):]
				start, end, ok := parseFHIRDateTime(value)
				if !slices.Contains([]string{"gt", "ge", "lt", "le"}, prefix) || !ok {
					issues = append(issues, fhir.Issue{Severity: "error", Code: "value", Expression: []string{"_lastUpdated"},
						Diagnostics: "_lastUpdated: must be gt, ge, lt or le followed by a FHIR dateTime, e.g. gt2026-01-31T09:00:00Z"})
					continue
				}
				s.times = append(s.times, timeBound{prefix: prefix, start: start, end: end})
			}
		}
	}
	if fhirFeed.limit != "" && q.Get(fhirFeed.limit) != "" {
		s.used.Set(fhirFeed.limit, q.Get(fhirFeed.limit))
	}
	return s, issues
}

// match reports whether ref meets the search's parameters other than
// the NHS number (found through the index).
func (s fhirSearch) match(ref feed.Referral) bool {
	if len(s.identifiers) > 0 && !slices.ContainsFunc(s.identifiers, func(t token) bool { return t.matches(externalRefSystems, ref.ExternalReference) }) {
		return false
	}
	if len(s.statuses) > 0 && !slices.Contains(s.statuses, ref.Status()) {
		return false
	}
	for _, b := range s.times {
		if !b.holds(ref.UpdatedAt) {
			return false
		}
	}
	return true
}

// bundle is a FHIR searchset Bundle.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Meta         bundleMeta    `json:"meta"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

// fhirSearch handles GET /fhir/r4/ServiceRequest: the caller's
// organisation's referrals (every organisation's for an admin) that
// match every parameter given, as a searchset Bundle, in the order they
// last changed (oldest change first), _count at a time (default 20, at
// most 100), with a next link carrying an opaque _cursor while there are
// more, and the total. identifier matches the external reference
// (system|value, |value or value), subject:identifier the NHS number
// (through intake's person index; an erased referral no longer matches
// it), _lastUpdated gt, ge, lt and le (repeatable: all must hold) against
// the referral's last change (its meta.lastUpdated), status the
// ServiceRequest status; a comma gives alternatives. Unknown parameters
// are ignored unless Prefer: handling=strict. The view is read once it has
// reached the log's end as of the request, so a referral just submitted
// is found. Each entry is a read of personal data: it is loaded from the
// log, encoded as GET /fhir/r4/ServiceRequest/{id} encodes it, and
// recorded in the audit log before the answer.
func (a *api) fhirSearch(w http.ResponseWriter, r *http.Request) {
	strict := slices.ContainsFunc(r.Header.Values("Prefer"), func(v string) bool {
		return slices.ContainsFunc(strings.Split(v, ","), func(p string) bool { return strings.TrimSpace(p) == "handling=strict" })
	})
	s, issues := parseFHIRSearch(r, strict)
	if len(issues) > 0 {
		writeOutcome(w, http.StatusBadRequest, issues)
		return
	}
	eng := a.reads.Referrers
	if eng == nil || (len(s.nhs) > 0 && a.nhsIndex == nil) {
		a.fhirError(w, r, kernel.Errorf(kernel.Unavailable, "the ServiceRequest search is not served by this process"))
		return
	}
	ctx := r.Context()
	// Only these referrals, when an NHS number is searched for.
	var only map[string]bool
	if len(s.nhs) > 0 {
		only = map[string]bool{}
		for _, t := range s.nhs {
			if !t.anySystem && !slices.Contains(nhsNumberSystems, t.system) {
				continue
			}
			ids, err := a.nhsIndex.ReferralsOfNHSNumber(ctx, t.code)
			if err != nil {
				a.fhirError(w, r, err)
				return
			}
			for _, id := range ids {
				only[id] = true
			}
		}
	}
	if err := a.catchUp(ctx, eng); err != nil {
		a.fhirError(w, r, err)
		return
	}
	var pg feed.Page
	eng.Read(func(p projections.Projection, _ uint64) {
		pg = p.(*feed.View).Page(feed.Query{Organisation: s.page.organisation, After: s.page.after, Limit: s.page.limit,
			Match: func(ref feed.Referral) bool {
				return (only == nil || only[ref.ID] && !ref.Erased) && s.match(ref)
			}})
	})
	base := "http://" + r.Host
	if r.TLS != nil || a.proxies.Secure(r) {
		base = "https://" + r.Host
	}
	self := base + r.URL.Path
	if len(s.used) > 0 {
		self += "?" + s.used.Encode()
	}
	b := bundle{ResourceType: "Bundle", Meta: bundleMeta{LastUpdated: a.now().UTC().Format(time.RFC3339Nano)}, Type: "searchset", Total: pg.Total,
		Link: []bundleLink{{Relation: "self", URL: self}}}
	if pg.Next != 0 {
		next := url.Values{}
		for k, v := range s.used {
			next[k] = v
		}
		next.Set(fhirFeed.cursor, cursorOf(pg.Next))
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: base + r.URL.Path + "?" + next.Encode()})
	}
	key := principalFrom(ctx).key
	for _, item := range pg.Referrals {
		ref, _, err := events.Get(ctx, a.store, aggregate.Referral, item.ID)
		if err != nil {
			a.fhirError(w, r, err)
			return
		}
		if ok, err := a.visible(ctx, key, ref); err != nil || !ok {
			if err == nil {
				err = kernel.Errorf(kernel.Internal, "the feed listed referral %s outside the caller's reach", item.ID)
			}
			a.fhirError(w, r, err)
			return
		}
		if err := a.audit(r, ref.ID(), "", ""); err != nil {
			a.fhirError(w, r, err)
			return
		}
		body, err := fhir.EncodeServiceRequest(a.serviceRequestView(r, ref))
		if err != nil {
			a.fhirError(w, r, err)
			return
		}
		e := bundleEntry{FullURL: base + "/fhir/r4/ServiceRequest/" + ref.ID(), Resource: body}
		e.Search.Mode = "match"
		b.Entry = append(b.Entry, e)
	}
	out, err := json.Marshal(b)
	if err != nil {
		a.fhirError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// catchUp waits, up to the read timeout, until eng has applied the log as
// it ends now: a search finds what was written before it.
func (a *api) catchUp(ctx context.Context, eng *projections.Engine) error {
	last, err := a.store.LastSequence(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.reads.ReadTimeout)
	defer cancel()
	if err := eng.WaitFor(ctx, last); err != nil {
		if errors.Is(err, projections.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return kernel.Errorf(kernel.Unavailable, "the search's view is catching up with the log; retry")
		}
		return err
	}
	return nil
}
