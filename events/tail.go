package events

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// tailKeep is how many of the newest events the shared tail keeps for its
// subscribers; one that falls further behind reads the gap from the log.
// (A variable for the tests.)
var tailKeep = 8192

// tailBatch is how many kept events a subscriber takes at a time.
const tailBatch = 512

// tail is a store's one live reader of the log. Every subscription of the
// store that filters at most by aggregate type (Subscribe, SubscribeWith:
// the projection engines of a process) follows it instead of a consumer of
// its own, so the server sends each new event to the process once, and the
// process decodes it once, however many read models follow the log. It
// runs while it has subscribers.
type tail struct {
	s *Store

	mu    sync.Mutex
	recs  []tailRecord // the newest events, in order
	base  uint64       // every event from base on is in recs or still to come
	next  uint64       // the sequence after the last event read
	wake  chan struct{}
	users int
	stop  context.CancelFunc
}

// tailRecord is one event as the tail decoded it (sealed fields closed).
type tailRecord struct {
	rec Record
	err error // a *DecodeError, with rec holding only the sequence
}

// joinTail returns the store's tail, started at sequence from when it is
// not running; leaveTail must be called when the subscriber is done.
func (s *Store) joinTail(from uint64) *tail {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	if s.tail == nil {
		ctx, cancel := context.WithCancel(context.Background())
		t := &tail{s: s, base: from, next: from, wake: make(chan struct{}), stop: cancel}
		go t.run(ctx)
		s.tail = t
	}
	s.tail.users++
	return s.tail
}

// leaveTail ends a subscriber's use of t, stopping it after the last.
func (s *Store) leaveTail(t *tail) {
	s.tailMu.Lock()
	defer s.tailMu.Unlock()
	t.users--
	if t.users == 0 {
		t.stop()
		if s.tail == t {
			s.tail = nil
		}
	}
}

// run reads the log from t.next on with an ordered consumer, until ctx
// ends. A failed consumer (a missed heartbeat, a leader change, the server
// away) is made again after a pause, from where it stopped: subscribers
// only wait.
func (t *tail) run(ctx context.Context) {
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		t.mu.Lock()
		from := t.next
		t.mu.Unlock()
		read := t.follow(ctx, from)
		if read {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// follow reads with one consumer until it fails or ctx ends (run makes
// another, from where it stopped); it reports whether it got any event.
func (t *tail) follow(ctx context.Context, from uint64) (read bool) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := t.s.js.OrderedConsumer(ctx, t.s.stream, cfg)
	if err != nil {
		return false
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(readPage))
	if err != nil {
		return false
	}
	defer context.AfterFunc(ctx, msgs.Stop)()
	defer msgs.Stop()
	for {
		m, err := msgs.Next()
		if err != nil {
			return read
		}
		meta, err := m.Metadata()
		if err != nil {
			return read
		}
		seq := meta.Sequence.Stream
		rec, err := Decode(seq, m.Subject(), m.Headers().Get(HeaderEventType), m.Data())
		if err != nil {
			rec = Record{Sequence: seq}
		}
		t.push(tailRecord{rec: rec, err: err})
		read = true
	}
}

// push keeps r and wakes the subscribers waiting for it.
func (t *tail) push(r tailRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.rec.Sequence < t.next {
		return // a consumer made again delivers nothing twice, but be sure
	}
	if len(t.recs) >= tailKeep {
		drop := len(t.recs) - tailKeep/2
		t.recs = append(t.recs[:0], t.recs[drop:]...)
		t.base = t.recs[0].rec.Sequence
	}
	t.recs = append(t.recs, r)
	t.next = r.rec.Sequence + 1
	close(t.wake)
	t.wake = make(chan struct{})
}

// since returns up to tailBatch kept events from sequence pos on, the
// channel closed when more come, and base: when pos < base, the events
// from pos to base-1 are no longer kept and must be read from the log.
func (t *tail) since(pos uint64) (recs []tailRecord, wake <-chan struct{}, base uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pos < t.base {
		return nil, t.wake, t.base
	}
	i := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].rec.Sequence >= pos })
	end := min(len(t.recs), i+tailBatch)
	return append([]tailRecord(nil), t.recs[i:end]...), t.wake, t.base
}

// shareable reports whether a subscription on subject can follow the
// shared tail: it filters by nothing or by an aggregate type.
func shareable(subject string) bool {
	return subject == "" || subject == AllSubjects || aggregateTypeOf(subject) != ""
}

// subscribeShared is SubscribeWith on the store's tail.
func (s *Store) subscribeShared(ctx context.Context, opts ReadOptions) iter.Seq2[Record, error] {
	only := aggregateTypeOf(opts.Subject)
	want := typeSet(opts.Types)
	return func(yield func(Record, error) bool) {
		pos := max(opts.From, 1)
		t := s.joinTail(pos)
		defer s.leaveTail(t)
		// skipped is the last event passed over by the subject filter and
		// not yet reported (Positions).
		var skipped uint64
		report := func() bool {
			if opts.Positions && skipped != 0 {
				seq := skipped
				skipped = 0
				return yield(Record{Sequence: seq}, nil)
			}
			return true
		}
		for ctx.Err() == nil {
			recs, wake, base := t.since(pos)
			if pos < base {
				// Fallen behind what the tail keeps: read the gap.
				for rec, err := range s.ReadWith(ctx, ReadOptions{From: pos, To: base - 1, Subject: opts.Subject, Types: opts.Types, Open: opts.Open}) {
					var de *DecodeError
					if err != nil && !errors.As(err, &de) {
						if ctx.Err() == nil {
							yield(Record{}, fmt.Errorf("subscribe: %w", err))
						}
						return
					}
					if !yield(rec, err) {
						return
					}
					pos = rec.Sequence + 1
				}
				if ctx.Err() != nil {
					return
				}
				if pos < base {
					skipped = base - 1
					pos = base
					if !report() {
						return
					}
				}
				continue
			}
			if len(recs) == 0 {
				if !report() {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-wake:
				}
				continue
			}
			for _, r := range recs {
				rec, err := r.rec, r.err
				pos = rec.Sequence + 1
				if err == nil && only != "" && rec.Aggregate.Type != only {
					skipped = rec.Sequence
					continue
				}
				switch {
				case err != nil:
				case want != nil && !want[rec.Type]:
					rec = Record{Sequence: rec.Sequence, Aggregate: rec.Aggregate, Type: rec.Type}
				case opts.Open:
					rec, err = s.openShared(ctx, rec)
				}
				if err != nil {
					var de *DecodeError
					if !errors.As(err, &de) {
						yield(Record{}, fmt.Errorf("subscribe: %w", err))
						return
					}
				}
				skipped = 0
				if !yield(rec, err) {
					return
				}
			}
		}
	}
}

// openShared opens the sealed fields of a copy of rec, which the tail
// shares with other subscribers.
func (s *Store) openShared(ctx context.Context, rec Record) (Record, error) {
	if len(rec.Envelope.GetSealed()) == 0 || rec.Payload == nil {
		return rec, nil
	}
	rec.Payload = proto.Clone(rec.Payload)
	if err := s.open(ctx, &rec); err != nil {
		return Record{Sequence: rec.Sequence}, err
	}
	return rec, nil
}
