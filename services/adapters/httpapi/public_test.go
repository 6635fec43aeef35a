package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestJSONEdge: the API's description needs no key, a wrong method is a
// 405 naming the methods the path has, and /v1/me tells a key what it is.
func TestJSONEdge(t *testing.T) {
	t.Parallel()
	p := start(t)
	var doc struct{ OpenAPI string }
	if code, _ := p.do("GET", "/v1/openapi.json", "", nil, &doc); code != http.StatusOK || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("the OpenAPI document without a key: %d %q, want 200", code, doc.OpenAPI)
	}
	ops := p.key(keys.RoleOps, "")
	var prob struct{ Title, Detail string }
	code, hdr := p.do("PATCH", "/v1/referrals", ops, nil, &prob)
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, POST" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") {
		t.Errorf("PATCH /v1/referrals: %d Allow %q %s, want 405 with Allow GET, POST as a problem", code, hdr.Get("Allow"), hdr.Get("Content-Type"))
	}
	if code, _ := p.do("GET", "/v1/nothing-here", ops, nil, nil); code != http.StatusNotFound {
		t.Errorf("an unknown path: %d, want 404", code)
	}
	ref := p.key(keys.RoleReferrer, "A81001")
	var me struct{ Role, Organisation string }
	if code, _ := p.do("GET", "/v1/me", ref, nil, &me); code != http.StatusOK || me.Role != "referrer" || me.Organisation != "A81001" {
		t.Errorf("/v1/me: %d %+v, want the referrer of A81001", code, me)
	}
	if code, _ := p.do("GET", "/v1/me", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("/v1/me without a key: %d, want 401", code)
	}
}
