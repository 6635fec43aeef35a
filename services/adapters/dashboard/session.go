package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/services/keys"
)

// SecretBucket is the JetStream key-value bucket that holds the session
// signing secret, so that every pathway process signs and checks the same
// cookies.
const SecretBucket = "PATHWAY_DASHBOARD"

const secretKey = "session-secret"

// Cookie names.
const (
	sessionCookie = "pathway_session"
	signinCookie  = "pathway_signin"
)

// OpenSecret returns the session signing secret from SecretBucket,
// creating the bucket and a random 32-byte secret when missing. Processes
// that race to create it all end with the one that won.
func OpenSecret(ctx context.Context, js jetstream.JetStream, replicas int, wrap keys.Wrapper) ([]byte, error) {
	return keys.Secret(ctx, js, SecretBucket, secretKey, "pathway dashboard session signing secret", 32, replicas, wrap)
}

// KeyBucket checks API keys for the dashboard: a token at sign-in through
// a keys.Authenticator, and a key by id on every request of a session,
// read from the keys store so that a revocation ends its sessions at once.
// It is safe for concurrent use.
type KeyBucket struct {
	auth  *keys.Authenticator
	store *keys.Store
}

var _ Authenticator = (*KeyBucket)(nil)

// NewKeyBucket returns a KeyBucket on the keys store and its running
// authenticator (keys.Authenticator.Run).
func NewKeyBucket(store *keys.Store, auth *keys.Authenticator) *KeyBucket {
	return &KeyBucket{auth: auth, store: store}
}

// Authenticate returns the key that token is; every failure is
// keys.ErrUnauthenticated.
func (b *KeyBucket) Authenticate(token string) (keys.Key, error) { return b.auth.Authenticate(token) }

// Lookup returns the key with id, revoked or not. Errors: keys.ErrNotFound,
// or a read error.
func (b *KeyBucket) Lookup(ctx context.Context, id string) (keys.Key, error) {
	return b.store.Get(ctx, id)
}

// session is a signed-in key until an expiry.
type session struct {
	key     keys.Key
	expires time.Time
	// value is the cookie value, which CSRF tokens of its forms bind to.
	value string
}

// mac signs parts with the secret.
func (h *handler) mac(parts ...string) string {
	m := hmac.New(sha256.New, h.cfg.Secret)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionValue is the cookie value of a session: key id, expiry (Unix
// seconds) and their signature.
func (h *handler) sessionValue(keyID string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return keyID + "." + exp + "." + h.mac("session", keyID, exp)
}

// errNoSession reports a request without a valid session.
var errNoSession = errors.New("dashboard: not signed in")

// session returns the request's session: a well-signed cookie, not
// expired by the injected clock, whose key is still an unrevoked key of a
// role that may sign in (allowed). Every failure is errNoSession, except a failure to read the
// key, which is returned as is.
func (h *handler) session(r *http.Request) (session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, errNoSession
	}
	return h.check(r.Context(), c.Value)
}

func (h *handler) check(ctx context.Context, value string) (session, error) {
	parts := strings.Split(value, ".")
	if len(parts) != 3 {
		return session{}, errNoSession
	}
	if !hmac.Equal([]byte(parts[2]), []byte(h.mac("session", parts[0], parts[1]))) {
		return session{}, errNoSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, errNoSession
	}
	expires := time.Unix(exp, 0)
	if !h.cfg.Now().Before(expires) {
		return session{}, errNoSession
	}
	k, err := h.cfg.Keys.Lookup(ctx, parts[0])
	if errors.Is(err, keys.ErrNotFound) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	if k.Revoked() || !h.allowed(k.Role) {
		return session{}, errNoSession
	}
	return session{key: k, expires: expires, value: value}, nil
}

// allowed reports whether a role may sign in to the dashboard: ops and
// admin, and link workers when the workspace is served.
func (h *handler) allowed(r keys.Role) bool {
	return r == keys.RoleOps || r == keys.RoleAdmin || r == keys.RoleLinkWorker && h.cfg.Workspace != nil ||
		r == keys.RoleTriage && h.cfg.Triage != nil
}

// csrfToken is the token a form must carry: a signature bound to a
// cookie (the sign-in nonce, or the session), so that another site can
// neither read nor forge it.
func (h *handler) csrfToken(purpose, binding string) string {
	return h.mac("csrf", purpose, binding)
}

func (h *handler) validCSRF(r *http.Request, purpose, binding string) bool {
	got := r.PostFormValue("csrf")
	return binding != "" && got != "" && hmac.Equal([]byte(got), []byte(h.csrfToken(purpose, binding)))
}

// signinToken is the token of one sign-in form: the form's own random
// id, when it was issued, and a signature binding both to the browser's
// sign-in cookie (nonce). Each form's token is used once (Config.Forms)
// within formTTL.
func (h *handler) signinToken(nonce string) string {
	id, issued := randomToken(), strconv.FormatInt(h.cfg.Now().Unix(), 10)
	return id + "." + issued + "." + h.mac("csrf", "signin", nonce, id, issued)
}

// spendSigninToken checks the sign-in form's token against the browser's
// nonce and spends it: nil, errBadForm for a token that is missing,
// forged, of another browser or expired, ErrFormUsed for one used
// before, or the ledger's error.
func (h *handler) spendSigninToken(r *http.Request, nonce string) error {
	parts := strings.Split(r.PostFormValue("csrf"), ".")
	if nonce == "" || len(parts) != 3 || !hmac.Equal([]byte(parts[2]), []byte(h.mac("csrf", "signin", nonce, parts[0], parts[1]))) {
		return errBadForm
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if age := h.cfg.Now().Sub(time.Unix(issued, 0)); err != nil || age < -time.Minute || age > formTTL {
		return errBadForm
	}
	return h.cfg.Forms.Use(r.Context(), parts[0])
}

// errBadForm reports a sign-in form whose token is missing or wrong.
var errBadForm = errors.New("dashboard: the sign-in form's token is missing or wrong")

// setCookie sets a cookie scoped to the whole dashboard, HttpOnly and
// SameSite=Strict, Secure when the browser reached the dashboard over TLS
// (directly, or through a trusted proxy that says so: Config.Proxies).
func (h *handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.cfg.Proxies.Secure(r)}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires.UTC()
	}
	http.SetCookie(w, c)
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
