package events

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultCacheRecords is how many decoded events the store keeps in memory
// for loads (Options.CacheRecords), across all aggregates: about 50 to
// 100 MB of typical events.
const DefaultCacheRecords = 100_000

// jsNoMessageFound is JetStream's error code for a get that found nothing.
const jsNoMessageFound = 10037

// lastOnLeader returns the stream sequence of the last message on subject
// (a literal subject), 0 when there is none. It asks through the
// JetStream API, which only the stream's leader answers, never through a
// direct get, which any replica may answer while it lags: so a load that
// starts from it sees every write acknowledged before it was called.
func (s *Store) lastOnLeader(ctx context.Context, subject string) (uint64, error) {
	return s.leaderGet(ctx, msgGet{LastFor: subject, NoHdr: true})
}

// NextSequenceOn returns the stream sequence of the first event on
// subject (a wildcard such as TypeSubject("handoff") too) at or after
// from, 0 when there is none yet. The stream leader answers. It costs a
// scan from from on, so it suits a reader close to the end of the log
// asking whether anything on its subject came since.
func (s *Store) NextSequenceOn(ctx context.Context, subject string, from uint64) (uint64, error) {
	seq, err := s.leaderGet(ctx, msgGet{Seq: max(from, 1), NextFor: subject, NoHdr: true})
	if err != nil {
		return 0, fmt.Errorf("next sequence on %s: %w", subject, err)
	}
	return seq, nil
}

// msgGet is a JetStream message get request.
type msgGet struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	NoHdr   bool   `json:"no_hdr,omitempty"`
}

// leaderWait bounds how long leaderGet waits for a stream leader.
const leaderWait = 10 * time.Second

// leaderGet asks the stream leader for one message and returns its
// sequence, 0 when none matches. While the stream has no leader (an
// election) it asks again, for up to leaderWait, then fails with
// ErrUnavailable.
func (s *Store) leaderGet(ctx context.Context, get msgGet) (uint64, error) {
	req, err := json.Marshal(get)
	if err != nil {
		return 0, err
	}
	return untilLeader(ctx, func(ctx context.Context) (uint64, error) { return s.leaderGetOnce(ctx, req) })
}

// untilLeader calls ask, each time with 1 s to answer, while it fails as
// the log does during a leader election: for up to leaderWait, waiting
// 20 ms doubling to 250 ms in between, then it fails with ErrUnavailable.
// A question sent to a leader that has just died is never answered: the
// short waits ask the new leader soon after it is elected.
func untilLeader(ctx context.Context, ask func(ctx context.Context) (uint64, error)) (uint64, error) {
	deadline := time.Now().Add(leaderWait)
	wait := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		seq, err := ask(actx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return seq, err
		}
		if time.Now().Add(wait).After(deadline) {
			return 0, fmt.Errorf("%w: no stream leader answered within %v (%w)", ErrUnavailable, leaderWait, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

func (s *Store) leaderGetOnce(ctx context.Context, req []byte) (uint64, error) {
	msg, err := s.js.Conn().RequestWithContext(ctx, s.apiPrefix+"STREAM.MSG.GET."+s.stream, req)
	if err != nil {
		return 0, err
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Sequence uint64 `json:"seq"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("message get: bad answer: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == jsNoMessageFound {
			return 0, nil
		}
		return 0, &jetstream.APIError{Code: resp.Error.Code, ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
	}
	if resp.Message == nil {
		return 0, errors.New("message get: empty answer")
	}
	return resp.Message.Sequence, nil
}

// load returns the aggregate's records and version as the stream leader
// has them. It asks the leader for the aggregate's last sequence, takes
// what the cache already holds, and reads only the events after it; a
// replica that answers the read before it has caught up is asked again,
// so the result always reaches the leader's version.
func (s *Store) load(ctx context.Context, agg Aggregate) ([]Record, uint64, error) {
	last, err := s.lastOnLeader(ctx, agg.Subject())
	if err != nil {
		return nil, 0, err
	}
	if last == 0 {
		return nil, 0, nil
	}
	recs, version, epoch := s.cache.get(agg)
	if version > last {
		// The cache is ahead of the log: only a stream recreated under a
		// running process does that. Start again.
		recs, version = nil, 0
	}
	if version == last {
		return recs, version, nil
	}
	more, err := s.readAfter(ctx, agg, version, last)
	if err != nil {
		return nil, 0, err
	}
	recs = append(slices.Clip(recs), more...)
	version = last
	s.cache.put(agg, recs, version, epoch)
	return recs, version, nil
}

// readAfter reads the aggregate's events after sequence version up to
// last, the leader's last sequence on its subject. A replica that answers
// before it has stored what the leader has is asked again.
func (s *Store) readAfter(ctx context.Context, agg Aggregate, version, last uint64) ([]Record, error) {
	var recs []Record
	for attempt := 0; ; attempt++ {
		raw, _, err := s.loadRaw(ctx, agg, version+1)
		if err != nil {
			return nil, err
		}
		for _, m := range raw {
			if m.Sequence > last {
				break
			}
			rec, err := s.decode(ctx, m.Sequence, m.Subject, m.Header.Get(HeaderEventType), m.Data, true)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
			version = m.Sequence
		}
		if version >= last {
			return recs, nil
		}
		if attempt == 50 {
			return nil, fmt.Errorf("load %s: the replica answering has not reached sequence %d: %w", agg, last, ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 2 * time.Millisecond):
		}
	}
}

// recordCache keeps the decoded events of recently loaded aggregates, so a
// load reads only what came after. It holds at most max records in all,
// dropping the least recently used aggregates. Record slices it hands out
// are never changed afterwards (an extension copies), so callers may keep
// them. It is safe for concurrent use.
//
// A drop (the aggregate's key destroyed) must not be undone by a load that
// began before it and puts what it opened after: every drop starts a new
// epoch, and a put of a load begun in an earlier one is refused.
type recordCache struct {
	mu    sync.Mutex
	max   int
	n     int
	epoch uint64
	lru   *list.List // of *cacheEntry, most recent first
	byAgg map[Aggregate]*list.Element
}

type cacheEntry struct {
	agg     Aggregate
	recs    []Record
	version uint64
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, lru: list.New(), byAgg: map[Aggregate]*list.Element{}}
}

// get returns the records kept of agg, their version, and the epoch to
// give put with what is read after them.
func (c *recordCache) get(agg Aggregate) ([]Record, uint64, uint64) {
	if c.max <= 0 {
		return nil, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byAgg[agg]
	if !ok {
		return nil, 0, c.epoch
	}
	c.lru.MoveToFront(el)
	e := el.Value.(*cacheEntry)
	return e.recs, e.version, c.epoch
}

// put keeps recs as agg's records at version, unless a drop came after
// the get that returned epoch.
func (c *recordCache) put(agg Aggregate, recs []Record, version, epoch uint64) {
	if c.max <= 0 || len(recs) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return // the load began before a drop: what it opened may be erased
	}
	if el, ok := c.byAgg[agg]; ok {
		e := el.Value.(*cacheEntry)
		if e.version >= version {
			return // a concurrent load already stored as much
		}
		c.n += len(recs) - len(e.recs)
		e.recs, e.version = slices.Clip(recs), version
		c.lru.MoveToFront(el)
	} else {
		c.byAgg[agg] = c.lru.PushFront(&cacheEntry{agg: agg, recs: slices.Clip(recs), version: version})
		c.n += len(recs)
	}
	for c.n > c.max {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.byAgg, e.agg)
		c.n -= len(e.recs)
	}
}

func (c *recordCache) drop(agg Aggregate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if el, ok := c.byAgg[agg]; ok {
		c.n -= len(el.Value.(*cacheEntry).recs)
		c.lru.Remove(el)
		delete(c.byAgg, agg)
	}
}
