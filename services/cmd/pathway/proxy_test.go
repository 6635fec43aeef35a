package main

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestServeBehindATLSProxy: only from --trusted-proxies are
// X-Forwarded-For and X-Forwarded-Proto believed: the access log names
// the client the proxy forwarded for, and the dashboard's session cookie
// is Secure when the proxy says https; from any other peer the same
// headers change neither.
func TestServeBehindATLSProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		client  string
		secure  bool
	}{
		{name: "a trusted proxy", proxies: []string{"127.0.0.1", "::1"}, client: "198.51.100.9", secure: true},
		{name: "an untrusted peer", proxies: []string{"10.0.0.0/8"}, client: "127.0.0.1", secure: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serveWith(t, func(c *serveConfig) { c.TrustedProxies = tc.proxies })
			ops := p.key(keys.RoleOps, "")
			resp := signInAs(t, p.base, browserClient(), "198.51.100.9", true, ops)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d, want 303", resp.StatusCode)
			}
			var session *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "pathway_session" {
					session = c
				}
			}
			if session == nil || session.Secure != tc.secure {
				t.Errorf("session cookie %+v: Secure want %v", session, tc.secure)
			}
			line := regexp.MustCompile(`msg=http [^\n]*route="POST /signin"[^\n]*`).FindString(p.logs.String())
			if want := "client=" + tc.client; !regexp.MustCompile(regexp.QuoteMeta(want) + `( |$)`).MatchString(line) {
				t.Errorf("access line %q, want %s", line, want)
			}
		})
	}
}
