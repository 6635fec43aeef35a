package keys_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/services/keys"
)

type server struct {
	dir string
	srv *embedded.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func start(tb testing.TB, dir string) *server {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	s := &server{dir: dir, srv: srv, nc: nc, js: js}
	tb.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	s.nc.Close()
	_ = s.srv.Shutdown(context.Background())
}

func authenticator(tb testing.TB, st *keys.Store) *keys.Authenticator {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	a := st.Authenticator()
	go a.Run(ctx)
	select {
	case <-a.Loaded():
	case <-time.After(5 * time.Second):
		tb.Fatal("the authenticator did not load the keys within 5 s")
	}
	return a
}

// eventually polls cond until it holds, within 5 seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCreateAuthenticateRevoke(t *testing.T) {
	s := start(t, t.TempDir())
	ctx := context.Background()
	st, err := keys.Open(ctx, s.js, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := authenticator(t, st)
	plain, k, err := st.Create(ctx, keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001", Label: "practice system"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "new key accepted", func() bool { _, err := a.Authenticate(plain); return err == nil })
	got, _ := a.Authenticate(plain)
	if got.ID != k.ID || got.Role != keys.RoleReferrer || got.Organisation != "A81001" {
		t.Fatalf("authenticated as %+v, want %+v", got, k)
	}

	id, secret, _ := strings.Cut(strings.TrimPrefix(plain, "pw_"), "_")
	for name, token := range map[string]string{
		"wrong secret": "pw_" + id + "_" + strings.Repeat("A", 43),
		"unknown id":   "pw_ffffffffffff_" + secret,
		"no prefix":    id + "_" + secret,
		"truncated":    plain[:len(plain)-1],
		"empty":        "",
		"other scheme": "Basic " + plain,
		"spaces":       " " + plain,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.Authenticate(token)
			if !errors.Is(err, keys.ErrUnauthenticated) {
				t.Fatalf("got %v, want ErrUnauthenticated", err)
			}
			if token != "" && strings.Contains(err.Error(), token) {
				t.Fatal("the error contains the token")
			}
		})
	}

	// The stored entry has no secret, only its hash.
	kv, _ := s.js.KeyValue(ctx, keys.Bucket)
	e, err := kv.Get(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.Value()), secret) {
		t.Fatal("the stored key contains the secret")
	}

	if _, err := st.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked key refused", func() bool { _, err := a.Authenticate(plain); return err != nil })
	again, err := st.Revoke(ctx, k.ID)
	if err != nil || !again.Revoked() {
		t.Fatalf("revoking again: %+v, %v", again, err)
	}
	if _, err := st.Revoke(ctx, "0123456789ab"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("revoking an unknown key: got %v, want ErrNotFound", err)
	}
	// The data keys share the bucket (events/keyring): a stored key, a
	// block and an erasure's announcement are not listed as API keys.
	for name, v := range map[string][]byte{"referral.0190f6b2-0000-7000-8000-000000000001": {1, 0xff, 0x00}, "block.0190f6b2-0000-7000-8000-000000000002": {2, 0xfe}, "erased.referral.x": nil} {
		if _, err := kv.Put(ctx, name, v); err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Revoked() {
		t.Fatalf("list: %+v, %v; want one revoked key", list, err)
	}
}

func TestCreateValidation(t *testing.T) {
	s := start(t, t.TempDir())
	st, _ := keys.Open(context.Background(), s.js, keys.Options{})
	const worker = "0190f6b2-0000-7000-8000-000000000001"
	for _, tc := range []struct {
		spec keys.Spec
		ok   bool
	}{
		{keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001"}, true},
		{keys.Spec{Role: keys.RoleReferrer}, false},
		{keys.Spec{Role: keys.RoleReferrer, Organisation: "a81001"}, false},
		{keys.Spec{Role: keys.RolePartner, Organisation: "age-uk-teesside"}, true},
		{keys.Spec{Role: keys.RolePartner}, false},
		{keys.Spec{Role: keys.RoleOps}, true},
		{keys.Spec{Role: keys.RoleOps, Organisation: "A81001"}, false},
		{keys.Spec{Role: keys.Role("nurse")}, false},
		// A link worker's key acts for one worker, named by its id.
		{keys.Spec{Role: keys.RoleLinkWorker, Worker: worker}, true},
		{keys.Spec{Role: keys.RoleLinkWorker}, false},
		{keys.Spec{Role: keys.RoleLinkWorker, Worker: "Alex"}, false},
		{keys.Spec{Role: keys.RoleTriage, Worker: worker}, false},
		// A scope is granted only to its role.
		{keys.Spec{Role: keys.RoleLinkWorker, Worker: worker, Scopes: []keys.Scope{keys.ScopeTeam}}, true},
		{keys.Spec{Role: keys.RoleOps, Scopes: []keys.Scope{keys.ScopePersonalData}}, true},
		{keys.Spec{Role: keys.RoleOps, Scopes: []keys.Scope{keys.ScopeTeam}}, false},
		{keys.Spec{Role: keys.RoleLinkWorker, Worker: worker, Scopes: []keys.Scope{keys.ScopePersonalData}}, false},
		{keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001", Scopes: []keys.Scope{keys.ScopePersonalData}}, false},
		{keys.Spec{Role: keys.RoleAdmin, Scopes: []keys.Scope{"everything"}}, false},
	} {
		_, _, err := st.Create(context.Background(), tc.spec)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, keys.ErrInvalid)) {
			t.Errorf("create %+v: got %v, want ok=%v", tc.spec, err, tc.ok)
		}
	}
}

// TestKeyCarriesWorkerAndScopes: the authenticated key names its worker
// and scopes; a key stored before keys named workers still authenticates,
// with none.
func TestKeyCarriesWorkerAndScopes(t *testing.T) {
	s := start(t, t.TempDir())
	ctx := context.Background()
	st, _ := keys.Open(ctx, s.js, keys.Options{})
	a := authenticator(t, st)
	const worker = "0190f6b2-0000-7000-8000-000000000001"
	plain, _, err := st.Create(ctx, keys.Spec{Role: keys.RoleLinkWorker, Worker: worker, Scopes: []keys.Scope{keys.ScopeTeam, keys.ScopeTeam}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "new key accepted", func() bool { _, err := a.Authenticate(plain); return err == nil })
	got, _ := a.Authenticate(plain)
	if got.Worker != worker || !got.Has(keys.ScopeTeam) || len(got.Scopes) != 1 || got.Has(keys.ScopePersonalData) {
		t.Fatalf("authenticated as %+v, want worker %s with the team scope once", got, worker)
	}

	// A link worker key as stored before this change: no worker, no scopes.
	secret := strings.Repeat("B", 43)
	sum := sha256.Sum256([]byte(secret))
	kv, _ := s.js.KeyValue(ctx, keys.Bucket)
	old := `{"id":"0123456789ab","role":"link_worker","created_at":"2026-01-01T00:00:00Z","secret_hash":"` + hex.EncodeToString(sum[:]) + `"}`
	if _, err := kv.Put(ctx, "0123456789ab", []byte(old)); err != nil {
		t.Fatal(err)
	}
	legacy := "pw_0123456789ab_" + secret
	eventually(t, "old key accepted", func() bool { _, err := a.Authenticate(legacy); return err == nil })
	if got, _ := a.Authenticate(legacy); got.Role != keys.RoleLinkWorker || got.Worker != "" || len(got.Scopes) != 0 {
		t.Fatalf("old key: %+v, want a link worker key with no worker and no scopes", got)
	}
}

func TestKeysSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	st, _ := keys.Open(context.Background(), s.js, keys.Options{})
	plain, _, err := st.Create(context.Background(), keys.Spec{Role: keys.RoleTriage})
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	s = start(t, dir)
	st, err = keys.Open(context.Background(), s.js, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := authenticator(t, st)
	if k, err := a.Authenticate(plain); err != nil || k.Role != keys.RoleTriage {
		t.Fatalf("after restart: %+v, %v", k, err)
	}
}

func TestParseAuthorization(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer pw_abc":   "pw_abc",
		"bearer pw_abc":   "pw_abc",
		"BEARER  pw_abc ": "pw_abc",
		"Basic pw_abc":    "",
		"Bearer":          "",
		"Bearer ":         "",
		"":                "",
		"pw_abc":          "",
	} {
		got, ok := keys.ParseAuthorization(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseAuthorization(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
