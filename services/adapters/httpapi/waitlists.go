package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/waitlists"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// ReadModels are the projections behind the read endpoints.
type ReadModels struct {
	Waitlists *projections.Engine
	Caseloads *projections.Engine
	Funnel    *projections.Engine
	// WaitTarget is the wait after which a waitlist entry is a breach.
	WaitTarget time.Duration
	// Alerts is the engine of the alerts.View behind GET /v1/alerts, and
	// AlertAfter its threshold (default alerts.DefaultAfter); nil answers
	// 503.
	Alerts     *projections.Engine
	AlertAfter time.Duration
	// Referrers is the engine of the referrers.View behind a referrer's
	// status feed (GET /v1/referrals) and the FHIR ServiceRequest search;
	// nil answers 503.
	Referrers *projections.Engine
	// Activity is the engine of the activity.Report behind the monthly
	// activity report (GET /v1/reports/activity); nil answers 503.
	Activity *projections.Engine
	// Demand is the engine of the demand.Demand behind the demand against
	// capacity report (GET /v1/reports/demand); nil answers 503.
	Demand *projections.Engine
	// ReadTimeout bounds a ?min_seq wait; default 5s.
	ReadTimeout time.Duration
}

// readView runs fn on a read model as the request asks: the live view
// once it has applied ?min_seq=N (503 with Retry-After when it does not in
// time), or a fresh copy replayed to ?as_of_seq=N. now is the time the
// view is measured at: the request's, or the as-of event's.
func (a *api) readView(w http.ResponseWriter, r *http.Request, eng *projections.Engine, fresh func() projections.Projection, fn func(p projections.Projection, seq uint64, now time.Time) any) {
	q := r.URL.Query()
	parse := func(name string) (uint64, bool) {
		v := q.Get(name)
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeInvalid(w, kernel.FieldError{Field: name, Reason: "must be a positive log sequence"})
			return 0, false
		}
		return n, true
	}
	minSeq, ok := parse("min_seq")
	if !ok {
		return
	}
	asOf, ok := parse("as_of_seq")
	if !ok {
		return
	}
	if asOf > 0 {
		p := fresh()
		seq, err := projections.Replay(r.Context(), a.store, p, asOf, nil)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		at, err := a.store.TimeOf(r.Context(), seq)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		encode(fn(p, seq, at)).send(w)
		return
	}
	if minSeq > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), a.reads.ReadTimeout)
		defer cancel()
		if err := eng.WaitFor(ctx, minSeq); err != nil {
			if errors.Is(err, projections.ErrTimeout) {
				a.writeError(w, r, kernel.Errorf(kernel.Unavailable, "the view has not reached sequence %d yet; retry", minSeq))
				return
			}
			a.writeError(w, r, err)
			return
		}
	}
	// The answer is encoded under the read model's lock (it may share the
	// model's slices) and sent after it, so a slow client never holds up
	// the model.
	var ans answer
	eng.Read(func(p projections.Projection, applied uint64) { ans = encode(fn(p, applied, a.now())) })
	ans.send(w)
}

// answer is a read view's encoded answer.
type answer struct {
	problem *Problem
	body    []byte
}

// encode encodes a read view's answer: a *kernel.Error answered with its
// problem, or a value sent as JSON with 200.
func encode(v any) answer {
	if e, ok := v.(*kernel.Error); ok {
		p, _ := problemOf(e)
		return answer{problem: &p}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		p, _ := problemOf(kernel.Errorf(kernel.Internal, "the answer could not be encoded"))
		return answer{problem: &p}
	}
	return answer{body: buf.Bytes()}
}

func (a answer) send(w http.ResponseWriter) {
	if a.problem != nil {
		WriteProblem(w, *a.problem)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.body)
}

func (a *api) waitlistsView(w http.ResponseWriter, r *http.Request, fn func(wl *waitlists.Waitlists, seq uint64, now time.Time) any) {
	a.readView(w, r, a.reads.Waitlists, func() projections.Projection { return waitlists.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		return fn(p.(*waitlists.Waitlists), seq, now)
	})
}

// page reads ?limit (default 50, at most 500) and ?offset.
func page(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 50, 0
	if wantsCSV(r) {
		limit = 1 << 30 // an export is the whole list, unless a limit is asked
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeInvalid(w, kernel.FieldError{Field: "limit", Reason: "must be 1 to 500"})
			return 0, 0, false
		}
		limit = n
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeInvalid(w, kernel.FieldError{Field: "offset", Reason: "must be 0 or more"})
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

func window[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(len(items), offset+limit)]
}

// listWaitlists handles GET /v1/waitlists.
func (a *api) listWaitlists(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	a.waitlistsView(w, r, func(wl *waitlists.Waitlists, seq uint64, now time.Time) any {
		var all []waitlists.Summary
		for _, q := range wl.Queues() {
			all = append(all, wl.Summarise(q, now, a.reads.WaitTarget))
		}
		return map[string]any{"sequence": seq, "as_of": now, "total": len(all), "limit": limit, "offset": offset,
			"queues": window(all, limit, offset)}
	})
}

// getWaitlist handles GET /v1/waitlists/{queue}.
func (a *api) getWaitlist(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	queue := r.PathValue("queue")
	a.waitlistsView(w, r, func(wl *waitlists.Waitlists, seq uint64, now time.Time) any {
		type item struct {
			Position      int                 `json:"position"`
			ID            string              `json:"id"`
			Priority      string              `json:"priority"`
			Since         time.Time           `json:"since"`
			Waited        waitlists.Duration  `json:"waited"`
			EstimatedWait *waitlists.Duration `json:"estimated_wait"`
		}
		sum := wl.Summarise(queue, now, a.reads.WaitTarget)
		entries := wl.Ordered(queue)
		items := make([]item, len(entries))
		for i, e := range entries {
			items[i] = item{Position: i + 1, ID: e.ID, Priority: enumWire(e.Priority.String(), "PRIORITY_"), Since: e.Since,
				Waited: waitlists.Duration(max(now.Sub(e.Since), 0)), EstimatedWait: waitlists.Estimate(i+1, sum.PerWeek)}
		}
		return map[string]any{"queue": queue, "sequence": seq, "as_of": now, "summary": sum,
			"total": len(items), "limit": limit, "offset": offset, "entries": window(items, limit, offset)}
	})
}
