package edge

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ThrottleOptions configure a Throttle. Zero fields take the defaults.
type ThrottleOptions struct {
	// ClientBurst failed key checks from one client address are allowed
	// at once (default 10); then one every ClientEvery (default 2s).
	ClientBurst int
	ClientEvery time.Duration
	// KeyBurst failed checks naming one key id, from any address, are
	// allowed at once (default 20); then one every KeyEvery (default 2s).
	KeyBurst int
	KeyEvery time.Duration
	// MaxTracked bounds the client addresses, and separately the key ids,
	// held at once (default 65,536 each). Entries whose budget has come
	// back whole are dropped first; past the bound a new address or key id
	// is not limited until room frees.
	MaxTracked int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Throttle limits failed key checks (a bearer API key, a dashboard
// sign-in) per client address and per key id, with token buckets
// (golang.org/x/time/rate). Only failures spend the budget: a correct key
// is never counted, so a busy client with a good key is never slowed by
// its own traffic. IPv6 clients are counted by their /64, which one
// machine usually has whole.
//
// A key id whose budget is spent (many addresses guessing one key) refuses
// checks of that id, except from an address with no failures of its own
// in the last ClientBurst × ClientEvery: so another client's failures can
// keep a key's own holder out only while the holder's address is also
// failing, and the id's budget still bounds what a spread-out guesser
// gets. Memory is bounded by MaxTracked.
//
// A Throttle is safe for concurrent use.
type Throttle struct {
	opts ThrottleOptions

	mu        sync.Mutex
	clients   map[netip.Prefix]*rate.Limiter
	keys      map[string]*rate.Limiter
	lastSweep time.Time
}

// NewThrottle returns a throttle with opts.
func NewThrottle(opts ThrottleOptions) *Throttle {
	if opts.ClientBurst <= 0 {
		opts.ClientBurst = 10
	}
	if opts.ClientEvery <= 0 {
		opts.ClientEvery = 2 * time.Second
	}
	if opts.KeyBurst <= 0 {
		opts.KeyBurst = 20
	}
	if opts.KeyEvery <= 0 {
		opts.KeyEvery = 2 * time.Second
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = 1 << 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Throttle{opts: opts, clients: map[netip.Prefix]*rate.Limiter{}, keys: map[string]*rate.Limiter{}}
}

// clientPrefix is what a client address is counted as: itself (IPv4), or
// its /64 (IPv6).
func clientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// Check reports whether a key check from client naming keyID (empty when
// the token names none) may go ahead. When not, wait is how long until it
// may: the Retry-After to answer with. Check spends nothing.
func (t *Throttle) Check(client netip.Addr, keyID string) (wait time.Duration, ok bool) {
	now := t.opts.Now()
	t.mu.Lock()
	c := t.clients[clientPrefix(client)]
	var k *rate.Limiter
	if keyID != "" {
		k = t.keys[keyID]
	}
	t.mu.Unlock()
	if c != nil {
		if tokens := c.TokensAt(now); tokens < 1 {
			return until(tokens, c.Limit()), false
		}
	}
	if k != nil {
		if tokens := k.TokensAt(now); tokens < 1 {
			clean := c == nil || c.TokensAt(now) >= float64(c.Burst())
			if !clean {
				return until(tokens, k.Limit()), false
			}
		}
	}
	return 0, true
}

// until is how long a bucket at tokens takes to hold one, at least a
// second (Retry-After counts whole seconds).
func until(tokens float64, limit rate.Limit) time.Duration {
	secs := math.Ceil((1 - tokens) / float64(limit))
	return time.Duration(max(secs, 1)) * time.Second
}

// Fail records a failed key check from client naming keyID (empty for
// none). Every failure is counted, even past the budget, so that checks
// raced in parallel are paid for by a longer wait.
func (t *Throttle) Fail(client netip.Addr, keyID string) {
	now := t.opts.Now()
	t.mu.Lock()
	t.sweep(now)
	c := track(t, t.clients, clientPrefix(client), t.opts.ClientEvery, t.opts.ClientBurst)
	var k *rate.Limiter
	if keyID != "" {
		k = track(t, t.keys, keyID, t.opts.KeyEvery, t.opts.KeyBurst)
	}
	t.mu.Unlock()
	for _, l := range []*rate.Limiter{c, k} {
		if l != nil {
			l.ReserveN(now, 1) // a reservation past the budget is a debt
		}
	}
}

// track returns the limiter of id in m, adding one when there is room;
// nil when there is none. t.mu is held.
func track[K comparable](t *Throttle, m map[K]*rate.Limiter, id K, every time.Duration, burst int) *rate.Limiter {
	if l, ok := m[id]; ok {
		return l
	}
	if len(m) >= t.opts.MaxTracked {
		t.sweepAll(t.opts.Now())
		if len(m) >= t.opts.MaxTracked {
			return nil
		}
	}
	l := rate.NewLimiter(rate.Every(every), burst)
	m[id] = l
	return l
}

// sweep drops idle entries at most once a minute. t.mu is held.
func (t *Throttle) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < time.Minute {
		return
	}
	t.sweepAll(now)
}

// sweepAll drops every entry whose budget has come back whole: it is the
// same as no entry. t.mu is held.
func (t *Throttle) sweepAll(now time.Time) {
	t.lastSweep = now
	for id, l := range t.clients {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(t.clients, id)
		}
	}
	for id, l := range t.keys {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(t.keys, id)
		}
	}
}

// Tracked returns how many client addresses and key ids the throttle
// holds, for tests and metrics.
func (t *Throttle) Tracked() (clients, keys int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.clients), len(t.keys)
}
