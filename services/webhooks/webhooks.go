// Package webhooks delivers a partner's handoff events to the endpoints it
// registered, signed so the receiver can check they came from pathway.
//
// What the service decides from is a view of the log (View, on the
// projection engine, checkpointed as webhook-deliveries): a partner's
// endpoints are events of its webhook aggregate, and each handoff event
// makes one delivery per endpoint the handoff's partner had registered
// before it (the delivery id is derived from the endpoint and the event's
// sequence, so every process derives the same deliveries). How a
// delivery's round of attempts ended (delivered, or failed after 24 hours)
// and a partner's redelivery are events of the delivery's aggregate.
//
// Outside the log are only an endpoint's secret (the bucket
// PATHWAY_WEBHOOKS: the log is kept for ever and would keep it) and the
// attempt bookkeeping of a round under way (the bucket PATHWAY_DELIVERIES:
// attempts, the next attempt's time, the last answer). A sender POSTs due
// deliveries, each endpoint's oldest event first, and retries failures
// with exponential back-off for up to 24 hours; each attempt is claimed
// in the bucket first, so two processes never send the same attempt. A
// delivery is sent at least once: until the log records its outcome.
//
// The operations endpoint (Options.Ops, ops.go) carries pathway's own
// notices to the operator: NotifyOps raises a notice as the first event of
// a delivery whose id is derived from the notice's key, so it is raised
// once whichever process asks; the view turns it into a delivery to the
// endpoint, which the sender signs, claims and retries like a partner's.
// No partner lists them.
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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/supervisor"
)

// Buckets.
const (
	// EndpointBucket holds each endpoint's secret, by endpoint id.
	EndpointBucket = "PATHWAY_WEBHOOKS"
	// DeliveryBucket holds the attempt bookkeeping of each delivery, by
	// delivery id, for KeepDeliveries after its last change.
	DeliveryBucket = "PATHWAY_DELIVERIES"
)

// Signature headers.
const (
	HeaderDeliveryID = "Pathway-Delivery-Id"
	HeaderTimestamp  = "Pathway-Timestamp"
	HeaderSignature  = "Pathway-Signature"
)

// RetryFor is how long a failing delivery is retried, from its round's
// first attempt.
const RetryFor = 24 * time.Hour

// KeepDeliveries is how long a delivery is kept after its last change, to
// be listed and redelivered.
const KeepDeliveries = 30 * 24 * time.Hour

// MaxEndpoints is how many endpoints one partner may register.
const MaxEndpoints = webhook.MaxEndpoints

var (
	// ErrInvalid reports an invalid URL or secret. It is a kernel.Invalid
	// error; the errors that wrap it list the fields.
	ErrInvalid = kernel.Errorf(kernel.Invalid, "webhooks: invalid")
	// ErrNotFound reports an endpoint or delivery that does not exist or
	// belongs to another partner. It is a kernel.NotFound error.
	ErrNotFound = webhook.ErrNotFound
	// ErrConflict reports a request the current state refuses (too many
	// endpoints). It is a kernel.Conflict error; the errors that wrap it
	// say what.
	ErrConflict = webhook.ErrConflict
)

// Endpoint is an owner's registered receiver.
type Endpoint struct {
	ID string `json:"id"`
	// Partner is the owner's key (webhook.Owner.Key): a partner's id, or
	// "@referrer:" and a referring organisation's ODS code.
	Partner   string    `json:"partner"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery statuses.
const (
	StatusPending   = string(webhook.StatusPending)
	StatusDelivered = string(webhook.StatusDelivered)
	StatusFailed    = string(webhook.StatusFailed)
)

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID          string          `json:"id"`
	Endpoint    string          `json:"endpoint_id"`
	Partner     string          `json:"partner"`
	Sequence    uint64          `json:"sequence"`
	EventType   string          `json:"event_type"`
	HandoffID   string          `json:"handoff_id,omitempty"`
	ReferralID  string          `json:"referral_id,omitempty"`
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

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID generates endpoint ids (the hex of its last six bytes);
	// default uuid.NewRandom.
	NewID func() (uuid.UUID, error)
	// Client sends the deliveries; default a client with a 10 s timeout
	// that follows no redirects.
	Client *http.Client
	// Replicas of the buckets; default 1.
	Replicas int
	// Logger gets ids, never payloads or secrets; nil discards.
	Logger *slog.Logger
	// View names the view and its checkpoint: ViewName unless several
	// services must each keep their own, as in tests.
	View string
	// Checkpoints holds the view's checkpoints (projections.OpenCheckpoints);
	// nil: the view is built from the start of the log on every start.
	Checkpoints jetstream.ObjectStore
	// SendEvery is how often Run looks for due deliveries; default 1 s.
	SendEvery time.Duration
	// Deliver makes Run send deliveries; without it Run only keeps the
	// view and the bookkeeping (for the API).
	Deliver bool
	// AllowPrivate lets endpoints be on loopback, private and link-local
	// addresses (a receiver on the same machine or network). Off, such
	// URLs are refused at registration and such addresses at connection
	// time, so a partner cannot make pathway probe its own network.
	AllowPrivate bool
	// Master wraps the endpoints' secrets at rest (the master key); required.
	Master keys.Wrapper
	// Ops is the operations endpoint (ops.go), where NotifyOps's notices
	// go; the zero value is none. Every process that sends deliveries
	// must be given the same.
	Ops Ops
}

// Service registers endpoints, keeps the deliveries and sends them. Its
// methods are safe for concurrent use.
type Service struct {
	js       jetstream.JetStream
	store    *events.Store
	secrets  jetstream.KeyValue
	attempts jetstream.KeyValue
	opts     Options
	log      *slog.Logger
	view     *View
	engine   *projections.Engine

	mu sync.Mutex
	// sending mirrors the bucket of attempt bookkeeping.
	sending map[string]sending
	// keys caches the endpoints' secrets.
	keys map[string]string
	// loaded is closed once the bookkeeping is loaded; ready once the
	// view has caught up with the log too.
	loaded     chan struct{}
	loadedOnce sync.Once
	ready      chan struct{}
	readyOnce  sync.Once
}

// Open opens (creating when missing) the buckets on js.
func Open(ctx context.Context, js jetstream.JetStream, store *events.Store, opts Options) (*Service, error) {
	if opts.Master == nil {
		return nil, errors.New("webhooks: no master key to wrap the endpoints' secrets")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewRandom
	}
	if opts.Client == nil {
		opts.Client = defaultClient(opts.AllowPrivate)
	}
	if opts.View == "" {
		opts.View = ViewName
	}
	if opts.SendEvery <= 0 {
		opts.SendEvery = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("service", "webhooks")
	open := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: desc, Storage: jetstream.FileStorage, Replicas: max(opts.Replicas, 1), History: 1, TTL: ttl})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		return kv, nil
	}
	secrets, err := open(EndpointBucket, "pathway partner webhook endpoints' secrets", 0)
	if err != nil {
		return nil, err
	}
	attempts, err := open(DeliveryBucket, "pathway webhook delivery attempts", KeepDeliveries)
	if err != nil {
		return nil, err
	}
	view := NewView(opts.View)
	return &Service{js: js, store: store, secrets: secrets, attempts: attempts, opts: opts, log: log, view: view,
		engine:  projections.NewEngine(store, opts.Checkpoints, view, projections.Options{Logger: log}),
		sending: map[string]sending{}, keys: map[string]string{}, loaded: make(chan struct{}), ready: make(chan struct{})}, nil
}

// defaultClient is the client that sends deliveries unless Options give
// one: a 10 s timeout, no redirects and, unless allowPrivate, no
// connections to other than public addresses.
func defaultClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
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
	return &http.Client{Timeout: 10 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// DeliveryCounts returns how many deliveries the service keeps in each
// status (StatusPending, StatusDelivered, StatusFailed; every status is
// present, 0 when none), as of its view: a delivery is kept until
// KeepDeliveries after its round ended. It is safe for concurrent use.
func (s *Service) DeliveryCounts() map[string]int {
	by := s.view.countByStatus()
	return map[string]int{
		StatusPending:   by[webhook.StatusPending],
		StatusDelivered: by[webhook.StatusDelivered],
		StatusFailed:    by[webhook.StatusFailed],
	}
}

// ViewEngine returns the engine that keeps the view, for readiness.
func (s *Service) ViewEngine() *projections.Engine { return s.engine }

// Run runs the service's parts (Start) under a supervisor of its own
// until ctx ends or one of them breaks.
func (s *Service) Run(ctx context.Context) error {
	sup := supervisor.New(ctx, supervisor.Options{Logger: s.log})
	s.Start(sup)
	return sup.Wait()
}

// Start runs the service's parts under sup: its view (Options.View), the
// mirror of the attempt bookkeeping, Backfill (once), and the sender,
// which waits for the other two to be running (Loaded) and then, with
// Options.Deliver, sends the due deliveries every SendEvery.
func (s *Service) Start(sup *supervisor.Supervisor) {
	sup.Go(s.view.Name(), s.engine)
	sup.Go("webhook-attempts", supervisor.Signalled(supervisor.Func(s.follow), s.loaded))
	sup.Go("webhook-backfill", supervisor.Func(s.Backfill))
	sup.Go("webhook-sender", supervisor.Signalled(supervisor.Func(s.sender), s.ready))
}

// sender waits for the bookkeeping and the view, then sends due deliveries
// every SendEvery until ctx ends. A delivery that fails is retried on its
// own back-off; the sender goes on with the others.
func (s *Service) sender(ctx context.Context) error {
	// Answer and send only once the view has read the log's outcomes: a
	// delivery it has not yet seen delivered would be sent again.
	for _, ready := range []<-chan struct{}{s.loaded, s.engine.Running()} {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
	}
	s.readyOnce.Do(func() { close(s.ready) })
	if !s.opts.Deliver {
		return nil
	}
	t := time.NewTicker(s.opts.SendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("webhook deliveries", "err", err)
			}
		}
	}
}

// Loaded is closed once the attempt bookkeeping is loaded and the view
// has caught up with the log since it started: the service answers from
// the state the log had when it started, and sends.
func (s *Service) Loaded() <-chan struct{} { return s.ready }

// Running is Loaded.
func (s *Service) Running() <-chan struct{} { return s.ready }

// follow mirrors the bucket of attempt bookkeeping into s.sending.
func (s *Service) follow(ctx context.Context) error {
	w, err := s.attempts.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.attempts.Bucket(), err)
	}
	defer w.Stop()
	once := func() { s.loadedOnce.Do(func() { close(s.loaded) }) }
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch %s: ended", s.attempts.Bucket())
			}
			if e == nil {
				once()
				continue
			}
			var sd sending
			s.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &sd) != nil {
				delete(s.sending, e.Key())
			} else {
				s.sending[e.Key()] = sd
			}
			s.mu.Unlock()
		}
	}
}
