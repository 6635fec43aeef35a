package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStream is the name of the event log stream.
const DefaultStream = "PATHWAY"

// ParkedStream is the name of the stream where consumers park events they
// cannot process (see Park).
const ParkedStream = "PATHWAY_PARKED"

// parkedPrefix is the subject prefix of parked events:
// parked.<consumer>.
const parkedPrefix = "parked"

// StreamConfig is the configuration of the event log stream.
type StreamConfig struct {
	// Name of the stream; default DefaultStream.
	Name string
	// Replicas: 1 for a single server, 3 on a cluster.
	Replicas int
	// Duplicates is the JetStream duplicate window; default 2 minutes.
	// Idempotent retries do not depend on it: it only short-cuts them.
	Duplicates time.Duration
	// MaxMsgSize caps one event; default 1 MiB.
	MaxMsgSize int32
	// Memory keeps the stream in memory (tests and benchmarks only).
	Memory bool
}

// Validate reports whether c can configure a stream.
func (c StreamConfig) Validate() error {
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("stream replicas %d: want 1 to 5", c.Replicas)
	}
	if c.Duplicates < 0 {
		return fmt.Errorf("stream duplicate window %v: want positive", c.Duplicates)
	}
	if c.MaxMsgSize < 0 {
		return fmt.Errorf("stream max message size %d: want positive", c.MaxMsgSize)
	}
	return nil
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStream
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = 1 << 20
	}
	return c
}

// jetstreamConfig is the stream as JetStream sees it. The log is kept
// forever, cannot be purged or have messages deleted, allows atomic batch
// publish (one command, all or none) and direct gets (Load).
func (c StreamConfig) jetstreamConfig() jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if c.Memory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:               c.Name,
		Description:        "pathway event log",
		Subjects:           []string{AllSubjects},
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		MaxMsgSize:         c.MaxMsgSize,
		Storage:            storage,
		Replicas:           c.Replicas,
		Duplicates:         c.Duplicates,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

// Setup creates the event log stream and the parked-events stream, or
// updates them to cfg when they exist. It is idempotent: every service
// calls it at start.
func Setup(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if _, err := js.CreateOrUpdateStream(ctx, cfg.jetstreamConfig()); err != nil {
		return fmt.Errorf("set up stream %s: %w", cfg.Name, err)
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	parked := jetstream.StreamConfig{
		Name:        parkedStreamFor(cfg.Name),
		Description: "pathway events a consumer could not process",
		Subjects:    []string{parkedPrefix + "." + cfg.Name + ".>"},
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      90 * 24 * time.Hour,
	}
	if _, err := js.CreateOrUpdateStream(ctx, parked); err != nil {
		return fmt.Errorf("set up stream %s: %w", parked.Name, err)
	}
	return nil
}

func parkedStreamFor(stream string) string {
	if stream == DefaultStream {
		return ParkedStream
	}
	return stream + "_PARKED"
}

// Ready reports whether the stream exists and answers. It returns a
// sentence fit for an operator when it does not.
func Ready(ctx context.Context, js jetstream.JetStream, stream string) error {
	if stream == "" {
		stream = DefaultStream
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s does not exist yet", stream)
	}
	if err != nil {
		return fmt.Errorf("JetStream not reachable: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", stream, err)
	}
	if info.Cluster != nil && info.Config.Replicas > 1 && info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader", stream)
	}
	return nil
}
