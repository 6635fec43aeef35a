package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// serveWith starts pathway in the test process with cfg changed by set.
func serveWith(t *testing.T, set func(*serveConfig)) *pathway {
	t.Helper()
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	set(&cfg)
	return startPathwayWith(t, cfg)
}

// getOn sends GET /healthz on conn, keeping it alive, and reads the
// answer, failing t unless it comes within d.
func getOn(t *testing.T, conn net.Conn, r *bufio.Reader, d time.Duration) {
	t.Helper()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: pathway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
}

func dial(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

// TestServeClosesIdleConnections: a keep-alive connection left idle after
// a request is closed by the server within --http-idle-timeout (the read
// timeout, which an unset idle timeout would fall back to, is left long).
func TestServeClosesIdleConnections(t *testing.T) {
	const idle = 200 * time.Millisecond
	p := serveWith(t, func(c *serveConfig) { c.HTTPIdleTimeout = idle })
	conn, r := dial(t, p.base)
	getOn(t, conn, r, 5*time.Second)
	answered := time.Now()
	// Wait for the close: a read returns as soon as the server closes.
	conn.SetReadDeadline(answered.Add(idle + 5*time.Second))
	_, err := r.ReadByte()
	waited := time.Since(answered)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the idle connection was still open %v after its answer, want it closed after %v", waited.Round(time.Millisecond), idle)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("reading the idle connection: got %v, want EOF (closed by the server)", err)
	}
	t.Logf("closed %v after its answer (idle timeout %v)", waited.Round(time.Millisecond), idle)
}

// TestServeCapsConnections: with --http-max-conns 2, a third connection
// is not served while two are open, and is served once one closes.
func TestServeCapsConnections(t *testing.T) {
	p := serveWith(t, func(c *serveConfig) { c.HTTPMaxConns = 2 })
	first, r1 := dial(t, p.base)
	getOn(t, first, r1, 5*time.Second)
	second, r2 := dial(t, p.base)
	getOn(t, second, r2, 5*time.Second)

	third, r3 := dial(t, p.base)
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: pathway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r3.Peek(1); err == nil {
		t.Fatalf("a third connection was answered while two were open, want it to wait")
	}
	first.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r3, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the third connection once the first closed: %v, want 200", err)
	}
	resp.Body.Close()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signInAs posts the dashboard's sign-in form with key as a browser
// behind the trusted proxy at client, which says whether it came over
// https; it returns the answer.
func signInAs(t *testing.T, base string, c *http.Client, client string, https bool, key string) *http.Response {
	t.Helper()
	resp, err := c.Get(base + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no sign-in form: %d %s", resp.StatusCode, page)
	}
	req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"csrf": {string(m[1])}, "key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", client)
	if https {
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestServeThrottlesFailedKeys: pathway serve's API and dashboard sign-in
// share one throttle, counting clients behind --trusted-proxies: 50 wrong
// keys within a second, half to each, get 429 with Retry-After once the
// client's budget is spent, and are logged without the key; the right key
// from another client still works on both, and the dashboard's cookie is
// Secure when the trusted proxy says the browser used https.
func TestServeThrottlesFailedKeys(t *testing.T) {
	p := serveWith(t, func(c *serveConfig) { c.TrustedProxies = []string{"127.0.0.1"} })
	ops := p.key(keys.RoleOps, "")
	id := strings.Split(ops, "_")[1]
	attacker := browserClient()
	var codes []int
	for i := range 50 {
		wrong := "pw_" + id + "_" + strings.Repeat(string(rune('A'+i%26)), 43)
		var code int
		var retry string
		if i%2 == 0 {
			var hdr http.Header
			code, hdr = p.do("GET", "/v1/waitlists", wrong, nil, nil, "X-Forwarded-For", "203.0.113.7")
			retry = hdr.Get("Retry-After")
		} else {
			resp := signInAs(t, p.base, attacker, "203.0.113.7", false, wrong)
			code, retry = resp.StatusCode, resp.Header.Get("Retry-After")
		}
		codes = append(codes, code)
		if code == http.StatusTooManyRequests {
			if secs, err := strconv.Atoi(retry); err != nil || secs < 1 {
				t.Fatalf("attempt %d: 429 with Retry-After %q, want whole seconds", i+1, retry)
			}
		}
	}
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= 10 {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("attempt %d: got %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	logs := p.logs.String()
	api := strings.Count(logs, `msg="API key rejected" client=203.0.113.7`)
	if dash := strings.Count(logs, `msg="dashboard sign-in failed" client=203.0.113.7`); api != 5 || dash != 5 {
		t.Errorf("log has %d rejected API keys and %d failed sign-ins, want 5 and 5", api, dash)
	}
	if strings.Contains(logs, strings.Repeat("A", 43)) || strings.Contains(logs, ops) {
		t.Errorf("the log holds a key")
	}
	if code, _ := p.do("GET", "/v1/waitlists", ops, nil, nil, "X-Forwarded-For", "198.51.100.9"); code != http.StatusOK {
		t.Errorf("the right key from another client: got %d, want 200", code)
	}
	resp := signInAs(t, p.base, browserClient(), "198.51.100.9", true, ops)
	var secure bool
	for _, c := range resp.Cookies() {
		if c.Name == "pathway_session" {
			secure = c.Secure
		}
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("sign-in with the right key from another client behind the TLS proxy: got %d, session cookie Secure %v; want 303 and Secure", resp.StatusCode, secure)
	}
}

// TestServeLimitsFlags: the limits come from flags and the environment,
// are checked, and are documented in the help.
func TestServeLimitsFlags(t *testing.T) {
	env := map[string]string{"PATHWAY_HTTP_IDLE_TIMEOUT": "5s", "PATHWAY_TRUSTED_PROXIES": "10.0.0.0/8"}
	fs, cfg := serveFlags(func(k string) string { return env[k] }, io.Discard)
	if err := fs.Parse([]string{"--http-max-conns", "7", "--http-write-timeout", "2m"}); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPIdleTimeout != 5*time.Second || cfg.HTTPMaxConns != 7 || cfg.HTTPWriteTimeout != 2*time.Minute ||
		cfg.HTTPReadTimeout != 30*time.Second || strings.Join(cfg.TrustedProxies, ",") != "10.0.0.0/8" {
		t.Errorf("got idle %v, max conns %d, write %v, read %v, proxies %v", cfg.HTTPIdleTimeout, cfg.HTTPMaxConns, cfg.HTTPWriteTimeout, cfg.HTTPReadTimeout, cfg.TrustedProxies)
	}
	bad := defaultServeConfig()
	bad.HTTPIdleTimeout, bad.HTTPMaxConns, bad.TrustedProxies = 0, 0, []string{"proxy.example"}
	err := bad.Validate()
	for _, want := range []string{"--http-idle-timeout", "--http-max-conns", "--trusted-proxies"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: got %v, want it to name %s", err, want)
		}
	}
	var help strings.Builder
	fs, _ = serveFlags(func(string) string { return "" }, &help)
	fs.Usage()
	readme, _ := os.ReadFile("../../../README.md")
	for _, flag := range []string{"http-read-header-timeout", "http-read-timeout", "http-write-timeout", "http-idle-timeout", "http-max-conns", "trusted-proxies"} {
		if !strings.Contains(help.String(), "-"+flag) {
			t.Errorf("the help does not document --%s", flag)
		}
		if !strings.Contains(string(readme), "`--"+flag+"`") {
			t.Errorf("the README does not document --%s", flag)
		}
	}
}
