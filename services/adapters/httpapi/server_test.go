package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/activity"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/feed"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/metrics"
	"github.com/pathway-sp/pathway/services/triage"
	"github.com/pathway-sp/pathway/services/webhooks"
	"golang.org/x/sync/errgroup"
)

// server is the HTTP API (httpapi.New) over the real services on a real
// event log: an embedded nats-server with JetStream on a free loopback port
// and a temporary store (eventstest), served on loopback by httptest.
// Triage, assignment and webhook delivery run beside it, so referrals and
// handoffs move on as they do in pathway serve.
type server struct {
	t    testing.TB
	base string
	log  *eventstest.Log
	keys *keys.Store
	auth *keys.Authenticator
	logs *syncBuffer
	// cfg is the API's configuration, for a test that serves a variant.
	cfg httpapi.Config
}

// start starts the API; webhook endpoints must be public addresses.
func start(tb testing.TB) *server { return startWith(tb, false) }

// startLoopbackWebhooks starts the API with webhook endpoints allowed on
// loopback, where the tests' receivers listen.
func startLoopbackWebhooks(tb testing.TB) *server { return startWith(tb, true) }

// startWith starts the API, trusting the reverse proxies at proxies (their
// X-Forwarded-For gives the client address).
func startWith(tb testing.TB, allowPrivate bool, proxies ...string) *server {
	tb.Helper()
	trusted, err := edge.ParseProxies(proxies)
	if err != nil {
		tb.Fatal(err)
	}
	lg := eventstest.Start(tb, false)
	s := &server{t: tb, log: lg, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	tb.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("a service failed: %v", err)
		}
		if tb.Failed() {
			tb.Logf("log:\n%s", s.logs.String())
		}
	})
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	s.keys, err = keys.Open(ctx, lg.JS, keys.Options{})
	must(err)
	s.auth = s.keys.Authenticator()
	g.Go(func() error { return s.auth.Run(ctx) })
	obj, err := projections.OpenCheckpoints(ctx, lg.JS, 1)
	must(err)
	engine := func(p projections.Projection) *projections.Engine {
		e := projections.NewEngine(lg.Store, obj, p, projections.Options{Logger: log})
		g.Go(func() error { return e.Run(ctx) })
		return e
	}
	people, err := intake.OpenPersonKeyer(ctx, lg.JS, 1, eventstest.Master())
	must(err)
	wh, err := webhooks.Open(ctx, lg.JS, lg.Store, webhooks.Options{Master: eventstest.Master(), Logger: log, Deliver: true, AllowPrivate: allowPrivate})
	must(err)
	g.Go(func() error { return wh.Run(ctx) })
	tri := triage.New(lg.Store, triage.DefaultRules(), triage.Options{Logger: log})
	g.Go(func() error { return tri.Run(ctx) })
	asg := assignment.New(lg.Store, assignment.Options{Logger: log, Checkpoints: obj})
	g.Go(func() error { return asg.Run(ctx) })
	partnersView := engine(partners.New())
	s.cfg = httpapi.Config{Logger: log, ORUK: oruk.New(oruk.Config{Store: lg.Store, Partners: partnersView, Services: engine(oruk.NewView())}), Auth: s.auth, Proxies: trusted, Metrics: metrics.New(metrics.Config{Store: lg.Store}).Handler(),
		Referrals: httpapi.Referrals{Store: lg.Store, Intake: intake.New(lg.Store, people, intake.Options{Matches: intake.FindMatches(lg.Store, engine(intake.NewMatches()))}), TriageQueue: engine(intake.NewIndex())},
		Reads: httpapi.ReadModels{Waitlists: engine(waitlists.New()), Caseloads: engine(caseloads.New()), Funnel: engine(funnel.New()),
			Alerts: engine(alerts.NewView()), Referrers: engine(feed.New()), Activity: engine(activity.New()),
			Demand: engine(demand.New()), ReadTimeout: 2 * time.Second},
		VCSE: httpapi.VCSE{Directory: directory.New(lg.Store), Handoffs: handoffs.New(lg.Store, handoffs.Options{Logger: log, Checkpoints: obj}),
			Webhooks: wh, Partners: partnersView},
	}
	h := httpapi.New(s.cfg)
	for _, loaded := range []<-chan struct{}{s.auth.Loaded(), wh.Loaded()} {
		select {
		case <-loaded:
		case <-time.After(10 * time.Second):
			tb.Fatal("the keys or the webhooks did not load within 10s")
		}
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	s.base = srv.URL
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// key creates an API key of role (with an organisation for a referrer
// or a partner) and waits until the authenticator knows it.
func (s *server) key(role keys.Role, org string) string {
	s.t.Helper()
	return s.keyFor(keys.Spec{Role: role, Organisation: org})
}

// linkWorkerKey creates a link worker's key bound to worker, with scopes.
func (s *server) linkWorkerKey(worker string, scopes ...keys.Scope) string {
	s.t.Helper()
	return s.keyFor(keys.Spec{Role: keys.RoleLinkWorker, Worker: worker, Scopes: scopes})
}

// keyFor creates the key spec says and waits until the authenticator
// knows it.
func (s *server) keyFor(spec keys.Spec) string {
	s.t.Helper()
	spec.Label = "test"
	plain, _, err := s.keys.Create(context.Background(), spec)
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.auth.Authenticate(plain); err == nil {
			return plain
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("key for %s not accepted within 5s", spec.Role)
	return ""
}

// legacyLinkWorkerKey stores a link worker's key as keys were stored
// before they named a worker (no worker, no scopes), and waits until the
// authenticator knows it.
func (s *server) legacyLinkWorkerKey() string {
	s.t.Helper()
	ctx := context.Background()
	id, secret := make([]byte, 6), make([]byte, 32)
	_, _ = rand.Read(id)
	_, _ = rand.Read(secret)
	plainSecret := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(plainSecret))
	rec := fmt.Sprintf(`{"id":%q,"role":"link_worker","label":"made before keys named workers","created_at":"2026-01-01T00:00:00Z","secret_hash":%q}`,
		hex.EncodeToString(id), hex.EncodeToString(sum[:]))
	kv, err := s.log.JS.KeyValue(ctx, keys.Bucket)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := kv.Create(ctx, hex.EncodeToString(id), []byte(rec)); err != nil {
		s.t.Fatal(err)
	}
	plain := "pw_" + hex.EncodeToString(id) + "_" + plainSecret
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if k, err := s.auth.Authenticate(plain); err == nil && k.Role == keys.RoleLinkWorker && k.Worker == "" {
			return plain
		}
	}
	s.t.Fatal("the old link worker key was not accepted within 5s")
	return ""
}

// replaceID puts id in place of a route pattern's {id}.
func replaceID(pattern, id string) string { return strings.ReplaceAll(pattern, "{id}", id) }

// revoke revokes a key and waits until the authenticator refuses it.
func (s *server) revoke(plain string) {
	s.t.Helper()
	if _, err := s.keys.Revoke(context.Background(), strings.Split(plain, "_")[1]); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.auth.Authenticate(plain); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatal("revoked key still accepted after 5s")
}

// do sends a request and decodes a JSON answer into out (when not nil).
// api is the HTTP API under test, for apitest's requests.
func (s *server) api() apitest.Client { return apitest.Client{TB: s.t, Base: s.base} }

func (s *server) do(method, path, key string, body any, out any, headers ...string) (int, http.Header) {
	s.t.Helper()
	return s.api().Do(method, path, key, body, out, headers...)
}

// logLength returns the last sequence of the event log.
func (s *server) logLength() uint64 {
	s.t.Helper()
	n, err := s.log.Store.LastSequence(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// settledLogLength returns the log's last sequence once the work the
// test started in the background (triage, assignment, a webhook delivery
// and its record) has stopped appending: unchanged for a second.
func (s *server) settledLogLength() uint64 {
	s.t.Helper()
	last, since := s.logLength(), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := s.logLength(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= time.Second {
			return last
		}
	}
	s.t.Fatal("the log was still growing 30 s on")
	return 0
}

func (s *server) worker(opsKey, name string, capacity int) string {
	s.t.Helper()
	return s.api().Worker(opsKey, name, capacity)
}

func (s *server) refer(refKey string, nhs ...string) []string {
	s.t.Helper()
	return s.api().Refer(refKey, nhs...)
}

func exampleReferral() map[string]any { return apitest.ExampleReferral() }

type (
	problem   = apitest.Problem
	submitted = apitest.Submitted
	view      = apitest.View
)
