// Package oruk serves pathway's VCSE directory as Open Referral UK: the
// read endpoints of the ORUK / HSDS 3.0 API under /oruk/ (the index
// document, services with their filters and paging, a service fully
// nested, organizations and taxonomies), in the shapes of the HSDS 3.0
// JSON schemas (hsds.go). The directory is not personal data; whether a
// key is needed is the HTTP server's choice (httpapi.Config.ORUKRequireKey).
//
// pathway's own additions to a service are properties named pathway_...
// (HSDS permits additional properties): pathway_capacity_status, the
// partner's capacity signal; pathway_response_times, how fast the partner
// answers handoffs; pathway_needs, the needs it is found under.
//
// Lists come from the partners read model (projections/partners, for the
// search) and View (each service's status and last change), each service
// on a page then loaded whole from the log, so a page shows every field of
// the service as it stands. A list shows the services in the directory;
// with modified_after it also shows those retired since (status inactive
// or defunct), so a client that syncs from pathway sees them go.
package oruk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// Prefix is the path every ORUK endpoint is under.
const Prefix = "/oruk/"

// Version is the HSDS version pathway serves.
const Version = "3.0"

// Paging defaults: a page holds DefaultPerPage items unless per_page asks
// for up to MaxPerPage.
const (
	DefaultPerPage = 50
	MaxPerPage     = 200
)

// Config is what the ORUK endpoints read.
type Config struct {
	// Store loads each service and partner whole.
	Store *events.Store
	// Partners runs the partners read model (search, response times).
	Partners *projections.Engine
	// Services runs View (status and modification times).
	Services *projections.Engine
	// Logger receives errors reading the log (never a query); nil
	// discards them.
	Logger *slog.Logger
}

// Route is one ORUK endpoint.
type Route struct{ Method, Path string }

// Routes lists the ORUK endpoints.
func Routes() []Route {
	return []Route{{"GET", "/oruk/"}, {"GET", "/oruk/services"}, {"GET", "/oruk/services/{id}"}, {"GET", "/oruk/organizations"},
		{"GET", "/oruk/organizations/{id}"}, {"GET", "/oruk/taxonomies"}, {"GET", "/oruk/taxonomies/{id}"}, {"GET", "/oruk/taxonomy_terms"}}
}

type handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the handler of every ORUK endpoint (Routes). It is safe for
// concurrent use.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /oruk/{$}", h.index)
	h.mux.HandleFunc("GET /oruk/services", h.services)
	h.mux.HandleFunc("GET /oruk/services/{id}", h.service)
	h.mux.HandleFunc("GET /oruk/organizations", h.organizations)
	h.mux.HandleFunc("GET /oruk/organizations/{id}", h.organization)
	h.mux.HandleFunc("GET /oruk/taxonomies", h.taxonomies)
	h.mux.HandleFunc("GET /oruk/taxonomies/{id}", h.taxonomy)
	h.mux.HandleFunc("GET /oruk/taxonomy_terms", h.taxonomyTerms)
	h.mux.HandleFunc("/oruk/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "Not found", "no such Open Referral UK endpoint; GET /oruk/ lists them", nil)
	})
	return h.mux
}

// Index is the API's index document (the ORUK API's GET /).
type Index struct {
	Version    string `json:"version"`
	Profile    string `json:"profile"`
	OpenAPIURL string `json:"openapi_url"`
	// Extensions describes pathway's additional properties.
	Extensions map[string]string `json:"pathway_extensions"`
}

// ProfileURL is the Open Referral UK profile the API follows.
const ProfileURL = "https://github.com/OpenReferralUK/uk-profile"

// OpenAPIURL is the OpenAPI document of the API's paths and shapes.
const OpenAPIURL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, Index{Version: Version, Profile: ProfileURL, OpenAPIURL: OpenAPIURL, Extensions: map[string]string{
		"pathway_capacity_status": "service: the partner's last capacity signal (HL7 Gravity): capacity, no-capacity, waitlist or additional-assessment-required",
		"pathway_response_times":  "service: hours from a handoff's request to the partner's first answer, median and 90th percentile, over the handoffs answered",
		"pathway_needs":           "service: the pathway needs it is found under (the taxonomy 'pathway needs')",
	}})
}

// page is the ORUK paging object around contents.
type page[T any] struct {
	TotalItems int  `json:"total_items"`
	TotalPages int  `json:"total_pages"`
	PageNumber int  `json:"page_number"`
	Size       int  `json:"size"`
	FirstPage  bool `json:"first_page"`
	LastPage   bool `json:"last_page"`
	Empty      bool `json:"empty"`
	Contents   []T  `json:"contents"`
}

// paging reads page and per_page.
type paging struct{ number, size int }

func (p paging) window(total int) (from, to int) {
	from = min((p.number-1)*p.size, total)
	return from, min(from+p.size, total)
}

func pageOf[T any](p paging, total int, contents []T) page[T] {
	pages := (total + p.size - 1) / p.size
	if contents == nil {
		contents = []T{}
	}
	return page[T]{TotalItems: total, TotalPages: pages, PageNumber: p.number, Size: len(contents), FirstPage: p.number == 1,
		LastPage: p.number >= pages, Empty: total == 0, Contents: contents}
}

// fieldError is one invalid query parameter.
type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func readPaging(q map[string][]string, errs *[]fieldError) paging {
	p := paging{number: 1, size: DefaultPerPage}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			*errs = append(*errs, fieldError{"page", "must be a page number from 1"})
		} else {
			p.number = n
		}
	}
	if v := get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPerPage {
			*errs = append(*errs, fieldError{"per_page", fmt.Sprintf("must be 1 to %d", MaxPerPage)})
		} else {
			p.size = n
		}
	}
	return p
}

// serviceQuery is a /oruk/services request's filters.
type serviceQuery struct {
	text          string
	termID        string
	taxonomyID    string
	orgID         string
	district      string
	postcode      string
	proximity     float64 // meters; 0 for none
	age           int
	modifiedAfter time.Time
}

func readServiceQuery(r *http.Request, errs *[]fieldError) serviceQuery {
	q := r.URL.Query()
	var sq serviceQuery
	sq.text = strings.TrimSpace(cmp.Or(q.Get("text"), q.Get("search")))
	if len(sq.text) > 200 {
		*errs = append(*errs, fieldError{"text", "must be at most 200 characters"})
	}
	sq.termID, sq.taxonomyID, sq.orgID = q.Get("taxonomy_term_id"), q.Get("taxonomy_id"), q.Get("organization_id")
	for _, f := range []struct{ name, v string }{{"taxonomy_term_id", sq.termID}, {"taxonomy_id", sq.taxonomyID}, {"organization_id", sq.orgID}} {
		if len(f.v) > 100 {
			*errs = append(*errs, fieldError{f.name, "must be at most 100 characters"})
		}
	}
	if pc := strings.TrimSpace(q.Get("postcode")); pc != "" {
		n := referral.NormalisePostcode(pc)
		switch {
		case referral.ValidPostcode(n):
			sq.postcode, sq.district = n, referral.PostcodeDistrict(n)
		case len(pc) <= 4 && referral.ValidPostcode(referral.NormalisePostcode(strings.ToUpper(pc)+" 1AA")):
			sq.district = strings.ToUpper(pc)
		default:
			*errs = append(*errs, fieldError{"postcode", "must be a UK postcode or postcode district"})
		}
	}
	if v := q.Get("proximity"); v != "" {
		m, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || m <= 0 || m > 1_000_000 || math.IsNaN(m):
			*errs = append(*errs, fieldError{"proximity", "must be a distance in meters, more than 0 and at most 1000000"})
		case q.Get("postcode") == "":
			*errs = append(*errs, fieldError{"proximity", "needs a postcode to measure from"})
		default:
			sq.proximity = m
		}
	}
	if v := q.Get("age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 130 {
			*errs = append(*errs, fieldError{"age", "must be a whole number of years, 0 to 130"})
		}
		sq.age = n
	}
	if v := q.Get("modified_after"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			*errs = append(*errs, fieldError{"modified_after", "must be a date-time (2024-03-01T09:00:00Z) or a date (2024-03-01)"})
		}
		sq.modifiedAfter = t
	}
	return sq
}

// parseTime reads an RFC 3339 date-time, or a date (midnight UTC). A
// space before the zone's hours is read as the + a client left unescaped
// in the query ("...T09:00:00 01:00").
func parseTime(v string) (time.Time, error) {
	if i := strings.LastIndexByte(v, ' '); i > 10 {
		v = v[:i] + "+" + v[i+1:]
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", v); err == nil {
		return t, nil // no zone: UTC
	}
	return time.Parse(time.DateOnly, v)
}

// candidate is a service the read model matched, with what the answer
// needs of the read model.
type candidate struct {
	id        string
	modified  time.Time
	responses *ResponseTimes
	distance  float64
}

// MinSeqWait bounds how long a request with min_seq waits for the read
// models to reach it.
const MinSeqWait = 5 * time.Second

// caughtUp reads pathway's min_seq parameter (a log sequence a write
// returned, as on pathway's other reads) and waits until the read models
// reflect it; false when it answered instead.
func (h *handler) caughtUp(w http.ResponseWriter, r *http.Request) bool {
	v := r.URL.Query().Get("min_seq")
	if v == "" {
		return true
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 {
		writeProblem(w, http.StatusBadRequest, "Invalid query", "one or more query parameters are invalid", []fieldError{{"min_seq", "must be a positive log sequence"}})
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), MinSeqWait)
	defer cancel()
	for _, e := range []*projections.Engine{h.cfg.Partners, h.cfg.Services} {
		if err := e.WaitFor(ctx, seq); err != nil {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "Unavailable", fmt.Sprintf("the directory has not reached sequence %d yet; retry", seq), nil)
			return false
		}
	}
	return true
}

func (h *handler) services(w http.ResponseWriter, r *http.Request) {
	var errs []fieldError
	sq := readServiceQuery(r, &errs)
	pg := readPaging(r.URL.Query(), &errs)
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Invalid query", "one or more query parameters are invalid", errs)
		return
	}
	if !h.caughtUp(w, r) {
		return
	}
	var found []candidate
	var problem string
	var states map[string]ServiceState
	h.cfg.Services.Read(func(p projections.Projection, _ uint64) {
		states = make(map[string]ServiceState, len(p.(*View).Services))
		for id, st := range p.(*View).Services {
			states[id] = *st
		}
	})
	h.cfg.Partners.Read(func(p projections.Projection, _ uint64) {
		found, problem = match(p.(*partners.Partners), states, sq)
	})
	if problem != "" {
		writeProblem(w, http.StatusUnprocessableEntity, "Cannot search by proximity", problem, nil)
		return
	}
	from, to := pg.window(len(found))
	out := make([]Service, 0, to-from)
	for _, c := range found[from:to] {
		s, err := h.load(r, c)
		if errors.Is(err, events.ErrNotFound) {
			continue
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		out = append(out, s)
	}
	writeJSON(w, pageOf(pg, len(found), out))
}

// match filters the read model's services by sq.
func match(p *partners.Partners, states map[string]ServiceState, sq serviceQuery) ([]candidate, string) {
	// With modified_after, retired services are listed too (status
	// inactive or defunct), so a client syncing from pathway sees them go.
	hits := p.Search(partners.Query{Text: sq.text, Age: sq.age, District: sq.district, Postcode: sq.postcode, Retired: !sq.modifiedAfter.IsZero()})
	var centre [2]float64
	if sq.proximity > 0 {
		var ok bool
		if centre, ok = p.Locate(sq.postcode, sq.district); !ok {
			return nil, "pathway knows no location at or near " + cmp.Or(sq.postcode, sq.district) + " to measure from; search by postcode without proximity"
		}
	}
	_, perService := p.Stats()
	responses := map[string]*ResponseTimes{}
	for _, st := range perService {
		if st.FirstResponse.N > 0 {
			responses[st.ID] = &ResponseTimes{Handoffs: st.FirstResponse.N, MedianHours: st.FirstResponse.P50, P90Hours: st.FirstResponse.P90}
		}
	}
	var out []candidate
	for _, s := range hits {
		st, ok := states[s.ID]
		if !ok {
			st = ServiceState{Status: "active", Modified: s.UpdatedAt} // the view is behind the search
		}
		if sq.modifiedAfter.IsZero() && st.Status != "active" {
			continue
		}
		if !sq.modifiedAfter.IsZero() && st.Modified.Before(sq.modifiedAfter) {
			continue
		}
		if sq.orgID != "" && sq.orgID != s.PartnerID && sq.orgID != OrganizationID(s.PartnerID) {
			continue
		}
		if sq.termID != "" || sq.taxonomyID != "" {
			if !hasTerm(s, sq.termID, sq.taxonomyID) {
				continue
			}
		}
		c := candidate{id: s.ID, modified: st.Modified, responses: responses[s.ID]}
		if sq.proximity > 0 {
			c.distance = math.Inf(1)
			for _, l := range s.Locations {
				if l.Latitude != 0 || l.Longitude != 0 {
					c.distance = min(c.distance, 1000*partners.DistanceKM(centre, [2]float64{l.Latitude, l.Longitude}))
				}
			}
			if c.distance > sq.proximity {
				continue
			}
		}
		out = append(out, c)
	}
	if sq.proximity > 0 {
		slices.SortStableFunc(out, func(a, b candidate) int { return cmp.Compare(a.distance, b.distance) })
	}
	return out, ""
}

func hasTerm(s partners.Service, termID, taxonomyID string) bool {
	var terms []TaxonomyTerm
	for _, t := range s.Taxonomy {
		terms = append(terms, sourceTerm(t))
	}
	for _, n := range s.Needs {
		terms = append(terms, needTermByCode(n))
	}
	for _, t := range terms {
		if (termID == "" || t.ID == termID || strings.EqualFold(t.Code, termID)) && (taxonomyID == "" || t.TaxonomyID == taxonomyID) {
			return true
		}
	}
	return false
}

// load reads a candidate's service and partner from the log and maps them.
func (h *handler) load(r *http.Request, c candidate) (Service, error) {
	svc, _, err := events.Get(r.Context(), h.cfg.Store, aggregate.Service, c.id)
	if err != nil {
		return Service{}, err
	}
	if !svc.Exists() {
		return Service{}, events.ErrNotFound
	}
	p, _, err := events.Get(r.Context(), h.cfg.Store, aggregate.Partner, svc.PartnerID())
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return Service{}, err
	}
	return ServiceOf(svc, p, Extras{Modified: c.modified, Responses: c.responses}), nil
}

func (h *handler) service(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		// Service ids are UUIDs in canonical form; anything else names no
		// service (and never reaches a log subject).
		writeProblem(w, http.StatusNotFound, "Not found", "no such service", nil)
		return
	}
	var c *candidate
	h.cfg.Partners.Read(func(p projections.Projection, _ uint64) {
		pp := p.(*partners.Partners)
		s, ok := pp.Services[id]
		if !ok {
			return
		}
		c = &candidate{id: id, modified: s.UpdatedAt}
		h.cfg.Services.Read(func(v projections.Projection, _ uint64) {
			if st := v.(*View).Services[id]; st != nil {
				c.modified = st.Modified
			}
		})
		_, perService := pp.Stats()
		for _, st := range perService {
			if st.ID == id && st.FirstResponse.N > 0 {
				c.responses = &ResponseTimes{Handoffs: st.FirstResponse.N, MedianHours: st.FirstResponse.P50, P90Hours: st.FirstResponse.P90}
			}
		}
	})
	if c == nil {
		c = &candidate{id: id} // not in the view yet: the log decides
	}
	s, err := h.load(r, *c)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, s)
}

func (h *handler) organizations(w http.ResponseWriter, r *http.Request) {
	var errs []fieldError
	pg := readPaging(r.URL.Query(), &errs)
	text := strings.ToLower(strings.TrimSpace(cmp.Or(r.URL.Query().Get("text"), r.URL.Query().Get("search"))))
	if len(text) > 200 {
		errs = append(errs, fieldError{"text", "must be at most 200 characters"})
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Invalid query", "one or more query parameters are invalid", errs)
		return
	}
	if !h.caughtUp(w, r) {
		return
	}
	var ids []string
	h.cfg.Partners.Read(func(p projections.Projection, _ uint64) {
		for id, pt := range p.(*partners.Partners).Partners {
			if text == "" || strings.Contains(strings.ToLower(pt.Name), text) {
				ids = append(ids, id)
			}
		}
	})
	slices.Sort(ids)
	from, to := pg.window(len(ids))
	out := make([]*Organization, 0, to-from)
	for _, id := range ids[from:to] {
		p, _, err := events.Get(r.Context(), h.cfg.Store, aggregate.Partner, id)
		if errors.Is(err, events.ErrNotFound) {
			continue
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		out = append(out, OrganizationOf(p))
	}
	writeJSON(w, pageOf(pg, len(ids), out))
}

func (h *handler) organization(w http.ResponseWriter, r *http.Request) {
	want := r.PathValue("id")
	var id string
	var refs []ServiceRef
	h.cfg.Partners.Read(func(p projections.Projection, _ uint64) {
		pp := p.(*partners.Partners)
		for pid := range pp.Partners {
			if pid == want || OrganizationID(pid) == want {
				id = pid
			}
		}
		if id == "" {
			return
		}
		for _, s := range pp.ServicesOf(id) {
			refs = append(refs, ServiceRef{ID: s.ID, Name: s.Name, Status: "active"})
		}
	})
	h.cfg.Services.Read(func(p projections.Projection, _ uint64) {
		for i, ref := range refs {
			if st := p.(*View).Services[ref.ID]; st != nil {
				refs[i].Status = st.Status
			}
		}
	})
	if id == "" {
		writeProblem(w, http.StatusNotFound, "Not found", "no such organization", nil)
		return
	}
	p, _, err := events.Get(r.Context(), h.cfg.Store, aggregate.Partner, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	o := OrganizationOf(p)
	o.Services = refs
	writeJSON(w, o)
}

func (h *handler) taxonomies(w http.ResponseWriter, r *http.Request) {
	var errs []fieldError
	pg := readPaging(r.URL.Query(), &errs)
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Invalid query", "one or more query parameters are invalid", errs)
		return
	}
	all := []Taxonomy{NeedsTaxonomy, SourceTaxonomy}
	from, to := pg.window(len(all))
	writeJSON(w, pageOf(pg, len(all), all[from:to]))
}

func (h *handler) taxonomy(w http.ResponseWriter, r *http.Request) {
	for _, t := range []Taxonomy{NeedsTaxonomy, SourceTaxonomy} {
		if t.ID == r.PathValue("id") {
			writeJSON(w, t)
			return
		}
	}
	writeProblem(w, http.StatusNotFound, "Not found", "no such taxonomy", nil)
}

func (h *handler) taxonomyTerms(w http.ResponseWriter, r *http.Request) {
	var errs []fieldError
	pg := readPaging(r.URL.Query(), &errs)
	taxonomy := r.URL.Query().Get("taxonomy_id")
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Invalid query", "one or more query parameters are invalid", errs)
		return
	}
	var all []TaxonomyTerm
	if taxonomy == "" || taxonomy == NeedsTaxonomy.ID {
		all = append(all, needTerms()...)
	}
	if taxonomy == "" || taxonomy == SourceTaxonomy.ID {
		seen := map[string]bool{}
		var src []TaxonomyTerm
		h.cfg.Partners.Read(func(p projections.Projection, _ uint64) {
			for _, s := range p.(*partners.Partners).Services {
				for _, t := range s.Taxonomy {
					if term := sourceTerm(t); !seen[term.ID] {
						seen[term.ID] = true
						src = append(src, term)
					}
				}
			}
		})
		slices.SortFunc(src, func(a, b TaxonomyTerm) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
		})
		all = append(all, src...)
	}
	from, to := pg.window(len(all))
	writeJSON(w, pageOf(pg, len(all), all[from:to]))
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "Internal error", "the answer could not be encoded", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// problem is an RFC 9457 problem, as the rest of pathway's API answers.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []fieldError `json:"errors,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, title, detail string, errs []fieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Errors: errs})
}

// writeError answers a storage error: not found as 404, anything else
// 503 without detail (the log is unreachable or slow; retry), logged.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, events.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Not found", "no such service", nil)
		return
	}
	h.cfg.Logger.Warn("oruk: the directory could not be read", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	writeProblem(w, http.StatusServiceUnavailable, "Unavailable", "the directory could not be read; retry shortly", nil)
}
