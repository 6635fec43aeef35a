package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestAuthorisationMatrix sends every role, and the keys of a role with
// its scopes or without its worker (and no key, a wrong key and a revoked
// key), to every endpoint, and checks who gets through. Each failing
// request comes from its own client address (through a trusted proxy), so
// the throttle of failed keys lets every one reach the check.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	p := startWith(t, false, "127.0.0.1")
	clients := 0
	roleKeys := map[keys.Role]string{}
	for _, r := range keys.Roles {
		switch r {
		case keys.RoleReferrer:
			roleKeys[r] = p.key(r, "A81001")
		case keys.RolePartner:
			roleKeys[r] = p.key(r, "partner-a")
		case keys.RoleLinkWorker: // below: it acts for a worker
		default:
			roleKeys[r] = p.key(r, "")
		}
	}
	worker := p.worker(roleKeys[keys.RoleOps], "Matrix Worker", 5)
	roleKeys[keys.RoleLinkWorker] = p.linkWorkerKey(worker)
	// A scope or a missing worker changes which referrals a key reaches,
	// never which routes its role may call.
	type principal struct {
		name string
		role keys.Role
		key  string
	}
	var principals []principal
	for _, r := range keys.Roles {
		principals = append(principals, principal{string(r), r, roleKeys[r]})
	}
	principals = append(principals,
		principal{"link_worker with the team scope", keys.RoleLinkWorker, p.linkWorkerKey(worker, keys.ScopeTeam)},
		principal{"link_worker without a worker", keys.RoleLinkWorker, p.legacyLinkWorkerKey()},
		principal{"ops with the personal_data scope", keys.RoleOps, p.keyFor(keys.Spec{Role: keys.RoleOps, Scopes: []keys.Scope{keys.ScopePersonalData}})},
	)
	var created submitted
	if code, _ := p.do("POST", "/v1/referrals", roleKeys[keys.RoleReferrer], exampleReferral(), &created); code != http.StatusCreated {
		t.Fatalf("setup referral: %d", code)
	}
	revoked := p.key(keys.RoleAdmin, "")
	p.revoke(revoked)

	for _, route := range httpapi.Routes() {
		path := strings.ReplaceAll(route.Path, "{id}", created.ID)
		for _, pr := range principals {
			t.Run(route.Method+" "+route.Path+" as "+pr.name, func(t *testing.T) {
				// An empty JSON object: authorised callers get past the
				// gate (to a 2xx, 4xx validation, 404 or 409), others are
				// stopped.
				code, _ := p.do(route.Method, path, pr.key, bodyFor(route.Method), nil)
				allowed := containsRole(route.Roles, pr.role)
				switch {
				case allowed && (code == http.StatusUnauthorized || code == http.StatusForbidden):
					t.Fatalf("got %d, want %s let through", code, pr.name)
				case !allowed && code != http.StatusForbidden:
					t.Fatalf("got %d, want 403 for %s", code, pr.name)
				}
			})
		}
		for name, key := range map[string]string{"no key": "", "wrong key": "pw_000000000000_" + strings.Repeat("A", 43), "revoked key": revoked, "garbage": "hello"} {
			t.Run(route.Method+" "+route.Path+" with "+name, func(t *testing.T) {
				var prob problem
				var oo outcome
				clients++
				client := fmt.Sprintf("10.%d.%d.%d", clients>>16&255, clients>>8&255, clients&255)
				if strings.HasPrefix(route.Path, "/fhir/") {
					// Under /fhir/ every answer is FHIR.
					code, hdr := p.do(route.Method, path, key, bodyFor(route.Method), &oo, "X-Forwarded-For", client)
					if code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/fhir+json" || oo.ResourceType != "OperationOutcome" {
						t.Fatalf("got %d %s, want 401 OperationOutcome", code, hdr.Get("Content-Type"))
					}
					return
				}
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
