// Package audit records who read whose personal data, in an append-only
// log of its own: the JetStream stream PATHWAY_AUDIT, apart from the event
// log, which denies deletes and purges. A record carries no personal data:
// who read (key id, role, organisation), what (a referral id, or a
// handoff id), when, how (the method and route), with what answer, and,
// for a read outside the reader's everyday access (break-glass), why.
// Admins query it by referral or by key.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream is the audit stream; its subjects are
// audit.<referral or "-">.<key id or "-">.
const Stream = "PATHWAY_AUDIT"

// Record is one read of personal data.
type Record struct {
	At           time.Time `json:"at"`
	KeyID        string    `json:"key_id"`
	Role         string    `json:"role"`
	Organisation string    `json:"organisation,omitempty"`
	// Referral is the referral whose data was read; Handoff the handoff
	// (a partner reads shared fields through one), with its referral when
	// the reader knows it.
	Referral string `json:"referral_id,omitempty"`
	Handoff  string `json:"handoff_id,omitempty"`
	// Route is the method and route pattern, e.g. "GET /v1/referrals/{id}",
	// or a command line ("pathway sar").
	Route  string `json:"route"`
	Status int    `json:"status,omitempty"`
	// Reason is why, for a break-glass read.
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Sequence is the record's position in the audit stream (on reads).
	Sequence uint64 `json:"sequence,omitempty"`
}

// Log is the audit log. Create it with Open; it is safe for concurrent
// use.
type Log struct {
	js  jetstream.JetStream
	now func() time.Time
}

// Options configure Open.
type Options struct {
	// Replicas of the stream; default 1.
	Replicas int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Open opens the audit log on js, creating its stream when there is none.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Log, error) {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "pathway: who read whose personal data (no personal data in it); append-only",
		Subjects:    []string{"audit.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		Duplicates:  2 * time.Minute,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, fmt.Errorf("audit: stream %s: %w", Stream, err)
	}
	return &Log{js: js, now: opts.Now}, nil
}

// token is a subject token for an id: "-" when empty; ids are UUIDs or
// hex, so they need no escaping, but anything else is refused.
func token(id string) (string, error) {
	if id == "" {
		return "-", nil
	}
	if strings.ContainsAny(id, ".*> \t\r\n") {
		return "", fmt.Errorf("audit: %q cannot be a subject token", id)
	}
	return id, nil
}

// message is the subject and body of r, stamped with the clock when its
// time is not set.
func (l *Log) message(r Record) (string, []byte, error) {
	if r.At.IsZero() {
		r.At = l.now().UTC()
	}
	ref, err := token(r.Referral)
	if err != nil {
		return "", nil, err
	}
	key, err := token(r.KeyID)
	if err != nil {
		return "", nil, err
	}
	r.Sequence = 0
	body, err := json.Marshal(r)
	return "audit." + ref + "." + key, body, err
}

// Record appends r (stamped with the clock when At is zero) and returns
// once the audit stream has stored it.
func (l *Log) Record(ctx context.Context, r Record) error {
	subject, body, err := l.message(r)
	if err != nil {
		return err
	}
	if _, err := l.js.Publish(ctx, subject, body, jetstream.WithExpectStream(Stream)); err != nil {
		return fmt.Errorf("audit: record: %w", err)
	}
	return nil
}

// RecordAll appends rs, sent together, and returns once the audit stream
// has stored every one (a page that shows many people records a read of
// each).
func (l *Log) RecordAll(ctx context.Context, rs []Record) error {
	if len(rs) == 0 {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(rs))
	for _, r := range rs {
		subject, body, err := l.message(r)
		if err != nil {
			return err
		}
		f, err := l.js.PublishAsync(subject, body, jetstream.WithExpectStream(Stream))
		if err != nil {
			return fmt.Errorf("audit: record: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("audit: record: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("audit: record: %w", ctx.Err())
		}
	}
	return nil
}

// Filter selects records: by referral, by key, or both; Since bounds them
// in time; Limit caps how many (default and most 10,000), newest last.
type Filter struct {
	Referral string
	KeyID    string
	Since    time.Time
	Limit    int
}

// Query returns the records that match f, oldest first.
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, error) {
	ref, key := "*", "*"
	if f.Referral != "" {
		var err error
		if ref, err = token(f.Referral); err != nil {
			return nil, err
		}
	}
	if f.KeyID != "" {
		var err error
		if key, err = token(f.KeyID); err != nil {
			return nil, err
		}
	}
	if f.Limit <= 0 || f.Limit > 10_000 {
		f.Limit = 10_000
	}
	st, err := l.js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out := []Record{}
	if info.State.Msgs == 0 {
		return out, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"audit." + ref + "." + key}}
	if !f.Since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		since := f.Since
		cfg.OptStartTime = &since
	}
	cons, err := l.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	for {
		batch, err := cons.FetchNoWait(512)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var r Record
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				continue
			}
			meta, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("audit: %w", err)
			}
			r.Sequence = meta.Sequence.Stream
			out = append(out, r)
			if meta.NumPending == 0 || len(out) >= f.Limit {
				return out, nil // the last record, or enough
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if n == 0 {
			return out, nil
		}
	}
}
