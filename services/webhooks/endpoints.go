package webhooks

// Endpoints: registering, listing and deleting a partner's receivers, and
// the rule that they be public addresses.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/pathway-sp/pathway/services/domain/kernel"
)

var errPrivateAddress = errors.New("the address is not a public one")

// publicIP reports whether ip is a public unicast address: not loopback,
// private (RFC 1918, unique-local), link-local, shared (100.64.0.0/10),
// multicast or unspecified.
func publicIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip4 := ip.To4(); ip4 != nil && ip4[0] == 100 && ip4[1]&0xc0 == 64 {
		return false
	}
	return ip.IsGlobalUnicast()
}

// ValidateURL checks an endpoint URL: https with a host and no user
// information. Unless allowPrivate, the host must not be a loopback,
// private or link-local address or a name such as localhost; with it,
// plain http is allowed to a loopback address (a receiver on the same
// machine). Its error wraps ErrInvalid and names the field "url"; nil
// means the URL is acceptable.
func ValidateURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || len(raw) > 2000 {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be an absolute https URL"})
	}
	if u.User != nil {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must not carry a user name or password"})
	}
	host := strings.ToLower(u.Hostname())
	ip := net.ParseIP(host)
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") || (ip != nil && ip.IsLoopback())
	if !allowPrivate && (local || (ip != nil && !publicIP(ip)) || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local") || !strings.Contains(host, ".") && ip == nil) {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must name a public host; loopback, private and link-local addresses are refused"})
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowPrivate && local {
			return nil
		}
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be https"})
	}
	return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be an https URL"})
}

// Register adds an endpoint for partner. The secret signs every delivery:
// 16 to 256 printable characters. Errors: ErrInvalid.
func (s *Service) Register(ctx context.Context, partner, rawURL, secret string) (Endpoint, error) {
	var errs []kernel.FieldError
	if ke, ok := errors.AsType[*kernel.Error](ValidateURL(rawURL, s.opts.AllowPrivate)); ok {
		errs = append(errs, ke.Fields...)
	}
	if len(secret) < 16 || len(secret) > 256 || strings.ContainsFunc(secret, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		errs = append(errs, kernel.FieldError{Field: "secret", Reason: "must be 16 to 256 printable ASCII characters"})
	}
	if len(errs) > 0 {
		return Endpoint{}, ErrInvalid.WithFields(errs...)
	}
	if len(s.Endpoints(partner)) >= MaxEndpoints {
		return Endpoint{}, ErrConflict.Errorf("at most %d endpoints per partner; delete one first", MaxEndpoints)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	ep := Endpoint{ID: hex.EncodeToString(b[:]), Partner: partner, URL: rawURL, Secret: secret, CreatedAt: s.opts.Now().UTC()}
	data, _ := json.Marshal(ep)
	if _, err := s.endpoints.Create(ctx, ep.ID, data); err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	s.mu.Lock()
	s.eps[ep.ID] = ep
	s.mu.Unlock()
	return ep, nil
}

// Endpoints lists partner's endpoints, oldest first, without secrets.
func (s *Service) Endpoints(partner string) []Endpoint {
	out := s.endpointsOf(partner)
	for i := range out {
		out[i].Secret = ""
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Delete removes one of partner's endpoints. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, partner, id string) error {
	s.mu.Lock()
	ep, ok := s.eps[id]
	s.mu.Unlock()
	if !ok || ep.Partner != partner {
		return ErrNotFound.Errorf("no such webhook")
	}
	if err := s.endpoints.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	s.mu.Lock()
	delete(s.eps, id)
	s.mu.Unlock()
	return nil
}

func (s *Service) endpointsOf(partner string) []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Endpoint
	for _, ep := range s.eps {
		if ep.Partner == partner {
			out = append(out, ep)
		}
	}
	return out
}
