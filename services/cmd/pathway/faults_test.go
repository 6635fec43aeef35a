package main

// The fault campaigns' load and checker (docs/RELIABILITY.md). A
// faultLoad sends concurrent intake and case work to pathway while a test
// breaks things under it, retries every command with its Idempotency-Key
// until it is answered, and records every answer; check then reads the
// log and finds each acknowledged command there exactly once, and
// checkReadModels finds each read model's checkpoint equal to a rebuild.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/events/keyring"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// faultCycles is how many times a campaign breaks something: short in the
// test suite; for the long campaign PATHWAY_FAULT_CYCLES divided by per
// (at least 1), so that one setting sizes campaigns whose cycles take
// very different times.
func faultCycles(short, per int) int {
	if n, err := strconv.Atoi(os.Getenv("PATHWAY_FAULT_CYCLES")); err == nil && n > 0 {
		return max(n/per, 1)
	}
	return short
}

// faultOutage is how long a campaign keeps NATS away: short in the suite,
// PATHWAY_FAULT_OUTAGE (a duration) for the long campaign.
func faultOutage(short time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PATHWAY_FAULT_OUTAGE")); err == nil && d > 0 {
		return d
	}
	return short
}

// The commands the load sends, and the event each appends once.
const (
	cmdReferral = "referral"
	cmdContact  = "contact"
	cmdPlan     = "plan"
	cmdOutcome  = "outcome"
)

var primaryEvent = map[string]string{
	cmdReferral: "pathway.v1.ReferralReceived",
	cmdContact:  "pathway.v1.ContactRecorded",
	cmdPlan:     "pathway.v1.SupportPlanAgreed",
	cmdOutcome:  "pathway.v1.OutcomeMeasured",
}

// faultCmd is one command and every answer it got. Its key is both its
// Idempotency-Key and its X-Request-ID, which the log records as its
// events' correlation id, so the checker finds its events by it.
type faultCmd struct {
	kind, key, path, auth string
	body                  []byte

	attempts int
	status   int       // the final answer: 2xx acknowledged, 4xx refused; 0 unresolved
	acked    time.Time // when the first 2xx came
	answers  []apitest.Submitted
}

// faultLoad drives intake (a referrer) and case work (link workers on
// their caseloads) at base, concurrently, with retries by key.
type faultLoad struct {
	tb     testing.TB
	base   string
	prefix string // of every key of this load
	client *http.Client
	ref    string            // a referrer key of A81001
	ops    string            // an ops key
	lw     map[string]string // link worker key by worker id
	people *nhsRange

	next    atomic.Int64
	stopped atomic.Bool
	wg      sync.WaitGroup
	hard    context.Context // ends retrying for good
	cancel  context.CancelFunc

	mu        sync.Mutex
	cmds      []*faultCmd
	referrals []string    // acknowledged referrals
	baselined []string    // referrals with an outcome baseline sent
	ackTimes  []time.Time // every first acknowledgement, in order

	// What the edge answered on the way.
	unavailable, throttled, internal, transport atomic.Int64
	noRetryAfter                                atomic.Int64
	retriedAcks                                 atomic.Int64 // acknowledged after a failed attempt
}

// newFaultLoad registers workers through the API and makes the keys it
// needs in js's key store; pathway at base must be up.
func newFaultLoad(tb testing.TB, base string, js jetstream.JetStream, people *nhsRange) *faultLoad {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &faultLoad{tb: tb, base: base, prefix: fmt.Sprintf("f%x", rand.Uint32()), people: people, lw: map[string]string{},
		client: &http.Client{Timeout: 15 * time.Second}, hard: ctx, cancel: cancel}
	tb.Cleanup(cancel)
	ks, err := keys.Open(context.Background(), js, keys.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	create := func(spec keys.Spec) string {
		spec.Label = "fault campaign"
		plain, _, err := ks.Create(context.Background(), spec)
		if err != nil {
			tb.Fatal(err)
		}
		l.awaitKey(plain)
		return plain
	}
	l.ref = create(keys.Spec{Role: keys.RoleReferrer, Organisation: "A81001"})
	l.ops = create(keys.Spec{Role: keys.RoleOps})
	api := apitest.Client{TB: tb, Base: base}
	for i := range 3 {
		id := api.Worker(l.ops, fmt.Sprint("Fault Worker ", i+1), 1000)
		l.lw[id] = create(keys.Spec{Role: keys.RoleLinkWorker, Worker: id})
	}
	return l
}

// awaitKey waits until pathway accepts key (the authenticator follows the
// key store). Each try comes from an address of its own through loopback,
// a trusted proxy, so failed checks spend no one's budget.
func (l *faultLoad) awaitKey(key string) {
	l.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for try := 1; time.Now().Before(deadline); try++ {
		req, _ := http.NewRequest("GET", l.base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", try%250+1))
		if resp, err := l.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.tb.Fatal("a new key was not accepted within 15s")
}

// start runs intake senders and case workers until stop.
func (l *faultLoad) start(intake, casework int) {
	for range intake {
		l.wg.Go(func() {
			for !l.stopped.Load() && l.hard.Err() == nil {
				l.resolve(l.newReferral())
			}
		})
	}
	for range casework {
		l.wg.Go(func() {
			for !l.stopped.Load() && l.hard.Err() == nil {
				if c := l.newCaseWork(); c != nil {
					l.resolve(c)
				} else {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}

// stop sends no new command and waits until every command sent has been
// answered, retrying by key, for up to within; it reports the commands
// still unanswered then.
func (l *faultLoad) stop(within time.Duration) {
	l.tb.Helper()
	l.stopped.Store(true)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		l.cancel()
		<-done
		l.tb.Errorf("commands still unanswered %v after the load stopped", within)
	}
}

// acks returns how many commands have been acknowledged.
func (l *faultLoad) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ackTimes)
}

// awaitAcks waits until n more commands than before have been
// acknowledged, for up to d; false when they were not.
func (l *faultLoad) awaitAcks(n int, d time.Duration) bool {
	want := l.acks() + n
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l.acks() >= want {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// firstAckAfter returns how long after t the first command was
// acknowledged, and false when none was.
func (l *faultLoad) firstAckAfter(t time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.ackTimes, t, func(a, b time.Time) int { return a.Compare(b) })
	if i == len(l.ackTimes) {
		return 0, false
	}
	return l.ackTimes[i].Sub(t), true
}

// longestGap returns the longest time without an acknowledgement between
// from and to (the ends count as acknowledgements).
func (l *faultLoad) longestGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	last := from
	for _, t := range l.ackTimes {
		if t.Before(from) || t.After(to) {
			continue
		}
		gap = max(gap, t.Sub(last))
		last = t
	}
	return max(gap, to.Sub(last))
}

func (l *faultLoad) newKey() string {
	return fmt.Sprintf("%s-%d", l.prefix, l.next.Add(1))
}

func (l *faultLoad) newReferral() *faultCmd {
	return &faultCmd{kind: cmdReferral, key: l.newKey(), path: "/v1/referrals", auth: l.ref, body: referralBody(l.people.take())}
}

// newCaseWork picks a case from a link worker's caseload and returns a
// contact, a plan or (once a case) an outcome baseline for it; nil when
// the caseload cannot be read now or is empty.
func (l *faultLoad) newCaseWork() *faultCmd {
	ids := make([]string, 0, len(l.lw))
	for id := range l.lw {
		ids = append(ids, id)
	}
	worker := ids[rand.IntN(len(ids))]
	key := l.lw[worker]
	req, _ := http.NewRequestWithContext(l.hard, "GET", l.base+"/v1/caseloads/"+worker, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := l.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var cl struct {
		Cases []struct {
			ID string `json:"id"`
		} `json:"cases"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&cl) != nil || len(cl.Cases) == 0 {
		return nil
	}
	id := cl.Cases[rand.IntN(len(cl.Cases))].ID
	c := &faultCmd{key: l.newKey(), auth: key}
	l.mu.Lock()
	first := !slices.Contains(l.baselined, id)
	if first {
		l.baselined = append(l.baselined, id)
	}
	l.mu.Unlock()
	var body any
	switch {
	case first:
		c.kind, c.path = cmdOutcome, "/v1/referrals/"+id+"/outcomes"
		body = map[string]any{"instrument": "swemwbs", "point": "baseline", "items": []int{2, 3, 2, 3, 3, 2, 2}}
	case rand.IntN(3) == 0:
		c.kind, c.path = cmdPlan, "/v1/referrals/"+id+"/plan"
		body = map[string]any{"what_matters": "Meeting people", "goals": []map[string]string{{"description": "Join the walking group", "target_date": "2027-01-31"}}}
	default:
		c.kind, c.path = cmdContact, "/v1/referrals/"+id+"/contacts"
		body = map[string]any{"kind": "phone", "when": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "duration_minutes": 20}
	}
	c.body, _ = json.Marshal(body)
	return c
}

// resolve sends c until it is answered: 2xx (acknowledged) or 4xx
// (refused). A transport error (pathway gone), a 503 or a 429 is retried
// with the same key after a fifth of a second, whatever Retry-After says,
// so the campaign measures a stall to that precision; every 503 and 429
// must carry Retry-After all the same. A 500 is counted (a failure with no
// kind: the checker reports it) and retried.
func (l *faultLoad) resolve(c *faultCmd) {
	l.mu.Lock()
	l.cmds = append(l.cmds, c)
	l.mu.Unlock()
	for l.hard.Err() == nil {
		c.attempts++
		status, sub, err := l.send(c)
		switch {
		case err != nil:
			l.transport.Add(1)
		case status >= 200 && status < 300:
			now := time.Now()
			l.mu.Lock()
			c.answers = append(c.answers, sub)
			if c.status == 0 {
				c.status, c.acked = status, now
				l.ackTimes = append(l.ackTimes, now)
				if c.kind == cmdReferral {
					l.referrals = append(l.referrals, sub.ID)
				}
			}
			l.mu.Unlock()
			if c.attempts > 1 {
				l.retriedAcks.Add(1)
			}
			return
		case status == http.StatusServiceUnavailable:
			l.unavailable.Add(1)
		case status == http.StatusTooManyRequests:
			l.throttled.Add(1)
		case status >= 500:
			l.internal.Add(1)
		default:
			l.mu.Lock()
			c.status = status
			l.mu.Unlock()
			return
		}
		select {
		case <-l.hard.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// send sends c once.
func (l *faultLoad) send(c *faultCmd) (int, apitest.Submitted, error) {
	var sub apitest.Submitted
	req, err := http.NewRequestWithContext(l.hard, "POST", l.base+c.path, bytes.NewReader(c.body))
	if err != nil {
		return 0, sub, err
	}
	req.Header.Set("Authorization", "Bearer "+c.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", c.key)
	req.Header.Set("X-Request-ID", c.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, sub, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, sub, err // cut off mid-answer: as good as no answer
	}
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 {
			l.noRetryAfter.Add(1)
		}
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, &sub); err != nil {
			return 0, sub, fmt.Errorf("answer %d is not JSON: %w", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, sub, nil
}

// checkReadsCatchUp asks each link worker's caseload as of the last
// acknowledged write (?min_seq=), as a user reading after the faults
// would: a read model left behind by the faults answers 503 there. It
// tries for up to within and reports through tb a caseload that never
// answered 200.
func (l *faultLoad) checkReadsCatchUp(within time.Duration) {
	l.tb.Helper()
	var last uint64
	l.mu.Lock()
	for _, c := range l.cmds {
		for _, a := range c.answers {
			last = max(last, a.Sequence)
		}
	}
	l.mu.Unlock()
	for worker, key := range l.lw {
		deadline := time.Now().Add(within)
		status := 0
		for status != http.StatusOK && time.Now().Before(deadline) {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/caseloads/%s?min_seq=%d", l.base, worker, last), nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := l.client.Do(req); err == nil {
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != http.StatusOK {
				time.Sleep(500 * time.Millisecond)
			}
		}
		if status != http.StatusOK {
			l.tb.Errorf("worker %s's caseload as of sequence %d (the last acknowledged write): %d for %v after the faults, want 200", worker, last, status, within)
		}
	}
	l.awaitViewsLive(within)
}

// viewNotLive matches a read model or view on /metrics still catching up
// or behind the log.
var viewNotLive = regexp.MustCompile(`(?m)^pathway_projection_(live\{[^}]*\} 0|lag_events\{[^}]*\} [1-9])`)

// awaitViewsLive waits until every read model and view of the process has
// caught up with the log (its /metrics), so that a clean stop then has
// something of each to checkpoint: one still reading the log when stopped
// has applied nothing and writes no checkpoint, rightly.
func (l *faultLoad) awaitViewsLive(within time.Duration) {
	l.tb.Helper()
	behind := "no answer"
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("GET", l.base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+l.ops)
		resp, err := l.client.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			behind = fmt.Sprintf("/metrics answered %d", resp.StatusCode)
			continue
		}
		if m := viewNotLive.FindString(string(b)); m != "" {
			behind = m
			continue
		}
		return
	}
	l.tb.Errorf("the read models did not catch up with the log within %v: %s", within, behind)
}

// faultTally is what the checker found.
type faultTally struct {
	Commands, Acknowledged, Refused, Unresolved int
	ByKind                                      map[string]int // acknowledged, by command
	RetriedAcks                                 int64          // acknowledged after a failed attempt
	Lost, Duplicated, Unacknowledged            int
	Unavailable, Throttled, Internal, Transport int64
	NoRetryAfter                                int64
}

func (f faultTally) String() string {
	return fmt.Sprintf("commands %d: acknowledged %d %v (%d after a retry), refused %d, unresolved %d; lost %d, duplicated %d, stored but refused %d; "+
		"answers of 503 %d, 429 %d, 500 %d, no answer %d; 503/429 without Retry-After %d",
		f.Commands, f.Acknowledged, f.ByKind, f.RetriedAcks, f.Refused, f.Unresolved, f.Lost, f.Duplicated, f.Unacknowledged,
		f.Unavailable, f.Throttled, f.Internal, f.Transport, f.NoRetryAfter)
}

// check reads the whole log (again, while it meets an election) and
// reports, through tb, every acknowledged command that is not in it
// exactly once, every retry answered otherwise than the first answer,
// every refused command that left an event, every unresolved command, any
// 500, and any 503 or 429 without Retry-After.
func (l *faultLoad) check(store *events.Store) faultTally {
	tb := l.tb
	tb.Helper()
	types := make([]string, 0, len(primaryEvent))
	for _, t := range primaryEvent {
		types = append(types, t)
	}
	// Every event of this load's commands, by correlation id: type and
	// sequence.
	type ev struct {
		typ string
		seq uint64
	}
	var byKey map[string][]ev
	var err error
	for attempt := 0; attempt == 0 || err != nil && attempt < 30; attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		byKey, err = map[string][]ev{}, nil
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for rec, rerr := range store.ReadWith(ctx, events.ReadOptions{From: 1, Types: types}) {
			if rerr != nil {
				err = rerr
				break
			}
			if rec.Envelope == nil || rec.Payload == nil {
				continue
			}
			if k := rec.Envelope.GetCorrelationId(); len(k) > len(l.prefix) && k[:len(l.prefix)+1] == l.prefix+"-" {
				byKey[k] = append(byKey[k], ev{rec.Type, rec.Sequence})
			}
		}
		cancel()
	}
	if err != nil {
		tb.Fatalf("reading the log back: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := faultTally{Commands: len(l.cmds), RetriedAcks: l.retriedAcks.Load(), Unavailable: l.unavailable.Load(), Throttled: l.throttled.Load(),
		Internal: l.internal.Load(), Transport: l.transport.Load(), NoRetryAfter: l.noRetryAfter.Load(), ByKind: map[string]int{}}
	seen := map[string]bool{}
	for _, c := range l.cmds {
		seen[c.key] = true
		var found []uint64
		for _, e := range byKey[c.key] {
			if e.typ == primaryEvent[c.kind] {
				found = append(found, e.seq)
			}
		}
		switch {
		case c.status == 0:
			f.Unresolved++
			tb.Errorf("%s %s was never answered (%d attempts)", c.kind, c.key, c.attempts)
		case c.status/100 == 2:
			f.Acknowledged++
			f.ByKind[c.kind]++
			if len(found) == 0 {
				f.Lost++
				tb.Errorf("%s %s was acknowledged (%d, sequence %d) but is not in the log", c.kind, c.key, c.status, c.answers[0].Sequence)
			}
			if len(found) > 1 {
				f.Duplicated++
				tb.Errorf("%s %s is in the log %d times (sequences %v)", c.kind, c.key, len(found), found)
			}
			if len(found) == 1 && c.answers[0].Sequence != found[0] {
				tb.Errorf("%s %s was acknowledged at sequence %d, its event is at %d", c.kind, c.key, c.answers[0].Sequence, found[0])
			}
			for _, a := range c.answers[1:] {
				if a.ID != c.answers[0].ID || a.Sequence != c.answers[0].Sequence {
					tb.Errorf("%s %s: a retry answered %s at %d, the first answer %s at %d", c.kind, c.key, a.ID, a.Sequence, c.answers[0].ID, c.answers[0].Sequence)
				}
			}
		default:
			f.Refused++
			if len(found) > 0 {
				f.Unacknowledged++
				tb.Errorf("%s %s was refused with %d but is in the log at %v", c.kind, c.key, c.status, found)
			}
		}
	}
	for k, evs := range byKey {
		if !seen[k] {
			tb.Errorf("events %v carry the key %s of no command sent", evs, k)
		}
	}
	if f.Internal > 0 {
		tb.Errorf("%d answers of 500 during the faults, want 503 with Retry-After", f.Internal)
	}
	if f.NoRetryAfter > 0 {
		tb.Errorf("%d answers of 503 or 429 without a Retry-After of at least 1 second", f.NoRetryAfter)
	}
	return f
}

// checkReadModels compares the checkpoint of every read model pathway
// keeps (rebuild.go's readModels) with a replay of the log from sequence
// 1 to the checkpoint's sequence, as `pathway rebuild` makes it. Run it
// after pathway stopped cleanly, which checkpoints every engine, so the
// checkpoints hold what the running pathway held: a state carried through
// the faults by restarts from earlier checkpoints. master opens the data
// keys for the read models that read personal data.
func checkReadModels(tb testing.TB, js jetstream.JetStream, master keyring.Master) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ring, err := openDataKeys(ctx, js, master, 1)
	if err != nil {
		tb.Fatal(err)
	}
	store := events.New(js, events.Options{Keys: ring})
	obj, err := projections.OpenCheckpoints(ctx, js, 1)
	if err != nil {
		tb.Fatal(err)
	}
	for name, newModel := range readModels {
		data, err := obj.GetBytes(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			// An engine that never applied an event writes none: then a
			// rebuild must be empty too.
			rebuilt := newModel()
			if _, err := projections.Replay(ctx, store, rebuilt, 0, nil); err != nil {
				tb.Fatalf("replay %s: %v", name, err)
			}
			if got, want := canonicalState(tb, newModel()), canonicalState(tb, rebuilt); got != want {
				tb.Errorf("read model %s has no checkpoint after a clean stop, and its rebuild is not empty: %.400s", name, want)
			}
			continue
		}
		if err != nil {
			tb.Fatalf("checkpoint of %s: %v", name, err)
		}
		_, seq, state, err := projections.DecodeCheckpoint(data)
		if err != nil {
			tb.Fatalf("checkpoint of %s: %v", name, err)
		}
		running := newModel()
		if err := running.Restore(bytes.NewReader(state)); err != nil {
			tb.Fatalf("checkpoint of %s: %v", name, err)
		}
		rebuilt := newModel()
		if _, err := projections.Replay(ctx, store, rebuilt, seq, nil); err != nil {
			tb.Fatalf("replay %s to %d: %v", name, seq, err)
		}
		got, want := canonicalState(tb, running), canonicalState(tb, rebuilt)
		if got != want {
			at := 0
			for at < min(len(got), len(want)) && got[at] == want[at] {
				at++
			}
			from := max(at-200, 0)
			tb.Errorf("read model %s at sequence %d differs from its rebuild at byte %d:\nrunning: …%.400s\nrebuilt: …%.400s", name, seq, at, got[from:], want[from:])
		}
	}
}

// canonicalState is p's snapshot with the order of lists set aside: some
// read models write a map's entries as a list in the map's (random) order.
func canonicalState(tb testing.TB, p projections.Projection) string {
	tb.Helper()
	var buf bytes.Buffer
	if err := p.Snapshot(&buf); err != nil {
		tb.Fatalf("snapshot %s: %v", p.Name(), err)
	}
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		tb.Fatalf("snapshot %s is not JSON: %v", p.Name(), err)
	}
	var sortLists func(v any) any
	sortLists = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = sortLists(e)
			}
		case []any:
			keys := make([]string, len(x))
			for i, e := range x {
				b, _ := json.Marshal(sortLists(e))
				keys[i] = string(b)
			}
			slices.Sort(keys)
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = json.RawMessage(k)
			}
			return out
		}
		return v
	}
	out, _ := json.Marshal(sortLists(v))
	return string(out)
}
