package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// heartbeat is how often an idle stream sends a comment (which keeps
// proxies from closing it) and checks its session again.
const heartbeat = 15 * time.Second

// writeTimeout bounds each write of a live stream. The stream outlives
// the HTTP server's WriteTimeout, which bounds a whole answer: it sets a
// write deadline before each write instead, so a client that stops
// reading is still cut off. (The server's ReadTimeout does not reach it:
// net/http clears the read deadline once a bodiless request is read.)
const writeTimeout = 10 * time.Second

func (h *handler) funcs() template.FuncMap {
	return template.FuncMap{
		"add": func(a, b float64) float64 { return a + b },
		"sub": func(a, b float64) float64 { return a - b },
		// The workspace's form field names.
		"goal":  func(i int, part string) string { return fmt.Sprintf("goals[%d].%s", i, part) },
		"item":  func(i int) string { return fmt.Sprintf("items[%d]", i) },
		"plus1": func(i int) int { return i + 1 },
		"seq2":  func() []int { return []int{0, 1} },
		"pair":  func(a, b any) struct{ A, B any } { return struct{ A, B any }{a, b} },
		// demand: the dashboard serves the demand against capacity page.
		"demand": func() bool { return h.cfg.Demand != nil },
		"triple": func(a, b, c any) struct{ A, B, C any } {
			return struct{ A, B, C any }{a, b, c}
		},
	}
}

// live serves GET /live?view=PATH[&since=SEQ]: a server-sent event stream
// of the live part of the page at PATH. Each "update" event carries the
// part's HTML and, as its id, the log sequence it shows. The stream sends
// a rendering as soon as the read models have moved past the client's
// last one (Last-Event-ID, or since on a fresh connection), then one each
// time they move again. A session that ends (expiry, revocation) gets a
// "signout" event and the stream closes.
func (h *handler) live(w http.ResponseWriter, r *http.Request) {
	s, err := h.session(r)
	if err != nil {
		if errors.Is(err, errNoSession) {
			http.Error(w, "not signed in", http.StatusUnauthorized)
		} else {
			http.Error(w, "cannot check the session right now", http.StatusServiceUnavailable)
		}
		return
	}
	target, err := url.Parse(r.URL.Query().Get("view"))
	if err != nil || target.Path == "" || target.IsAbs() || target.Host != "" {
		http.Error(w, "view must be a dashboard path", http.StatusBadRequest)
		return
	}
	if v, err := h.resolve(r.Context(), s.key, target.Path, target.Query(), h.cfg.Now()); err != nil || v.static {
		switch {
		case errors.Is(err, errForbidden):
			http.Error(w, "not a page for this key", http.StatusForbidden)
		case err == nil, errors.Is(err, errNotFound):
			http.Error(w, "no such live page", http.StatusNotFound)
		default:
			http.Error(w, "cannot read this page right now", http.StatusServiceUnavailable)
		}
		return
	}
	since := r.URL.Query().Get("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since = id
	}
	last, _ := strconv.ParseUint(since, 10, 64)
	if _, ok := w.(http.Flusher); !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	stream := &liveWriter{w: w, rc: http.NewResponseController(w)}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(stream, "retry: 1000\n\n")
	stream.Flush()

	ctx := r.Context()
	// A client ahead of this process (it was served by another one) waits
	// until the read models here catch up, so that it never goes back.
	if last > h.position() {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		for _, e := range h.engines() {
			if e.WaitFor(wctx, last) != nil {
				break
			}
		}
		cancel()
	}

	tick := time.NewTicker(h.cfg.LiveInterval)
	defer tick.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	var seen []uint64
	if pos := h.position(); pos <= last {
		seen = h.positions() // the client has this moment already
	}
	for {
		if now := h.positions(); !slices.Equal(now, seen) {
			if _, err := h.check(ctx, s.value); err != nil {
				h.endSession(stream, err)
				return
			}
			h.settle(ctx)
			seen = h.positions()
			seq := h.position()
			v, err := h.resolve(ctx, s.key, target.Path, target.Query(), h.cfg.Now())
			if err != nil && !errors.Is(err, errNotFound) && !errors.Is(err, errForbidden) {
				if ctx.Err() == nil {
					h.log.Error("live update: cannot read the page", "err", err)
				}
				return // the browser reconnects
			}
			if err != nil { // the worker or queue went away, or the referral out of reach
				fmt.Fprint(stream, "event: gone\ndata: \n\n")
				stream.Flush()
				return
			}
			var buf bytes.Buffer
			if err := h.pages[v.name].ExecuteTemplate(&buf, "live", v.data); err != nil {
				h.log.Error("render live update", "page", v.name, "err", err)
				return
			}
			writeEvent(stream, "update", seq, buf.String())
			stream.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-h.cfg.Done:
			return
		case <-beat.C:
			if _, err := h.check(ctx, s.value); err != nil {
				h.endSession(stream, err)
				return
			}
			fmt.Fprint(stream, ": still here\n\n")
			stream.Flush()
		case <-tick.C:
		}
	}
}

// liveWriter writes a live stream, giving each write and flush its own
// deadline of writeTimeout from when it starts (the network's clock, not
// the injected one).
type liveWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (l *liveWriter) Write(p []byte) (int, error) {
	_ = l.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return l.w.Write(p)
}

// Flush sends what was written.
func (l *liveWriter) Flush() {
	_ = l.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = l.rc.Flush()
}

// endSession tells the page its session ended, when it did; a failure to
// check it just ends the stream (the browser reconnects).
func (h *handler) endSession(w *liveWriter, err error) {
	if errors.Is(err, errNoSession) {
		fmt.Fprint(w, "event: signout\ndata: \n\n")
		w.Flush()
	}
}

// positions are the sequences each read model has applied.
func (h *handler) positions() []uint64 {
	var out []uint64
	for _, e := range h.engines() {
		out = append(out, e.Applied())
	}
	// The alerts move with the clock too.
	return append(out, h.alertMark(h.cfg.Now()))
}

// writeEvent writes one server-sent event; data may span lines.
func writeEvent(w io.Writer, event string, id uint64, data string) {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %d\nevent: %s\n", id, event)
	for line := range strings.SplitSeq(strings.ReplaceAll(data, "\r", ""), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, _ = w.Write([]byte(b.String()))
}
