// Package directorysync keeps pathway's directory in step with an Open
// Referral UK source: it pages through the source's GET /services with
// modified_after set to the last sync (less an overlap), fetches each
// listed service in full from GET /services/{id}, and feeds the records to
// the directory's import, which creates, updates, retires or leaves each
// service unchanged, or skips it with a reason. A sync is idempotent: a
// record seen twice changes nothing the second time. When a sync has gone
// through every page, its start time is remembered for its source (the
// KV bucket PATHWAY_DIRECTORY_SYNC), so the next one asks only for what
// changed since; a sync that fails part way is not remembered, and the
// next one asks again from the same time.
package directorysync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// Importer is the directory's import (directory.Service).
type Importer interface {
	Import(ctx context.Context, records []partner.Record, cmd events.Command, progress func(done, total int)) (directory.ImportReport, error)
}

// Memory remembers when each source was last synced in full (State is
// the log's).
type Memory interface {
	// Last returns the start of the last complete sync of source, zero
	// when there was none.
	Last(ctx context.Context, source string) (time.Time, error)
	// Remember records a complete sync of source that started at t.
	Remember(ctx context.Context, source string, t time.Time, r Report) error
}

// Limits on what a source may send.
const (
	// MaxPageBytes bounds one page of the source's service list.
	MaxPageBytes = 16 << 20
	// MaxServiceBytes bounds one service record.
	MaxServiceBytes = 4 << 20
	// MaxPages bounds the pages of one sync.
	MaxPages = 10_000
	// batch is how many fetched records are imported at a time.
	batch = 50
)

// Options configure a Syncer.
type Options struct {
	// Client fetches from the source; nil uses one with a 30 s timeout.
	Client *http.Client
	// Header is sent with every request (an API key the source needs).
	Header http.Header
	// PerPage is the page size asked of the source; default 100.
	PerPage int
	// Overlap is subtracted from the last sync's start to make
	// modified_after, so a change the source recorded with a clock a
	// little behind pathway's is not missed; default 5 minutes.
	Overlap time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Progress, when set, is told how the sync goes.
	Progress func(Progress)
	// Actor is recorded on the events the sync appends.
	Actor events.Command
}

// Progress is where a sync is: listing the source's pages, or fetching
// and importing the services they listed.
type Progress struct {
	Stage string // "listing" or "importing"
	// Done and Total count pages while listing, services while importing
	// (Total is 0 while the source has not said).
	Done, Total int
}

// Report is what a sync did.
type Report struct {
	Source string `json:"source"`
	// Since is the modified_after the sync asked for; zero for a full
	// sync.
	Since     time.Time `json:"since,omitzero"`
	StartedAt time.Time `json:"started_at"`
	// Listed is how many services the source listed as changed.
	Listed  int `json:"listed"`
	Created int `json:"created"`
	Updated int `json:"updated"`
	Retired int `json:"retired"`
	// Reinstated counts retired services the source lists as active
	// again.
	Reinstated int `json:"reinstated"`
	Unchanged  int `json:"unchanged"`
	Skipped    int `json:"skipped"`
	// Results are what became of each listed service, in the order they
	// were listed (Index counts from 0 across the whole sync).
	Results []directory.ImportResult `json:"results"`
}

// Syncer syncs the directory from ORUK sources. It is safe for concurrent
// use, though two syncs of one source at once do the same work twice.
type Syncer struct {
	dir  Importer
	mem  Memory
	opts Options
}

// New returns a Syncer that imports into dir and remembers syncs in mem.
func New(dir Importer, mem Memory, opts Options) *Syncer {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.PerPage <= 0 {
		opts.PerPage = 100
	}
	if opts.Overlap == 0 {
		opts.Overlap = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Syncer{dir: dir, mem: mem, opts: opts}
}

// ParseSource checks an ORUK API's base URL (the address its /services
// is under) and returns it without a trailing slash. Errors name what is
// wrong.
func ParseSource(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL of an Open Referral UK API (e.g. https://directory.example.org/api)", raw)
	}
	if u.User != nil {
		return "", errors.New("the source URL must not carry a user or password; send a key with a header instead")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("the source URL is the API's base address, without a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// ParseHeader reads a header to send to a source, written "Name: value"
// (an API key: "x-api-key: ..."); "" is none.
func ParseHeader(s string) (http.Header, error) {
	h := http.Header{}
	if s == "" {
		return h, nil
	}
	name, value, ok := strings.Cut(s, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return nil, errors.New(`a header is written "Name: value"`)
	}
	h.Set(name, value)
	return h, nil
}

// Sync brings the directory up to date with source (see ParseSource).
// With full, it asks for every service, not only those changed since the
// last sync. It returns what it did; on an error the report holds what
// was done before it, and the sync is not remembered.
func (s *Syncer) Sync(ctx context.Context, source string, full bool) (Report, error) {
	base, err := ParseSource(source)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Source: base, StartedAt: s.opts.Now().UTC(), Results: []directory.ImportResult{}}
	if !full {
		last, err := s.mem.Last(ctx, base)
		if err != nil {
			return rep, fmt.Errorf("when was %s last synced: %w", base, err)
		}
		if !last.IsZero() {
			rep.Since = last.Add(-s.opts.Overlap).UTC()
		}
	}
	ids, err := s.list(ctx, base, rep.Since)
	if err != nil {
		return rep, err
	}
	rep.Listed = len(ids)
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		raws := make([]json.RawMessage, 0, len(chunk))
		var gone []directory.ImportResult
		index := map[int]int{} // position in raws -> position in ids
		for i, id := range chunk {
			s.progress("importing", start+i, len(ids))
			raw, err := s.get(ctx, base+"/services/"+url.PathEscape(id), MaxServiceBytes)
			var nf notFound
			if errors.As(err, &nf) {
				gone = append(gone, directory.ImportResult{Index: start + i, HSDSID: id, Action: directory.ActionSkipped, Reason: "listed by the source but not found at /services/" + id})
				continue
			}
			if err != nil {
				return rep, err
			}
			index[len(raws)] = start + i
			raws = append(raws, raw)
		}
		data, _ := json.Marshal(raws)
		recs, err := partner.ParseHSDS(data)
		if err != nil {
			return rep, fmt.Errorf("services from %s: %w", base, err)
		}
		for i := range recs {
			recs[i].Index = index[recs[i].Index]
		}
		ir, err := s.dir.Import(ctx, recs, s.opts.Actor, nil)
		for i := range ir.Results {
			// Paths within the service as /services/{id} gave it, not
			// within this batch.
			r := &ir.Results[i]
			r.Path = inService(r.Path)
			for j := range r.Reasons {
				r.Reasons[j].Path = inService(r.Reasons[j].Path)
			}
			for j := range r.Dropped {
				r.Dropped[j].Path = inService(r.Dropped[j].Path)
			}
		}
		results := append(ir.Results, gone...)
		for _, r := range results {
			rep.count(r)
		}
		if err != nil {
			return rep, fmt.Errorf("import from %s: %w", base, err)
		}
	}
	s.progress("importing", len(ids), len(ids))
	sortResults(rep.Results)
	if err := s.mem.Remember(ctx, base, rep.StartedAt, rep); err != nil {
		return rep, fmt.Errorf("remember the sync of %s: %w", base, err)
	}
	return rep, nil
}

func (r *Report) count(res directory.ImportResult) {
	switch res.Action {
	case directory.ActionCreated:
		r.Created++
	case directory.ActionUpdated:
		r.Updated++
	case directory.ActionRetired:
		r.Retired++
	case directory.ActionReinstated:
		r.Reinstated++
	case directory.ActionUnchanged:
		r.Unchanged++
	default:
		r.Skipped++
	}
	r.Results = append(r.Results, res)
}

func sortResults(rs []directory.ImportResult) {
	// Insertion order is by batch, with a batch's gone services last;
	// sort by index so the report reads in the source's order.
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Index < rs[j-1].Index; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// list pages through base/services and returns the ids listed, each
// once, in the order listed.
func (s *Syncer) list(ctx context.Context, base string, since time.Time) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for n := 1; ; n++ {
		if n > MaxPages {
			return nil, fmt.Errorf("%s lists more than %d pages; ask it for larger pages", base, MaxPages)
		}
		q := url.Values{"page": {strconv.Itoa(n)}, "per_page": {strconv.Itoa(s.opts.PerPage)}}
		if !since.IsZero() {
			q.Set("modified_after", since.Format(time.RFC3339))
		}
		raw, err := s.get(ctx, base+"/services?"+q.Encode(), MaxPageBytes)
		if err != nil {
			return nil, err
		}
		var page struct {
			TotalPages *int `json:"total_pages"`
			Contents   *[]struct {
				ID string `json:"id"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(raw, &page); err != nil || page.Contents == nil {
			return nil, fmt.Errorf("page %d of %s/services is not an Open Referral UK page (a JSON object with \"contents\")", n, base)
		}
		total := 0
		if page.TotalPages != nil {
			total = *page.TotalPages
		}
		s.progress("listing", n, total)
		for i, c := range *page.Contents {
			id := strings.TrimSpace(c.ID)
			if id == "" {
				return nil, fmt.Errorf("page %d of %s/services: item %d has no id", n, base, i)
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(*page.Contents) == 0 || page.TotalPages == nil || n >= total {
			return ids, nil
		}
	}
}

type notFound struct{ url string }

func (e notFound) Error() string { return e.url + ": not found" }

// get fetches u and returns its body, which must be JSON of at most limit
// bytes.
func (s *Syncer) get(ctx context.Context, u string, limit int64) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range s.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	res, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", redact(u), err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil, notFound{redact(u)}
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: the source answered %s", redact(u), res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", redact(u), err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("fetch %s: more than %d bytes", redact(u), limit)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("fetch %s: the answer is not JSON", redact(u))
	}
	return bytes.TrimSpace(body), nil
}

// redact drops a URL's query from messages (it may carry a key).
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func (s *Syncer) progress(stage string, done, total int) {
	if s.opts.Progress != nil {
		s.opts.Progress(Progress{Stage: stage, Done: done, Total: total})
	}
}

// Every syncs source now and then every d until ctx ends, calling done
// with each sync's report or error. A failed sync does not stop the
// schedule: the next one asks again from the last complete sync. It
// returns ctx's error.
func (s *Syncer) Every(ctx context.Context, source string, d time.Duration, done func(Report, error)) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		rep, err := s.Sync(ctx, source, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		done(rep, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// inService makes a JSON path into a batch of fetched services ($[3].x)
// a path in the one service ($.x).
func inService(path string) string {
	if rest, ok := strings.CutPrefix(path, "$["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return "$" + rest[i+1:]
		}
	}
	return path
}
