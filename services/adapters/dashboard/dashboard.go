// Package dashboard is pathway's operations dashboard: server-rendered
// HTML pages of the waitlists, caseloads, the referral funnel and the VCSE
// partners, with inline SVG charts, kept live over server-sent events.
//
// Operations staff sign in with an ops or admin API key, which is
// exchanged for a session cookie: the key id and an expiry, signed with a
// secret kept in the JetStream key-value bucket SecretBucket so that every
// pathway process accepts the same cookies. The key is looked up again on
// every request, so revoking it ends its sessions. Every form that changes
// state carries a CSRF token: the sign-in form's is bound to a sign-in
// cookie and used once (Forms), a signed-in page's is bound to the
// session. Failed sign-ins are limited per client address and per key id
// (edge.Throttle, shared with the API) and logged without the key; the
// cookies are Secure whenever the browser reached the dashboard over TLS,
// directly or through a trusted proxy (edge.Proxies).
//
// The pages show no contact details: a referral appears by its id and the
// person's initials only.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/keys"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Authenticator checks API keys: a token at sign-in, and a key by id on
// each request of a session. *KeyBucket implements it.
type Authenticator interface {
	// Authenticate returns the key that token is; every failure is
	// keys.ErrUnauthenticated.
	Authenticate(token string) (keys.Key, error)
	// Lookup returns the key with id, revoked or not; keys.ErrNotFound
	// when there is none.
	Lookup(ctx context.Context, id string) (keys.Key, error)
}

// Recorder records reads in the audit log (audit.Log).
type Recorder interface {
	RecordAll(ctx context.Context, rs []audit.Record) error
}

// Config configures the dashboard.
type Config struct {
	// The engines of the read models the pages show; all required.
	Waitlists *projections.Engine // waitlists.Waitlists
	Caseloads *projections.Engine // caseloads.Caseloads
	Funnel    *projections.Engine // funnel.Funnel
	Series    *projections.Engine // timeseries.Series
	Initials  *projections.Engine // *Initials (NewInitials)
	// Partners, when set, is the engine of the VCSE partner read model
	// (a projection implementing PartnerView); nil leaves the handoff and
	// partner panels out.
	Partners *projections.Engine
	// Demand, when set, is the engine of the demand.Demand read model:
	// the demand against capacity page (/demand), and the GP practice of
	// each referral, which the practice filters use; nil leaves both out.
	Demand *projections.Engine
	// Alerts, when set, is the engine of the alerts.View: the urgent and
	// safeguarding referrals waiting over AlertAfter (default
	// alerts.DefaultAfter) are listed at the top of the overview; nil
	// leaves the list out.
	Alerts     *projections.Engine
	AlertAfter time.Duration
	// Audit records which referrals a page showed (by initials) to whom;
	// nil records nothing (tests of other things). Live updates of an open
	// page are not recorded again.
	Audit Recorder
	// Keys checks the API keys that sign in; required.
	Keys Authenticator
	// Secret signs session cookies and CSRF tokens: at least 32 bytes,
	// the same in every process (OpenSecret).
	Secret []byte
	// Now is the clock; default time.Now.
	Now func() time.Time
	// WaitTarget is the wait after which a waitlist entry is a breach;
	// default 28 days.
	WaitTarget time.Duration
	// SessionTTL is how long a sign-in lasts; default 8 hours.
	SessionTTL time.Duration
	// Location is the time zone times are shown in; default UTC.
	Location *time.Location
	// LiveInterval is how often a live stream looks for new events;
	// default 250ms.
	LiveInterval time.Duration
	// Done, when closed, ends the live streams (at shutdown: an HTTP
	// server's Shutdown does not end running requests).
	Done <-chan struct{}
	// Logger gets failures; never keys or personal data. Nil discards.
	Logger *slog.Logger
	// Forms records the sign-in forms used, so that each CSRF token of the
	// sign-in form is used once (NewUsedForms); required.
	Forms Forms
	// Throttle limits failed sign-ins per client address and per key id;
	// share the API's. Nil makes one with the default limits.
	Throttle *edge.Throttle
	// Proxies are the reverse proxies whose X-Forwarded-For (the client
	// address the throttle counts) and X-Forwarded-Proto (https makes the
	// cookies Secure) are believed; the zero value trusts none.
	Proxies edge.Proxies
	// Workspace, when set, serves the link worker workspace under /cases
	// (workspace.go) and lets link worker keys sign in; nil leaves it out.
	Workspace *Workspace
	// Triage, when set, serves the triage workspace under /triage
	// (triage.go) and lets triage keys sign in; nil leaves it out.
	Triage *TriageDesk
}

func (c *Config) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WaitTarget == 0 {
		c.WaitTarget = 28 * 24 * time.Hour
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.LiveInterval == 0 {
		c.LiveInterval = 250 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Throttle == nil {
		c.Throttle = edge.NewThrottle(edge.ThrottleOptions{})
	}
	if c.Workspace != nil && c.Workspace.FollowUpAfter == 0 {
		ws := *c.Workspace
		ws.FollowUpAfter = DefaultFollowUpAfter
		c.Workspace = &ws
	}
}

// Validate reports what is missing or wrong in c, after defaults.
func (c Config) Validate() error {
	c.defaults()
	var errs []error
	for name, e := range map[string]*projections.Engine{"Waitlists": c.Waitlists, "Caseloads": c.Caseloads, "Funnel": c.Funnel, "Series": c.Series, "Initials": c.Initials} {
		if e == nil {
			errs = append(errs, fmt.Errorf("dashboard: the %s engine is required", name))
		}
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("dashboard: Keys is required"))
	}
	if c.Forms == nil {
		errs = append(errs, errors.New("dashboard: Forms is required"))
	}
	if len(c.Secret) < 32 {
		errs = append(errs, errors.New("dashboard: Secret must be at least 32 bytes"))
	}
	if c.Workspace != nil {
		errs = append(errs, c.Workspace.validate())
	}
	if c.Triage != nil {
		errs = append(errs, c.Triage.validate())
	}
	if c.WaitTarget < 0 || c.SessionTTL < 0 || c.LiveInterval < 0 {
		errs = append(errs, errors.New("dashboard: durations must be positive"))
	}
	return errors.Join(errs...)
}

// handler serves the dashboard.
type handler struct {
	cfg    Config
	log    *slog.Logger
	pages  map[string]*template.Template
	signin *template.Template
	mux    *http.ServeMux
	// settled is the furthest position every read model has reached.
	settled atomic.Uint64
}

// New returns the dashboard's handler; it serves every path it is given
// (mount it outside the API's paths). cfg must pass Validate: otherwise
// every request gets a 500 naming the problem, which is logged. It is
// safe for concurrent use.
func New(cfg Config) http.Handler {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		cfg.Logger.Error("dashboard misconfigured", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "dashboard misconfigured: "+err.Error(), http.StatusInternalServerError)
		})
	}
	h := &handler{cfg: cfg, log: cfg.Logger, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := h.funcs()
	base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/charts.html", "templates/alerts.html", "templates/filter.html"))
	for _, name := range []string{"overview", "waitlist", "caseload", "funnel", "demand", "partners", "notfound", "forbidden", "mycaseload", "referral", "directory", "opsreferral", "expired", "triagequeue", "triagecase"} {
		h.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, "templates/"+name+".html"))
	}
	h.signin = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/signin.html"))

	static, _ := fs.Sub(assets, "static")
	files := http.FileServerFS(static)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})))
	protect := http.NewCrossOriginProtection()
	h.mux.HandleFunc("GET /signin", h.signinForm)
	h.mux.Handle("POST /signin", protect.Handler(http.HandlerFunc(h.signinSubmit)))
	h.mux.Handle("POST /signout", protect.Handler(http.HandlerFunc(h.signout)))
	h.mux.HandleFunc("GET /live", h.live)
	if cfg.Workspace != nil {
		h.mux.Handle("POST /cases/{id}/{form}", protect.Handler(http.HandlerFunc(h.caseForm)))
		h.mux.Handle("POST /referrals/{id}/assign", protect.Handler(http.HandlerFunc(h.assignSubmit)))
		h.mux.Handle("POST /waitlists/{queue}/assign", protect.Handler(http.HandlerFunc(h.waitlistAssignSubmit)))
	}
	if cfg.Triage != nil {
		h.routeTriage(protect)
	}
	h.mux.HandleFunc("GET /", h.page)
	return h
}

// ServeHTTP sets the security headers every answer carries and routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// page is the common frame of a signed-in page.
type page struct {
	Title string
	Nav   string
	// Live is the path and query the live stream re-renders.
	Live string
	Seq  uint64
	CSRF string
	Key  keys.Key
	// Worker: the page is the link worker workspace's (its navigation).
	Worker bool
	// Triage: the page is the triage workspace's, for a triage key (its
	// navigation; an admin keeps the operations navigation).
	Triage bool
	// Controls are the page's filters, outside the live region.
	Controls any
	Data     any
	// Forms are the page's forms, after the live region (which a live
	// update replaces: a form there would lose what was typed).
	Forms any
	// Failed: a form on the page was sent back with errors.
	Failed bool
}

// errNotFound reports a page that does not exist, or that the key may
// not know exists (another worker's referral).
var errNotFound = errors.New("dashboard: no such page")

// errForbidden reports a page that the key's role may not see.
var errForbidden = errors.New("dashboard: not a page for this role")

// view is a resolved page: its template, title and data.
type view struct {
	name, title, nav string
	controls, data   any
	// route and referrals: a page that shows people (by initials) names
	// the referrals it shows, for the audit of reads.
	route     string
	referrals []string
	// worker: a workspace page; static: a page without live updates
	// (its forms fill it); forms: the forms after the live region.
	worker, static bool
	// triage: a triage workspace page seen with a triage key.
	triage bool
	// formsFor makes the page's forms, whose tokens bind to the session.
	formsFor func(session) any
	// csv, when set, is the page's table, served at ?format=csv (csv.go).
	csv func() [][]string
}

// resolve finds the page at path with query q for key and builds its
// data from the read models (and, for the workspace, the log) at now.
// Errors: errNotFound, errForbidden (a page of another role), or a read
// error.
func (h *handler) resolve(ctx context.Context, key keys.Key, path string, q url.Values, now time.Time) (view, error) {
	if path == "/cases" || strings.HasPrefix(path, "/cases/") {
		if h.cfg.Workspace == nil {
			return view{}, errNotFound
		}
		if key.Role != keys.RoleLinkWorker {
			return view{}, errForbidden
		}
		return h.resolveWorkspace(ctx, key, path, q, now)
	}
	if triagePath(path) {
		return h.resolveTriage(ctx, key, path, q, now)
	}
	if key.Role == keys.RoleLinkWorker || key.Role == keys.RoleTriage {
		return view{}, errForbidden
	}
	switch {
	case path == "/handoffs/expired", strings.HasPrefix(path, "/referrals/"):
		return h.resolveOps(ctx, key, path, q, now)
	case path == "/":
		// Counts, and the alerts by initials: those are recorded.
		f := h.parseFilter(filterSpec{action: "/", pcn: true}, q)
		d := h.overview(now, f.PCN)
		d.QueuesCSV, d.WorkersCSV = f.csvURL("/", url.Values{"table": {"waitlists"}}), f.csvURL("/", url.Values{"table": {"caseloads"}})
		var ids []string
		if d.Alerts != nil {
			for _, a := range append(d.Alerts.Rows, d.Alerts.Within...) {
				ids = append(ids, a.ID)
			}
		}
		table := d.queuesCSV
		if q.Get("table") == "caseloads" {
			table = d.workersCSV
		}
		return view{name: "overview", title: "Overview", nav: "overview", controls: f, data: d, route: "GET /", referrals: ids, csv: table}, nil
	case path == "/funnel":
		f := h.parseFilter(filterSpec{action: "/funnel", pcn: true, practice: true, dates: true, datesOf: "Received", csv: true}, q)
		d := h.funnelPage(now, f)
		return view{name: "funnel", title: "Referral funnel", nav: "funnel", controls: f, data: d, csv: d.csv}, nil
	case path == "/demand" && h.cfg.Demand != nil:
		f := h.parseFilter(filterSpec{action: "/demand", pcn: true, practice: true, dates: true, datesOf: "Weeks", csv: true}, q)
		d, f := h.demandPage(now, f)
		return view{name: "demand", title: "Demand and capacity", nav: "demand", controls: f, data: d, csv: d.csv}, nil
	case path == "/partners":
		f := h.parseFilter(filterSpec{action: "/partners", dates: true, datesOf: "Handoffs requested", csv: true}, q)
		d := h.partnersPage(now, f)
		return view{name: "partners", title: "VCSE partners", nav: "partners", controls: f, data: d, csv: d.csv}, nil
	case strings.HasPrefix(path, "/waitlists/"):
		queue := strings.TrimPrefix(path, "/waitlists/")
		if queue == "" || strings.Contains(queue, "/") {
			return view{}, errNotFound
		}
		prio := q.Get("priority")
		if _, ok := priorities[prio]; !ok {
			prio = ""
		}
		over := q.Get("over") == "target"
		f := h.parseFilter(filterSpec{action: "/waitlists/" + url.PathEscape(queue), practice: true, dates: true, datesOf: "Waiting since", csv: true,
			csvExtra: waitlistQuery(prio, over)}, q)
		d, ok := h.waitlistPage(queue, prio, over, f, q, now)
		if !ok {
			return view{}, errNotFound
		}
		ids := make([]string, len(d.Entries))
		for i, e := range d.Entries {
			ids[i] = e.ID
		}
		return view{name: "waitlist", title: "Waitlist " + d.Name, nav: "overview", controls: waitlistFilter(queue, prio, over, f), data: d,
			route: "GET /waitlists/{queue}", referrals: ids, csv: d.csv, formsFor: h.waitlistAssignFor(queue, q.Get("assign"), q.Get("done"))}, nil
	case strings.HasPrefix(path, "/caseloads/"):
		id := strings.TrimPrefix(path, "/caseloads/")
		f := h.parseFilter(filterSpec{action: "/caseloads/" + url.PathEscape(id), practice: true, dates: true, datesOf: "Assigned", csv: true}, q)
		d, ok := h.caseloadPage(id, f, now)
		if !ok {
			return view{}, errNotFound
		}
		d.CSV = f.CSV
		ids := make([]string, len(d.Cases))
		for i, c := range d.Cases {
			ids[i] = c.ID
		}
		return view{name: "caseload", title: "Caseload of " + d.Worker.Name, nav: "overview", controls: f, data: d, route: "GET /caseloads/{worker}", referrals: ids, csv: d.csv}, nil
	}
	return view{}, errNotFound
}

// known reports whether path can be a page (resolve says whether it is).
func known(path string) bool {
	switch {
	case path == "/", path == "/funnel", path == "/partners", path == "/demand", path == "/handoffs/expired", strings.HasPrefix(path, "/referrals/"):
		return true
	case strings.HasPrefix(path, "/waitlists/"), strings.HasPrefix(path, "/caseloads/"):
		return true
	case path == "/cases", strings.HasPrefix(path, "/cases/"), triagePath(path):
		return true
	}
	return false
}

// page serves every signed-in page.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	if !known(r.URL.Path) { // e.g. /favicon.ico: no detour through sign-in
		h.notFound(w, r)
		return
	}
	s, err := h.session(r)
	if err != nil {
		h.toSignin(w, r, err)
		return
	}
	if r.URL.Path == "/" && s.key.Role == keys.RoleLinkWorker && h.cfg.Workspace != nil {
		// A link worker's home is their caseload.
		http.Redirect(w, r, "/cases", http.StatusSeeOther)
		return
	}
	if r.URL.Path == "/" && s.key.Role == keys.RoleTriage && h.cfg.Triage != nil {
		// Triage staff's home is the manual triage queue.
		http.Redirect(w, r, "/triage", http.StatusSeeOther)
		return
	}
	if to, ok := postcodeFree(r.URL); ok {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	h.settle(r.Context())
	seq := h.position()
	v, err := h.resolve(r.Context(), s.key, r.URL.Path, r.URL.Query(), h.cfg.Now())
	if err != nil {
		h.refuse(w, r, s, err)
		return
	}
	if !h.audited(w, r, s, v) {
		return
	}
	if v.csv != nil && r.URL.Query().Get("format") == "csv" {
		writeCSV(w, h.log, v.name, v.csv())
		return
	}
	p := page{Title: v.title, Nav: v.nav, Live: r.URL.RequestURI(), Seq: seq, CSRF: h.csrfToken("session", s.value), Key: s.key,
		Worker: v.worker, Triage: v.triage, Controls: v.controls, Data: v.data}
	if v.formsFor != nil {
		p.Forms = v.formsFor(s)
	}
	if v.static {
		p.Live = ""
	}
	h.render(w, http.StatusOK, v.name, p)
}

// audited records in the audit log that s's key read the referrals v
// shows; when it cannot, it answers 503 and returns false.
func (h *handler) audited(w http.ResponseWriter, r *http.Request, s session, v view) bool {
	if h.cfg.Audit == nil || len(v.referrals) == 0 {
		return true
	}
	recs := make([]audit.Record, len(v.referrals))
	for i, id := range v.referrals {
		recs[i] = audit.Record{KeyID: s.key.ID, Role: string(s.key.Role), Organisation: s.key.Organisation, Referral: id, Route: v.route, Status: http.StatusOK}
	}
	if err := h.cfg.Audit.RecordAll(r.Context(), recs); err != nil {
		h.log.Error("dashboard: audit record failed: the page is refused", "err", err)
		http.Error(w, "the page could not be recorded in the audit log; retry shortly", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// refuse answers a page resolve refused: 404, 403 naming the pages the
// key may see, or 503 for a read error (logged).
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, s session, err error) {
	switch {
	case errors.Is(err, errNotFound):
		h.notFound(w, r)
	case errors.Is(err, errForbidden):
		h.render(w, http.StatusForbidden, "forbidden", page{Title: "Not a page for this key", CSRF: h.csrfToken("session", s.value), Key: s.key,
			Worker: s.key.Role == keys.RoleLinkWorker, Triage: s.key.Role == keys.RoleTriage, Data: string(s.key.Role)})
	default:
		h.log.Error("dashboard: cannot read the page", "path", r.URL.Path, "err", err)
		http.Error(w, "cannot read this page right now; retry shortly", http.StatusServiceUnavailable)
	}
}

// toSignin sends a request without a session to the sign-in page.
func (h *handler) toSignin(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, errNoSession) {
		h.log.Error("dashboard session check failed", "err", err)
		http.Error(w, "cannot check the session right now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	s, err := h.session(r)
	p := page{Title: "Not found", Data: r.URL.Path}
	if err == nil {
		p.CSRF, p.Key, p.Worker, p.Triage = h.csrfToken("session", s.value), s.key, s.key.Role == keys.RoleLinkWorker, s.key.Role == keys.RoleTriage
	}
	h.render(w, http.StatusNotFound, "notfound", p)
}

// render executes a page's layout into a buffer, then writes it.
func (h *handler) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("render dashboard page", "page", name, "err", err)
		http.Error(w, "cannot render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// engines returns the engines the pages read.
func (h *handler) engines() []*projections.Engine {
	out := []*projections.Engine{h.cfg.Waitlists, h.cfg.Caseloads, h.cfg.Funnel, h.cfg.Series, h.cfg.Initials}
	if h.cfg.Partners != nil {
		out = append(out, h.cfg.Partners)
	}
	if h.cfg.Alerts != nil {
		out = append(out, h.cfg.Alerts)
	}
	if h.cfg.Demand != nil {
		out = append(out, h.cfg.Demand)
	}
	if h.cfg.Triage != nil {
		out = append(out, h.cfg.Triage.Queue)
	}
	return out
}

// position is the furthest log sequence any read model has applied: the
// id of what a page shows.
func (h *handler) position() uint64 {
	var seq uint64
	for _, e := range h.engines() {
		seq = max(seq, e.Applied())
	}
	return seq
}

// settle waits, for up to a second, until every read model has caught up
// with the furthest one, so that a page shows one moment of the log. The
// furthest position settled is remembered, so that the many streams
// watching the same engines wait (and ask the log) once per position.
func (h *handler) settle(ctx context.Context) {
	seq := h.position()
	if seq <= h.settled.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for _, e := range h.engines() {
		if e.Applied() < seq {
			if err := e.WaitFor(ctx, seq); err != nil {
				return
			}
		}
	}
	for {
		old := h.settled.Load()
		if seq <= old || h.settled.CompareAndSwap(old, seq) {
			return
		}
	}
}
