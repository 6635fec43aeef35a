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

// Consume runs the durable consumer c, calling h for each event in log
// order, until ctx ends (it then returns nil) or the Halt policy stops it
// (it returns the *DecodeError or handler error). Two processes consuming
// with the same name share the work: each event goes to one of them.
func (s *Store) Consume(ctx context.Context, c Consumer, h Handler) error {
	cons, err := s.EnsureConsumer(ctx, c)
	if err != nil {
		return err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("consumer", c.Name)
	maxDeliver := c.MaxDeliver
	if maxDeliver == 0 {
		maxDeliver = 5
	}
	backoff := c.Backoff
	if backoff == 0 {
		backoff = time.Second
	}

	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.Name, err)
	}
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	defer msgs.Stop()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("consumer %s: %w", c.Name, err)
		}
		if err := s.handle(ctx, c, h, m, log, maxDeliver, backoff); err != nil {
			return err
		}
	}
}

func (s *Store) handle(ctx context.Context, c Consumer, h Handler, m jetstream.Msg, log *slog.Logger, maxDeliver int, backoff time.Duration) error {
	meta, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.Name, err)
	}
	seq := meta.Sequence.Stream
	typ := m.Headers().Get(HeaderEventType)
	if len(c.Types) > 0 && typ != "" && !slices.Contains(c.Types, typ) {
		return ack(m, c.Name)
	}
	rec, err := Decode(seq, m.Subject(), typ, m.Data())
	if err != nil {
		return s.badData(ctx, c, m, seq, err, log)
	}
	herr := h(ctx, rec)
	if herr == nil {
		return ack(m, c.Name)
	}
	if ctx.Err() != nil {
		// Shutting down: leave it for redelivery.
		return nil
	}
	if int(meta.NumDelivered) >= maxDeliver {
		return s.badData(ctx, c, m, seq, fmt.Errorf("handler failed %d times: %w", meta.NumDelivered, herr), log)
	}
	delay := backoff << min(meta.NumDelivered-1, 10)
	log.Warn("handler failed, will retry", "seq", seq, "attempt", meta.NumDelivered, "retry_in", delay, "err", herr)
	if err := m.NakWithDelay(delay); err != nil {
		return fmt.Errorf("consumer %s: nak %d: %w", c.Name, seq, err)
	}
	return nil
}

func ack(m jetstream.Msg, consumer string) error {
	if err := m.Ack(); err != nil {
		return fmt.Errorf("consumer %s: ack: %w", consumer, err)
	}
	return nil
}

// badData applies the consumer's policy to an event it cannot process.
func (s *Store) badData(ctx context.Context, c Consumer, m jetstream.Msg, seq uint64, reason error, log *slog.Logger) error {
	switch c.OnBadData {
	case Skip:
		log.Error("skipped event", "seq", seq, "subject", m.Subject(), "err", reason)
		return ack(m, c.Name)
	case Halt:
		log.Error("halted on event", "seq", seq, "subject", m.Subject(), "err", reason)
		return fmt.Errorf("consumer %s halted: %w", c.Name, reason)
	}
	parked := nats.NewMsg(parkedPrefix + "." + s.stream + "." + c.Name)
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
	if _, err := s.js.PublishMsg(ctx, parked); err != nil {
		return fmt.Errorf("consumer %s: park %d: %w", c.Name, seq, err)
	}
	log.Error("parked event", "seq", seq, "subject", m.Subject(), "err", reason)
	return ack(m, c.Name)
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
