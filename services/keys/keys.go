// Package keys holds the bearer API keys of pathway's HTTP API.
//
// A key looks like pw_<id>_<secret>: id is 12 hex characters that name the
// key, secret is 32 random bytes in base64url. The key is shown once, when
// it is created; pathway stores only the SHA-256 of the secret, in the
// JetStream key-value bucket PATHWAY_KEYS (one entry per key id, JSON), so
// every pathway process on the same NATS sees the same keys, and a
// revocation takes effect at once everywhere. Each key has a role; a
// referrer's and a partner's key an organisation; a link worker's key the
// worker it acts for. Scopes widen what a key of some roles may see: team
// (a link worker's whole PCN) and personal_data (an ops key's view of the
// person).
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the name of the key-value bucket that holds the keys.
const Bucket = "PATHWAY_KEYS"

var (
	// ErrInvalid reports an invalid role, organisation or key id.
	ErrInvalid = errors.New("keys: invalid")
	// ErrNotFound reports an unknown key id.
	ErrNotFound = errors.New("keys: no such key")
	// ErrUnauthenticated reports a token that is not a valid, unrevoked
	// key. Its text never contains the token.
	ErrUnauthenticated = errors.New("keys: not a valid API key")
)

// Role is what a key may do.
type Role string

// Roles.
const (
	RoleReferrer   Role = "referrer"
	RoleTriage     Role = "triage"
	RoleLinkWorker Role = "link_worker"
	RoleOps        Role = "ops"
	RolePartner    Role = "partner"
	RoleAdmin      Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleReferrer, RoleTriage, RoleLinkWorker, RoleOps, RolePartner, RoleAdmin}

// ParseRole returns the role named s. Errors wrap ErrInvalid.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("%w: role %q: want one of referrer, triage, link_worker, ops, partner, admin", ErrInvalid, s)
	}
	return r, nil
}

// Scope widens what a key may see beyond its role's need-to-know.
type Scope string

// Scopes.
const (
	// ScopeTeam lets a link worker's key reach every referral of its
	// worker's PCN, not only the worker's caseload and the PCN's waitlist.
	ScopeTeam Scope = "team"
	// ScopePersonalData lets an ops key see the person's details (name,
	// NHS number, contact details) where it otherwise sees initials.
	ScopePersonalData Scope = "personal_data"
)

// scopeRoles is the role each scope may be granted to.
var scopeRoles = map[Scope]Role{ScopeTeam: RoleLinkWorker, ScopePersonalData: RoleOps}

// ParseScope returns the scope named s. Errors wrap ErrInvalid.
func ParseScope(s string) (Scope, error) {
	sc := Scope(s)
	if _, ok := scopeRoles[sc]; !ok {
		return "", fmt.Errorf("%w: scope %q: want team (link_worker) or personal_data (ops)", ErrInvalid, s)
	}
	return sc, nil
}

var (
	odsCode   = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	partnerID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	keyID     = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// Key is an API key as stored, without its secret.
type Key struct {
	ID           string `json:"id"`
	Role         Role   `json:"role"`
	Organisation string `json:"organisation,omitempty"`
	// Worker is the link worker a link_worker key acts for. Keys made
	// before keys were bound to workers have none, and reach no referral
	// (the HTTP API's need-to-know rules, services/adapters/httpapi).
	Worker string `json:"worker,omitempty"`
	// Scopes widen what the key may see; each is granted to one role.
	Scopes    []Scope   `json:"scopes,omitempty"`
	Label     string    `json:"label,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// Has reports whether the key was granted scope.
func (k Key) Has(scope Scope) bool { return slices.Contains(k.Scopes, scope) }

// Spec is what a new key is: its role, the organisation of a referrer or
// a partner, the worker of a link worker, its scopes, and a label.
type Spec struct {
	Role         Role
	Organisation string
	Worker       string
	Scopes       []Scope
	Label        string
}

// check reports what is wrong with the spec; its errors wrap ErrInvalid.
func (sp Spec) check() error {
	if _, err := ParseRole(string(sp.Role)); err != nil {
		return err
	}
	switch sp.Role {
	case RoleReferrer:
		if !odsCode.MatchString(sp.Organisation) {
			return fmt.Errorf("%w: a referrer key needs --org, the ODS code of the referring organisation (e.g. A81001)", ErrInvalid)
		}
	case RolePartner:
		if !partnerID.MatchString(sp.Organisation) {
			return fmt.Errorf("%w: a partner key needs --org, the partner's organisation id (letters, digits, '-', '_')", ErrInvalid)
		}
	default:
		if sp.Organisation != "" {
			return fmt.Errorf("%w: a %s key has no organisation", ErrInvalid, sp.Role)
		}
	}
	if sp.Role == RoleLinkWorker {
		if _, err := uuid.Parse(sp.Worker); err != nil {
			return fmt.Errorf("%w: a link_worker key needs --worker, the id of the link worker it acts for", ErrInvalid)
		}
	} else if sp.Worker != "" {
		return fmt.Errorf("%w: only a link_worker key names a worker", ErrInvalid)
	}
	for _, sc := range sp.Scopes {
		if _, err := ParseScope(string(sc)); err != nil {
			return err
		}
		if scopeRoles[sc] != sp.Role {
			return fmt.Errorf("%w: the %s scope is for %s keys only", ErrInvalid, sc, scopeRoles[sc])
		}
	}
	if len(sp.Label) > 200 {
		return fmt.Errorf("%w: label longer than 200 characters", ErrInvalid)
	}
	return nil
}

// record is the stored form of a key.
type record struct {
	Key
	SecretHash string `json:"secret_hash"`
}

// Options configure a Store.
type Options struct {
	// Replicas of the bucket: 1, or 3 on a cluster.
	Replicas int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Store creates, lists and revokes keys. It is safe for concurrent use.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// Open opens the key bucket, creating it when missing.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      Bucket,
			Description: "pathway API keys (hashed)",
			History:     5,
			Storage:     jetstream.FileStorage,
			Replicas:    opts.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open key bucket: %w", err)
	}
	return &Store{kv: kv, now: opts.Now}, nil
}

// Create makes a new key as spec says and returns it in plain text (the
// only time it is available) with its stored form. A referrer needs an
// ODS code, a partner its organisation id, a link worker the id of its
// worker (a UUID; that it is on the roster is the caller's to check);
// other roles take no organisation and no worker. A scope is granted only
// to its role: team to a link worker, personal_data to ops. Errors wrap
// ErrInvalid.
func (s *Store) Create(ctx context.Context, spec Spec) (string, Key, error) {
	if err := spec.check(); err != nil {
		return "", Key{}, err
	}
	role := spec.Role
	idb := make([]byte, 6)
	secret := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", Key{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return "", Key{}, err
	}
	secretText := base64.RawURLEncoding.EncodeToString(secret)
	k := Key{ID: hex.EncodeToString(idb), Role: role, Organisation: spec.Organisation, Worker: spec.Worker,
		Scopes: slices.Compact(slices.Sorted(slices.Values(spec.Scopes))), Label: spec.Label, CreatedAt: s.now().UTC()}
	b, err := json.Marshal(record{Key: k, SecretHash: hashSecret(secretText)})
	if err != nil {
		return "", Key{}, err
	}
	if _, err := s.kv.Create(ctx, k.ID, b); err != nil {
		return "", Key{}, fmt.Errorf("store key: %w", err)
	}
	return "pw_" + k.ID + "_" + secretText, k, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// List returns every key, oldest first, revoked ones included.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	var out []Key
	for id := range lister.Keys() {
		if !isKeyID(id) {
			continue // the data keys share the bucket (events/keyring)
		}
		rec, _, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec.Key)
	}
	slices.SortFunc(out, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// isKeyID reports whether a bucket entry's name is an API key's id (12
// hex digits): the bucket also holds the data keys of events/keyring
// (referral.<id>, block.<uuid>, erased.<id>), which are not API keys.
func isKeyID(name string) bool {
	if len(name) != 12 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil
}

// Get reads the key with id, revoked or not, from the bucket, so it sees
// a revocation the moment it is made. Errors: ErrNotFound, or a read
// error.
func (s *Store) Get(ctx context.Context, id string) (Key, error) {
	rec, _, err := s.get(ctx, id)
	return rec.Key, err
}

func (s *Store) get(ctx context.Context, id string) (record, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, ErrNotFound
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("read key %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return record{}, 0, fmt.Errorf("read key %s: %w", id, err)
	}
	return rec, e.Revision(), nil
}

// Revoke revokes a key; revoking it again keeps the first revocation
// time. Errors: ErrNotFound, ErrInvalid for a malformed id.
func (s *Store) Revoke(ctx context.Context, id string) (Key, error) {
	if !keyID.MatchString(id) {
		return Key{}, fmt.Errorf("%w: key id %q: want 12 hex characters", ErrInvalid, id)
	}
	for range 5 {
		rec, rev, err := s.get(ctx, id)
		if err != nil {
			return Key{}, err
		}
		if rec.Revoked() {
			return rec.Key, nil
		}
		rec.RevokedAt = s.now().UTC()
		b, err := json.Marshal(rec)
		if err != nil {
			return Key{}, err
		}
		if _, err := s.kv.Update(ctx, id, b, rev); err == nil {
			return rec.Key, nil
		}
	}
	return Key{}, fmt.Errorf("revoke key %s: too many concurrent updates", id)
}

// Authenticator checks tokens against an in-memory copy of the bucket
// that it keeps current. It is safe for concurrent use.
type Authenticator struct {
	kv     jetstream.KeyValue
	mu     sync.RWMutex
	keys   map[string]record
	ready  bool          // loaded is closed
	loaded chan struct{} // closed once the keys present at start are loaded
}

// Authenticator returns an authenticator on the store's bucket; call Run.
func (s *Store) Authenticator() *Authenticator {
	return &Authenticator{kv: s.kv, keys: map[string]record{}, loaded: make(chan struct{})}
}

// Run watches the bucket and keeps the authenticator current until ctx
// ends.
func (a *Authenticator) Run(ctx context.Context) error {
	for {
		w, err := a.kv.WatchAll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch keys: %w", err)
		}
		for {
			var e jetstream.KeyValueEntry
			var open bool
			select {
			case <-ctx.Done():
				_ = w.Stop()
				return nil
			case e, open = <-w.Updates():
			}
			if !open {
				break
			}
			if e == nil { // initial values delivered
				a.mu.Lock()
				if !a.ready {
					a.ready = true
					close(a.loaded)
				}
				a.mu.Unlock()
				continue
			}
			a.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(a.keys, e.Key())
			} else {
				var rec record
				if json.Unmarshal(e.Value(), &rec) == nil {
					a.keys[e.Key()] = rec
				}
			}
			a.mu.Unlock()
		}
		_ = w.Stop()
	}
}

// Loaded is closed once the keys present at start have been loaded.
func (a *Authenticator) Loaded() <-chan struct{} { return a.loaded }

// Running is Loaded: the signal a supervisor waits for.
func (a *Authenticator) Running() <-chan struct{} { return a.loaded }

// Authenticate returns the key that token is. It does no I/O. Every
// failure is ErrUnauthenticated.
func (a *Authenticator) Authenticate(token string) (Key, error) {
	rest, ok := strings.CutPrefix(token, "pw_")
	if !ok {
		return Key{}, ErrUnauthenticated
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || !keyID.MatchString(id) || len(secret) != 43 {
		return Key{}, ErrUnauthenticated
	}
	a.mu.RLock()
	rec, found := a.keys[id]
	a.mu.RUnlock()
	want, err := hex.DecodeString(rec.SecretHash)
	if !found || err != nil {
		return Key{}, ErrUnauthenticated
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want) != 1 || rec.Revoked() {
		return Key{}, ErrUnauthenticated
	}
	return rec.Key, nil
}

// IDOf returns the key id a token names (pw_<id>_...), or "" when it
// names none. It checks nothing else: the id of a wrong token is what
// rate limits and logs may name, the secret never.
func IDOf(token string) string {
	rest, ok := strings.CutPrefix(token, "pw_")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || !keyID.MatchString(id) {
		return ""
	}
	return id
}

// ParseAuthorization returns the token of an "Authorization: Bearer
// <token>" header.
func ParseAuthorization(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
