// Package edge holds what guards pathway's HTTP edge, shared by the API
// and the operations dashboard: the client's address and scheme behind
// trusted TLS-terminating proxies (Proxies), and the limits on failed key
// checks per client address and per key (Throttle).
package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the addresses of the reverse proxies whose X-Forwarded-For
// and X-Forwarded-Proto headers pathway believes. From any other address
// those headers are ignored: a client cannot choose its own address or
// claim TLS. The zero value trusts no proxy. It is safe for concurrent
// use.
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies returns the proxies of a list of CIDR prefixes
// ("10.0.0.0/8", "2001:db8::/32") or single addresses ("127.0.0.1").
// Its error names every entry that is neither.
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	var bad []string
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(s); err == nil {
			p.nets = append(p.nets, pfx.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			p.nets = append(p.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		bad = append(bad, fmt.Sprintf("%q", s))
	}
	if bad != nil {
		return Proxies{}, fmt.Errorf("not a CIDR prefix or an IP address: %s", strings.Join(bad, ", "))
	}
	return p, nil
}

// String lists the trusted prefixes, comma-separated.
func (p Proxies) String() string {
	out := make([]string, len(p.nets))
	for i, n := range p.nets {
		out[i] = n.String()
	}
	return strings.Join(out, ",")
}

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address of the connection's other end; the zero Addr when
// it cannot be read.
func peer(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a.Unmap()
}

// Client is the address of the client that sent r: the connection's peer
// or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one (read from the right, where each proxy
// appends the address it saw). An entry that is not an address ends the
// walk at the last trusted hop.
func (p Proxies) Client(r *http.Request) netip.Addr {
	client := peer(r)
	if !p.trusted(client) {
		return client
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !p.trusted(a) {
			return a
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:443", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Secure reports whether the client reached pathway over TLS: the
// connection itself is TLS, or it comes from a trusted proxy whose
// X-Forwarded-Proto (its last value, the nearest proxy's) is https.
func (p Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.trusted(peer(r)) {
		return false
	}
	protos := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}
