package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerLag is how far one durable consumer (a service's position in the
// log) is behind it.
type ConsumerLag struct {
	// Name is the durable consumer's name, e.g. "triage".
	Name string
	// Events is how many events of its subjects it has still to process:
	// those not yet delivered and those delivered but not acknowledged.
	Events uint64
	// Oldest is when the oldest of them was appended; zero when Events is
	// 0 (or the event could not be read).
	Oldest time.Time
}

// ConsumerLags returns the lag of each durable consumer of the store's
// stream, by name. It reads the consumers' state from the server (one
// request per consumer and one or two direct gets for each that is
// behind), and names no aggregate. Errors: the JetStream error, wrapped.
// It is safe for concurrent use.
func (s *Store) ConsumerLags(ctx context.Context) ([]ConsumerLag, error) {
	st, err := s.streamHandle(ctx)
	if err != nil {
		return nil, fmt.Errorf("consumer lags: %w", err)
	}
	var out []ConsumerLag
	list := st.ListConsumers(ctx)
	for info := range list.Info() {
		if info.Config.Durable == "" {
			continue // an ordered consumer of a read model: its engine reports its own lag
		}
		lag := ConsumerLag{Name: info.Name, Events: info.NumPending + uint64(info.NumAckPending)}
		if lag.Events > 0 {
			lag.Oldest = s.oldestAfter(ctx, st, info.AckFloor.Stream, info.Config)
		}
		out = append(out, lag)
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return nil, fmt.Errorf("consumer lags: %w", err)
	}
	slices.SortFunc(out, func(a, b ConsumerLag) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// oldestAfter is when the first event after floor that cfg's subjects
// take was appended; zero when it cannot be read.
func (s *Store) oldestAfter(ctx context.Context, st jetstream.Stream, floor uint64, cfg jetstream.ConsumerConfig) time.Time {
	subjects := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		subjects = append(subjects, cfg.FilterSubject)
	}
	if len(subjects) == 0 {
		subjects = []string{AllSubjects}
	}
	var oldest time.Time
	for _, subj := range subjects {
		m, err := st.GetMsg(ctx, floor+1, jetstream.WithGetMsgSubject(subj))
		if err != nil {
			continue
		}
		if oldest.IsZero() || m.Time.Before(oldest) {
			oldest = m.Time
		}
	}
	return oldest
}

// Usage is how much of its limits the event log uses.
type Usage struct {
	// Stream is the stream's name.
	Stream string
	// Messages and Bytes are what the stream holds.
	Messages, Bytes uint64
	// MaxMessages and MaxBytes are the stream's own limits; -1 for none
	// (pathway sets none: the log is kept whole).
	MaxMessages, MaxBytes int64
	// AccountBytes is the file storage the JetStream account uses, every
	// stream and bucket of it together; AccountMaxBytes the account's
	// limit, -1 for none (the server's max_file_store then bounds it).
	AccountBytes    uint64
	AccountMaxBytes int64
}

// Usage returns the stream's size against its limits and the account's.
// Errors: the JetStream error, wrapped. It is safe for concurrent use.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	st, err := s.streamHandle(ctx)
	if err != nil {
		return Usage{}, fmt.Errorf("stream usage: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return Usage{}, fmt.Errorf("stream usage: %w", err)
	}
	u := Usage{
		Stream: s.stream, Messages: info.State.Msgs, Bytes: info.State.Bytes,
		MaxMessages: info.Config.MaxMsgs, MaxBytes: info.Config.MaxBytes, AccountMaxBytes: -1,
	}
	acct, err := s.js.AccountInfo(ctx)
	if err != nil {
		return Usage{}, fmt.Errorf("account usage: %w", err)
	}
	u.AccountBytes = acct.Store
	if acct.Limits.MaxStore > 0 {
		u.AccountMaxBytes = acct.Limits.MaxStore
	}
	return u, nil
}
