package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AnyVersion, as the expected version of Append, appends whatever the
// aggregate's version is. Use it only for events that do not depend on the
// aggregate's state.
const AnyVersion = ^uint64(0)

// MaxEventsPerAppend is the most events one Append may commit (the server's
// default atomic batch limit is 1,000; a command emitting more is a bug).
const MaxEventsPerAppend = 100

// loadPage is how many messages one direct batch get returns.
const loadPage = 256

// Store is the event log on one JetStream stream. It is safe for concurrent
// use; create it with New after Setup has created the stream.
type Store struct {
	js        jetstream.JetStream
	stream    string
	apiPrefix string
	now       func() time.Time
	newID     func() (uuid.UUID, error)
	cache     *recordCache
	snapshots *snapshotCache
	batches   chan struct{} // a slot per atomic batch in flight
	keys      Keys
	clear     bool
	tracer    trace.Tracer
	onAppend  func(aggregateType string, took time.Duration, err error)
	// full is when the log last refused a write for lack of storage
	// (UnixNano; 0 when the last write since was stored): Refusing.
	full atomic.Int64

	streamMu sync.Mutex
	streamH  jetstream.Stream

	tailMu sync.Mutex
	tail   *tail // the shared live reader, while it has subscribers
}

// Options configure a Store. The zero value of each field picks its default.
type Options struct {
	// Stream is the stream name; default DefaultStream.
	Stream string
	// Now is the clock that stamps recorded_at; default time.Now.
	Now func() time.Time
	// NewID generates event ids; default uuid.NewV7.
	NewID func() (uuid.UUID, error)
	// CacheRecords bounds the decoded events kept in memory so that a
	// load reads only an aggregate's events since it was last loaded;
	// default DefaultCacheRecords, negative for none.
	CacheRecords int
	// Snapshots bounds the aggregate states kept in memory for kinds that
	// can copy them (Kind.Clone); default DefaultSnapshots, negative for
	// none.
	Snapshots int
	// Keys holds the data keys that seal personal fields (see Keys). Nil:
	// an append of an event with a personal field set fails with
	// ErrInvalid, and a read that asks for sealed fields fails.
	Keys Keys
	// Clear appends personal fields in clear, as logs were written before
	// sealing: only for benchmarks that measure what sealing costs, and
	// never set by pathway. Such events cannot be erased.
	Clear bool
	// Tracer makes the spans of appends and of consumers' handling, and
	// the trace context in the events' headers (trace.go); nil: none.
	Tracer trace.TracerProvider
	// OnAppend, when set, is told of each Append once it returns: the
	// aggregate's type (never its id), how long the append took and its
	// error (nil, or one ErrConcurrency may match: a conflict). It is
	// called from the appending goroutine, so it must be quick and safe
	// for concurrent use. The metrics count appends and conflicts with it.
	OnAppend func(aggregateType string, took time.Duration, err error)
}

// New returns a Store on the stream named in opts, using js.
func New(js jetstream.JetStream, opts Options) *Store {
	s := &Store{js: js, stream: opts.Stream, now: opts.Now, newID: opts.NewID, apiPrefix: APIPrefix(js), batches: make(chan struct{}, maxBatchesInFlight), keys: opts.Keys, clear: opts.Clear, tracer: tracerOf(opts.Tracer), onAppend: opts.OnAppend}
	s.snapshots = newSnapshotCache(bound(opts.Snapshots, DefaultSnapshots))
	s.cache = newRecordCache(bound(opts.CacheRecords, DefaultCacheRecords))
	if s.stream == "" {
		s.stream = DefaultStream
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = uuid.NewV7
	}
	return s
}

// Stream returns the name of the store's stream.
func (s *Store) Stream() string { return s.stream }

// bound is a size option's value: def for 0, none (0) for a negative n.
func bound(n, def int) int {
	if n == 0 {
		return def
	}
	return max(n, 0)
}

// APIPrefix is the subject prefix of js's JetStream API requests (with
// its trailing dot), for a request the jetstream package does not make.
func APIPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	}
	return jetstream.DefaultAPIPrefix
}

// streamHandle returns the stream, looked up once (the lookup is a
// request to the server).
func (s *Store) streamHandle(ctx context.Context) (jetstream.Stream, error) {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.streamH != nil {
		return s.streamH, nil
	}
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return nil, err
	}
	s.streamH = st
	return st, nil
}

// Append commits events to the aggregate as one command, all or none, if
// the aggregate's version is expected (0 for an aggregate with no events,
// AnyVersion for no check). It returns the stream sequence of the last
// event, which is the aggregate's new version and the consistency token to
// hand back to the caller.
//
// When the events carry an idempotency key and the same command was already
// appended (its acknowledgement was lost, say), Append appends nothing and
// returns the original sequence, however long ago the original was.
//
// Errors: ErrConcurrency when the version is not expected; ErrInvalid for
// arguments that can never succeed; otherwise the JetStream error, wrapped,
// in which case nothing was appended unless a retry with the same key finds
// the command appended.
func (s *Store) Append(ctx context.Context, agg Aggregate, expected uint64, events ...Event) (uint64, error) {
	if s.onAppend == nil {
		return s.append(ctx, agg, expected, events)
	}
	start := time.Now()
	seq, err := s.append(ctx, agg, expected, events)
	s.onAppend(agg.Type, time.Since(start), err)
	return seq, err
}

// append is Append, unobserved.
func (s *Store) append(ctx context.Context, agg Aggregate, expected uint64, events []Event) (uint64, error) {
	keyHash, msgs, err := s.prepare(ctx, agg, expected == 0, events)
	if err != nil {
		return 0, err
	}

	if expected == AnyVersion && keyHash != "" {
		return s.appendAnyIdempotent(ctx, agg, keyHash, msgs)
	}
	seq, err := s.publish(ctx, agg, expected, msgs)
	if err == nil {
		s.remember(ctx, agg, expected, seq, msgs)
		return seq, nil
	}
	if keyHash == "" {
		return seq, err
	}
	// A retry of a command that made it into the log fails the version
	// check (or the duplicate check): find the original.
	if errors.Is(err, ErrConcurrency) || isDuplicate(err) {
		from := uint64(1)
		if expected != AnyVersion {
			from = expected + 1
		}
		orig, found, ferr := s.findCommand(ctx, agg, keyHash, from)
		if ferr != nil {
			return 0, fmt.Errorf("append to %s: look up earlier attempt: %w", agg, ferr)
		}
		if found {
			return orig, nil
		}
		if isDuplicate(err) {
			return 0, fmt.Errorf("append to %s: duplicate message id on another aggregate: %w", agg, ErrInvalid)
		}
	}
	return 0, err
}

// remember puts events this store just appended to agg at version
// expected, the last of them at sequence last, into the record cache when
// the cache holds the aggregate at expected (or expected is 0, a new
// aggregate): the next load, typically the service that reacts to them,
// then reads nothing from the log. The events of one append have
// consecutive sequences.
func (s *Store) remember(ctx context.Context, agg Aggregate, expected, last uint64, msgs []*nats.Msg) {
	if expected == AnyVersion || uint64(len(msgs)) > last {
		return
	}
	recs, version, epoch := s.cache.get(agg)
	if version != expected {
		return
	}
	recs = slices.Clip(recs)
	first := last - uint64(len(msgs)) + 1
	for i, m := range msgs {
		rec, err := s.decode(ctx, first+uint64(i), m.Subject, m.Header.Get(HeaderEventType), m.Data, true)
		if err != nil {
			return
		}
		recs = append(recs, rec)
	}
	s.cache.put(agg, recs, last, epoch)
}

// prepare checks the arguments of one command and builds its messages.
// fresh says agg has no events yet (its data key, if it needs one, is new).
func (s *Store) prepare(ctx context.Context, agg Aggregate, fresh bool, events []Event) (keyHash string, msgs []*nats.Msg, err error) {
	if err := agg.Validate(); err != nil {
		return "", nil, err
	}
	if len(events) == 0 || len(events) > MaxEventsPerAppend {
		return "", nil, invalidf("append to %s: want 1 to %d events, got %d", agg, MaxEventsPerAppend, len(events))
	}
	key := events[0].IdempotencyKey
	for _, ev := range events[1:] {
		if ev.IdempotencyKey != key {
			return "", nil, invalidf("append to %s: events carry different idempotency keys", agg)
		}
	}
	keyHash = hashKey(key)
	msgs, err = s.messages(ctx, agg, fresh, keyHash, events)
	return keyHash, msgs, err
}

// appendAnyIdempotent appends with no version check but at most once per
// key: it looks for the key among the aggregate's events and appends with
// the version it saw, retrying when another writer came in between.
func (s *Store) appendAnyIdempotent(ctx context.Context, agg Aggregate, keyHash string, msgs []*nats.Msg) (uint64, error) {
	for attempt := 0; attempt < 10; attempt++ {
		recs, version, err := s.loadRaw(ctx, agg, 1)
		if err != nil {
			return 0, fmt.Errorf("append to %s: %w", agg, err)
		}
		if seq, ok := lastWithKey(recs, keyHash); ok {
			return seq, nil
		}
		for _, m := range msgs {
			m.Header.Del(jetstream.ExpectedLastSubjSeqHeader)
		}
		seq, err := s.publish(ctx, agg, version, msgs)
		if errors.Is(err, ErrConcurrency) || isDuplicate(err) {
			continue
		}
		return seq, err
	}
	return 0, fmt.Errorf("append to %s: %w: too much contention", agg, ErrConcurrency)
}

// appendUnchecked appends events with no version check and without
// looking for an earlier attempt among the aggregate's events: for facts a
// command records whatever the aggregate's state (EmitAnyVersion), where a
// second copy after the duplicate window changes nothing. Within the
// window the server drops a repeat by its message id.
func (s *Store) appendUnchecked(ctx context.Context, agg Aggregate, events []Event) (uint64, error) {
	_, msgs, err := s.prepare(ctx, agg, false, events)
	if err != nil {
		return 0, err
	}
	seq, err := s.send(ctx, agg, AnyVersion, msgs)
	if isDuplicate(err) {
		return seq, nil
	}
	return seq, err
}

// messages builds the NATS messages of one command.
func (s *Store) messages(ctx context.Context, agg Aggregate, fresh bool, keyHash string, events []Event) ([]*nats.Msg, error) {
	now := s.now()
	msgs := make([]*nats.Msg, len(events))
	var idBase string
	if keyHash != "" {
		sum := sha256.Sum256([]byte(agg.Subject() + "\x00" + keyHash))
		idBase = hex.EncodeToString(sum[:16])
	}
	for i, ev := range events {
		if ev.Payload == nil {
			return nil, invalidf("append to %s: event %d: event without payload", agg, i+1)
		}
		id := ev.ID
		if id == "" {
			u, err := s.newID()
			if err != nil {
				return nil, fmt.Errorf("append to %s: event id: %w", agg, err)
			}
			id = u.String()
		}
		clear, sealed, keyRef, err := s.seal(ctx, agg, fresh, id, ev.Payload)
		if err != nil {
			return nil, fmt.Errorf("append to %s: event %d: %w", agg, i+1, err)
		}
		payload, err := pack(clear)
		if err != nil {
			return nil, fmt.Errorf("append to %s: event %d: %w", agg, i+1, err)
		}
		occurred := ev.OccurredAt
		if occurred.IsZero() {
			occurred = now
		}
		version := ev.SchemaVersion
		if version == 0 {
			version = 1
		}
		env := &pathwayv1.Envelope{
			EventId:            id,
			AggregateType:      agg.Type,
			AggregateId:        agg.ID,
			EventType:          TypeOf(ev.Payload),
			SchemaVersion:      version,
			OccurredAt:         timestamppb.New(occurred),
			RecordedAt:         timestamppb.New(now),
			Actor:              ev.Actor,
			CorrelationId:      ev.CorrelationID,
			CausationId:        ev.CausationID,
			Payload:            payload,
			IdempotencyKeyHash: keyHash,
			Sealed:             sealed,
			KeyRef:             keyRef,
		}
		msg, err := encode(env, agg.Subject())
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", agg, err)
		}
		if idBase != "" {
			msg.Header.Set(jetstream.MsgIDHeader, idBase+"-"+strconv.Itoa(i))
		} else {
			msg.Header.Set(jetstream.MsgIDHeader, id)
		}
		msgs[i] = msg
	}
	return msgs, nil
}

// publish sends one command: a plain publish for one event, an atomic
// batch for several. The version check rides on the first message.
func (s *Store) publish(ctx context.Context, agg Aggregate, expected uint64, msgs []*nats.Msg) (uint64, error) {
	if expected != AnyVersion {
		msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
	}
	return s.send(ctx, agg, expected, msgs)
}

// publishWait is how long one publish waits for the log's
// acknowledgement. A publish sent to a stream leader that has just died is
// never answered: the command tries again this soon (with the version
// check and the message ids, trying again is safe), so the write stall on
// a leader loss is the election's and not much more (docs/RELIABILITY.md;
// nats.go's default, 5 s, added up to 5 s to it).
const publishWait = 2 * time.Second

// send publishes msgs whose expectations are already set, in a span,
// waiting at most publishWait for the acknowledgement.
func (s *Store) send(ctx context.Context, agg Aggregate, expected uint64, msgs []*nats.Msg) (seq uint64, err error) {
	ctx, span := s.startAppend(ctx, agg, msgs)
	defer func() { endAppend(span, seq, err) }()
	msgs[0].Header.Set(jetstream.ExpectedStreamHeader, s.stream)
	ctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	if len(msgs) == 1 {
		ack, err := s.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return 0, s.publishError(agg, expected, err)
		}
		s.full.Store(0)
		if ack.Duplicate {
			return ack.Sequence, errDuplicate
		}
		return ack.Sequence, nil
	}
	// The server takes a bounded number of atomic batches at once per
	// stream (50 by default) and refuses the rest before storing anything:
	// keep this process's share below that, and wait and try again when
	// other writers fill it.
	select {
	case s.batches <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.batches }()
	for attempt := 0; ; attempt++ {
		ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsAtomicTooManyInflight && attempt < 20 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(attempt+1) * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return 0, s.publishError(agg, expected, err)
		}
		s.full.Store(0)
		return ack.Sequence, nil
	}
}

// jsAtomicTooManyInflight is JetStream's error code for an atomic batch
// refused because the stream has too many open.
const jsAtomicTooManyInflight = 10210

// maxBatchesInFlight bounds the atomic batches one Store has open at once.
const maxBatchesInFlight = 24

// Create appends the first events of a new aggregate, all or none, only if
// the last event on scope (a wildcard subject such as
// TypeSubject("referral")) is still at sequence scopeSeq (0: no event on
// scope yet). It is the optimistic check for a rule that spans aggregates
// of a type, such as one open referral per person: the caller decides from
// a view of scope as of scopeSeq, and the append fails with ErrConcurrency
// if any event on scope came in since. agg must not exist at scopeSeq.
//
// A retry with the same idempotency key returns the original sequence, as
// with Append.
func (s *Store) Create(ctx context.Context, agg Aggregate, scope string, scopeSeq uint64, events ...Event) (uint64, error) {
	if !strings.HasPrefix(scope, SubjectPrefix+".") {
		return 0, invalidf("create %s: scope %q is not a subject of the log", agg, scope)
	}
	keyHash, msgs, err := s.prepare(ctx, agg, true, events)
	if err != nil {
		return 0, err
	}
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(scopeSeq, 10))
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, scope)
	seq, err := s.send(ctx, agg, 0, msgs)
	if err == nil || keyHash == "" || !(errors.Is(err, ErrConcurrency) || isDuplicate(err)) {
		return seq, err
	}
	orig, found, ferr := s.findCommand(ctx, agg, keyHash, 1)
	if ferr != nil {
		return 0, fmt.Errorf("create %s: look up earlier attempt: %w", agg, ferr)
	}
	if found {
		return orig, nil
	}
	return 0, err
}

// errDuplicate marks a publish the server recognised by its message id.
var errDuplicate = errors.New("duplicate message id")

func isDuplicate(err error) bool {
	if errors.Is(err, errDuplicate) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstreamext.JSErrCodeBatchPublishDuplicateMsgID
}

func (s *Store) publishError(agg Aggregate, expected uint64, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("append to %s at version %d: %w", agg, expected, ErrConcurrency)
		case jetstreamext.JSErrCodeBatchPublishDuplicateMsgID:
			return fmt.Errorf("append to %s: %w", agg, err)
		}
	}
	if s.noteFull(err) || transient(err) {
		// Maybe stored, maybe not: the version check and the message ids
		// make trying again safe.
		return fmt.Errorf("append to %s: %w (%w)", agg, ErrUnavailable, err)
	}
	return fmt.Errorf("append to %s: %w", agg, err)
}

// JetStream's errors for a server or account out of the storage it may
// use: a write refused for insufficient resources, an account over its
// limits, a stream that cannot reserve its storage.
const (
	jsInsufficientResources    = 10023
	jsAccountResourcesExceeded = 10002
	jsStorageResourcesExceeded = 10047
)

// noteFull reports whether err is the log refusing a write for lack of
// storage, and notes when for Refusing. Such a refusal passes once an
// operator frees or adds storage: it is as unavailable as an election.
func (s *Store) noteFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jsInsufficientResources, jsAccountResourcesExceeded, jsStorageResourcesExceeded:
		s.full.Store(s.now().UnixNano())
		return true
	}
	return false
}

// refusalShown is how long Refusing reports a refusal for lack of storage
// when no write has been stored since.
const refusalShown = 30 * time.Second

// Refusing returns an error saying so when the log refused a write for
// lack of storage (NATS out of disk, or over its storage limit) in the
// last 30 seconds and has stored none since; nil otherwise. It is for a
// readiness check, and safe for concurrent use.
func (s *Store) Refusing() error {
	at := s.full.Load()
	if at == 0 {
		return nil
	}
	ago := s.now().Sub(time.Unix(0, at))
	if ago > refusalShown {
		return nil
	}
	return fmt.Errorf("the event log refused a write %v ago: NATS is out of storage (insufficient resources); free or add storage, pathway carries on by itself", ago.Round(time.Second))
}

// jsTemporarilyUnavailable is JetStream's error code while a cluster has
// no leader for the stream or its meta layer.
const jsTemporarilyUnavailable = 10008

// transient reports an error of the log that passes with time: no
// responders or no answer in time while a leader is elected, or the
// cluster saying it is temporarily unavailable.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jsTemporarilyUnavailable || apiErr.Code == 503)
}

// findCommand looks among the aggregate's events from seq on for the last
// one appended with the idempotency key hash.
func (s *Store) findCommand(ctx context.Context, agg Aggregate, keyHash string, from uint64) (uint64, bool, error) {
	recs, _, err := s.loadRaw(ctx, agg, from)
	if err != nil {
		return 0, false, err
	}
	seq, ok := lastWithKey(recs, keyHash)
	return seq, ok, nil
}

func lastWithKey(msgs []*jetstream.RawStreamMsg, keyHash string) (uint64, bool) {
	var seq uint64
	for _, m := range msgs {
		if m.Header.Get(HeaderIdempotency) == keyHash {
			seq = m.Sequence
		}
	}
	return seq, seq != 0
}

// Load returns the aggregate's events in order and its version (the
// stream sequence of its last event). It reads through the stream's
// per-subject index, and only the events after those it already holds in
// memory, so its cost follows the aggregate's new events, not the log. It
// sees every event acknowledged before it was called, on a cluster too:
// the version comes from the stream leader, and a lagging replica is read
// again until it has caught up. The records are shared: do not change them.
//
// Errors: ErrNotFound when the aggregate has no events; a *DecodeError
// when one cannot be decoded; ErrInvalid for an invalid aggregate;
// ErrUnavailable when no up-to-date replica answers.
func (s *Store) Load(ctx context.Context, agg Aggregate) ([]Record, uint64, error) {
	if err := agg.Validate(); err != nil {
		return nil, 0, err
	}
	recs, version, err := s.load(ctx, agg)
	if err != nil {
		return nil, 0, fmt.Errorf("load %s: %w", agg, err)
	}
	if version == 0 {
		return nil, 0, fmt.Errorf("load %s: %w", agg, ErrNotFound)
	}
	return recs, version, nil
}

// Version returns the aggregate's current version without reading its
// events: the sequence of its last event as the stream leader has it, 0
// when it has none.
func (s *Store) Version(ctx context.Context, agg Aggregate) (uint64, error) {
	if err := agg.Validate(); err != nil {
		return 0, err
	}
	v, err := s.lastOnLeader(ctx, agg.Subject())
	if err != nil {
		return 0, fmt.Errorf("version of %s: %w", agg, err)
	}
	return v, nil
}

func (s *Store) getLast(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	st, err := s.streamHandle(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetLastMsgForSubject(ctx, subject)
}

// loadRaw reads the aggregate's messages from seq on with direct batch
// gets, page by page.
func (s *Store) loadRaw(ctx context.Context, agg Aggregate, from uint64) ([]*jetstream.RawStreamMsg, uint64, error) {
	var out []*jetstream.RawStreamMsg
	version := uint64(0)
	for {
		it, err := jetstreamext.GetBatch(ctx, s.js, s.stream, loadPage,
			jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(agg.Subject()))
		if err != nil {
			return nil, 0, err
		}
		n := 0
		more := false
		for m, err := range it {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, 0, err
			}
			n++
			out = append(out, m)
			version = m.Sequence
			from = m.Sequence + 1
			more = m.Header.Get("Nats-Num-Pending") != "0"
		}
		if n == 0 || !more {
			break
		}
	}
	if version == 0 && from > 1 {
		// Nothing after from: the version is still the last event's.
		v, err := s.lastSeq(ctx, agg)
		if err != nil {
			return nil, 0, err
		}
		version = v
	}
	return out, version, nil
}

func (s *Store) lastSeq(ctx context.Context, agg Aggregate) (uint64, error) {
	return s.lastOnLeader(ctx, agg.Subject())
}

// Change is one aggregate's part of a command that spans aggregates: its
// events, and the version they were decided from (or AnyVersion).
type Change struct {
	Aggregate Aggregate
	Expected  uint64
	Events    []Event
}

// AppendAll commits the changes of one command to several aggregates, all
// or none, in one atomic batch; each aggregate must be at its expected
// version. It is how a rule that spans aggregates holds under concurrency:
// for example an assignment changes the referral and the link worker's
// caseload at the versions it read, so two assigners cannot both fill the
// last place. It returns the sequence of the last event.
//
// Every event must carry the same idempotency key, or none; a retry with
// the key returns the original sequence. Errors are those of Append.
func (s *Store) AppendAll(ctx context.Context, changes ...Change) (uint64, error) {
	if len(changes) == 0 {
		return 0, invalidf("append: no changes")
	}
	seen := map[Aggregate]bool{}
	var msgs []*nats.Msg
	keyHash := ""
	for i, c := range changes {
		if seen[c.Aggregate] {
			return 0, invalidf("append: %s appears twice in one command", c.Aggregate)
		}
		seen[c.Aggregate] = true
		kh, m, err := s.prepare(ctx, c.Aggregate, c.Expected == 0, c.Events)
		if err != nil {
			return 0, err
		}
		if i > 0 && kh != keyHash {
			return 0, invalidf("append: changes carry different idempotency keys")
		}
		keyHash = kh
		if c.Expected != AnyVersion {
			m[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(c.Expected, 10))
		}
		msgs = append(msgs, m...)
	}
	if len(msgs) > MaxEventsPerAppend {
		return 0, invalidf("append: %d events, at most %d", len(msgs), MaxEventsPerAppend)
	}
	first := changes[0]
	seq, err := s.send(ctx, first.Aggregate, first.Expected, msgs)
	if err == nil {
		// The batch's events have consecutive sequences, in order.
		end, at := seq-uint64(len(msgs)), 0
		for _, c := range changes {
			n := len(c.Events)
			end += uint64(n)
			s.remember(ctx, c.Aggregate, c.Expected, end, msgs[at:at+n])
			at += n
		}
	}
	if err == nil || keyHash == "" || !(errors.Is(err, ErrConcurrency) || isDuplicate(err)) {
		return seq, err
	}
	var orig uint64
	for _, c := range changes {
		from := uint64(1)
		if c.Expected != AnyVersion {
			from = c.Expected + 1
		}
		n, found, ferr := s.findCommand(ctx, c.Aggregate, keyHash, from)
		if ferr != nil {
			return 0, fmt.Errorf("append: look up earlier attempt: %w", ferr)
		}
		if found && n > orig {
			orig = n
		}
	}
	if orig != 0 {
		return orig, nil
	}
	return 0, err
}
