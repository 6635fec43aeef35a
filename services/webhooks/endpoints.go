package webhooks

// Endpoints: registering, listing and deleting an owner's receivers (a
// partner's or a referrer's: in the log, their secrets beside it), and the
// rule that they be public addresses.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/keys"
	"google.golang.org/protobuf/proto"
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

// Register adds an endpoint for owner (a partner or a referring
// organisation), as cmd. The secret signs every
// delivery: 16 to 256 printable characters. It is kept in EndpointBucket
// (never in the log) before the registration is appended. Errors:
// ErrInvalid, ErrConflict (the owner has MaxEndpoints), ErrNotFound (an
// owner that registers none), or a storage error.
func (s *Service) Register(ctx context.Context, owner webhook.Owner, rawURL, secret string, cmd events.Command) (Endpoint, error) {
	kind, ok := aggregate.WebhookOf(owner)
	if !ok {
		return Endpoint{}, ErrNotFound.Errorf("no webhooks for this owner")
	}
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
	u, err := s.opts.NewID()
	if err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	id := hex.EncodeToString(u[10:])
	data, _ := json.Marshal(secretEntry{ID: id, Secret: secret})
	wrapped, err := keys.WrapStored(ctx, s.opts.Master, "webhook/"+id, data)
	if err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	if _, err := s.secrets.Create(ctx, id, wrapped); err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	seq, err := events.Do(ctx, s.store, kind, owner.ID, cmd, func(e *webhook.Endpoints) ([]proto.Message, error) {
		return e.Register(id, rawURL)
	})
	if err != nil {
		_ = s.secrets.Delete(context.WithoutCancel(ctx), id)
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	s.mu.Lock()
	s.keys[id] = secret
	s.mu.Unlock()
	// Read your write: the endpoint is listed, and gets deliveries, from
	// the view.
	if err := s.engine.WaitFor(ctx, seq); err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	ep, ok := s.view.endpoint(id)
	if !ok {
		return Endpoint{}, fmt.Errorf("register endpoint %s: not in the view at %d", id, seq)
	}
	ep.Secret = secret
	return ep, nil
}

// secretEntry is an endpoint's entry in EndpointBucket. Entries written
// before endpoints were in the log are whole Endpoints (Backfill).
type secretEntry struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// endpoint returns endpoint id: the operations endpoint, with its secret,
// from Options; a partner's from the view.
func (s *Service) endpoint(id string) (Endpoint, bool) {
	if id == OpsEndpointID {
		return s.opsEndpoint()
	}
	return s.view.endpoint(id)
}

// secret returns the secret of endpoint id.
func (s *Service) secret(ctx context.Context, id string) (string, error) {
	if ep, ok := s.opsEndpoint(); ok && id == OpsEndpointID {
		return ep.Secret, nil
	}
	s.mu.Lock()
	k, ok := s.keys[id]
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	e, err := s.secrets.Get(ctx, id)
	if err != nil {
		return "", fmt.Errorf("secret of endpoint %s: %w", id, err)
	}
	// Stored wrapped, or in clear by an older version.
	v, _, err := keys.UnwrapStored(ctx, s.opts.Master, "webhook/"+id, e.Value())
	if err != nil {
		return "", fmt.Errorf("secret of endpoint %s: %w", id, err)
	}
	var se secretEntry
	if err := json.Unmarshal(v, &se); err != nil || se.Secret == "" {
		return "", fmt.Errorf("secret of endpoint %s: unreadable", id)
	}
	s.mu.Lock()
	s.keys[id] = se.Secret
	s.mu.Unlock()
	return se.Secret, nil
}

// Endpoints lists owner's endpoints, oldest first, without secrets; for
// OpsOwner, the operations endpoint when there is one.
func (s *Service) Endpoints(owner webhook.Owner) []Endpoint {
	if owner == OpsOwner {
		ep, ok := s.opsEndpoint()
		if !ok {
			return nil
		}
		ep.Secret = ""
		return []Endpoint{ep}
	}
	return s.view.Endpoints(owner.Key())
}

// Delete removes one of owner's endpoints, as cmd; its pending
// deliveries fail. Errors: ErrNotFound, or a storage error.
func (s *Service) Delete(ctx context.Context, owner webhook.Owner, id string, cmd events.Command) error {
	kind, ok := aggregate.WebhookOf(owner)
	if !ok {
		return ErrNotFound.Errorf("no such webhook")
	}
	seq, err := events.Do(ctx, s.store, kind, owner.ID, cmd, func(e *webhook.Endpoints) ([]proto.Message, error) {
		return e.Delete(id)
	})
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if err := s.engine.WaitFor(ctx, seq); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	s.mu.Lock()
	delete(s.keys, id)
	s.mu.Unlock()
	if err := s.secrets.Delete(ctx, id); err != nil {
		s.log.Warn("the deleted endpoint's secret stays in its bucket", "endpoint", id, "err", err)
	}
	return nil
}
