package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
)

// BadData is what a consumer does with an event it cannot decode (an
// unknown type or a corrupt body) or that its handler keeps failing on.
type BadData int

const (
	// Park copies the event, with the reason, to the parked-events stream
	// (ParkedStream, subject parked.<stream>.<consumer>) and goes on. An
	// operator can inspect and replay it; nothing is lost.
	Park BadData = iota
	// Skip logs the stream sequence and the reason and goes on.
	Skip
	// Halt stops the consumer with the error; the event stays unacknowledged
	// and is delivered again when the consumer restarts.
	Halt
)

// String returns the policy's name.
func (b BadData) String() string {
	switch b {
	case Park:
		return "park"
	case Skip:
		return "skip"
	case Halt:
		return "halt"
	}
	return "BadData(" + strconv.Itoa(int(b)) + ")"
}

// Headers added to a parked event.
const (
	HeaderParkedReason   = "Pathway-Parked-Reason"
	HeaderParkedSequence = "Pathway-Parked-Sequence"
	HeaderParkedSubject  = "Pathway-Parked-Subject"
)

// Handler processes one event. It must be idempotent: an event is
// delivered again when its acknowledgement is lost. A returned error makes
// the event come back after a delay, up to the consumer's MaxDeliver.
type Handler func(ctx context.Context, rec Record) error

// Consumer is the configuration of a durable consumer: a service's named,
// persistent position in the log.
type Consumer struct {
	// Name is the durable consumer's fixed name, e.g. "triage".
	Name string
	// Subjects filter the log; empty means all of it.
	Subjects []string
	// Types, when set, are the event types the handler wants; the others
	// are acknowledged without being decoded.
	Types []string
	// OnBadData is the policy for events that cannot be decoded, and for
	// events the handler failed on MaxDeliver times.
	OnBadData BadData
	// MaxDeliver is how many times the handler is tried on one event;
	// default 5.
	MaxDeliver int
	// Backoff is the first delay before an event the handler failed on is
	// tried again; it doubles each time. Default 1s.
	Backoff time.Duration
	// AckWait is how long the server waits for an acknowledgement before
	// delivering again; default 30s.
	AckWait time.Duration
	// Logger receives sequence numbers and reasons, never payloads; nil
	// discards.
	Logger *slog.Logger
	// Open has the handler get events with their sealed (personal) fields
	// opened; only for a service that decides from them, such as triage.
	// Without it the handler sees the fields kept in clear.
	Open bool
}

// Validate reports whether c can configure a consumer.
func (c Consumer) Validate() error {
	if !validToken(c.Name, true) {
		return invalidf("consumer name %q: want letters, digits, '-' or '_'", c.Name)
	}
	if c.OnBadData < Park || c.OnBadData > Halt {
		return invalidf("consumer %s: unknown bad-data policy %d", c.Name, c.OnBadData)
	}
	if c.MaxDeliver < 0 || c.Backoff < 0 || c.AckWait < 0 {
		return invalidf("consumer %s: negative limit", c.Name)
	}
	return nil
}

// EnsureConsumer creates the durable consumer or updates it to c. It is
// idempotent, and called by Consume; a service may call it at start to
// fail early.
func (s *Store) EnsureConsumer(ctx context.Context, c Consumer) (jetstream.Consumer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ackWait := c.AckWait
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        c.Name,
		Description:    "pathway service " + c.Name,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1, // Consume parks or skips after MaxDeliver itself.
		MaxAckPending:  1,  // One at a time: handlers see the log in order.
		FilterSubjects: c.Subjects,
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("set up consumer %s: %w", c.Name, err)
	}
	return cons, nil
}

// Pacing of Consume's recovery from failures of the log.
const (
	// retryFirst is the first wait before Consume tries again after a
	// failure of the log; it doubles up to retryMax.
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
	// pullExpiry is how long one pull request waits on the server, which
	// sends a heartbeat every pullHeartbeat meanwhile. A consumer leader
	// that steps down drops its waiting requests without a word: two
	// missed heartbeats tell Consume to pull again.
	pullExpiry    = 10 * time.Second
	pullHeartbeat = time.Second
	// ackTimeout bounds one confirmed acknowledgement; ackAttempts is how
	// many Consume makes before it leaves the event to be delivered again.
	ackTimeout  = 2 * time.Second
	ackAttempts = 5
)

// Consume runs the durable consumer c, calling h for each event in log
// order, until ctx ends (it then returns nil) or the Halt policy stops it
// (it returns the *DecodeError or handler error, wrapped in ErrBroken). Two processes consuming
// with the same name share the work: each event goes to one of them.
//
// Consume rides out what a cluster goes through: missed heartbeats,
// stream and consumer leader changes, requests with no responders or
// timed out, the consumer deleted or gone after a move (it is created
// again with EnsureConsumer, and then delivers the log from the start:
// handlers are idempotent). It tries again after 100ms, doubling up to
// 5s, and logs each failure at Warn. Delivery is at least once and in
// order: an event whose acknowledgement is lost comes again before the
// next one. Beyond Halt, Consume returns an error only for what trying
// again cannot mend: an invalid c (ErrInvalid) or one the server refuses,
// a closed connection, or a message that is not a JetStream message.
// Every error it returns wraps ErrBroken.
func (s *Store) Consume(ctx context.Context, c Consumer, h Handler) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBroken, err)
	}
	f := &follower{s: s, c: c, h: h, log: c.Logger, maxDeliver: c.MaxDeliver, backoff: c.Backoff}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f.log = f.log.With("consumer", c.Name)
	if f.maxDeliver == 0 {
		f.maxDeliver = 5
	}
	if f.backoff == 0 {
		f.backoff = time.Second
	}
	for {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if stop, ok := errors.AsType[*stopError](err); ok {
			return fmt.Errorf("%w: %w", ErrBroken, stop.err)
		}
		if permanent(err) {
			f.log.Error("consumer stopped", "err", err)
			return fmt.Errorf("%w: %w", ErrBroken, err)
		}
		d := f.retry.next()
		f.log.Warn("consumer interrupted, will retry", "retry_in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// stopError is a failure that ends Consume: the Halt policy or a broken
// invariant.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// permanent reports whether trying again cannot mend err: the consumer's
// configuration is wrong, or the connection is closed for good.
func permanent(err error) bool {
	if errors.Is(err, ErrInvalid) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, jetstream.ErrInvalidOption) {
		return true
	}
	// A bad request is refused whoever leads; but a cluster short of
	// peers (a node down) is not short for ever.
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 400 && apiErr.ErrorCode != jsErrCodeClusterNoPeers
}

// jsErrCodeClusterNoPeers is JetStream's "insufficient resources" for a
// cluster with too few servers up to place the consumer's replicas.
const jsErrCodeClusterNoPeers jetstream.ErrorCode = 10005

// retry paces Consume's attempts: retryFirst doubling up to retryMax,
// back to retryFirst once an event has been handled.
type retry struct{ last time.Duration }

func (r *retry) next() time.Duration {
	r.last = min(max(2*r.last, retryFirst), retryMax)
	return r.last
}

func (r *retry) reset() { r.last = 0 }

// follower is one run of Consume.
type follower struct {
	s          *Store
	c          Consumer
	h          Handler
	log        *slog.Logger
	maxDeliver int
	backoff    time.Duration
	retry      retry
}

// follow sets up the consumer and handles its events until ctx ends (it
// then returns nil), the message iterator fails (a transient error), or
// a *stopError ends the run.
func (f *follower) follow(ctx context.Context) error {
	cons, err := f.s.EnsureConsumer(ctx, f.c)
	if err != nil {
		return err
	}
	msgs, err := cons.Messages(jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", f.c.Name, err)
	}
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	defer msgs.Stop()
	for {
		m, err := msgs.Next()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// The pull request was lost, most likely with the consumer's
			// leader; the iterator pulls again. Start over only if the
			// consumer itself is gone.
			if err := f.exists(ctx, cons); err != nil {
				return err
			}
			f.log.Warn("consumer missed heartbeats, pulling again", "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("consumer %s: %w", f.c.Name, err)
		}
		if err := f.handle(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if _, ok := errors.AsType[*stopError](err); ok {
				return err
			}
			// The log failed us, not the handler: have the event again
			// after a pause.
			d := f.retry.next()
			f.log.Warn("consumer could not finish an event, will retry", "retry_in", d, "err", err)
			_ = m.NakWithDelay(d)
			continue
		}
		f.retry.reset()
	}
}

// exists returns an error when the consumer is gone from the server.
func (f *follower) exists(ctx context.Context, cons jetstream.Consumer) error {
	ictx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if _, err := cons.Info(ictx); errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer %s: %w", f.c.Name, err)
	}
	return nil
}

// handle processes one message. It returns a *stopError for the Halt
// policy or a broken invariant, and any other error when the log failed
// (an acknowledgement or a park did not go through).
func (f *follower) handle(ctx context.Context, m jetstream.Msg) error {
	meta, err := m.Metadata()
	if err != nil {
		return &stopError{fmt.Errorf("consumer %s: %w", f.c.Name, err)}
	}
	seq := meta.Sequence.Stream
	typ := m.Headers().Get(HeaderEventType)
	if len(f.c.Types) > 0 && typ != "" && !slices.Contains(f.c.Types, typ) {
		return f.ack(ctx, m, seq)
	}
	rec, err := f.s.decode(ctx, seq, m.Subject(), typ, m.Data(), f.c.Open)
	var de *DecodeError
	if errors.As(err, &de) {
		return f.badData(ctx, m, seq, err)
	}
	if err != nil {
		// A data key could not be fetched: try again later.
		return err
	}
	hctx, span := f.s.startHandle(ctx, f.c.Name, typ, seq, m.Headers())
	herr := f.h(hctx, rec)
	if herr != nil {
		span.SetStatus(codes.Error, "handler failed")
	}
	span.End()
	if herr == nil {
		return f.ack(ctx, m, seq)
	}
	if ctx.Err() != nil {
		// Shutting down: leave it for redelivery.
		return nil
	}
	if int(meta.NumDelivered) >= f.maxDeliver {
		return f.badData(ctx, m, seq, fmt.Errorf("handler failed %d times: %w", meta.NumDelivered, herr))
	}
	delay := f.backoff << min(meta.NumDelivered-1, 10)
	f.log.Warn("handler failed, will retry", "seq", seq, "attempt", meta.NumDelivered, "retry_in", delay, "err", herr)
	if err := m.NakWithDelay(delay); err != nil {
		// Lost: the server delivers the event again after AckWait.
		f.log.Warn("nak failed", "seq", seq, "err", err)
	}
	return nil
}

// ack acknowledges m and waits for the server to confirm, trying again
// while the consumer's leader changes. It goes on even when the server
// shuts down ctx: the event was handled.
func (f *follower) ack(ctx context.Context, m jetstream.Msg, seq uint64) error {
	actx := context.WithoutCancel(ctx)
	var r retry
	var err error
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(actx, ackTimeout)
		err = m.DoubleAck(tctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return nil
		}
		if attempt == ackAttempts || permanent(err) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(r.next())
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return fmt.Errorf("consumer %s: ack %d: %w", f.c.Name, seq, err)
}

// badData applies the consumer's policy to an event it cannot process.
func (f *follower) badData(ctx context.Context, m jetstream.Msg, seq uint64, reason error) error {
	c, log := f.c, f.log
	switch c.OnBadData {
	case Skip:
		log.Error("skipped event", "seq", seq, "subject", m.Subject(), "err", reason)
		return f.ack(ctx, m, seq)
	case Halt:
		log.Error("halted on event", "seq", seq, "subject", m.Subject(), "err", reason)
		return &stopError{fmt.Errorf("consumer %s halted: %w", c.Name, reason)}
	}
	parked := nats.NewMsg(parkedPrefix + "." + f.s.stream + "." + c.Name)
	for k, v := range m.Headers() {
		if k == jetstream.MsgIDHeader || k == jetstream.ExpectedLastSubjSeqHeader || k == jetstream.ExpectedStreamHeader {
			continue
		}
		parked.Header[k] = v
	}
	parked.Header.Set(HeaderParkedReason, reason.Error())
	parked.Header.Set(HeaderParkedSequence, strconv.FormatUint(seq, 10))
	parked.Header.Set(HeaderParkedSubject, m.Subject())
	// One parked copy per consumer and sequence, however often this runs.
	parked.Header.Set(jetstream.MsgIDHeader, c.Name+"-"+strconv.FormatUint(seq, 10))
	parked.Data = m.Data()
	if _, err := f.s.js.PublishMsg(ctx, parked); err != nil {
		return fmt.Errorf("consumer %s: park %d: %w", c.Name, seq, err)
	}
	log.Error("parked event", "seq", seq, "subject", m.Subject(), "err", reason)
	return f.ack(ctx, m, seq)
}

// Parked yields the events parked by consumer, oldest first, each with the
// sequence it had in the log and the reason it was parked.
func (s *Store) Parked(ctx context.Context, consumer string) ([]ParkedEvent, error) {
	name := parkedStreamFor(s.stream)
	it, err := s.js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{parkedPrefix + "." + s.stream + "." + consumer},
	})
	if err != nil {
		return nil, fmt.Errorf("parked events of %s: %w", consumer, err)
	}
	var out []ParkedEvent
	for {
		batch, err := it.FetchNoWait(256)
		if err != nil {
			return nil, fmt.Errorf("parked events of %s: %w", consumer, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			seq, _ := strconv.ParseUint(m.Headers().Get(HeaderParkedSequence), 10, 64)
			out = append(out, ParkedEvent{
				Sequence: seq,
				Subject:  m.Headers().Get(HeaderParkedSubject),
				Reason:   m.Headers().Get(HeaderParkedReason),
				Data:     m.Data(),
			})
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("parked events of %s: %w", consumer, err)
		}
		if n == 0 {
			return out, nil
		}
	}
}

// ParkedEvent is an event a consumer parked.
type ParkedEvent struct {
	// Sequence and Subject are where the event is in the log.
	Sequence uint64
	Subject  string
	// Reason says why it was parked.
	Reason string
	// Data is the event's body as it was in the log.
	Data []byte
}
