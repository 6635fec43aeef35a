package events

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readPage is how many messages Read asks the server for at a time (the
// pull batch of its ordered consumer).
const readPage = 4096

// LastSequence returns the stream sequence of the last event in the log,
// 0 when the log is empty. While a cluster elects the stream's leader it
// asks again, for up to 10 s, then fails with ErrUnavailable.
func (s *Store) LastSequence(ctx context.Context) (uint64, error) {
	st, err := s.streamHandle(ctx)
	if err != nil {
		return 0, fmt.Errorf("last sequence: %w", err)
	}
	last, err := untilLeader(ctx, func(ctx context.Context) (uint64, error) {
		info, err := st.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.State.LastSeq, nil
	})
	if err != nil {
		return 0, fmt.Errorf("last sequence: %w", err)
	}
	return last, nil
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
//
// It reads with an ordered consumer (no durable state on the server; it is
// deleted at the end) pulling readPage events at a time: the server sends
// stored messages as they are, which costs it far less than direct gets.
func (s *Store) Read(ctx context.Context, from uint64, subject string) iter.Seq2[Record, error] {
	return s.ReadWith(ctx, ReadOptions{From: from, Subject: subject})
}

// ReadOptions select what ReadWith reads.
type ReadOptions struct {
	// From is the first stream sequence; 0 or 1 for the start.
	From uint64
	// To is the last stream sequence; 0 (or a sequence past the end) for
	// the last event at the time of the call.
	To uint64
	// Subject filters the events, e.g. TypeSubject("referral"); empty
	// means all.
	Subject string
	// Types, when not empty, lists the only event types (full protobuf
	// names, e.g. "pathway.v1.ReferralReceived") the reader uses. An event
	// whose Pathway-Event-Type header names another type is yielded without
	// decoding its body: a Record with only Sequence, Aggregate and Type
	// set (no Envelope, no Payload), never with a *DecodeError unless its
	// subject is not an event's. Events of the listed types, and any
	// without the header, are decoded and checked as in Read.
	Types []string
	// Open yields events with their sealed (personal) fields opened (see
	// Keys); without it a reader sees the fields kept in clear, and needs
	// no data keys. Read models that show no personal data leave it off.
	Open bool
	// Positions (SubscribeWith only) also yields, before the subscription
	// waits for new events, a Record with only a Sequence for the last
	// event passed over by Subject, so the subscriber knows it reflects the
	// log up to there.
	Positions bool
}

// ReadWith is Read with options: an end sequence and event types to skip
// decoding.
func (s *Store) ReadWith(ctx context.Context, opts ReadOptions) iter.Seq2[Record, error] {
	return s.read(ctx, opts.From, opts.To, opts.Subject, typeSet(opts.Types), opts.Open)
}

// typeSet is the set of event types to decode; nil (every type) for none.
func typeSet(types []string) map[string]bool {
	if len(types) == 0 {
		return nil
	}
	want := make(map[string]bool, len(types))
	for _, t := range types {
		want[t] = true
	}
	return want
}

// read reads from..to (0: the end), decoding only the types in want (all
// when nil).
func (s *Store) read(ctx context.Context, from, to uint64, subject string, want map[string]bool, open bool) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		// Copies: the sequence may be iterated more than once.
		from, subject := from, subject
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
		if to != 0 && to < last {
			last = to
		}
		if from > last {
			return
		}
		fail := func(err error) { yield(Record{}, fmt.Errorf("read from %d: %w", from, err)) }
		cfg := jetstream.OrderedConsumerConfig{
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       from,
			InactiveThreshold: time.Minute,
		}
		// The server filters a wildcard by walking the store message by
		// message, several times slower than sending everything: the
		// aggregate-type filter (pathway.<type>.*) is applied here, on the
		// subject, before any decoding.
		only := aggregateTypeOf(subject)
		if subject != AllSubjects && only == "" {
			cfg.FilterSubjects = []string{subject}
		}
		cons, err := s.js.OrderedConsumer(ctx, s.stream, cfg)
		if err != nil {
			fail(err)
			return
		}
		msgs, err := cons.Messages(jetstream.PullMaxMessages(readPage))
		if err != nil {
			fail(err)
			return
		}
		defer func() {
			msgs.Stop()
			// The server would drop the consumer after its inactive
			// threshold; deleting it now keeps repeated reads from piling
			// them up.
			if info := cons.CachedInfo(); info != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_ = s.js.DeleteConsumer(dctx, s.stream, info.Name)
				cancel()
			}
		}()
		stop := context.AfterFunc(ctx, msgs.Stop)
		defer stop()
		// With a filter on the server, NumPending counts what is left on
		// the subject, and 0 means the read is done (the consumer would
		// wait). Without one the read goes on to last, whatever the count
		// says: a consumer on a cluster's new leader can report nothing
		// pending for a moment while events up to last exist, and ending
		// there would skip them without a word.
		serverFiltered := len(cfg.FilterSubjects) > 0
		done := func(seq, pending uint64) bool { return seq >= last || serverFiltered && pending == 0 }
		if info := cons.CachedInfo(); info != nil && serverFiltered && info.NumPending == 0 {
			return
		}
		for {
			m, err := msgs.Next()
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				fail(err)
				return
			}
			meta, err := m.Metadata()
			if err != nil {
				fail(err)
				return
			}
			seq := meta.Sequence.Stream
			if seq > last {
				return
			}
			from = seq + 1
			if only != "" {
				if agg, ok := aggregateOf(m.Subject()); !ok || agg.Type != only {
					if done(seq, meta.NumPending) {
						return
					}
					continue
				}
			}
			var rec Record
			headerType := m.Headers().Get(HeaderEventType)
			if want != nil && headerType != "" && !want[headerType] {
				agg, ok := aggregateOf(m.Subject())
				if ok {
					rec = Record{Sequence: seq, Aggregate: agg, Type: headerType}
				} else {
					rec, err = Record{Sequence: seq}, &DecodeError{Sequence: seq, Subject: m.Subject(),
						Err: fmt.Errorf("%w: subject is not pathway.<aggregate>.<id>", ErrCorrupt)}
				}
			} else {
				rec, err = s.decode(ctx, seq, m.Subject(), headerType, m.Data(), open)
				if err != nil {
					rec = Record{Sequence: seq}
				}
			}
			if !yield(rec, err) || done(seq, meta.NumPending) {
				return
			}
		}
	}
}

// aggregateTypeOf returns the aggregate type of a subject of the form
// TypeSubject(type), "" for any other.
func aggregateTypeOf(subject string) string {
	t, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if !ok {
		return ""
	}
	t, ok = strings.CutSuffix(t, ".*")
	if !ok || t == "" || strings.ContainsAny(t, ".*>") {
		return ""
	}
	return t
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
	return s.SubscribeWith(ctx, ReadOptions{From: from, Subject: subject})
}

// SubscribeWith is Subscribe with options: From, Subject, Types and Open
// as in ReadWith, and Positions (To is not used).
func (s *Store) SubscribeWith(ctx context.Context, opts ReadOptions) iter.Seq2[Record, error] {
	if shareable(opts.Subject) {
		return s.subscribeShared(ctx, opts)
	}
	return s.subscribeOwn(ctx, opts)
}

// subscribeOwn is SubscribeWith on an ordered consumer of its own, for a
// subject the shared tail does not filter (Types and Positions unused).
func (s *Store) subscribeOwn(ctx context.Context, opts ReadOptions) iter.Seq2[Record, error] {
	from, subject, open := opts.From, opts.Subject, opts.Open
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
			rec, err := s.decode(ctx, seq, m.Subject(), m.Headers().Get(HeaderEventType), m.Data(), open)
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
