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

// Proxies are the addresses of the reverse proxies whose Forwarded (RFC
// 7239), X-Forwarded-For and X-Forwarded-Proto headers pathway believes. From any other address
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
// the Forwarded header's for= parameters (RFC 7239) or, without that
// header, in X-Forwarded-For, that is not one (read from the right, where
// each proxy appends the address it saw). An entry that is not an address
// ("unknown", an obfuscated name) ends the walk at the last trusted hop.
func (p Proxies) Client(r *http.Request) netip.Addr {
	client := peer(r)
	if !p.trusted(client) {
		return client
	}
	var hops []string
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops = forwarded(fwd, "for")
	} else {
		hops = strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	}
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

// parseHop reads one X-Forwarded-For entry or Forwarded for= value: an
// address, possibly with a port ("192.0.2.1:443", "[2001:db8::1]:443"), or
// an IPv6 address in brackets ("[2001:db8::1]").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(inner, "]") {
		s = strings.TrimSuffix(inner, "]")
	}
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

// forwarded returns the values of parameter name in each element of the
// Forwarded header values (RFC 7239: elements separated by commas, each
// of parameters name=value separated by semicolons, a value a token or a
// quoted string), in order; an element without it gives "".
func forwarded(values []string, name string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			val := ""
			for _, pair := range splitQuoted(elem, ';') {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), name) {
					val = unquote(strings.TrimSpace(v))
				}
			}
			out = append(out, val)
		}
	}
	return out
}

// splitQuoted splits s at sep, except within double quotes.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote removes the quotes of a quoted-string and its escapes.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Secure reports whether the client reached pathway over TLS: the
// connection itself is TLS, or it comes from a trusted proxy whose
// Forwarded proto= or, without a Forwarded header, X-Forwarded-Proto (its
// last value, the nearest proxy's) is https.
func (p Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.trusted(peer(r)) {
		return false
	}
	var protos []string
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		protos = forwarded(fwd, "proto")
	} else {
		protos = strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	}
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}
