package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
	"github.com/pathway-sp/pathway/services/keys"
)

// orukGet fetches base+path with key ("" for none) and returns the status
// and body.
func orukGet(t *testing.T, base, path, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// The directory an admin imports is served as Open Referral UK without a
// key, valid against HSDS 3.0; with the operator's setting it needs a key,
// of any role.
func TestORUKIsPublicUnlessAKeyIsRequired(t *testing.T) {
	t.Parallel()
	p := start(t)
	admin := p.key(keys.RoleAdmin, "")
	var rep struct {
		Created  int
		Sequence uint64
		Results  []struct {
			ServiceID string `json:"service_id"`
		}
	}
	var svc map[string]any
	_ = json.Unmarshal(oruktest.Example(t, "service_full.json"), &svc)
	for _, sal := range svc["service_at_locations"].([]any) {
		loc := sal.(map[string]any)["location"].(map[string]any)
		loc["latitude"], loc["longitude"] = 54.57, -1.23
		for _, a := range loc["addresses"].([]any) {
			a.(map[string]any)["postal_code"], a.(map[string]any)["country"] = "TS1 2AA", "GB"
		}
	}
	if code, _ := p.do("POST", "/v1/directory/import", admin, []any{svc}, &rep); code != http.StatusOK || rep.Created != 1 {
		t.Fatalf("import: %d %+v", code, rep)
	}
	seq := strconv.FormatUint(rep.Sequence, 10)

	code, body := orukGet(t, p.base, "/oruk/services?min_seq="+seq, "")
	if code != http.StatusOK {
		t.Fatalf("GET /oruk/services without a key: %d %s, want 200", code, body)
	}
	page := oruktest.ValidatePage(t, oruktest.ServiceList, body)
	if page.TotalItems != 1 {
		t.Fatalf("GET /oruk/services: %d services, want 1", page.TotalItems)
	}
	oruktest.Validate(t, oruktest.Service, page.Contents[0])
	code, body = orukGet(t, p.base, "/oruk/services/"+rep.Results[0].ServiceID, "")
	if code != http.StatusOK {
		t.Fatalf("GET /oruk/services/{id}: %d %s", code, body)
	}
	oruktest.Validate(t, oruktest.Service, body)
	if code, _ := orukGet(t, p.base, "/oruk/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET /oruk/nothing: %d, want 404", code)
	}
	req, _ := http.NewRequest("POST", p.base+"/oruk/services", strings.NewReader("{}"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /oruk/services: %v %v, want 405", res.StatusCode, err)
	}

	cfg := p.cfg
	cfg.ORUKRequireKey = true
	locked := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(locked.Close)
	if code, body := orukGet(t, locked.URL, "/oruk/services", ""); code != http.StatusUnauthorized {
		t.Errorf("with a key required, no key: %d %s, want 401", code, body)
	}
	if code, body := orukGet(t, locked.URL, "/oruk/services", "not-a-key"); code != http.StatusUnauthorized {
		t.Errorf("with a key required, a wrong key: %d %s, want 401", code, body)
	}
	for _, role := range []keys.Role{keys.RolePartner, keys.RoleLinkWorker, keys.RoleReferrer} {
		org := ""
		switch role {
		case keys.RolePartner:
			org = "partner-a"
		case keys.RoleReferrer:
			org = "A81001"
		}
		var k string
		if role == keys.RoleLinkWorker {
			k = p.linkWorkerKey(p.worker(p.key(keys.RoleOps, ""), "ORUK Reader", 5))
		} else {
			k = p.key(role, org)
		}
		code, body := orukGet(t, locked.URL, "/oruk/services", k)
		if code != http.StatusOK {
			t.Errorf("with a key required, a %s key: %d %s, want 200", role, code, body)
			continue
		}
		oruktest.ValidatePage(t, oruktest.ServiceList, body)
	}
}

// Every ORUK endpoint is in openapi.json, open to every caller.
func TestOpenAPIDocumentsORUK(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range oruk.Routes() {
		op, ok := doc.Paths[r.Path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not documented", r.Method, r.Path)
			continue
		}
		if len(op.Security) == 0 || len(op.Security[0]) != 0 {
			t.Errorf("%s %s: security %v, want none needed (and a bearer key when the operator requires one)", r.Method, r.Path, op.Security)
		}
	}
}
