package events

import (
	"container/list"
	"context"
	"maps"
	"sync"
)

// DefaultSnapshots is how many aggregate states the store keeps in memory
// for kinds that can copy their state (Kind.Clone), across those kinds.
const DefaultSnapshots = 10_000

// snapshot is an aggregate's state kept between loads: the state, the
// version it reflects, and the last event of each idempotency key it saw.
type snapshot struct {
	state   any
	version uint64
	keys    map[string]keyed
}

// keyed is the last event of one command on an aggregate.
type keyed struct {
	seq uint64
	typ string
}

// snapshotCache keeps the states of recently loaded aggregates, least
// recently used dropped first. The states it holds are never changed: a
// load applies new events to a copy. It is safe for concurrent use.
//
// As for the record cache, a put of a load begun before a drop is refused
// (epoch).
type snapshotCache struct {
	mu    sync.Mutex
	max   int
	epoch uint64
	lru   *list.List // of *snapshotEntry, most recent first
	byAgg map[Aggregate]*list.Element
}

type snapshotEntry struct {
	agg  Aggregate
	snap snapshot
}

func newSnapshotCache(max int) *snapshotCache {
	return &snapshotCache{max: max, lru: list.New(), byAgg: map[Aggregate]*list.Element{}}
}

// get returns the snapshot kept of agg, if any, and the epoch to give put.
func (c *snapshotCache) get(agg Aggregate) (snapshot, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byAgg[agg]
	if !ok {
		return snapshot{}, false, c.epoch
	}
	c.lru.MoveToFront(el)
	return el.Value.(*snapshotEntry).snap, true, c.epoch
}

func (c *snapshotCache) put(agg Aggregate, snap snapshot, epoch uint64) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return // the load began before a drop
	}
	if el, ok := c.byAgg[agg]; ok {
		e := el.Value.(*snapshotEntry)
		if e.snap.version < snap.version {
			e.snap = snap
		}
		c.lru.MoveToFront(el)
		return
	}
	c.byAgg[agg] = c.lru.PushFront(&snapshotEntry{agg: agg, snap: snap})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.byAgg, el.Value.(*snapshotEntry).agg)
	}
}

// loadState returns the state of the aggregate of kind k with id as the
// stream leader has it, its version, and, when keyHash is not empty and
// the aggregate carries that idempotency key, the original command as a
// *Retry. For a kind with Clone it starts from the state kept at the last
// load and applies only the events since; otherwise it folds the
// aggregate's events (which the store's record cache keeps).
func loadState[S any](ctx context.Context, s *Store, k Kind[S], id, keyHash string) (S, uint64, *Retry, error) {
	var zero S
	agg := k.Aggregate(id)
	if k.Clone == nil {
		recs, version, err := s.load(ctx, agg)
		if err != nil {
			return zero, 0, nil, err
		}
		var retry *Retry
		if keyHash != "" {
			for i := len(recs) - 1; i >= 0; i-- {
				if recs[i].Envelope.GetIdempotencyKeyHash() == keyHash {
					retry = &Retry{Sequence: recs[i].Sequence, Type: recs[i].Type}
					break
				}
			}
		}
		return k.fold(id, recs), version, retry, nil
	}
	last, err := s.lastOnLeader(ctx, agg.Subject())
	if err != nil {
		return zero, 0, nil, err
	}
	st, version, keys := k.New(id), uint64(0), map[string]keyed{}
	snap, ok, epoch := s.snapshots.get(agg)
	if ok && snap.version <= last {
		st, version, keys = k.Clone(snap.state.(S)), snap.version, maps.Clone(snap.keys)
	}
	if version < last {
		recs, err := s.readAfter(ctx, agg, version, last)
		if err != nil {
			return zero, 0, nil, err
		}
		for _, r := range recs {
			k.Apply(st, r)
			if h := r.Envelope.GetIdempotencyKeyHash(); h != "" {
				keys[h] = keyed{seq: r.Sequence, typ: r.Type}
			}
		}
		version = last
		s.snapshots.put(agg, snapshot{state: k.Clone(st), version: version, keys: keys}, epoch)
	}
	var retry *Retry
	if kd, ok := keys[keyHash]; ok && keyHash != "" {
		retry = &Retry{Sequence: kd.seq, Type: kd.typ}
	}
	return st, version, retry, nil
}

func (c *snapshotCache) drop(agg Aggregate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if el, ok := c.byAgg[agg]; ok {
		c.lru.Remove(el)
		delete(c.byAgg, agg)
	}
}
