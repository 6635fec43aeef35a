package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// searchBundle is the part of a searchset Bundle the tests read.
type searchBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Status       string `json:"status"`
			Meta         struct {
				LastUpdated time.Time `json:"lastUpdated"`
			} `json:"meta"`
		} `json:"resource"`
	} `json:"entry"`
}

func (b searchBundle) ids() []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ID)
	}
	return out
}

func (b searchBundle) next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// search GETs a FHIR search (query already encoded) and checks the answer
// is a searchset Bundle (apitest validates it as R4); it returns it and the referrals' ids.
func (s *server) search(t *testing.T, key, query string, headers ...string) searchBundle {
	t.Helper()
	var raw json.RawMessage
	code, hdr := s.do("GET", "/fhir/r4/ServiceRequest?"+query, key, nil, &raw, headers...)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("search %s: %d %s %s", query, code, hdr.Get("Content-Type"), raw)
	}
	var b searchBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		t.Fatalf("search %s: a %s of type %s, want a searchset Bundle", query, b.ResourceType, b.Type)
	}
	return b
}

// referRef submits the example referral from practice for nhs with an
// external reference, and returns its id once it is waitlisted.
func (s *server) referRef(refKey, adminKey, practice, nhs, extRef string) string {
	s.t.Helper()
	body := exampleReferral()
	body["gp_practice"] = practice
	body["referrer"].(map[string]any)["organisation"] = practice
	body["person"].(map[string]any)["nhs_number"] = nhs
	body["external_reference"] = extRef
	var created submitted
	if code, _ := s.do("POST", "/v1/referrals", refKey, body, &created); code != http.StatusCreated {
		s.t.Fatalf("referral from %s: %d", practice, code)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var v view
		s.do("GET", "/v1/referrals/"+created.ID, adminKey, nil, &v)
		if v.Status == "waitlisted" {
			return created.ID
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("referral %s is %s, want waitlisted", created.ID, v.Status)
		}
	}
}

// TestFHIRServiceRequestSearch: the search finds a referrer's own
// referrals by external reference, NHS number, last update and status,
// page by page, as valid searchset Bundles, and never another
// organisation's, though it shares a reference or the person.
func TestFHIRServiceRequestSearch(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin := p.key(keys.RoleAdmin, "")
	refA, refB := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleReferrer, "A81002")
	const nhs1, nhs2, nhs3 = "9434765064", "9434765072", "9434765080"
	extSystem := url.QueryEscape("https://pathway.example/fhir/Id/external-reference") + "|"
	nhsSystem := url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number") + "|"
	a1 := p.referRef(refA, admin, "A81001", nhs1, "REF-1")
	a2 := p.referRef(refA, admin, "A81001", nhs2, "REF-2")
	b1 := p.referRef(refB, admin, "A81002", nhs3, "REF-1") // the same reference, another organisation

	eq := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	eq("A81001, everything", p.search(t, refA, "").ids(), a1, a2)
	eq("A81002, everything", p.search(t, refB, "").ids(), b1)
	eq("A81001, identifier system|value", p.search(t, refA, "identifier="+extSystem+"REF-1").ids(), a1)
	eq("A81002, identifier system|value", p.search(t, refB, "identifier="+extSystem+"REF-1").ids(), b1)
	eq("A81001, identifier value", p.search(t, refA, "identifier=REF-2").ids(), a2)
	eq("A81001, identifier of another system", p.search(t, refA, "identifier=urn:other|REF-1").ids())
	eq("A81001, identifier either", p.search(t, refA, "identifier=REF-1,REF-2").ids(), a1, a2)
	eq("A81001, NHS number", p.search(t, refA, "subject:identifier="+nhsSystem+nhs2).ids(), a2)
	eq("A81001, NHS number, lower-case id", p.search(t, refA, "subject:identifier="+url.QueryEscape("https://fhir.nhs.uk/id/nhs-number|")+nhs1).ids(), a1)
	eq("A81001, A81002's person", p.search(t, refA, "subject:identifier="+nhsSystem+nhs3).ids())

	// A1 is revoked; then A81002 refers the same person: each organisation
	// finds only its own referral by the NHS number.
	if code, _ := p.do("POST", "/v1/referrals/"+a1+"/cancel", refA, map[string]string{"reason": "revoked"}, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	b2 := p.referRef(refB, admin, "A81002", nhs1, "REF-9")
	eq("A81001, the person both referred", p.search(t, refA, "subject:identifier="+nhsSystem+nhs1).ids(), a1)
	eq("A81002, the person both referred", p.search(t, refB, "subject:identifier="+nhsSystem+nhs1).ids(), b2)
	eq("admin, the person both referred", p.search(t, admin, "subject:identifier="+nhsSystem+nhs1).ids(), a1, b2)

	// Status, and the last update (a1 changed last of A81001's).
	eq("status=revoked", p.search(t, refA, "status=revoked").ids(), a1)
	eq("status=active", p.search(t, refA, "status=active").ids(), a2)
	all := p.search(t, refA, "")
	eq("after the cancel, in the order of the last change", all.ids(), a2, a1)
	cut := all.Entry[1].Resource.Meta.LastUpdated
	if cut.IsZero() || !cut.After(all.Entry[0].Resource.Meta.LastUpdated) {
		t.Fatalf("lastUpdated: %v then %v", all.Entry[0].Resource.Meta.LastUpdated, cut)
	}
	at := url.QueryEscape(cut.Format(time.RFC3339Nano))
	eq("_lastUpdated=ge the cancel", p.search(t, refA, "_lastUpdated=ge"+at).ids(), a1)
	eq("_lastUpdated=gt the cancel", p.search(t, refA, "_lastUpdated=gt"+at).ids())
	eq("_lastUpdated=lt the cancel", p.search(t, refA, "_lastUpdated=lt"+at).ids(), a2)
	eq("_lastUpdated=le the cancel", p.search(t, refA, "_lastUpdated=le"+at).ids(), a2, a1)
	day := cut.UTC().Format(time.DateOnly)
	eq("_lastUpdated=ge today&lt the cancel", p.search(t, refA, "_lastUpdated=ge"+day+"&_lastUpdated=lt"+at).ids(), a2)
	eq("_lastUpdated=gt today (the whole day)", p.search(t, refA, "_lastUpdated=gt"+day).ids())
	eq("_lastUpdated=gt the cancel, status=revoked", p.search(t, refA, "_lastUpdated=le"+at+"&status=revoked").ids(), a1)

	// Pages of one, following next, with the total on each.
	var paged []string
	query := "_count=1&status=active,revoked"
	for range 5 {
		b := p.search(t, refA, query)
		if b.Total != 2 || len(b.Entry) != 1 {
			t.Fatalf("page %s: total %d, %d entries, want 2 and 1", query, b.Total, len(b.Entry))
		}
		paged = append(paged, b.ids()...)
		next := b.next()
		if next == "" {
			break
		}
		_, query, _ = strings.Cut(next, "?")
	}
	eq("pages of one", paged, a2, a1)

	// Unknown parameters: ignored, unless handling is strict. Bad ones:
	// an OperationOutcome naming them.
	eq("an unknown parameter", p.search(t, refA, "identifier=REF-2&colour=blue").ids(), a2)
	for _, c := range []struct {
		query   string
		headers []string
		want    string
	}{
		{"identifier=REF-2&colour=blue", []string{"Prefer", "handling=strict"}, "colour"},
		{"_lastUpdated=2026-01-01", nil, "_lastUpdated"},
		{"_lastUpdated=eq2026-01-01", nil, "_lastUpdated"},
		{"_lastUpdated=gtyesterday", nil, "_lastUpdated"},
		{"_count=0", nil, "_count"},
		{"_cursor=x", nil, "_cursor"},
	} {
		var raw json.RawMessage
		code, _ := p.do("GET", "/fhir/r4/ServiceRequest?"+c.query, refA, nil, &raw, c.headers...)
		if code != http.StatusBadRequest || !strings.Contains(string(raw), `"OperationOutcome"`) || !strings.Contains(string(raw), c.want) {
			t.Errorf("search %s %v: %d %s, want a 400 OperationOutcome naming %s", c.query, c.headers, code, raw, c.want)
			continue
		}
	}
}
