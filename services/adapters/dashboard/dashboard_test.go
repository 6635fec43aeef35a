package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/eventstest"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/demand"
	"github.com/pathway-sp/pathway/projections/funnel"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/projections/timeseries"
	"github.com/pathway-sp/pathway/projections/waitlists"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/dashboard"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/alerts"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"google.golang.org/protobuf/types/known/timestamppb"
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

// env is a dashboard on a real event log (an embedded NATS server) with
// real read model engines and API keys.
type env struct {
	t     *testing.T
	logs  *syncBuffer // the dashboard's log
	log   *eventstest.Log
	keys  *keys.Store
	auth  *keys.Authenticator
	clock *clock
	srv   *httptest.Server
	wl    *projections.Engine
	all   []*projections.Engine // every read model the pages read
	audit *audit.Log
}

const ttl = 8 * time.Hour

// envOptions vary the dashboard a test runs.
type envOptions struct {
	proxies edge.Proxies
	tls     bool               // serve over TLS
	server  func(*http.Server) // set the server's limits
	// workspace serves the link worker workspace with the real intake
	// and handoffs services.
	workspace bool
	// triage serves the triage workspace with the real intake service.
	triage bool
}

func newEnv(t *testing.T, opts ...func(*envOptions)) *env {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	lg := eventstest.Start(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ks, err := keys.Open(ctx, lg.JS, keys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := ks.Authenticator()
	go auth.Run(ctx)
	<-auth.Loaded()
	kb := dashboard.NewKeyBucket(ks, auth)
	e := &env{t: t, logs: &syncBuffer{}, log: lg, keys: ks, auth: auth, clock: &clock{now: time.Now().UTC()}}
	secret, err := dashboard.OpenSecret(ctx, lg.JS, 1, eventstest.Master())
	if err != nil {
		t.Fatal(err)
	}
	again, err := dashboard.OpenSecret(ctx, lg.JS, 1, eventstest.Master())
	if err != nil || string(again) != string(secret) {
		t.Fatalf("a second OpenSecret: got a different secret (%v), want the stored one", err)
	}
	engine := func(p projections.Projection) *projections.Engine {
		eng := projections.NewEngine(lg.Store, nil, p, projections.Options{})
		go eng.Run(ctx)
		e.all = append(e.all, eng)
		return eng
	}
	e.wl = engine(waitlists.New())
	if e.audit, err = audit.Open(ctx, lg.JS, audit.Options{}); err != nil {
		t.Fatal(err)
	}
	var ws *dashboard.Workspace
	if o.workspace {
		people, err := intake.OpenPersonKeyer(ctx, lg.JS, 1, eventstest.Master())
		if err != nil {
			t.Fatal(err)
		}
		ws = &dashboard.Workspace{Store: lg.Store, Cases: intake.New(lg.Store, people, intake.Options{}),
			Handoffs: handoffs.New(lg.Store, handoffs.Options{Now: e.clock.Now})}
	}
	var td *dashboard.TriageDesk
	if o.triage {
		people, err := intake.OpenPersonKeyer(ctx, lg.JS, 1, eventstest.Master())
		if err != nil {
			t.Fatal(err)
		}
		td = &dashboard.TriageDesk{Store: lg.Store, Queue: engine(intake.NewIndex()), Decider: intake.New(lg.Store, people, intake.Options{})}
	}
	done := make(chan struct{})
	h := dashboard.New(dashboard.Config{Workspace: ws, Triage: td,
		Alerts: engine(alerts.NewView()), AlertAfter: 4 * time.Hour,
		Waitlists: e.wl, Caseloads: engine(caseloads.New()), Funnel: engine(funnel.New()), Series: engine(timeseries.New()),
		Initials: engine(dashboard.NewInitials()), Partners: engine(partners.New()), Demand: engine(demand.New()),
		Audit: e.audit, Keys: kb, Secret: secret, Now: e.clock.Now, SessionTTL: ttl, LiveInterval: 50 * time.Millisecond, Done: done,
		Forms: dashboard.NewUsedForms(lg.JS, 1), Proxies: o.proxies, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	e.srv = httptest.NewUnstartedServer(h)
	if o.server != nil {
		o.server(e.srv.Config)
	}
	if o.tls {
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(func() {
		close(done)
		e.srv.Close()
		if t.Failed() {
			t.Logf("dashboard log:\n%s", e.logs.String())
		}
	})
	return e
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

// key creates an API key of role and waits until it authenticates.
func (e *env) key(role keys.Role) string {
	e.t.Helper()
	spec := keys.Spec{Role: role, Label: "test"}
	switch role {
	case keys.RoleReferrer:
		spec.Organisation = "A81001"
	case keys.RolePartner:
		spec.Organisation = "partner-a"
	case keys.RoleLinkWorker:
		spec.Worker = "0190f6b2-0000-7000-8000-000000000001" // a link worker's key acts for one
	}
	plain, _, err := e.keys.Create(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	// The authenticator follows the bucket: wait until it knows the key.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := e.auth.Authenticate(plain); err == nil {
			return plain
		}
	}
	e.t.Fatalf("the %s key was not accepted within 5s", role)
	return ""
}

// browser is a client with its own cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // its transport trusts the test server's certificate, when it has one
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.srv.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	resp, err := b.c.PostForm(b.e.srv.URL+path, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(tb testing.TB, page string) string {
	tb.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// signIn fills in the sign-in form with key and returns the answer.
func (b *browser) signIn(key string) (int, string, http.Header) {
	b.e.t.Helper()
	code, page, _ := b.get("/signin")
	if code != http.StatusOK {
		b.e.t.Fatalf("GET /signin: %d", code)
	}
	return b.post("/signin", url.Values{"csrf": {csrfOf(b.e.t, page)}, "key": {key}, "next": {"/"}})
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// refer appends a referral with full contact details, accepted and
// waitlisted on queue with priority; it returns the referral id.
func (e *env) refer(queue string, prio pathwayv1.Priority, given, family string) string {
	e.t.Helper()
	return e.referFrom("A81001", queue, prio, given, family)
}

// referFrom is refer of a referral from the GP practice practice.
func (e *env) referFrom(practice, queue string, prio pathwayv1.Priority, given, family string) string {
	e.t.Helper()
	id := uuid.NewString()
	_, err := e.log.Store.Append(context.Background(), events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_GP_PRACTICE, Urgency: prio, GpPractice: practice,
			Person: &pathwayv1.Person{NhsNumber: "9434765919", GivenName: given, FamilyName: family, Postcode: "TS1 3BA",
				Phone: "07700900123", Email: "sam.example@example.org"}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Priority: prio}},
		events.Event{Payload: &pathwayv1.ReferralWaitlisted{Queue: queue, Priority: prio}})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// caughtUp waits until every read model has applied the log.
func (e *env) caughtUp() {
	e.t.Helper()
	last, err := e.log.Store.LastSequence(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, eng := range e.all {
		if err := eng.WaitFor(ctx, last); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestOnlyOpsAndAdminSignIn(t *testing.T) {
	e := newEnv(t)
	for _, role := range keys.Roles {
		t.Run(string(role), func(t *testing.T) {
			b := e.browser()
			code, page, hdr := b.signIn(e.key(role))
			session := b.cookie("pathway_session")
			if role == keys.RoleOps || role == keys.RoleAdmin {
				if code != http.StatusSeeOther || hdr.Get("Location") != "/" || session == nil {
					t.Fatalf("sign-in: got %d to %q with session %v, want 303 to / with a session", code, hdr.Get("Location"), session)
				}
				if code, page, _ := b.get("/"); code != http.StatusOK || !strings.Contains(page, "<h1>Overview</h1>") {
					t.Fatalf("overview: got %d, want 200 and the overview", code)
				}
				return
			}
			if code != http.StatusForbidden || session != nil {
				t.Fatalf("sign-in: got %d with session %v, want 403 and no session", code, session)
			}
			if !strings.Contains(page, "Only ops and admin keys can sign in") {
				t.Fatalf("the refusal does not say why:\n%s", page)
			}
			if code, _, hdr := b.get("/"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
				t.Fatalf("overview without a session: got %d to %q, want 303 to /signin", code, hdr.Get("Location"))
			}
		})
	}
	t.Run("not a key", func(t *testing.T) {
		b := e.browser()
		if code, page, _ := b.signIn("pw_000000000000_" + strings.Repeat("A", 43)); code != http.StatusUnauthorized || !strings.Contains(page, "not a valid API key") {
			t.Fatalf("got %d, want 401 saying the key is not valid", code)
		}
	})
	t.Run("revoked key ends its session", func(t *testing.T) {
		b := e.browser()
		key := e.key(keys.RoleOps)
		if code, _, _ := b.signIn(key); code != http.StatusSeeOther {
			t.Fatalf("sign-in: got %d, want 303", code)
		}
		if _, err := e.keys.Revoke(context.Background(), strings.Split(key, "_")[1]); err != nil {
			t.Fatal(err)
		}
		if code, _, hdr := b.get("/"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
			t.Fatalf("after revocation: got %d to %q, want 303 to /signin", code, hdr.Get("Location"))
		}
	})
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, _, hdr := b.signIn(e.key(keys.RoleOps))
	var set string
	for _, c := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(c, "pathway_session=") {
			set = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Expires="} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q: want %s", set, want)
		}
	}
	if strings.Contains(set, "pw_") {
		t.Errorf("session cookie %q carries the API key", set)
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("session cookie %q: Secure over plain HTTP, want it only over TLS", set)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if code, _, _ := b.signIn(e.key(keys.RoleAdmin)); code != http.StatusSeeOther {
		t.Fatalf("sign-in: got %d, want 303", code)
	}
	e.clock.Add(ttl - time.Minute)
	if code, _, _ := b.get("/"); code != http.StatusOK {
		t.Fatalf("a minute before expiry: got %d, want 200", code)
	}
	e.clock.Add(2 * time.Minute)
	if code, _, hdr := b.get("/"); code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
		t.Fatalf("a minute after expiry: got %d to %q, want 303 to /signin", code, hdr.Get("Location"))
	}
	if code, _, _ := b.get("/live?view=/"); code != http.StatusUnauthorized {
		t.Fatalf("live stream after expiry: got %d, want 401", code)
	}
	// Signing in again works.
	if code, _, _ := b.signIn(e.key(keys.RoleAdmin)); code != http.StatusSeeOther {
		t.Fatalf("sign-in again: got %d, want 303", code)
	}
	if code, _, _ := b.get("/"); code != http.StatusOK {
		t.Fatalf("after signing in again: got %d, want 200", code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	key := e.key(keys.RoleOps)

	t.Run("sign-in without the token", func(t *testing.T) {
		b := e.browser()
		b.get("/signin") // has the sign-in cookie, but posts no token
		code, _, _ := b.post("/signin", url.Values{"key": {key}})
		if code != http.StatusForbidden || b.cookie("pathway_session") != nil {
			t.Fatalf("got %d with session %v, want 403 and no session", code, b.cookie("pathway_session"))
		}
	})
	t.Run("sign-in with another browser's token", func(t *testing.T) {
		other, b := e.browser(), e.browser()
		_, page, _ := other.get("/signin")
		b.get("/signin")
		code, _, _ := b.post("/signin", url.Values{"key": {key}, "csrf": {csrfOf(t, page)}})
		if code != http.StatusForbidden || b.cookie("pathway_session") != nil {
			t.Fatalf("got %d, want 403 and no session", code)
		}
	})
	t.Run("sign-in from another site", func(t *testing.T) {
		b := e.browser()
		_, page, _ := b.get("/signin")
		req, _ := http.NewRequest("POST", e.srv.URL+"/signin", strings.NewReader(url.Values{"key": {key}, "csrf": {csrfOf(t, page)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %d, want 403", resp.StatusCode)
		}
	})
	t.Run("a second sign-in page keeps the first one's token", func(t *testing.T) {
		b := e.browser()
		_, page, _ := b.get("/signin")
		b.get("/signin?next=/funnel") // another tab
		if code, _, _ := b.get("/favicon.ico"); code != http.StatusNotFound {
			t.Errorf("/favicon.ico: got %d, want 404", code)
		}
		if code, _, _ := b.post("/signin", url.Values{"key": {key}, "csrf": {csrfOf(t, page)}}); code != http.StatusSeeOther {
			t.Fatalf("sign-in from the first page: got %d, want 303", code)
		}
	})
	t.Run("sign-out", func(t *testing.T) {
		b := e.browser()
		b.signIn(key)
		_, page, _ := b.get("/")
		if code, _, _ := b.post("/signout", url.Values{}); code != http.StatusForbidden {
			t.Fatalf("sign-out without the token: got %d, want 403", code)
		}
		if code, _, _ := b.get("/"); code != http.StatusOK {
			t.Fatalf("still signed in after a refused sign-out: got %d, want 200", code)
		}
		code, _, hdr := b.post("/signout", url.Values{"csrf": {csrfOf(t, page)}})
		if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/signin") {
			t.Fatalf("sign-out with the token: got %d to %q, want 303 to /signin", code, hdr.Get("Location"))
		}
		if code, _, _ := b.get("/"); code != http.StatusSeeOther {
			t.Fatalf("after sign-out: got %d, want 303 to /signin", code)
		}
	})
}

func TestWaitlistPage(t *testing.T) {
	e := newEnv(t)
	routine := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Sam", "Example")
	urgent := e.refer("U12345", pathwayv1.Priority_PRIORITY_URGENT, "alex", "Other")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleOps))

	code, page, _ := b.get("/waitlists/U12345")
	if code != http.StatusOK {
		t.Fatalf("GET /waitlists/U12345: got %d, want 200", code)
	}
	for _, want := range []string{routine, "S.E.", urgent, "A.O.", "Waitlist size over the last 14 days", "U12345: 2"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Index(page, urgent) > strings.Index(page, routine) {
		t.Errorf("the urgent referral comes after the routine one, want it first")
	}
	t.Run("no contact details", func(t *testing.T) {
		for _, secret := range []string{"07700900123", "sam.example@example.org", "TS1 3BA", "TS1", "9434765919", "943 476 5919", "Sam", "Example", "alex", "Other"} {
			if strings.Contains(page, secret) {
				t.Errorf("the waitlist page shows %q", secret)
			}
		}
	})
	t.Run("filter by priority", func(t *testing.T) {
		_, page, _ := b.get("/waitlists/U12345?priority=urgent")
		if !strings.Contains(page, urgent) || strings.Contains(page, routine) {
			t.Fatalf("filtered to urgent: want only %s", urgent)
		}
		if !strings.Contains(page, `<option value="urgent" selected>`) {
			t.Errorf("the filter does not show urgent as selected")
		}
	})
	t.Run("unknown queue", func(t *testing.T) {
		if code, _, _ := b.get("/waitlists/NOPE"); code != http.StatusNotFound {
			t.Fatalf("got %d, want 404", code)
		}
	})
	t.Run("overview", func(t *testing.T) {
		_, page, _ := b.get("/")
		if !strings.Contains(page, `href="/waitlists/U12345"`) || !strings.Contains(page, `data-queue="U12345">2<`) {
			t.Fatalf("the overview does not show U12345 with 2 waiting")
		}
		for _, secret := range []string{"07700900123", "TS1 3BA", "9434765919"} {
			if strings.Contains(page, secret) {
				t.Errorf("the overview shows %q", secret)
			}
		}
	})
}

// event is one server-sent event.
type event struct {
	id, name, data string
}

// stream opens the live stream of view and returns its events.
func (b *browser) stream(ctx context.Context, view, lastID string) <-chan event {
	b.e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+"/live?view="+url.QueryEscape(view), nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.e.t.Fatalf("live: got %d %s, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan event, 16)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev event
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.data = strings.Join(data, "\n")
					out <- ev
				}
				ev, data = event{}, nil
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	return out
}

func next(tb testing.TB, ch <-chan event, within time.Duration) (event, bool) {
	tb.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(within):
		return event{}, false
	}
}

func TestLiveStream(t *testing.T) {
	e := newEnv(t)
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Sam", "Example")
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleOps))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A fresh stream catches up at once.
	ch := b.stream(ctx, "/", "")
	first, ok := next(t, ch, 10*time.Second)
	if !ok || first.name != "update" || !strings.Contains(first.data, `data-queue="U12345">1<`) {
		t.Fatalf("first event %+v, want an update showing 1 waiting on U12345", first)
	}
	// A new event reaches the open stream.
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Kim", "Doe")
	var got event
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(got.data, `data-queue="U12345">2<`) {
		got, ok = next(t, ch, time.Until(deadline))
		if !ok {
			break
		}
	}
	if !strings.Contains(got.data, `data-queue="U12345">2<`) {
		t.Fatalf("no update showing 2 waiting after a second referral; last %+v", got)
	}
	firstID, _ := strconv.ParseUint(first.id, 10, 64)
	gotID, _ := strconv.ParseUint(got.id, 10, 64)
	if gotID <= firstID {
		t.Fatalf("event ids: got %d after %d, want them to grow with the log", gotID, firstID)
	}
	cancel()

	// A reconnect from the last id gets nothing until the log moves on;
	// one from an older id catches up at once.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	same := b.stream(ctx2, "/", got.id)
	if ev, ok := next(t, same, 500*time.Millisecond); ok {
		t.Fatalf("reconnect at the last id: got %+v, want nothing new", ev)
	}
	older := b.stream(ctx2, "/", first.id)
	if ev, ok := next(t, older, 10*time.Second); !ok || ev.id != got.id || !strings.Contains(ev.data, `data-queue="U12345">2<`) {
		t.Fatalf("reconnect at an older id: got %+v, want the update at %s", ev, got.id)
	}

	// An expired session is told to sign in again.
	e.clock.Add(ttl + time.Minute)
	e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Lee", "Roe")
	if ev, ok := next(t, same, 10*time.Second); !ok || ev.name != "signout" {
		t.Fatalf("after expiry: got %+v, want a signout event", ev)
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	worker := uuid.NewString()
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "worker", ID: worker}, 0,
		events.Event{Payload: &pathwayv1.WorkerRegistered{Name: "Robin Worker", Pcn: "U12345", Practices: []string{"A81001"}, Capacity: 2}}); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	ons4 := func(point pathwayv1.MeasurementPoint, life uint32) events.Event {
		return events.Event{Payload: &pathwayv1.OutcomeMeasured{Instrument: pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4, Point: point,
			Scores: &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: life}}}}
	}
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "referral", ID: id}, 0,
		events.Event{Payload: &pathwayv1.ReferralReceived{Source: pathwayv1.ReferralSource_REFERRAL_SOURCE_SELF,
			Person: &pathwayv1.Person{GivenName: "Jo", FamilyName: "Bloggs", Phone: "07700900999", Postcode: "TS1 3BA"}}},
		events.Event{Payload: &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT}},
		events.Event{Payload: &pathwayv1.ReferralAssigned{WorkerId: worker}},
		ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE, 4),
		ons4(pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP, 7)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Store.Append(ctx, events.Aggregate{Type: "worker", ID: worker}, events.AnyVersion,
		events.Event{Payload: &pathwayv1.WorkerCaseAssigned{ReferralId: id}}); err != nil {
		t.Fatal(err)
	}
	// A partner with a service: one handoff accepted, one still awaiting
	// an answer past its deadline.
	partner, service := uuid.NewString(), uuid.NewString()
	mustAppend := func(agg events.Aggregate, evs ...events.Event) {
		t.Helper()
		if _, err := e.log.Store.Append(ctx, agg, events.AnyVersion, evs...); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(events.Aggregate{Type: "partner", ID: partner}, events.Event{Payload: &pathwayv1.PartnerRegistered{Name: "Good Neighbours"}})
	mustAppend(events.Aggregate{Type: "service", ID: service}, events.Event{Payload: &pathwayv1.ServiceRegistered{
		Details: &pathwayv1.ServiceDetails{PartnerId: partner, Name: "Walking group"}}})
	request := &pathwayv1.HandoffRequested{ReferralId: id, ServiceId: service, PartnerId: partner, Consent: true,
		RespondBy: timestamppb.New(e.clock.Now().Add(-time.Hour))}
	mustAppend(events.Aggregate{Type: "handoff", ID: uuid.NewString()}, events.Event{Payload: request}, events.Event{Payload: &pathwayv1.HandoffAccepted{}})
	mustAppend(events.Aggregate{Type: "handoff", ID: uuid.NewString()}, events.Event{Payload: request})
	// Its directory then marks the service inactive: its handoffs stay
	// counted, and the page says it has left the directory.
	mustAppend(events.Aggregate{Type: "service", ID: service}, events.Event{Payload: &pathwayv1.ServiceRetired{Status: "inactive"}})
	e.caughtUp()
	b := e.browser()
	b.signIn(e.key(keys.RoleOps))

	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/caseloads/" + worker, http.StatusOK, []string{"Caseload of Robin Worker", id, "J.B.", "awaiting first contact", "1 of 2"}},
		{"/funnel", http.StatusOK, []string{"Referral funnel", "Self-referral", "ONS4 life satisfaction", "3.0 (better)"}},
		{"/partners", http.StatusOK, []string{"VCSE partners", `id="partners-awaiting">1<`, "Good Neighbours", "Walking group", "100%", `href="/partners?format=csv"`,
			`Walking group <span class="muted">(left the directory: inactive)</span>`}},
		{"/partners?format=csv", http.StatusOK, []string{"level,partner,service,requested,awaiting,accepted", "partner,Good Neighbours,,2,1,1,", "service,Good Neighbours,Walking group,2,1,1,"}},
		// Requested in the dates chosen: today (UK) has both, tomorrow none;
		// the counts needing attention now stay.
		{"/partners?format=csv&from=" + ukToday() + "&to=" + ukToday(), http.StatusOK, []string{"partner,Good Neighbours,,2,1,1,"}},
		{"/partners?format=csv&from=" + ukTomorrow(), http.StatusOK, []string{"partner,Good Neighbours,,0,0,0,", "service,Good Neighbours,Walking group,0,0,0,"}},
		{"/partners?from=" + ukTomorrow(), http.StatusOK, []string{`id="partners-filtered"`, `id="partners-awaiting">1<`, `href="/partners?format=csv&amp;from=` + ukTomorrow() + `"`}},
		{"/", http.StatusOK, []string{"Robin Worker", "50%", "ONS4 life satisfaction", `id="handoffs-awaiting">1 <span class="flag">(1 past deadline)`}},
		{"/caseloads/nobody", http.StatusNotFound, []string{"There is no page"}},
		{"/nowhere", http.StatusNotFound, []string{"There is no page"}},
	} {
		t.Run(c.path, func(t *testing.T) {
			var code int
			var page string
			// The caseloads engine may still be a step behind the waitlists one.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if code, page, _ = b.get(c.path); code == c.status {
					break
				}
			}
			if code != c.status {
				t.Fatalf("got %d, want %d", code, c.status)
			}
			for _, w := range c.want {
				if !strings.Contains(page, w) {
					t.Errorf("the page does not show %q:\n%s", w, page)
				}
			}
			for _, secret := range []string{"07700900999", "TS1 3BA", "Bloggs"} {
				if strings.Contains(page, secret) {
					t.Errorf("the page shows %q", secret)
				}
			}
		})
	}
}

// TestPageReadsAreAudited: a page that shows people by their initials
// records, for each referral it shows, who saw it.
func TestPageReadsAreAudited(t *testing.T) {
	e := newEnv(t)
	first := e.refer("U12345", pathwayv1.Priority_PRIORITY_ROUTINE, "Jo", "Bloggs")
	second := e.refer("U12345", pathwayv1.Priority_PRIORITY_URGENT, "Al", "Smith")
	e.caughtUp()
	b := e.browser()
	ops := e.key(keys.RoleOps)
	b.signIn(ops)
	if code, page, _ := b.get("/waitlists/U12345"); code != http.StatusOK || !strings.Contains(page, "J.B.") {
		t.Fatalf("the waitlist page: %d", code)
	}
	for _, id := range []string{first, second} {
		recs, err := e.audit.Query(context.Background(), audit.Filter{Referral: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Route != "GET /waitlists/{queue}" || recs[0].Role != "ops" || recs[0].KeyID == "" {
			t.Errorf("audit of %s: %+v, want one read of the waitlist page by the ops key", id, recs)
		}
	}
	// The overview shows counts, and people only when they are alerts
	// (TestOverviewListsAlerts): nothing to record here.
	b.get("/")
	if recs, _ := e.audit.Query(context.Background(), audit.Filter{Referral: first}); len(recs) != 1 {
		t.Errorf("after the overview: %d records of %s, want still 1", len(recs), first)
	}
}
