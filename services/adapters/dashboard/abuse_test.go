package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/keys"
)

// postAs posts the sign-in form as a browser behind a proxy that says the
// client is client (X-Forwarded-For) and, when https, that it came over
// TLS.
func (b *browser) postAs(client string, https bool, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	if https {
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func trustLoopback(o *envOptions) {
	p, err := edge.ParseProxies([]string{"127.0.0.1"})
	if err != nil {
		panic(err)
	}
	o.proxies = p
}

// TestSigninFormIsSingleUse: each sign-in form's CSRF token is good for
// one post, whatever the post's outcome; the answer carries a fresh form.
func TestSigninFormIsSingleUse(t *testing.T) {
	e := newEnv(t)
	key := e.key(keys.RoleOps)
	b := e.browser()
	_, page, _ := b.get("/signin")
	token := csrfOf(t, page)

	code, page, _ := b.post("/signin", url.Values{"csrf": {token}, "key": {"pw_0123456789ab_" + strings.Repeat("A", 43)}})
	if code != http.StatusUnauthorized {
		t.Fatalf("a wrong key: got %d, want 401", code)
	}
	fresh := csrfOf(t, page)
	if fresh == token {
		t.Fatalf("the answer's form carries the used token again")
	}
	code, page, _ = b.post("/signin", url.Values{"csrf": {token}, "key": {key}})
	if code != http.StatusForbidden || !strings.Contains(page, "already used") || b.cookie("pathway_session") != nil {
		t.Fatalf("the used token again, with the right key: got %d (session %v), want 403 saying it was used", code, b.cookie("pathway_session"))
	}
	if code, _, _ := b.post("/signin", url.Values{"csrf": {csrfOf(t, page)}, "key": {key}}); code != http.StatusSeeOther {
		t.Fatalf("the fresh form with the right key: got %d, want 303", code)
	}
	// A token that signed in cannot sign in again, for this browser or
	// another one holding its cookies.
	other := e.browser()
	_, page, _ = other.get("/signin")
	token, nonce := csrfOf(t, page), other.cookie("pathway_signin").Value
	if code, _, _ := other.post("/signin", url.Values{"csrf": {token}, "key": {key}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: got %d, want 303", code)
	}
	replay := e.browser()
	u, _ := url.Parse(e.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "pathway_signin", Value: nonce}})
	for i := range 3 {
		if code, _, _ := replay.post("/signin", url.Values{"csrf": {token}, "key": {key}}); code != http.StatusForbidden {
			t.Fatalf("replay %d of a token that signed in: got %d, want 403", i+1, code)
		}
	}
}

// TestFailedSigninsAreThrottled: 50 wrong keys within a second from one
// client are answered 429 with Retry-After once its budget is spent, and
// logged without the key; the right key from another client signs in,
// from the guessing client it waits too.
func TestFailedSigninsAreThrottled(t *testing.T) {
	e := newEnv(t, trustLoopback)
	key := e.key(keys.RoleOps)
	attacker := e.browser()
	_, page, _ := attacker.get("/signin")
	var codes []int
	start := time.Now()
	for i := range 50 {
		wrong := "pw_" + strings.Split(key, "_")[1] + "_" + strings.Repeat(string(rune('A'+i%26)), 43)
		code, next, hdr := attacker.postAs("203.0.113.7", false, url.Values{"csrf": {csrfOf(t, page)}, "key": {wrong}})
		codes = append(codes, code)
		if code == http.StatusTooManyRequests {
			if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs < 1 {
				t.Fatalf("attempt %d: 429 with Retry-After %q, want whole seconds", i+1, hdr.Get("Retry-After"))
			}
			if !strings.Contains(next, "Too many failed sign-ins") {
				t.Fatalf("attempt %d: the 429 page does not say why", i+1)
			}
		}
		page = next
	}
	t.Logf("50 wrong keys in %v: %v", time.Since(start).Round(time.Millisecond), codes)
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("attempt %d: got %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `msg="dashboard sign-in failed"`); n != 10 || !strings.Contains(logs, "client=203.0.113.7") {
		t.Errorf("log has %d failed sign-ins, want 10 with the client address:\n%s", n, logs)
	}
	if strings.Contains(logs, strings.Repeat("A", 43)) || strings.Contains(logs, key) {
		t.Errorf("the log holds a key:\n%s", logs)
	}

	// The right key from the guessing client waits; from another it signs in.
	_, page, _ = attacker.get("/signin")
	if code, _, _ := attacker.postAs("203.0.113.7", false, url.Values{"csrf": {csrfOf(t, page)}, "key": {key}}); code != http.StatusTooManyRequests {
		t.Errorf("the right key from the guessing client: got %d, want 429", code)
	}
	holder := e.browser()
	_, page, _ = holder.get("/signin")
	if code, _, _ := holder.postAs("198.51.100.9", false, url.Values{"csrf": {csrfOf(t, page)}, "key": {key}}); code != http.StatusSeeOther {
		t.Errorf("the right key from another client: got %d, want 303", code)
	}
}

// TestSessionCookieIsSecureOverTLS: the cookies are Secure when the
// dashboard is served over TLS, or behind a trusted proxy that says the
// browser used https; never on a proxy's word that is not trusted.
func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	secure := func(hdr http.Header) (session, signin bool) {
		for _, c := range hdr.Values("Set-Cookie") {
			switch {
			case strings.HasPrefix(c, "pathway_session="):
				session = strings.Contains(c, "; Secure")
			case strings.HasPrefix(c, "pathway_signin="):
				signin = strings.Contains(c, "; Secure")
			}
		}
		return session, signin
	}
	for _, tc := range []struct {
		name  string
		opts  []func(*envOptions)
		https bool // the proxy says https
		want  bool
	}{
		{"plain HTTP", nil, false, false},
		{"TLS", []func(*envOptions){func(o *envOptions) { o.tls = true }}, false, true},
		{"a trusted proxy that terminated TLS", []func(*envOptions){trustLoopback}, true, true},
		{"a trusted proxy over plain HTTP", []func(*envOptions){trustLoopback}, false, false},
		{"an untrusted peer claiming https", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			key := e.key(keys.RoleOps)
			b := e.browser()
			_, page, _ := b.get("/signin")
			code, _, hdr := b.postAs("198.51.100.9", tc.https, url.Values{"csrf": {csrfOf(t, page)}, "key": {key}})
			session, signin := secure(hdr)
			if code != http.StatusSeeOther || session != tc.want || signin != tc.want {
				t.Fatalf("got %d, session cookie Secure %v, sign-in cookie Secure %v; want 303 and %v", code, session, signin, tc.want)
			}
		})
	}
}

// TestLiveStreamOutlivesServerTimeouts: the live stream sets its own
// deadline per write, so a server's WriteTimeout and ReadTimeout (which
// bound a whole ordinary request) do not cut it.
func TestLiveStreamOutlivesServerTimeouts(t *testing.T) {
	const limit = 300 * time.Millisecond
	e := newEnv(t, func(o *envOptions) {
		o.server = func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = limit, limit }
	})
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Sam", "Example")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleOps))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.stream(ctx, "/", "")
	if ev, ok := next(t, ch, 10*time.Second); !ok || ev.name != "update" {
		t.Fatalf("first event %+v, want an update", ev)
	}
	// Past both timeouts, a new event still reaches the open stream.
	time.Sleep(2 * limit)
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Kim", "Doe")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, ok := next(t, ch, time.Until(deadline))
		if !ok {
			t.Fatalf("the stream ended or went quiet after the server's timeouts, want an update showing 2 waiting")
		}
		if strings.Contains(ev.data, `data-queue="U12345">2<`) {
			return
		}
	}
}
