package events

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// readPage is how many messages one direct batch get of Read returns.
const readPage = 4096

// LastSequence returns the stream sequence of the last event in the log,
// 0 when the log is empty.
func (s *Store) LastSequence(ctx context.Context) (uint64, error) {
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return 0, fmt.Errorf("last sequence: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("last sequence: %w", err)
	}
	return info.State.LastSeq, nil
}

// LastSequenceOn returns the stream sequence of the last event on subject
// (which may be a wildcard such as TypeSubject("referral")), 0 when there
// is none. It is the scopeSeq a caller of Create decides from.
func (s *Store) LastSequenceOn(ctx context.Context, subject string) (uint64, error) {
	msg, err := s.getLast(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last sequence on %s: %w", subject, err)
	}
	return msg.Sequence, nil
}

// Read yields the events of the log in order, from stream sequence from
// (1 or 0 for the start) up to the last event at the time of the call,
// optionally only those on subject (a wildcard such as
// TypeSubject("referral"); empty means all).
//
// An event that cannot be decoded is yielded with a *DecodeError and an
// otherwise empty Record but for its Sequence: the caller may go on
// (skip it) or stop. Any other error is yielded once and ends the
// iteration.
func (s *Store) Read(ctx context.Context, from uint64, subject string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if subject == "" {
			subject = AllSubjects
		}
		if from == 0 {
			from = 1
		}
		last, err := s.LastSequence(ctx)
		if err != nil {
			yield(Record{}, err)
			return
		}
		// One goroutine fetches batches while this one decodes, so the
		// server's work and the decoding overlap.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		type item struct {
			m   *jetstream.RawStreamMsg
			err error
		}
		raw := make(chan []item, 4)
		go func() {
			defer close(raw)
			for from <= last {
				it, err := jetstreamext.GetBatch(ctx, s.js, s.stream, readPage,
					jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(subject))
				if err != nil {
					raw <- []item{{err: fmt.Errorf("read from %d: %w", from, err)}}
					return
				}
				batch := make([]item, 0, readPage)
				done := false
				for m, err := range it {
					if errors.Is(err, jetstreamext.ErrNoMessages) {
						done = true
						break
					}
					if err != nil {
						batch = append(batch, item{err: fmt.Errorf("read from %d: %w", from, err)})
						done = true
						break
					}
					if m.Sequence > last {
						done = true
						break
					}
					from = m.Sequence + 1
					batch = append(batch, item{m: m})
				}
				if len(batch) == 0 {
					return
				}
				select {
				case raw <- batch:
				case <-ctx.Done():
					return
				}
				if done {
					return
				}
			}
		}()
		for batch := range raw {
			for _, it := range batch {
				if it.err != nil {
					yield(Record{}, it.err)
					return
				}
				m := it.m
				rec, err := Decode(m.Sequence, m.Subject, m.Header.Get(HeaderEventType), m.Data)
				if err != nil {
					rec = Record{Sequence: m.Sequence}
				}
				if !yield(rec, err) {
					return
				}
			}
		}
	}
}

// Subscribe yields the events of the log in order from stream sequence
// from, optionally only those on subject, and then every new event as it
// is appended, until ctx ends. It keeps no state on the server (an ordered
// consumer); a subscriber resumes by calling again with its last sequence
// plus one.
//
// Decode errors are yielded as in Read. Subscribe ends, without an error,
// when ctx ends; any other error is yielded once and ends it.
func (s *Store) Subscribe(ctx context.Context, from uint64, subject string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
		if subject != "" {
			cfg.FilterSubjects = []string{subject}
		}
		if from > 1 {
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = from
		}
		cons, err := s.js.OrderedConsumer(ctx, s.stream, cfg)
		if err != nil {
			yield(Record{}, fmt.Errorf("subscribe from %d: %w", from, err))
			return
		}
		msgs, err := cons.Messages()
		if err != nil {
			yield(Record{}, fmt.Errorf("subscribe from %d: %w", from, err))
			return
		}
		stop := context.AfterFunc(ctx, msgs.Stop)
		defer stop()
		defer msgs.Stop()
		for {
			m, err := msgs.Next()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				yield(Record{}, fmt.Errorf("subscribe: %w", err))
				return
			}
			meta, err := m.Metadata()
			if err != nil {
				yield(Record{}, fmt.Errorf("subscribe: %w", err))
				return
			}
			seq := meta.Sequence.Stream
			rec, err := Decode(seq, m.Subject(), m.Headers().Get(HeaderEventType), m.Data())
			if err != nil {
				rec = Record{Sequence: seq}
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// TimeOf returns when the event at stream sequence seq was recorded by the
// stream. Errors: ErrNotFound when there is no such event.
func (s *Store) TimeOf(ctx context.Context, seq uint64) (time.Time, error) {
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return time.Time{}, err
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return time.Time{}, fmt.Errorf("event %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("event %d: %w", seq, err)
	}
	return m.Time, nil
}
