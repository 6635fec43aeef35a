package edge_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/edge"
)

// clock is the injected clock: it stands still until moved.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	attacker = netip.MustParseAddr("203.0.113.7")
	someone  = netip.MustParseAddr("198.51.100.9")
)

func newThrottle() (*edge.Throttle, *clock) {
	clk := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	return edge.NewThrottle(edge.ThrottleOptions{Now: clk.Now}), clk
}

func TestThrottleLimitsFailuresPerClient(t *testing.T) {
	th, clk := newThrottle()
	for i := range 10 {
		if _, ok := th.Check(attacker, ""); !ok {
			t.Fatalf("failure %d: refused within the burst of 10", i+1)
		}
		th.Fail(attacker, "")
	}
	wait, ok := th.Check(attacker, "")
	if ok || wait != 2*time.Second {
		t.Fatalf("after 10 failures: got ok=%v wait %v, want refused for 2s", ok, wait)
	}
	if _, ok := th.Check(someone, ""); !ok {
		t.Errorf("another client was refused for the attacker's failures")
	}
	clk.Add(2 * time.Second)
	if _, ok := th.Check(attacker, ""); !ok {
		t.Errorf("2s later: still refused, want one more check allowed")
	}
}

func TestThrottleCountsOnlyFailures(t *testing.T) {
	th, _ := newThrottle()
	for i := range 1000 {
		if _, ok := th.Check(someone, "0123456789ab"); !ok {
			t.Fatalf("check %d without a failure was refused", i+1)
		}
	}
	if c, k := th.Tracked(); c != 0 || k != 0 {
		t.Errorf("successes are tracked: %d clients, %d keys; want none", c, k)
	}
}

func TestThrottleChargesParallelFailures(t *testing.T) {
	th, _ := newThrottle()
	// 30 checks that all passed Check before any failed: the 20 past the
	// budget are a debt of 40s, paid before the next check.
	for range 30 {
		th.Fail(attacker, "")
	}
	if wait, ok := th.Check(attacker, ""); ok || wait != 42*time.Second {
		t.Fatalf("got ok=%v wait %v, want refused for 42s", ok, wait)
	}
}

func TestThrottleLimitsFailuresPerKey(t *testing.T) {
	th, clk := newThrottle()
	const key = "0123456789ab"
	// Twenty addresses each guess the key once: its budget is spent.
	for i := range 20 {
		th.Fail(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), key)
	}
	guesser := netip.AddrFrom4([4]byte{192, 0, 2, 1})
	if wait, ok := th.Check(guesser, key); ok || wait != 2*time.Second {
		t.Fatalf("a guessing address naming the key: got ok=%v wait %v, want refused for 2s", ok, wait)
	}
	if _, ok := th.Check(guesser, "ba9876543210"); !ok {
		t.Errorf("the guessing address naming another key (one failure of its own) was refused")
	}
	// The key's holder, from an address with no failures, still gets in.
	if _, ok := th.Check(someone, key); !ok {
		t.Fatalf("a clean address naming the key was refused")
	}
	// Once that address fails too, it waits like the rest.
	th.Fail(someone, key)
	if _, ok := th.Check(someone, key); ok {
		t.Errorf("an address that failed on the spent key: allowed, want refused")
	}
	clk.Add(40 * time.Second)
	if _, ok := th.Check(guesser, key); !ok {
		t.Errorf("40s later: still refused")
	}
}

func TestThrottleCountsIPv6ByPrefix(t *testing.T) {
	th, _ := newThrottle()
	for i := range 10 {
		th.Fail(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), "")
	}
	if _, ok := th.Check(netip.MustParseAddr("2001:db8:1:2:ffff::1"), ""); ok {
		t.Errorf("another address of the same /64: allowed, want refused")
	}
	if _, ok := th.Check(netip.MustParseAddr("2001:db8:1:3::1"), ""); !ok {
		t.Errorf("an address of another /64: refused")
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	th := edge.NewThrottle(edge.ThrottleOptions{Now: clk.Now, MaxTracked: 100})
	for i := range 1000 {
		th.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), fmt.Sprintf("%012x", i))
	}
	if c, k := th.Tracked(); c > 100 || k > 100 {
		t.Fatalf("tracked %d clients and %d keys, want at most 100 each", c, k)
	}
	// Idle entries (their budget whole again) go at the next sweep.
	clk.Add(time.Hour)
	th.Fail(attacker, "")
	if c, k := th.Tracked(); c != 1 || k != 0 {
		t.Fatalf("after an idle hour: tracked %d clients and %d keys, want only the new one", c, k)
	}
}

func TestProxies(t *testing.T) {
	trusted, err := edge.ParseProxies([]string{"127.0.0.1", "10.0.0.0/8", " ", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.ParseProxies([]string{"10.0.0.0/33", "proxy.example", "10.1.2.3"}); err == nil {
		t.Errorf("ParseProxies accepted a bad list")
	}
	for _, tc := range []struct {
		name   string
		p      edge.Proxies
		remote string
		xff    []string
		proto  string
		tls    bool
		client string
		secure bool
	}{
		{"no proxy trusted: headers ignored", edge.Proxies{}, "127.0.0.1:5000", []string{"198.51.100.9"}, "https", false, "127.0.0.1", false},
		{"direct TLS", edge.Proxies{}, "198.51.100.9:5000", nil, "", true, "198.51.100.9", true},
		{"an untrusted peer cannot claim an address or TLS", trusted, "203.0.113.7:5000", []string{"198.51.100.9"}, "https", false, "203.0.113.7", false},
		{"a trusted proxy", trusted, "127.0.0.1:5000", []string{"198.51.100.9"}, "https", false, "198.51.100.9", true},
		{"a trusted proxy saying http", trusted, "127.0.0.1:5000", []string{"198.51.100.9"}, "http", false, "198.51.100.9", false},
		{"a chain of trusted proxies", trusted, "10.0.0.2:5000", []string{"198.51.100.9, 10.0.0.5", "10.0.0.3"}, "https", false, "198.51.100.9", true},
		{"a client's forged entry is left of its own", trusted, "127.0.0.1:5000", []string{"192.0.2.66, 198.51.100.9"}, "https", false, "198.51.100.9", true},
		{"an entry with a port", trusted, "127.0.0.1:5000", []string{"[2001:db9::1]:443"}, "https", false, "2001:db9::1", true},
		{"garbage from the client", trusted, "127.0.0.1:5000", []string{"unknown"}, "", false, "127.0.0.1", false},
		{"no header from a trusted proxy", trusted, "127.0.0.1:5000", nil, "", false, "127.0.0.1", false},
		{"the nearest proxy's proto counts", trusted, "127.0.0.1:5000", []string{"198.51.100.9"}, "http, https", false, "198.51.100.9", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := proxied(tc.remote, append(pairs("X-Forwarded-For", tc.xff...), pairs("X-Forwarded-Proto", tc.proto)...)...)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			expectClient(t, tc.p, r, tc.client, tc.secure)
		})
	}
}

// TestProxiesReadForwarded: the Forwarded header (RFC 7239) from a trusted
// proxy gives the client's address (for=) and scheme (proto=), quoted or
// not, IPv6 in brackets; an untrusted peer's is ignored, and it wins over
// X-Forwarded-For when both are sent.
func TestProxiesReadForwarded(t *testing.T) {
	trusted, err := edge.ParseProxies([]string{"127.0.0.1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote string
		fwd          []string
		xff          string
		client       string
		secure       bool
	}{
		{"one proxy", "127.0.0.1:5000", []string{"for=198.51.100.9;proto=https;by=10.0.0.1"}, "", "198.51.100.9", true},
		{"quoted IPv6 with a port", "127.0.0.1:5000", []string{`for="[2001:db8:cafe::17]:4711";proto=http`}, "", "2001:db8:cafe::17", false},
		{"quoted IPv6 without a port", "127.0.0.1:5000", []string{`For="[2001:db8:cafe::17]"`}, "", "2001:db8:cafe::17", false},
		{"a chain, the nearest proxy's proto", "10.0.0.2:5000", []string{"for=192.0.2.43;proto=http, for=198.51.100.9", "for=10.0.0.5;proto=https"}, "", "198.51.100.9", true},
		{"a client's forged element is left of its own", "127.0.0.1:5000", []string{`for=192.0.2.66, for="198.51.100.9";proto=https`}, "", "198.51.100.9", true},
		{"an obfuscated node ends the walk", "127.0.0.1:5000", []string{"for=_hidden;proto=https"}, "", "127.0.0.1", true},
		{"unknown", "127.0.0.1:5000", []string{"for=unknown"}, "", "127.0.0.1", false},
		{"Forwarded wins over X-Forwarded-For", "127.0.0.1:5000", []string{"for=198.51.100.9"}, "192.0.2.1", "198.51.100.9", false},
		{"an untrusted peer's is ignored", "203.0.113.7:5000", []string{"for=198.51.100.9;proto=https"}, "", "203.0.113.7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append(pairs("Forwarded", tc.fwd...), pairs("X-Forwarded-For", tc.xff)...)
			expectClient(t, trusted, proxied(tc.remote, h...), tc.client, tc.secure)
		})
	}
}

// pairs is name, value for each value that is not empty.
func pairs(name string, values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, name, v)
		}
	}
	return out
}

// proxied is a request from the peer remote with the headers of the
// name, value pairs given, in order.
func proxied(remote string, header ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// expectClient checks the client address and scheme p reads from r.
func expectClient(t *testing.T, p edge.Proxies, r *http.Request, client string, secure bool) {
	t.Helper()
	if got := p.Client(r); got != netip.MustParseAddr(client) {
		t.Errorf("Client: got %v, want %s", got, client)
	}
	if got := p.Secure(r); got != secure {
		t.Errorf("Secure: got %v, want %v", got, secure)
	}
}
