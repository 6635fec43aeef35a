// Package webhooks delivers a partner's handoff events to the endpoint it
// registered, signed so the receiver can check they came from pathway.
//
// Endpoints live in the JetStream key-value bucket PATHWAY_WEBHOOKS and
// deliveries in PATHWAY_DELIVERIES, so a restart loses none and every
// pathway process sees the same state. The durable consumer "webhooks"
// turns each handoff event into one delivery per endpoint of the
// handoff's partner (the delivery id is derived from the endpoint and the
// event's sequence, so a redelivered event makes no second delivery). A
// sender POSTs due deliveries and retries failures with exponential
// back-off for up to 24 hours; each attempt is claimed in the bucket
// first, so two processes never send the same attempt.
//
// Signature: the headers Pathway-Delivery-Id, Pathway-Timestamp (Unix
// seconds) and Pathway-Signature, which is "v1=" and the lower-case hex of
// HMAC-SHA256(secret, timestamp + "." + body). A receiver recomputes it
// over the raw body, compares in constant time, rejects timestamps more
// than five minutes old, and deduplicates on the delivery id.
package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// Buckets and the consumer.
const (
	EndpointBucket = "PATHWAY_WEBHOOKS"
	DeliveryBucket = "PATHWAY_DELIVERIES"
	ConsumerName   = "webhooks"
)

// Signature headers.
const (
	HeaderDeliveryID = "Pathway-Delivery-Id"
	HeaderTimestamp  = "Pathway-Timestamp"
	HeaderSignature  = "Pathway-Signature"
)

// RetryFor is how long a failing delivery is retried.
const RetryFor = 24 * time.Hour

// KeepDeliveries is how long a delivery is kept after its last change, to
// be listed and redelivered; then the bucket drops it.
const KeepDeliveries = 30 * 24 * time.Hour

// MaxEndpoints is how many endpoints one partner may register.
const MaxEndpoints = 5

var (
	// ErrInvalid reports an invalid URL or secret. It is a kernel.Invalid
	// error; the errors that wrap it list the fields.
	ErrInvalid = kernel.Errorf(kernel.Invalid, "webhooks: invalid")
	// ErrNotFound reports an endpoint or delivery that does not exist or
	// belongs to another partner. It is a kernel.NotFound error.
	ErrNotFound = kernel.Errorf(kernel.NotFound, "webhooks: not found")
)

// Endpoint is a partner's registered receiver.
type Endpoint struct {
	ID        string    `json:"id"`
	Partner   string    `json:"partner"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID          string          `json:"id"`
	Endpoint    string          `json:"endpoint_id"`
	Partner     string          `json:"partner"`
	Sequence    uint64          `json:"sequence"`
	EventType   string          `json:"event_type"`
	HandoffID   string          `json:"handoff_id"`
	Payload     json.RawMessage `json:"payload"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	RetryUntil  time.Time       `json:"retry_until"`
	LastCode    int             `json:"last_status_code,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt time.Time       `json:"delivered_at,omitzero"`
	// UpdatedAt is when the delivery last changed; it is kept for
	// KeepDeliveries after.
	UpdatedAt time.Time `json:"updated_at"`
}

// Options configure a Service.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Client sends the deliveries; default a client with a 10 s timeout
	// that follows no redirects.
	Client *http.Client
	// Replicas of the buckets; default 1.
	Replicas int
	// Logger gets ids, never payloads or secrets; nil discards.
	Logger *slog.Logger
	// Consumer names the durable consumer; default ConsumerName.
	Consumer string
	// SendEvery is how often Run looks for due deliveries; default 1 s.
	SendEvery time.Duration
	// Deliver makes Run consume handoff events into deliveries and send
	// them; without it Run only follows the buckets (for the API).
	Deliver bool
	// AllowPrivate lets endpoints be on loopback, private and link-local
	// addresses (a receiver on the same machine or network). Off, such
	// URLs are refused at registration and such addresses at connection
	// time, so a partner cannot make pathway probe its own network.
	AllowPrivate bool
	// Ops is the operations endpoint (ops.go), where NotifyOps's notices
	// go; the zero value is none. Every process that sends deliveries
	// must be given the same.
	Ops Ops
}

// ErrConflict reports a request the current state refuses (too many
// endpoints).
// It is a kernel.Conflict error; the errors that wrap it say what.
var ErrConflict = kernel.Errorf(kernel.Conflict, "webhooks: conflict")

// Service registers endpoints, records deliveries and sends them. Its
// methods are safe for concurrent use.
type Service struct {
	store      *events.Store
	endpoints  jetstream.KeyValue
	deliveries jetstream.KeyValue
	opts       Options
	log        *slog.Logger

	mu   sync.Mutex
	eps  map[string]Endpoint
	dels map[string]Delivery
	// ready is closed once both watchers delivered their initial values.
	ready chan struct{}
}

// Open opens (creating when missing) the buckets on js.
func Open(ctx context.Context, js jetstream.JetStream, store *events.Store, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		if !opts.AllowPrivate {
			// Checked on the address actually dialled, after DNS, so a
			// name that later resolves inward is refused too.
			dialer.Control = func(_, address string, _ syscall.RawConn) error {
				host, _, err := net.SplitHostPort(address)
				if err != nil {
					return err
				}
				if ip := net.ParseIP(host); ip == nil || !publicIP(ip) {
					return errPrivateAddress
				}
				return nil
			}
		}
		transport := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true}
		opts.Client = &http.Client{Timeout: 10 * time.Second, Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Consumer == "" {
		opts.Consumer = ConsumerName
	}
	if opts.SendEvery <= 0 {
		opts.SendEvery = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	open := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: desc, Storage: jetstream.FileStorage, Replicas: max(opts.Replicas, 1), History: 1, TTL: ttl})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		return kv, nil
	}
	eps, err := open(EndpointBucket, "pathway partner webhook endpoints", 0)
	if err != nil {
		return nil, err
	}
	dels, err := open(DeliveryBucket, "pathway webhook deliveries", KeepDeliveries)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, endpoints: eps, deliveries: dels, opts: opts, log: log.With("service", "webhooks"),
		eps: opts.Ops.endpoints(), dels: map[string]Delivery{}, ready: make(chan struct{})}, nil
}

// Run follows the buckets and, with Options.Deliver, consumes handoff
// events into deliveries and sends due deliveries, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var initial sync.WaitGroup
	initial.Add(2)
	go func() { errc <- s.watch(ctx, s.endpoints, initial.Done, s.applyEndpoint) }()
	go func() { errc <- s.watch(ctx, s.deliveries, initial.Done, s.applyDelivery) }()
	go func() { initial.Wait(); close(s.ready) }()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
	if !s.opts.Deliver {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		}
	}
	go func() {
		errc <- s.store.Consume(ctx, events.Consumer{Name: s.opts.Consumer, Subjects: []string{events.TypeSubject(handoff.AggregateType)}, OnBadData: events.Park, Logger: s.log}, s.record)
	}()
	t := time.NewTicker(s.opts.SendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-t.C:
			if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("webhook deliveries", "err", err)
			}
		}
	}
}

// Loaded is closed once Run has loaded the endpoints and deliveries.
func (s *Service) Loaded() <-chan struct{} { return s.ready }

func (s *Service) watch(ctx context.Context, kv jetstream.KeyValue, initialDone func(), apply func(key string, value []byte, deleted bool)) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	once := sync.OnceFunc(initialDone)
	defer once()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				once()
				continue
			}
			apply(e.Key(), e.Value(), e.Operation() != jetstream.KeyValuePut)
		}
	}
}

func (s *Service) applyEndpoint(key string, value []byte, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ep Endpoint
	if deleted || json.Unmarshal(value, &ep) != nil {
		delete(s.eps, key)
		return
	}
	s.eps[key] = ep
}

func (s *Service) applyDelivery(key string, value []byte, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d Delivery
	if deleted || json.Unmarshal(value, &d) != nil {
		delete(s.dels, key)
		return
	}
	s.dels[key] = d
}
