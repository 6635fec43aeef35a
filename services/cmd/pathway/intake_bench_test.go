package main

// Benchmarks of the HTTP intake path, from this directory:
//
//	go test -run XXX -bench IntakeHTTP -benchtime 1x -timeout 60m ./
//	go test -run XXX -bench Restart -benchtime 1x -timeout 60m ./
//	go test -run XXX -bench Freshness -benchtime 1x -timeout 60m ./
//
// Environment:
//
//	PATHWAY_BENCH_REQUESTS       requests per IntakeHTTP window (default 1500)
//	PATHWAY_BENCH_MAX_SECONDS    time cap of one IntakeHTTP window (default 20)
//	PATHWAY_BENCH_LOG_EVENTS     pre-fill pathway's log with about this many
//	                             events before it starts (IntakeHTTP, Freshness)
//	PATHWAY_BENCH_OPEN           open referrals in a pre-filled log (default 5%
//	                             of the people; Restart: 5% of the events)
//	PATHWAY_BENCH_RESTART_EVENTS size of Restart's log (default 1,000,000)
//	PATHWAY_BENCH_HISTORY_CACHE  directory keeping generated logs between runs
//	PATHWAY_BENCH_FRESHNESS_RATE referrals per second (default 50)
//	PATHWAY_BENCH_FRESHNESS_SECONDS how long (default 20)
//
// Every figure is per request or per referral; the iteration count (b.N)
// only repeats the measured window, so -benchtime 1x is the intended use.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/embedded"
	"github.com/pathway-sp/pathway/events/eventstest"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/triage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// processCPU is the CPU time (user and system) of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nhsRange hands out distinct valid NHS numbers from the 999 test range:
// stems (the first nine digits) from next up to hi, skipping stems whose
// check digit would be 10.
type nhsRange struct {
	next   atomic.Int64
	lo, hi int64
}

func newNHSRange(lo, hi int64) *nhsRange {
	r := &nhsRange{lo: lo, hi: hi}
	r.next.Store(lo)
	return r
}

// take returns the next number, wrapping around at the end of the range.
func (r *nhsRange) take() string {
	for {
		stem := r.next.Add(1) - 1
		if stem > r.hi {
			stem = r.lo + (stem-r.lo)%(r.hi-r.lo+1)
		}
		if n, ok := nhsNumber(stem); ok {
			return n
		}
	}
}

// nhsNumber appends the mod 11 check digit (weights 10 to 2) to a
// nine-digit stem; false when the check digit would be 10.
func nhsNumber(stem int64) (string, bool) {
	s := strconv.FormatInt(stem, 10)
	sum := 0
	for i := range 9 {
		sum += int(s[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 {
		return "", false
	}
	return s + strconv.Itoa(check), true
}

// People of the benchmark requests and of generated histories never share
// an NHS number: requests take the upper half of the 999 range.
var (
	requestPeople = newNHSRange(999_500_000, 999_999_999)
	historyPeople = newNHSRange(999_000_000, 999_499_999)
)

// bodyTemplate is exampleReferral as JSON, split around the NHS number.
var bodyTemplate = sync.OnceValue(func() [2][]byte {
	body := exampleReferral()
	body["person"].(map[string]any)["nhs_number"] = "@NHS@"
	j, _ := json.Marshal(body)
	before, after, _ := bytes.Cut(j, []byte("@NHS@"))
	return [2][]byte{before, after}
})

// referralBody is the example referral for the person with this NHS number.
func referralBody(nhs string) []byte {
	t := bodyTemplate()
	out := make([]byte, 0, len(t[0])+len(nhs)+len(t[1]))
	out = append(append(append(out, t[0]...), nhs...), t[1]...)
	return out
}

func benchClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     5 * time.Minute,
		},
	}
}

// window is one measured run of requests against one server.
type window struct {
	lat     []time.Duration // of every answered request
	codes   map[int]int
	errs    int // no answer (transport error or client timeout)
	elapsed time.Duration
	cpu     time.Duration // process CPU time during the window
	sample  string        // the body of one answer that was not a 201
}

func (w *window) add(o window) {
	w.lat = append(w.lat, o.lat...)
	if w.codes == nil {
		w.codes = map[int]int{}
	}
	for c, n := range o.codes {
		w.codes[c] += n
	}
	w.errs += o.errs
	w.elapsed += o.elapsed
	w.cpu += o.cpu
	if w.sample == "" {
		w.sample = o.sample
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report writes the per-request metrics of w: created (201) answers per
// second, latency quantiles of all answers, process CPU per request, and
// what was not a 201.
func (w window) report(b *testing.B) {
	lat := slices.Clone(w.lat)
	slices.Sort(lat)
	created := w.codes[http.StatusCreated]
	sent := len(w.lat) + w.errs
	b.ReportMetric(float64(created)/w.elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
	if sent > 0 {
		b.ReportMetric(ms(w.cpu)/float64(sent), "cpu-ms/req")
	}
	b.ReportMetric(float64(sent-created), "non201")
	b.ReportMetric(float64(w.codes[http.StatusServiceUnavailable]), "503s")
	b.ReportMetric(float64(sent), "requests")
	b.ReportMetric(0, "ns/op")
	if sent != created {
		b.Logf("answers %v, %d without answer; one was: %s", w.codes, w.errs, w.sample)
	}
}

// drive sends n referral submissions (distinct people) from conc
// concurrent clients, each waiting for its answer before the next, and
// stops early at maxDur.
func drive(client *http.Client, base, key string, conc, n int, maxDur time.Duration) window {
	var next atomic.Int64
	lats := make([][]time.Duration, conc)
	codes := make([]map[int]int, conc)
	errs := make([]int, conc)
	var sample atomic.Pointer[string]
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(maxDur)
	for c := range conc {
		codes[c] = map[int]int{}
		wg.Go(func() {
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				req, _ := http.NewRequest("POST", base+"/v1/referrals", bytes.NewReader(referralBody(requestPeople.take())))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs[c]++
					continue
				}
				if resp.StatusCode != http.StatusCreated && sample.Load() == nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
					s := fmt.Sprintf("%d %s", resp.StatusCode, body)
					sample.CompareAndSwap(nil, &s)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lats[c] = append(lats[c], time.Since(t0))
				codes[c][resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	w := window{elapsed: time.Since(start), cpu: processCPU() - cpu0, codes: map[int]int{}}
	for c := range conc {
		w.lat = append(w.lat, lats[c]...)
		for k, v := range codes[c] {
			w.codes[k] += v
		}
		w.errs += errs[c]
	}
	if s := sample.Load(); s != nil {
		w.sample = *s
	}
	return w
}

// referralEnvelope is the stored form of the example referral: what one
// submission appends (about 400 bytes).
func referralEnvelope(tb testing.TB) []byte {
	tb.Helper()
	var sub referral.Submission
	if err := json.Unmarshal(referralBody("9434765919"), &sub); err != nil {
		tb.Fatal(err)
	}
	ev, errs := sub.Event(time.Now())
	if len(errs) > 0 {
		tb.Fatalf("example referral invalid: %v", errs)
	}
	payload, _ := anypb.New(ev)
	id := uuid.Must(uuid.NewV7()).String()
	now := timestamppb.Now()
	data, err := proto.Marshal(&pathwayv1.Envelope{EventId: id, AggregateType: referral.AggregateType, AggregateId: uuid.NewString(),
		EventType: events.TypeOf(ev), SchemaVersion: 1, OccurredAt: now, RecordedAt: now, Payload: payload,
		Actor:         &pathwayv1.Actor{Id: "0123456789ab", Role: pathwayv1.Role_ROLE_REFERRER, Organisation: "A81001"},
		CorrelationId: uuid.NewString()})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// rawTwin is the least a referral front door can do: decode the JSON body,
// publish one event-sized message to a stream configured like PATHWAY on
// its own embedded server (file store, fsync on every write) and answer
// 201 after the acknowledgement. No authentication, validation or checks.
type rawTwin struct {
	base string
}

func startRawTwin(tb testing.TB) *rawTwin {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{DataDir: tb.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := events.Setup(context.Background(), js, events.StreamConfig{Replicas: 1}); err != nil {
		tb.Fatal(err)
	}
	payload := referralEnvelope(tb)
	tb.Logf("raw twin publishes %d-byte messages", len(payload))
	eventType := events.TypeOf(&pathwayv1.ReferralReceived{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/referrals" {
			http.NotFound(w, r)
			return
		}
		var sub referral.Submission
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sub); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := uuid.Must(uuid.NewV7()).String()
		m := nats.NewMsg(events.SubjectPrefix + "." + referral.AggregateType + "." + id)
		m.Data = payload
		m.Header.Set(events.HeaderEventType, eventType)
		m.Header.Set(events.HeaderEventID, id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(jetstream.ExpectedStreamHeader, events.DefaultStream)
		ack, err := js.PublishMsg(r.Context(), m)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/v1/referrals/"+id)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"status":"received","sequence":%d}`, id, ack.Sequence)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	tb.Cleanup(func() { hs.Close() })
	return &rawTwin{base: "http://" + ln.Addr().String()}
}

// readModelsAt reports whether the waitlists, caseloads and funnel read
// models of the server at base have applied the log up to seq.
func readModelsAt(client *http.Client, base, opsKey string, seq uint64) bool {
	if seq == 0 {
		return true // an empty log (min_seq must be positive)
	}
	for _, path := range []string{"/v1/waitlists", "/v1/caseloads", "/v1/stats/funnel"} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s?min_seq=%d&limit=1", base, path, seq), nil)
		req.Header.Set("Authorization", "Bearer "+opsKey)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// settle waits until pathway has stopped appending (triage, assignment
// and the rest have worked through what the requests caused) and its read
// models have caught up. It returns how long after its call the last
// append came.
func settle(tb testing.TB, client *http.Client, p *pathway, opsKey string) time.Duration {
	tb.Helper()
	store := events.New(p.connect(), events.Options{})
	ctx := context.Background()
	start := time.Now()
	last, _ := store.LastSequence(ctx)
	changed := start
	for deadline := start.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cur, err := store.LastSequence(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if cur != last {
			last, changed = cur, time.Now()
			continue
		}
		if time.Since(changed) >= 500*time.Millisecond && readModelsAt(client, p.base, opsKey, last) {
			return changed.Sub(start)
		}
	}
	tb.Fatalf("pathway still busy 10 minutes after the requests")
	return 0
}

// BenchmarkIntakeHTTP measures POST /v1/referrals on the real wiring of
// pathway serve (in this process, fsync on) against the raw twin, taking
// turns at each concurrency. Every request is a new person.
func BenchmarkIntakeHTTP(b *testing.B) {
	requests := envInt("PATHWAY_BENCH_REQUESTS", 1500)
	maxDur := time.Duration(envInt("PATHWAY_BENCH_MAX_SECONDS", 20)) * time.Second
	client := benchClient()

	data := b.TempDir()
	if n := envInt("PATHWAY_BENCH_LOG_EVENTS", 0); n > 0 {
		open := envInt("PATHWAY_BENCH_OPEN", 0) // 0: 5% of the people
		prefill(b, data, n, open)
	}
	p := startPathway(b, data)
	ref := p.key(keys.RoleReferrer, "A81001")
	ops := p.key(keys.RoleOps, "")
	t0 := time.Now()
	waited := settle(b, client, p, ops)
	b.Logf("pathway caught up with its log of %d events in %v (last append %v in)", p.logLength(), time.Since(t0).Round(time.Millisecond), waited.Round(time.Millisecond))
	raw := startRawTwin(b)

	// A few requests to each first: connections, the index, the stream.
	for _, s := range []struct{ base, key string }{{p.base, ref}, {raw.base, ""}} {
		if w := drive(client, s.base, s.key, 4, 40, time.Minute); w.codes[http.StatusCreated] != 40 {
			b.Fatalf("warm-up at %s: %v, %d errors", s.base, w.codes, w.errs)
		}
	}
	settle(b, client, p, ops)

	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c%d/pathway", conc), func(b *testing.B) {
			var total window
			var settled time.Duration
			for range b.N {
				total.add(drive(client, p.base, ref, conc, requests, maxDur))
				settled += settle(b, client, p, ops)
			}
			total.report(b)
			// How long triage, assignment and the read models went on
			// after the last answer: not in the CPU figure above.
			b.ReportMetric(ms(settled)/float64(b.N), "settle-ms")
		})
		b.Run(fmt.Sprintf("c%d/raw", conc), func(b *testing.B) {
			var total window
			for range b.N {
				total.add(drive(client, raw.base, "", conc, requests, maxDur))
			}
			total.report(b)
		})
	}
}

// history is a generated log in a data directory.
type history struct {
	Events      uint64 `json:"events"` // last sequence
	Open        int    `json:"open"`
	Workers     int    `json:"workers"`
	Capacity    int    `json:"capacity"`
	ReferrerKey string `json:"referrer_key"` // a referrer of A81001
	OpsKey      string `json:"ops_key"`
}

// prefill fills data with a history of about n events, open of them
// referrals still open (0: 5% of the people), before pathway starts on
// it. With PATHWAY_BENCH_HISTORY_CACHE set, a history of the same size is
// generated once and copied.
func prefill(tb testing.TB, data string, n, open int) history {
	tb.Helper()
	cache := os.Getenv("PATHWAY_BENCH_HISTORY_CACHE")
	// The history's person key is wrapped by the tests' master key: the
	// data directory holds it as serve's master key file.
	defer eventstest.WriteMasterKey(tb, filepath.Join(data, masterKeyFile))
	if cache == "" {
		return generateHistory(tb, data, n, open)
	}
	dir := filepath.Join(cache, fmt.Sprintf("history-v2-%d-%d", n, open)) // v2: with person aggregates
	info := filepath.Join(dir, "history.json")
	if _, err := os.Stat(info); err != nil {
		tmp := dir + ".partial"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			tb.Fatal(err)
		}
		h := generateHistory(tb, filepath.Join(tmp, "data"), n, open)
		j, _ := json.Marshal(h)
		if err := os.WriteFile(filepath.Join(tmp, "history.json"), j, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			tb.Fatal(err)
		}
	}
	j, err := os.ReadFile(info)
	if err != nil {
		tb.Fatal(err)
	}
	var h history
	if err := json.Unmarshal(j, &h); err != nil {
		tb.Fatal(err)
	}
	copyDir(tb, filepath.Join(dir, "data"), data)
	return h
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	start := time.Now()
	if err := os.MkdirAll(to, 0o700); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
		tb.Fatalf("copy %s: %v %s", from, err, out)
	}
	tb.Logf("copied the history in %v", time.Since(start).Round(time.Millisecond))
}

// histGen writes events to PATHWAY as the store would (same subjects,
// headers and envelope), asynchronously for speed.
type histGen struct {
	tb     testing.TB
	js     jetstream.JetStream
	seq    uint64    // sequence of the last event sent
	t      time.Time // recorded time of the next event
	step   time.Duration
	failed atomic.Int64
	rng    *rand.Rand
	people person.Keyer // keys the person aggregates, as intake's
}

var (
	systemTriage     = &pathwayv1.Actor{Id: "triage-rules", Role: pathwayv1.Role_ROLE_SYSTEM}
	systemAssignment = &pathwayv1.Actor{Id: "assignment", Role: pathwayv1.Role_ROLE_SYSTEM}
	histLinkWorker   = &pathwayv1.Actor{Id: "b3c1d2e4f5a6", Role: pathwayv1.Role_ROLE_LINK_WORKER}
	histOps          = &pathwayv1.Actor{Id: "a1b2c3d4e5f6", Role: pathwayv1.Role_ROLE_OPS}
)

// emit sends one single-event command and returns its event id. The
// envelope, the Pathway-* headers and the message id are those of
// events.Store; the publish-time expectations (expected stream, last
// subject sequence, atomic batch headers) are left out.
func (g *histGen) emit(agg events.Aggregate, payload proto.Message, actor *pathwayv1.Actor, key, correlation, causation string) string {
	packed, err := anypb.New(payload)
	if err != nil {
		g.tb.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	ts := timestamppb.New(g.t)
	g.t = g.t.Add(g.step)
	keyHash := ""
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		keyHash = hex.EncodeToString(sum[:])
	}
	env := &pathwayv1.Envelope{EventId: id, AggregateType: agg.Type, AggregateId: agg.ID, EventType: events.TypeOf(payload),
		SchemaVersion: 1, OccurredAt: ts, RecordedAt: ts, Actor: actor, CorrelationId: correlation, CausationId: causation,
		Payload: packed, IdempotencyKeyHash: keyHash}
	data, err := proto.Marshal(env)
	if err != nil {
		g.tb.Fatal(err)
	}
	m := nats.NewMsg(agg.Subject())
	m.Data = data
	m.Header.Set(events.HeaderEventType, env.GetEventType())
	m.Header.Set(events.HeaderEventID, id)
	if keyHash != "" {
		m.Header.Set(events.HeaderIdempotency, keyHash)
		sum := sha256.Sum256([]byte(agg.Subject() + "\x00" + keyHash))
		m.Header.Set(jetstream.MsgIDHeader, hex.EncodeToString(sum[:16])+"-0")
	} else {
		m.Header.Set(jetstream.MsgIDHeader, id)
	}
	for {
		_, err := g.js.PublishMsgAsync(m)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			select {
			case <-g.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				g.tb.Fatal("publish stalled")
			}
			continue
		}
		if err != nil {
			g.tb.Fatal(err)
		}
		break
	}
	g.seq++
	return id
}

// histWorker is a link worker of the generated region.
type histWorker struct {
	id        string
	pcn       string
	practices []string
}

var (
	givenNames  = []string{"Sam", "Alex", "Jo", "Chris", "Pat", "Robin", "Kim", "Lee", "Morgan", "Jamie"}
	familyNames = []string{"Example", "Testperson", "Sample", "Specimen", "Placeholder"}
	needSets    = [][]string{{"loneliness", "mental_health"}, {"loneliness"}, {"mental_health"}, {"loneliness", "physical_activity"}}
)

// received builds a ReferralReceived the way the API does, from a
// submission of a person of practice.
func (g *histGen) received(practice string, urgent bool) *pathwayv1.ReferralReceived {
	body := exampleReferral()
	person := body["person"].(map[string]any)
	person["nhs_number"] = historyPeople.take()
	person["given_name"] = givenNames[g.rng.IntN(len(givenNames))]
	person["family_name"] = familyNames[g.rng.IntN(len(familyNames))]
	person["date_of_birth"] = fmt.Sprintf("%d-%02d-%02d", 1940+g.rng.IntN(60), 1+g.rng.IntN(12), 1+g.rng.IntN(28))
	body["gp_practice"] = practice
	body["referrer"].(map[string]any)["organisation"] = practice
	body["needs"] = needSets[g.rng.IntN(len(needSets))]
	if urgent {
		body["urgency"] = "urgent"
		body["needs"] = []string{"loneliness"}
	}
	body["consent"].(map[string]any)["recorded_at"] = g.t.Add(-time.Hour).Format(time.RFC3339)
	j, _ := json.Marshal(body)
	var sub referral.Submission
	if err := json.Unmarshal(j, &sub); err != nil {
		g.tb.Fatal(err)
	}
	ev, errs := sub.Event(g.t)
	if len(errs) > 0 {
		g.tb.Fatalf("generated referral invalid: %v", errs)
	}
	ev.Channel = "json"
	return ev
}

// episode writes one referral's events. stage says how far it goes:
// "declined" (triaged away), "cancelled" (from the waitlist),
// "waitlisted" (open), "assigned" (open) or "discharged".
func (g *histGen) episode(w histWorker, stage string, accepted *pathwayv1.ReferralTriaged) {
	practice := w.practices[g.rng.IntN(len(w.practices))]
	urgent := g.rng.IntN(10) == 0
	rec := g.received(practice, urgent)
	ref := events.Aggregate{Type: referral.AggregateType, ID: uuid.Must(uuid.NewV7()).String()}
	corr := uuid.NewString()
	referrer := &pathwayv1.Actor{Id: "c0ffee" + practice, Role: pathwayv1.Role_ROLE_REFERRER, Organisation: practice}
	// As intake records a new referral: the episode on the person of its
	// NHS number and on that of its name, date of birth and postcode.
	p := rec.GetPerson()
	opened := &pathwayv1.PersonEpisodeOpened{ReferralId: ref.ID}
	g.emit(events.Aggregate{Type: person.AggregateType, ID: g.people.ByNHS(p.GetNhsNumber())}, opened, referrer, "", corr, "")
	g.emit(events.Aggregate{Type: person.AggregateType, ID: g.people.ByMatch(p.GetGivenName(), p.GetFamilyName(), p.GetDateOfBirth(), p.GetPostcode())},
		opened, referrer, "", corr, "")
	first := g.emit(ref, rec, referrer, "", corr, "")
	version := g.seq
	triaged := proto.Clone(accepted).(*pathwayv1.ReferralTriaged)
	if urgent {
		triaged.Priority = pathwayv1.Priority_PRIORITY_URGENT
	}
	if stage == "declined" {
		triaged.Decision = pathwayv1.TriageDecision_TRIAGE_DECISION_SIGNPOST
		triaged.Reason = "needs met by a service the person can reach directly"
	}
	g.emit(ref, triaged, systemTriage, "triage\x00"+strconv.FormatUint(version, 10), corr, first)
	version = g.seq
	if stage == "declined" {
		return
	}
	waitlisted := stage == "waitlisted" || stage == "cancelled" || g.rng.IntN(10) < 3
	if waitlisted {
		g.emit(ref, &pathwayv1.ReferralWaitlisted{Queue: w.pcn, Priority: triaged.GetPriority(), Reason: "no link worker with a place"},
			systemAssignment, "waitlist\x00"+strconv.FormatUint(version, 10), corr, "")
		version = g.seq
	}
	switch stage {
	case "waitlisted":
		return
	case "cancelled":
		g.emit(ref, &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED, Note: "the person asked to stop"},
			referrer, "", uuid.NewString(), "")
		return
	}
	key := "assign\x00" + ref.ID + "\x00" + strconv.FormatUint(version, 10)
	pos := uint32(0)
	if waitlisted {
		pos = 1
	}
	wagg := events.Aggregate{Type: worker.AggregateType, ID: w.id}
	g.emit(wagg, &pathwayv1.WorkerCaseAssigned{ReferralId: ref.ID}, systemAssignment, key, corr, "")
	g.emit(ref, &pathwayv1.ReferralAssigned{WorkerId: w.id, Queue: w.pcn, Reason: "automatic", FromWaitlistPosition: pos}, systemAssignment, key, corr, "")
	contacts := 2 + g.rng.IntN(5)
	if stage == "assigned" {
		contacts = g.rng.IntN(4)
	}
	for range contacts {
		g.emit(ref, &pathwayv1.ContactRecorded{ContactId: uuid.NewString(), Kind: pathwayv1.ContactKind(1 + g.rng.IntN(4)),
			At: timestamppb.New(g.t.Add(-time.Hour)), DurationMinutes: 30}, histLinkWorker, "", uuid.NewString(), "")
	}
	if stage == "assigned" {
		return
	}
	reason := []pathwayv1.DischargeReason{pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET, pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET,
		pathwayv1.DischargeReason_DISCHARGE_REASON_DISENGAGED, pathwayv1.DischargeReason_DISCHARGE_REASON_MOVED_AWAY}[g.rng.IntN(4)]
	g.emit(ref, &pathwayv1.ReferralDischarged{Reason: reason}, histLinkWorker, "", uuid.NewString(), "")
	discharged := g.seq
	g.emit(wagg, &pathwayv1.WorkerCaseReleased{ReferralId: ref.ID, Reason: "referral discharged"}, systemAssignment,
		"release\x00"+strconv.FormatUint(discharged, 10), corr, "")
}

// generateHistory writes into data, through an embedded server of its
// own, a synthetic region's history of about n events: link workers in
// PCNs of five (the first PCN is U12345, covering A81001-A81005, where
// the benchmark's referrals come from), then closed episodes (85%
// discharged after 2-6 contacts, 10% signposted at triage, 5% cancelled
// from the waitlist), then the open referrals: assigned until every
// worker's caseload is full, the rest waitlisted. The services' durable
// consumers are created and moved to the end of the log, as if pathway
// had processed it; projection checkpoints are not written (the first
// start replays). A referrer key of A81001 and an ops key are created.
func generateHistory(tb testing.TB, data string, n, open int) history {
	tb.Helper()
	start := time.Now()
	ctx := context.Background()
	srv, err := embedded.Start(embedded.Config{DataDir: data, Listen: "127.0.0.1:0", NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	nc, err := nats.Connect(srv.ClientURL(), srv.Auth())
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	g := &histGen{tb: tb, rng: rand.New(rand.NewPCG(1, 2))}
	g.js, err = jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		if g.failed.Add(1) == 1 {
			tb.Logf("history publish failed: %v", err)
		}
	}))
	if err != nil {
		tb.Fatal(err)
	}
	if err := events.Setup(ctx, g.js, events.StreamConfig{Replicas: 1}); err != nil {
		tb.Fatal(err)
	}
	store := events.New(g.js, events.Options{})
	if g.people, err = intake.OpenPersonKeyer(ctx, g.js, 1, eventstest.Master()); err != nil {
		tb.Fatal(err)
	}

	// Sizes: about ten events per episode; a worker per 300 episodes.
	episodes := max(n/10, 1)
	if open <= 0 {
		open = max(episodes/20, 1)
	}
	nWorkers := min(max(episodes/300, 20), 1000)
	capacity := min(max(open*9/10/nWorkers, 1), 1000)
	if nWorkers*capacity > open {
		capacity = max(open/nWorkers, 1)
	}
	g.t = time.Now().Add(-365 * 24 * time.Hour)
	g.step = 365 * 24 * time.Hour / time.Duration(n+1)

	accept, err := triage.DefaultRules().Evaluate(triage.InputFrom(g.received("A81001", false), g.t))
	if err != nil || accept.Event().GetDecision() != pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT {
		tb.Fatalf("the default rules do not accept the example referral: %v %v", accept, err)
	}
	acceptEvent := accept.Event()
	historyPeople.next.Store(historyPeople.lo) // the same people every time

	workers := make([]histWorker, nWorkers)
	for i := range workers {
		pcn := i / 5
		w := histWorker{id: uuid.Must(uuid.NewV7()).String()}
		if pcn == 0 {
			w.pcn, w.practices = "U12345", []string{"A81001", "A81002", "A81003", "A81004", "A81005"}
		} else {
			w.pcn = fmt.Sprintf("U%05d", 20000+pcn)
			for j := range 3 {
				w.practices = append(w.practices, fmt.Sprintf("B%05d", 3*pcn+j))
			}
		}
		reg := &pathwayv1.WorkerRegistered{Name: fmt.Sprintf("Link Worker %d", i), Pcn: w.pcn, Practices: w.practices,
			Capacity: uint32(capacity), Languages: []string{"en"}}
		if _, err := worker.Register(reg); err != nil {
			tb.Fatal(err)
		}
		g.emit(events.Aggregate{Type: worker.AggregateType, ID: w.id}, reg, histOps, "", uuid.NewString(), "")
		workers[i] = w
	}
	openAssigned := min(open, nWorkers*capacity)
	openEvents := uint64(openAssigned*17/2 + (open-openAssigned)*5)
	closed := 0
	for g.seq+openEvents < uint64(n) {
		w := workers[closed%nWorkers]
		switch r := closed % 20; {
		case r < 2:
			g.episode(w, "declined", acceptEvent)
		case r == 2:
			g.episode(w, "cancelled", acceptEvent)
		default:
			g.episode(w, "discharged", acceptEvent)
		}
		closed++
		if closed%5000 == 0 {
			select {
			case <-g.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				tb.Fatal("publish stalled")
			}
		}
	}
	for i := range open {
		w := workers[i%nWorkers]
		if i < openAssigned {
			g.episode(w, "assigned", acceptEvent)
		} else {
			g.episode(w, "waitlisted", acceptEvent)
		}
	}
	select {
	case <-g.js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		tb.Fatal("publish stalled")
	}
	if f := g.failed.Load(); f > 0 {
		tb.Fatalf("%d history publishes failed", f)
	}
	last, err := store.LastSequence(ctx)
	if err != nil || last != g.seq {
		tb.Fatalf("history: last sequence %d (%v), want %d", last, err, g.seq)
	}

	// The services' durable consumers, as they create them, with their
	// position at the end of the log.
	for _, c := range []events.Consumer{
		{Name: triage.ConsumerName, Subjects: []string{events.TypeSubject(referral.AggregateType)}},
		{Name: assignment.ConsumerName, Subjects: []string{events.TypeSubject(referral.AggregateType), events.TypeSubject(worker.AggregateType)}},
		{Name: handoffs.ConsumerName, Subjects: []string{events.TypeSubject(referral.AggregateType)}},
	} {
		cons, err := store.EnsureConsumer(ctx, c)
		if err != nil {
			tb.Fatal(err)
		}
		resp, err := nc.Request(fmt.Sprintf("$JS.API.CONSUMER.RESET.%s.%s", events.DefaultStream, c.Name), fmt.Appendf(nil, `{"seq":%d}`, last+1), 30*time.Second)
		if err != nil {
			tb.Fatalf("reset consumer %s: %v", c.Name, err)
		}
		var answer struct {
			Error *struct{ Description string } `json:"error"`
		}
		if json.Unmarshal(resp.Data, &answer); answer.Error != nil {
			tb.Fatalf("reset consumer %s: %s", c.Name, answer.Error.Description)
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending != 0 || info.AckFloor.Stream != last {
			tb.Fatalf("consumer %s after reset: %+v %v; want nothing pending, ack floor %d", c.Name, info, err, last)
		}
	}

	// Every episode is on its person aggregates already: this only reads
	// the log and marks it done, as pathway's first start would.
	if err := intake.New(store, g.people, intake.Options{}).Backfill(ctx, g.js, slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatal(err)
	}
	ks, err := keys.Open(ctx, g.js, keys.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	h := history{Events: last, Open: open, Workers: nWorkers, Capacity: capacity}
	if h.ReferrerKey, _, err = ks.Create(ctx, keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001", Label: "bench"}); err != nil {
		tb.Fatal(err)
	}
	if h.OpsKey, _, err = ks.Create(ctx, keys.Spec{Role: keys.RoleOps, Label: "bench"}); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("history: %d events (%d closed episodes, %d open referrals, %d assigned to %d workers of capacity %d) in %v",
		last, closed, open, openAssigned, nWorkers, capacity, time.Since(start).Round(time.Millisecond))
	return h
}

// restartFigures are the timings of one start of the binary.
type restartFigures struct {
	ready, first201, caughtUp time.Duration
	hwmKB, maxRSSKB           int64
	cpu                       time.Duration
	attempts                  int
}

// BenchmarkRestart starts the built binary on a data directory holding a
// history and measures the time to /readyz 200, to the first 201 of a
// POST /v1/referrals, and to the read models caught up with the history,
// with the peak RSS. cold: the first start on the generated log (no
// projection checkpoints, a fresh copy each iteration); warm: starts
// after a clean stop, with the checkpoints that stop wrote.
func BenchmarkRestart(b *testing.B) {
	n := envInt("PATHWAY_BENCH_RESTART_EVENTS", 1_000_000)
	open := envInt("PATHWAY_BENCH_OPEN", n/20)
	root := b.TempDir()
	pristine := filepath.Join(root, "pristine")
	h := prefill(b, pristine, n, open)
	var work string
	copies := 0
	for _, phase := range []string{"cold", "warm"} {
		b.Run(phase, func(b *testing.B) {
			var sum restartFigures
			for range b.N {
				if phase == "cold" || work == "" {
					if work != "" {
						os.RemoveAll(work)
					}
					copies++
					work = filepath.Join(root, fmt.Sprintf("data-%d", copies))
					copyDir(b, pristine, work)
				}
				f := restartOnce(b, work, h)
				sum.ready += f.ready
				sum.first201 += f.first201
				sum.caughtUp += f.caughtUp
				sum.hwmKB = max(sum.hwmKB, f.hwmKB)
				sum.maxRSSKB = max(sum.maxRSSKB, f.maxRSSKB)
				sum.cpu += f.cpu
				sum.attempts += f.attempts
			}
			per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			b.ReportMetric(per(sum.ready), "ready-s")
			b.ReportMetric(per(sum.first201), "first201-s")
			b.ReportMetric(per(sum.caughtUp), "caughtup-s")
			b.ReportMetric(float64(sum.hwmKB)/1024, "peak-rss-MB")
			b.ReportMetric(float64(sum.maxRSSKB)/1024, "maxrss-MB")
			b.ReportMetric(per(sum.cpu), "cpu-s")
			b.ReportMetric(float64(sum.attempts)/float64(b.N), "post-attempts")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// vmHWM is the peak resident set of a process, from /proc, in KiB.
func vmHWM(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func restartOnce(b *testing.B, data string, h history) restartFigures {
	b.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	base := "http://" + addr
	logFile, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "serve", "--data", data, "--http", addr, "--nats-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PATHWAY_NATS_URL=", "PATHWAY_DATA=")
	cmd.Stderr = logFile
	fail := func(format string, args ...any) {
		b.Helper()
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		out, _ := os.ReadFile(logFile.Name())
		b.Fatalf("%s\npathway serve log:\n%s", fmt.Sprintf(format, args...), out)
	}
	client := benchClient()
	client.Timeout = 2 * time.Second
	var f restartFigures
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	const limit = 15 * time.Minute
	// /readyz and the first 201 are timed independently: pathway takes
	// referrals as soon as its HTTP API is up, and is ready only once the
	// views its commands decide from have caught up with the log.
	readyAt := make(chan time.Duration, 1)
	go func() {
		for time.Since(start) < limit {
			resp, err := client.Get(base + "/readyz")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					readyAt <- time.Since(start)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		readyAt <- -1
	}()

	caught := make(chan time.Duration, 1)
	stopPoll := make(chan struct{})
	go func() {
		for time.Since(start) < limit {
			if readModelsAt(client, base, h.OpsKey, h.Events) {
				caught <- time.Since(start)
				return
			}
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		caught <- -1
	}()
	defer close(stopPoll)

	// The first referral accepted: a POST every 100 ms (or at once after
	// a timeout), each for a new person, each with a 2 s timeout.
	for {
		if time.Since(start) > limit {
			fail("no 201 within %v", limit)
		}
		t0 := time.Now()
		f.attempts++
		req, _ := http.NewRequest("POST", base+"/v1/referrals", bytes.NewReader(referralBody(requestPeople.take())))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.ReferrerKey)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				break
			}
		}
		time.Sleep(time.Until(t0.Add(100 * time.Millisecond)))
	}
	f.first201 = time.Since(start)
	if f.ready = <-readyAt; f.ready < 0 {
		fail("/readyz not 200 within %v", limit)
	}
	select {
	case f.caughtUp = <-caught:
	case <-time.After(limit):
	}
	if f.caughtUp < 0 {
		fail("read models not caught up with sequence %d within %v", h.Events, limit)
	}
	f.hwmKB = vmHWM(cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			fail("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		fail("still running 30 s after SIGTERM")
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		f.maxRSSKB = ru.Maxrss
		f.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.Logf("ready %v, first 201 %v (%d attempts), read models caught up %v, VmHWM %d MiB",
		f.ready.Round(time.Millisecond), f.first201.Round(time.Millisecond), f.attempts, f.caughtUp.Round(time.Millisecond), f.hwmKB/1024)
	return f
}

// submittedReferral is one referral of the freshness run.
type submittedReferral struct {
	id       string
	seq      uint64
	answered time.Time
	triaged  time.Time
	placed   time.Time
}

// BenchmarkFreshness offers referrals at a fixed rate to pathway with
// link workers of A81001 registered, and measures for each the delay from
// its 201 to its triage decision on GET /v1/referrals/{id}, and to its
// appearance on a caseload (GET /v1/caseloads/{worker}) or the waitlist
// (GET /v1/waitlists/U12345).
//
// Triage and assignment work through the log in order, so each poller
// looks at the oldest referral not yet seen first: the triage poller
// GETs referrals in sequence order every 10 ms until one is still
// untriaged; the placement poller reads the caseload counts every 20 ms
// and fetches a worker's caseload (and the waitlist's tail) when its
// count changed. Delays are upper bounds, off by at most a poll interval
// and a GET.
func BenchmarkFreshness(b *testing.B) {
	rate := envInt("PATHWAY_BENCH_FRESHNESS_RATE", 50)
	secs := envInt("PATHWAY_BENCH_FRESHNESS_SECONDS", 20)
	client := benchClient()
	data := b.TempDir()
	if n := envInt("PATHWAY_BENCH_LOG_EVENTS", 0); n > 0 {
		prefill(b, data, n, envInt("PATHWAY_BENCH_OPEN", 0))
	}
	p := startPathway(b, data)
	ref := p.key(keys.RoleReferrer, "A81001")
	ops := p.key(keys.RoleOps, "")
	settle(b, client, p, ops)
	const nWorkers = 10
	capacity := min(rate*secs*3/2/nWorkers+10, 1000)
	var workerIDs []string
	for i := range nWorkers {
		workerIDs = append(workerIDs, p.worker(ops, fmt.Sprintf("Freshness Worker %d", i), capacity))
	}
	settle(b, client, p, ops)

	var all []*submittedReferral
	for range b.N {
		all = append(all, freshnessRun(b, client, p.base, ref, ops, workerIDs, rate, time.Duration(secs)*time.Second)...)
		settle(b, client, p, ops)
	}
	var triage, placed []time.Duration
	missingTriage, missingPlaced := 0, 0
	for _, r := range all {
		if r.triaged.IsZero() {
			missingTriage++
		} else {
			triage = append(triage, max(r.triaged.Sub(r.answered), 0))
		}
		if r.placed.IsZero() {
			missingPlaced++
		} else {
			placed = append(placed, max(r.placed.Sub(r.answered), 0))
		}
	}
	slices.Sort(triage)
	slices.Sort(placed)
	b.ReportMetric(ms(quantile(triage, 0.5)), "triage-p50-ms")
	b.ReportMetric(ms(quantile(triage, 0.99)), "triage-p99-ms")
	b.ReportMetric(ms(quantile(placed, 0.5)), "placed-p50-ms")
	b.ReportMetric(ms(quantile(placed, 0.99)), "placed-p99-ms")
	b.ReportMetric(float64(missingTriage), "never-triaged")
	b.ReportMetric(float64(missingPlaced), "never-placed")
	b.ReportMetric(float64(len(all)), "referrals")
	b.ReportMetric(0, "ns/op")
}

func getJSON(client *http.Client, url, key string, out any) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

func freshnessRun(b *testing.B, client *http.Client, base, refKey, opsKey string, workerIDs []string, rate int, d time.Duration) []*submittedReferral {
	b.Helper()
	var (
		mu       sync.Mutex
		byID     = map[string]*submittedReferral{}
		pending  []*submittedReferral // answered, triage not yet seen
		non201   atomic.Int64
		postLats []time.Duration
	)
	placedAt := map[string]time.Time{} // placements seen, possibly before the 201 was read
	var sends sync.WaitGroup
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := 0; i < rate*int(d/time.Second); i++ {
		<-tick.C
		sends.Go(func() {
			req, _ := http.NewRequest("POST", base+"/v1/referrals", bytes.NewReader(referralBody(requestPeople.take())))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+refKey)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				non201.Add(1)
				return
			}
			defer resp.Body.Close()
			var s submitted
			json.NewDecoder(resp.Body).Decode(&s)
			now := time.Now()
			if resp.StatusCode != http.StatusCreated {
				non201.Add(1)
				return
			}
			r := &submittedReferral{id: s.ID, seq: s.Sequence, answered: now}
			mu.Lock()
			postLats = append(postLats, now.Sub(t0))
			byID[r.id] = r
			pending = append(pending, r)
			if t, ok := placedAt[r.id]; ok {
				r.placed = t
			}
			mu.Unlock()
		})
		if i == 0 {
			// Start the pollers with the first request.
			go pollTriage(client, base, opsKey, &mu, &pending, stop)
			go pollPlacement(client, base, opsKey, workerIDs, &mu, byID, placedAt, stop)
		}
	}
	tick.Stop()
	sends.Wait()
	sent := time.Since(start)
	// Wait for the pollers to see everything, at most a minute.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		done := len(pending) == 0
		for _, r := range byID {
			if r.placed.IsZero() {
				done = false
				break
			}
		}
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(postLats)
	b.Logf("freshness: %d referrals answered 201 in %v (%.1f/s offered %d/s), %d not 201; POST p50 %.1f ms p99 %.1f ms",
		len(byID), sent.Round(time.Millisecond), float64(len(byID))/sent.Seconds(), rate, non201.Load(), ms(quantile(postLats, 0.5)), ms(quantile(postLats, 0.99)))
	b.ReportMetric(float64(non201.Load()), "non201")
	b.ReportMetric(ms(quantile(postLats, 0.5)), "post-p50-ms")
	b.ReportMetric(ms(quantile(postLats, 0.99)), "post-p99-ms")
	out := make([]*submittedReferral, 0, len(byID))
	for _, r := range byID {
		out = append(out, r)
	}
	return out
}

// pollTriage GETs answered referrals in sequence order, every 10 ms,
// until one has no triage decision yet.
func pollTriage(client *http.Client, base, opsKey string, mu *sync.Mutex, pending *[]*submittedReferral, stop <-chan struct{}) {
	for {
		mu.Lock()
		slices.SortFunc(*pending, func(a, b *submittedReferral) int { return int(a.seq) - int(b.seq) })
		queue := slices.Clone(*pending)
		mu.Unlock()
		for _, r := range queue {
			var v view
			if code, err := getJSON(client, base+"/v1/referrals/"+r.id, opsKey, &v); err != nil || code != http.StatusOK || v.Triage == nil {
				break
			}
			now := time.Now()
			mu.Lock()
			r.triaged = now
			*pending = slices.DeleteFunc(*pending, func(x *submittedReferral) bool { return x == r })
			mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// pollPlacement reads the caseload counts every 20 ms and, when a
// worker's count (or the waitlist's size) changed, the cases on it.
func pollPlacement(client *http.Client, base, opsKey string, workerIDs []string, mu *sync.Mutex, byID map[string]*submittedReferral, placedAt map[string]time.Time, stop <-chan struct{}) {
	counts := map[string]int{}
	waitlistSize := -1
	mark := func(ids []string) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if _, ok := placedAt[id]; ok {
				continue
			}
			placedAt[id] = now
			if r := byID[id]; r != nil && r.placed.IsZero() {
				r.placed = now
			}
		}
	}
	for {
		var list struct {
			Workers []struct {
				ID    string `json:"id"`
				Count int    `json:"active_cases"`
			} `json:"workers"`
		}
		if _, err := getJSON(client, base+"/v1/caseloads?limit=500", opsKey, &list); err == nil {
			for _, w := range list.Workers {
				if !slices.Contains(workerIDs, w.ID) || counts[w.ID] == w.Count {
					continue
				}
				var cl struct {
					Cases []struct {
						ID string `json:"id"`
					} `json:"cases"`
				}
				if _, err := getJSON(client, base+"/v1/caseloads/"+w.ID+"?limit=500", opsKey, &cl); err == nil {
					counts[w.ID] = w.Count
					ids := make([]string, len(cl.Cases))
					for i, c := range cl.Cases {
						ids[i] = c.ID
					}
					mark(ids)
				}
			}
		}
		var wl struct {
			Total   int `json:"total"`
			Entries []struct {
				ID string `json:"id"`
			} `json:"entries"`
		}
		if _, err := getJSON(client, base+"/v1/waitlists/U12345?limit=1", opsKey, &wl); err == nil && wl.Total != waitlistSize {
			if _, err := getJSON(client, fmt.Sprintf("%s/v1/waitlists/U12345?limit=500&offset=%d", base, max(wl.Total-500, 0)), opsKey, &wl); err == nil {
				waitlistSize = wl.Total
				ids := make([]string, len(wl.Entries))
				for i, e := range wl.Entries {
					ids[i] = e.ID
				}
				mark(ids)
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
