package edge

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// RequestIDHeader names a request across systems: a caller's is kept, any
// other request gets one, and every answer carries it.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the request id a caller sent, when it is one pathway
// keeps (1 to 64 of the characters A-Z a-z 0-9 - _ .), else "".
func RequestID(r *http.Request) string {
	id := r.Header.Get(RequestIDHeader)
	if id == "" || len(id) > 64 {
		return ""
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return ""
		}
	}
	return id
}

// Requests is Proxies.Requests trusting no proxy: the access line's client
// is the connection's peer.
func Requests(next http.Handler, log *slog.Logger, observe func(method, route string, status int, d time.Duration)) http.Handler {
	return Proxies{}.Requests(next, log, observe)
}

// Requests wraps next, the whole HTTP service: each request has one id
// (the caller's X-Request-ID when RequestID keeps it, else a new UUIDv7),
// set on the request for the handlers (which record it as the events'
// correlation id and in the read audit) and echoed on the answer; and,
// when log is not nil, one access log line is written after the answer:
// method, route, status, bytes, duration, request id and the client's
// address (Client: behind a trusted proxy, the address it forwarded for).
// The line holds no query string (a search's parameters can be personal
// data) and no header (no key): the route is the pattern that served it,
// else the path alone.
//
// Every answer of 503 (busy, starting, unavailable, a timeout) or 429
// carries Retry-After: a handler's own is kept, and one that sets none
// gets DefaultRetryAfter, so a client is always told when to try again.
//
// observe, when not nil, is told of every answer too (the metrics).
func (p Proxies) Requests(next http.Handler, log *slog.Logger, observe func(method, route string, status int, d time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := RequestID(r)
		if id == "" {
			id = uuid.Must(uuid.NewV7()).String()
		}
		r.Header.Set(RequestIDHeader, id)
		w.Header().Set(RequestIDHeader, id)
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		if log == nil && observe == nil {
			next.ServeHTTP(rec, r)
			return
		}
		next.ServeHTTP(rec, r)
		route := r.Pattern // set by the mux on this request
		if route == "" || route == "/" {
			route = r.Method + " " + r.URL.Path
		}
		took := time.Since(start)
		if observe != nil {
			observe(r.Method, route, rec.status, took)
		}
		if log != nil {
			log.Info("http", "method", r.Method, "route", route, "status", rec.status, "bytes", rec.bytes,
				"duration_ms", float64(took.Microseconds())/1000, "request_id", id, "client", p.Client(r).String())
		}
	})
}

// recorder notes an answer's status and size.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
	wrote  bool
}

// DefaultRetryAfter is the Retry-After, in seconds, that Requests adds
// to an answer of 503 or 429 whose handler set none.
const DefaultRetryAfter = 1

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			if h := r.Header(); h.Get("Retry-After") == "" {
				h.Set("Retry-After", strconv.Itoa(DefaultRetryAfter))
			}
		}
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += n
	return n, err
}

// Flush passes a flush on, for the dashboard's live streams.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer beneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
