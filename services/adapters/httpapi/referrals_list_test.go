package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// feedPage is an answer of GET /v1/referrals.
type feedPage struct {
	Total     int    `json:"total"`
	Next      string `json:"next"`
	Cursor    string `json:"cursor"`
	Referrals []struct {
		ID                string    `json:"id"`
		Status            string    `json:"status"`
		Stage             string    `json:"stage"`
		UpdatedAt         time.Time `json:"updated_at"`
		ExternalReference string    `json:"external_reference"`
		Version           uint64    `json:"version"`
	} `json:"referrals"`
}

// ids are the page's referral ids, in order.
func (p feedPage) ids() []string {
	var out []string
	for _, r := range p.Referrals {
		out = append(out, r.ID)
	}
	return out
}

// feed reads the whole feed from path (which has its query), following
// the next links, every page read once the view has the log's end.
func (s *server) feed(path, key string) (pages []feedPage) {
	s.t.Helper()
	sep := "?"
	if u, _ := url.Parse(path); u.RawQuery != "" {
		sep = "&"
	}
	path += sep + "min_seq=" + strconv.FormatUint(s.logLength(), 10)
	for path != "" {
		var pg feedPage
		if code, _ := s.do("GET", path, key, nil, &pg); code != http.StatusOK {
			s.t.Fatalf("GET %s: %d", path, code)
		}
		pages = append(pages, pg)
		path = pg.Next
		if len(pages) > 20 {
			s.t.Fatal("the feed's next links do not end")
		}
	}
	return pages
}

// TestReferrerListsItsReferralsUpdatedSince: a referrer lists its own
// organisation's referrals updated since a time, in the order they last
// changed, never another organisation's, page by page; a referral that
// changes moves to the end; an admin lists every organisation's; bad
// parameters are 400s naming them.
func TestReferrerListsItsReferralsUpdatedSince(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin := p.key(keys.RoleAdmin, "")
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	before := time.Now().UTC().Add(-time.Second)
	theirs := p.referFrom(refB, admin, "A81002", "9434765013", "waitlisted")
	var mine []string
	for _, nhs := range []string{"9434765021", "9434765048", "9434765056"} {
		mine = append(mine, p.referFrom(refA, admin, "A81001", nhs, "waitlisted"))
	}

	// One page, then pages of two: the same referrals in the same order,
	// all A81001's.
	since := url.QueryEscape(before.Format(time.RFC3339Nano))
	whole := p.feed("/v1/referrals?updated_since="+since, refA)
	if len(whole) != 1 || !slices.Equal(whole[0].ids(), mine) || whole[0].Total != 3 {
		t.Fatalf("A81001's feed: %d pages, %v (total %d), want one page of %v", len(whole), whole[0].ids(), whole[0].Total, mine)
	}
	for _, r := range whole[0].Referrals {
		if r.Stage != "waitlisted" || r.Status != "active" || r.UpdatedAt.Before(before) || r.Version == 0 {
			t.Errorf("feed item %+v: want stage waitlisted, status active, updated since %v, a version", r, before)
		}
	}
	paged := p.feed("/v1/referrals?limit=2&updated_since="+since, refA)
	var got []string
	for _, pg := range paged {
		got = append(got, pg.ids()...)
	}
	if len(paged) != 2 || len(paged[0].Referrals) != 2 || paged[0].Cursor == "" || paged[1].Next != "" || !slices.Equal(got, mine) {
		t.Fatalf("A81001's feed in pages of 2: %d pages, %v, want 2 pages giving %v", len(paged), got, mine)
	}
	if got := p.feed("/v1/referrals", refB); len(got) != 1 || !slices.Equal(got[0].ids(), []string{theirs}) {
		t.Fatalf("A81002's feed: %v, want only %s", got[0].ids(), theirs)
	}

	// A change moves a referral to the end; since its time, only it.
	if code, _ := p.do("POST", "/v1/referrals/"+mine[0]+"/cancel", refA, map[string]string{"reason": "entered-in-error"}, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	moved := p.feed("/v1/referrals?updated_since="+since, refA)[0]
	if want := []string{mine[1], mine[2], mine[0]}; !slices.Equal(moved.ids(), want) {
		t.Fatalf("after a cancel: %v, want %v", moved.ids(), want)
	}
	last := moved.Referrals[2]
	if last.Stage != "cancelled" || last.Status != "entered-in-error" {
		t.Errorf("the cancelled referral: stage %q, status %q, want cancelled, entered-in-error", last.Stage, last.Status)
	}
	var read struct {
		UpdatedAt time.Time `json:"updated_at"`
		Sequence  uint64    `json:"sequence"`
	}
	p.do("GET", "/v1/referrals/"+mine[0], refA, nil, &read)
	if !read.UpdatedAt.Equal(last.UpdatedAt) || read.Sequence != last.Version {
		t.Errorf("feed says updated %v at %d, the read %v at %d", last.UpdatedAt, last.Version, read.UpdatedAt, read.Sequence)
	}
	after := url.QueryEscape(last.UpdatedAt.Format(time.RFC3339Nano))
	if got := p.feed("/v1/referrals?updated_since="+after, refA)[0].ids(); !slices.Equal(got, []string{mine[0]}) {
		t.Fatalf("updated since the cancel: %v, want only %s", got, mine[0])
	}
	// Unencoded, a '+' offset arrives as a space: still read as one.
	if got := p.feed("/v1/referrals?updated_since="+last.UpdatedAt.In(time.FixedZone("", 3600)).Format(time.RFC3339Nano), refA)[0].ids(); !slices.Equal(got, []string{mine[0]}) {
		t.Fatalf("updated since the cancel, +01:00 sent unencoded: %v, want only %s", got, mine[0])
	}

	// An admin sees every organisation's, or one's.
	if got := p.feed("/v1/referrals?updated_since="+since, admin)[0]; got.Total != 4 || !slices.Contains(got.ids(), theirs) {
		t.Fatalf("admin's feed: %v, want all four", got.ids())
	}
	if got := p.feed("/v1/referrals?organisation=A81002", admin)[0].ids(); !slices.Equal(got, []string{theirs}) {
		t.Fatalf("admin's feed of A81002: %v, want %s", got, theirs)
	}

	for _, c := range []struct{ query, field string }{
		{"updated_since=yesterday", "updated_since"},
		{"updated_since=2026-01-01", "updated_since"},
		{"limit=0", "limit"},
		{"limit=many", "limit"},
		{"cursor=not-a-cursor", "cursor"},
		{"organisation=A81002", "organisation"},
	} {
		var prob problem
		code, _ := p.do("GET", "/v1/referrals?"+c.query, refA, nil, &prob)
		if code != http.StatusBadRequest || len(prob.Errors) != 1 || prob.Errors[0].Field != c.field {
			t.Errorf("GET /v1/referrals?%s: %d %+v, want 400 naming %s", c.query, code, prob, c.field)
		}
	}
	for role, org := range map[keys.Role]string{keys.RoleTriage: "", keys.RoleOps: "", keys.RolePartner: "P1"} {
		if code, _ := p.do("GET", "/v1/referrals", p.key(role, org), nil, nil); code != http.StatusForbidden {
			t.Errorf("GET /v1/referrals as %s: %d, want 403", role, code)
		}
	}
}
