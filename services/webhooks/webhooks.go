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
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
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
		eps: map[string]Endpoint{}, dels: map[string]Delivery{}, ready: make(chan struct{})}, nil
}

var errPrivateAddress = errors.New("the address is not a public one")

// publicIP reports whether ip is a public unicast address: not loopback,
// private (RFC 1918, unique-local), link-local, shared (100.64.0.0/10),
// multicast or unspecified.
func publicIP(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip4 := ip.To4(); ip4 != nil && ip4[0] == 100 && ip4[1]&0xc0 == 64 {
		return false
	}
	return ip.IsGlobalUnicast()
}

// ValidateURL checks an endpoint URL: https with a host and no user
// information. Unless allowPrivate, the host must not be a loopback,
// private or link-local address or a name such as localhost; with it,
// plain http is allowed to a loopback address (a receiver on the same
// machine). Its error wraps ErrInvalid and names the field "url"; nil
// means the URL is acceptable.
func ValidateURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || len(raw) > 2000 {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be an absolute https URL"})
	}
	if u.User != nil {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must not carry a user name or password"})
	}
	host := strings.ToLower(u.Hostname())
	ip := net.ParseIP(host)
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") || (ip != nil && ip.IsLoopback())
	if !allowPrivate && (local || (ip != nil && !publicIP(ip)) || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local") || !strings.Contains(host, ".") && ip == nil) {
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must name a public host; loopback, private and link-local addresses are refused"})
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowPrivate && local {
			return nil
		}
		return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be https"})
	}
	return ErrInvalid.WithFields(kernel.FieldError{Field: "url", Reason: "must be an https URL"})
}

// Register adds an endpoint for partner. The secret signs every delivery:
// 16 to 256 printable characters. Errors: ErrInvalid.
func (s *Service) Register(ctx context.Context, partner, rawURL, secret string) (Endpoint, error) {
	var errs []kernel.FieldError
	if ke, ok := errors.AsType[*kernel.Error](ValidateURL(rawURL, s.opts.AllowPrivate)); ok {
		errs = append(errs, ke.Fields...)
	}
	if len(secret) < 16 || len(secret) > 256 || strings.ContainsFunc(secret, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		errs = append(errs, kernel.FieldError{Field: "secret", Reason: "must be 16 to 256 printable ASCII characters"})
	}
	if len(errs) > 0 {
		return Endpoint{}, ErrInvalid.WithFields(errs...)
	}
	if len(s.Endpoints(partner)) >= MaxEndpoints {
		return Endpoint{}, ErrConflict.Errorf("at most %d endpoints per partner; delete one first", MaxEndpoints)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	ep := Endpoint{ID: hex.EncodeToString(b[:]), Partner: partner, URL: rawURL, Secret: secret, CreatedAt: s.opts.Now().UTC()}
	data, _ := json.Marshal(ep)
	if _, err := s.endpoints.Create(ctx, ep.ID, data); err != nil {
		return Endpoint{}, fmt.Errorf("register endpoint: %w", err)
	}
	s.mu.Lock()
	s.eps[ep.ID] = ep
	s.mu.Unlock()
	return ep, nil
}

// Endpoints lists partner's endpoints, oldest first, without secrets.
func (s *Service) Endpoints(partner string) []Endpoint {
	out := s.endpointsOf(partner)
	for i := range out {
		out[i].Secret = ""
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Delete removes one of partner's endpoints. Errors: ErrNotFound.
func (s *Service) Delete(ctx context.Context, partner, id string) error {
	s.mu.Lock()
	ep, ok := s.eps[id]
	s.mu.Unlock()
	if !ok || ep.Partner != partner {
		return ErrNotFound.Errorf("no such webhook")
	}
	if err := s.endpoints.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	s.mu.Lock()
	delete(s.eps, id)
	s.mu.Unlock()
	return nil
}

// Deliveries lists partner's deliveries, newest first, optionally only
// those in status.
func (s *Service) Deliveries(partner, status string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.dels {
		if d.Partner == partner && (status == "" || d.Status == status) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int {
		if a.Sequence != b.Sequence {
			return cmp.Compare(b.Sequence, a.Sequence)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Delivery returns one of partner's deliveries. Errors: ErrNotFound.
func (s *Service) Delivery(partner, id string) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dels[id]
	if !ok || d.Partner != partner {
		return Delivery{}, ErrNotFound.Errorf("no such delivery")
	}
	return d, nil
}

// Redeliver queues one of partner's deliveries to be sent again now, with
// a fresh 24-hour retry window. Errors: ErrNotFound.
func (s *Service) Redeliver(ctx context.Context, partner, id string) (Delivery, error) {
	if _, err := s.Delivery(partner, id); err != nil {
		return Delivery{}, err
	}
	for range 5 {
		entry, err := s.deliveries.Get(ctx, id)
		if err != nil {
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
		var d Delivery
		if err := json.Unmarshal(entry.Value(), &d); err != nil {
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
		now := s.opts.Now().UTC()
		d.Status, d.NextAttempt, d.RetryUntil, d.UpdatedAt = StatusPending, now, now.Add(RetryFor), now
		data, _ := json.Marshal(d)
		_, err = s.deliveries.Update(ctx, id, data, entry.Revision())
		if err == nil {
			s.remember(d)
			return d, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) { // not a lost race: a real failure
			return Delivery{}, fmt.Errorf("redeliver: %w", err)
		}
	}
	return Delivery{}, fmt.Errorf("redeliver %s: %w", id, events.ErrConcurrency)
}

func (s *Service) remember(d Delivery) {
	s.mu.Lock()
	s.dels[d.ID] = d
	s.mu.Unlock()
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

// Ready reports whether Run has loaded the endpoints and deliveries.
func (s *Service) Ready() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

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

// deliveryNamespace derives delivery ids.
var deliveryNamespace = uuid.MustParse("8b5e7f4a-1c2d-5e3f-9a8b-7c6d5e4f3a2b")

// Payload is the JSON body of a delivery. It names the handoff and what
// happened to it; the partner reads the handoff itself (and only its
// shared fields) through the partner API.
type Payload struct {
	DeliveryID string    `json:"delivery_id"`
	Type       string    `json:"type"`
	HandoffID  string    `json:"handoff_id"`
	ServiceID  string    `json:"service_id"`
	Status     string    `json:"status"`
	Sequence   uint64    `json:"sequence"`
	OccurredAt time.Time `json:"occurred_at"`
	RespondBy  time.Time `json:"respond_by"`
	Reminder   int       `json:"reminder,omitempty"`
	Link       string    `json:"link"`
}

// eventNames are the payload types of the handoff events.
var eventNames = map[string]string{
	"HandoffRequested": "handoff.requested", "HandoffAccepted": "handoff.accepted", "HandoffRejected": "handoff.rejected",
	"HandoffStarted": "handoff.started", "HandoffPutOnHold": "handoff.on_hold", "HandoffCompleted": "handoff.completed",
	"HandoffFailed": "handoff.failed", "HandoffCancelled": "handoff.cancelled", "HandoffExpired": "handoff.expired",
	"HandoffReminderSent": "handoff.reminder", "HandoffEnteredInError": "handoff.entered_in_error",
}

// record turns one handoff event into a delivery per endpoint of the
// handoff's partner. It is idempotent: the delivery ids are derived.
func (s *Service) record(ctx context.Context, rec events.Record) error {
	typ, ok := eventNames[strings.TrimPrefix(rec.Type, "pathway.v1.")]
	if !ok {
		return nil
	}
	recs, _, err := s.store.Load(ctx, rec.Aggregate)
	if err != nil {
		return fmt.Errorf("load %s: %w", rec.Aggregate, err)
	}
	// The handoff as it was right after this event.
	upTo := slices.IndexFunc(recs, func(r events.Record) bool { return r.Sequence > rec.Sequence })
	if upTo < 0 {
		upTo = len(recs)
	}
	h := handoff.Replay(rec.Aggregate.ID, aggregate.Changes(recs[:upTo]))
	if !h.Exists() {
		return nil
	}
	var reminder int
	if e, ok := rec.Payload.(interface{ GetReminderNumber() uint32 }); ok {
		reminder = int(e.GetReminderNumber())
	}
	now := s.opts.Now().UTC()
	for _, ep := range s.endpointsOf(h.PartnerID()) {
		id := uuid.NewSHA1(deliveryNamespace, []byte(ep.ID+"/"+strconv.FormatUint(rec.Sequence, 10))).String()
		body, _ := json.Marshal(Payload{DeliveryID: id, Type: typ, HandoffID: h.ID(), ServiceID: h.Requested().GetServiceId(), Status: string(h.Status()),
			Sequence: rec.Sequence, OccurredAt: rec.Envelope.GetRecordedAt().AsTime().UTC(), RespondBy: h.RespondBy().UTC(), Reminder: reminder,
			Link: "/v1/partner/handoffs/" + h.ID()})
		d := Delivery{ID: id, Endpoint: ep.ID, Partner: ep.Partner, Sequence: rec.Sequence, EventType: typ, HandoffID: h.ID(), Payload: body,
			Status: StatusPending, NextAttempt: now, RetryUntil: now.Add(RetryFor), CreatedAt: now, UpdatedAt: now}
		data, _ := json.Marshal(d)
		_, err := s.deliveries.Create(ctx, id, data)
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			// A redelivered event: the delivery exists, maybe already sent.
		case err != nil:
			return fmt.Errorf("record delivery: %w", err)
		default:
			s.remember(d)
		}
	}
	return nil
}

func (s *Service) endpointsOf(partner string) []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Endpoint
	for _, ep := range s.eps {
		if ep.Partner == partner {
			out = append(out, ep)
		}
	}
	return out
}

// Backoff is the wait after failed attempt n (1-based): 10 s doubling,
// at most an hour.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// SendWorkers is how many endpoints SendDue sends to at once. Each
// endpoint gets one delivery at a time, oldest event first, so a slow or
// dead endpoint holds up only its own deliveries.
const SendWorkers = 8

// SendDue sends every pending delivery whose time has come, and returns
// how many it delivered.
func (s *Service) SendDue(ctx context.Context) (int, error) {
	now := s.opts.Now()
	s.mu.Lock()
	byEndpoint := map[string][]Delivery{}
	for id, d := range s.dels {
		if now.Sub(d.UpdatedAt) > KeepDeliveries {
			delete(s.dels, id) // the bucket has dropped it too
			continue
		}
		if d.Status == StatusPending && !now.Before(d.NextAttempt) {
			byEndpoint[d.Endpoint] = append(byEndpoint[d.Endpoint], d)
		}
	}
	s.mu.Unlock()
	queues := make(chan []Delivery, len(byEndpoint))
	for _, due := range byEndpoint {
		// Oldest event first; a retried delivery can still arrive after a
		// newer one, so receivers order by the payload's sequence.
		slices.SortFunc(due, func(a, b Delivery) int {
			return cmp.Or(cmp.Compare(a.Sequence, b.Sequence), strings.Compare(a.ID, b.ID))
		})
		queues <- due
	}
	close(queues)
	var (
		mu   sync.Mutex
		sent int
		errs []error
		wg   sync.WaitGroup
	)
	for range min(SendWorkers, len(byEndpoint)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range queues {
				for _, d := range due {
					ok, err := s.attempt(ctx, d.ID, now)
					mu.Lock()
					if ok {
						sent++
					}
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// attempt claims one attempt of delivery id in the bucket, sends it, and
// records the result.
func (s *Service) attempt(ctx context.Context, id string, now time.Time) (bool, error) {
	entry, err := s.deliveries.Get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("delivery %s: %w", id, err)
	}
	var d Delivery
	if err := json.Unmarshal(entry.Value(), &d); err != nil {
		return false, fmt.Errorf("delivery %s: %w", id, err)
	}
	if d.Status != StatusPending || now.Before(d.NextAttempt) {
		s.remember(d)
		return false, nil
	}
	s.mu.Lock()
	ep, ok := s.eps[d.Endpoint]
	s.mu.Unlock()
	d.Attempts++
	if !ok {
		d.Status, d.LastError = StatusFailed, "the endpoint was deleted"
		return false, s.save(ctx, d, entry.Revision())
	}
	// Claim the attempt: another sender that read the same revision fails
	// here and leaves it to us.
	d.NextAttempt, d.UpdatedAt = now.Add(Backoff(d.Attempts)), now.UTC()
	data, _ := json.Marshal(d)
	rev, err := s.deliveries.Update(ctx, id, data, entry.Revision())
	if err != nil {
		return false, nil
	}
	code, sendErr := s.send(ctx, ep, d, now)
	d.LastCode, d.LastError = code, ""
	switch {
	case sendErr == nil:
		d.Status, d.DeliveredAt, d.NextAttempt = StatusDelivered, now.UTC(), time.Time{}
	default:
		d.LastError = sendErr.Error()
		if !d.NextAttempt.Before(d.RetryUntil) {
			d.Status, d.NextAttempt = StatusFailed, time.Time{}
		}
		s.log.Info("webhook delivery failed", "delivery", d.ID, "endpoint", ep.ID, "attempt", d.Attempts, "status_code", code, "next_attempt", d.NextAttempt)
	}
	return sendErr == nil, s.save(ctx, d, rev)
}

func (s *Service) save(ctx context.Context, d Delivery, rev uint64) error {
	d.UpdatedAt = s.opts.Now().UTC()
	data, _ := json.Marshal(d)
	if _, err := s.deliveries.Update(ctx, d.ID, data, rev); err != nil {
		return fmt.Errorf("delivery %s: save: %w", d.ID, err)
	}
	s.remember(d)
	return nil
}

// sendFailure turns a transport error into what a partner is told: the
// kind of failure, without addresses or internal detail.
func sendFailure(err error) error {
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errPrivateAddress):
		return errors.New("could not connect: the host is not on a public address")
	case errors.As(err, &dnsErr):
		return errors.New("could not resolve the host name")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return errors.New("TLS handshake failed")
	}
	return errors.New("could not connect")
}

// Sign returns the Pathway-Signature value of body sent at timestamp.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", timestamp)
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver would: the signature over the
// timestamp and body, and a timestamp within tolerance of now.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(header.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return errors.New("missing or malformed " + HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(header.Get(HeaderSignature))) {
		return errors.New("signature does not match")
	}
	return nil
}

func (s *Service) send(ctx context.Context, ep Endpoint, d Delivery, now time.Time) (int, error) {
	ts := now.Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pathway-webhooks/1")
	req.Header.Set(HeaderDeliveryID, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(ep.Secret, ts, d.Payload))
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return 0, sendFailure(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
