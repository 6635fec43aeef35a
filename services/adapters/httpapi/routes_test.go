package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestAuthorisationMatrix sends every role (and no key, a wrong key and a
// revoked key) to every endpoint, and checks who gets through. Each
// failing request comes from its own client address (through a trusted
// proxy), so the throttle of failed keys lets every one reach the check.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	p := startWith(t, false, "127.0.0.1")
	clients := 0
	roleKeys := map[keys.Role]string{}
	for _, r := range keys.Roles {
		org := ""
		switch r {
		case keys.RoleReferrer:
			org = "A81001"
		case keys.RolePartner:
			org = "partner-a"
		}
		roleKeys[r] = p.key(r, org)
	}
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", roleKeys[keys.RoleReferrer], exampleReferral(), &created); code != http.StatusCreated {
		t.Fatalf("setup referral: %d", code)
	}
	revoked := p.key(keys.RoleAdmin, "")
	p.revoke(revoked)

	for _, route := range httpapi.Routes() {
		path := strings.ReplaceAll(route.Path, "{id}", created.ID)
		for _, r := range keys.Roles {
			t.Run(route.Method+" "+route.Path+" as "+string(r), func(t *testing.T) {
				// An empty JSON object: authorised callers get past the
				// gate (to a 2xx, 4xx validation or 409), others are stopped.
				code, _ := p.do(route.Method, path, roleKeys[r], bodyFor(route.Method), nil)
				allowed := containsRole(route.Roles, r)
				switch {
				case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
					t.Fatalf("got %d, want the %s role let through", code, r)
				case !allowed && code != http.StatusForbidden:
					t.Fatalf("got %d, want 403 for the %s role", code, r)
				}
			})
		}
		for name, key := range map[string]string{"no key": "", "wrong key": "pw_000000000000_" + strings.Repeat("A", 43), "revoked key": revoked, "garbage": "hello"} {
			t.Run(route.Method+" "+route.Path+" with "+name, func(t *testing.T) {
				var prob problem
				clients++
				client := fmt.Sprintf("10.%d.%d.%d", clients>>16&255, clients>>8&255, clients&255)
				code, hdr := p.do(route.Method, path, key, bodyFor(route.Method), &prob, "X-Forwarded-For", client)
				if code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/problem+json" || prob.Status != 401 {
					t.Fatalf("got %d %s, want 401 problem+json", code, hdr.Get("Content-Type"))
				}
			})
		}
	}
	if strings.Contains(p.logs.String(), roleKeys[keys.RoleAdmin]) || strings.Contains(p.logs.String(), "9434765919") {
		t.Error("the log contains a key or an NHS number")
	}
}

func bodyFor(method string) any {
	if method == "POST" {
		return "{}"
	}
	return nil
}

func containsRole(roles []keys.Role, r keys.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}
