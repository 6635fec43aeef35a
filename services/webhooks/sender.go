package webhooks

// The sender: due deliveries POSTed, each attempt claimed in the bucket,
// failures retried with back-off, each round's end recorded in the log.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/webhook"
	"google.golang.org/protobuf/proto"
)

// Backoff is the wait after failed attempt n (1-based): 10 s doubling,
// at most an hour.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// sending is the attempt bookkeeping of one delivery's round, kept in
// DeliveryBucket rather than the log: an attempt is claimed there (a
// revision-checked update, so two senders never make the same attempt)
// every time it is made, up to every 10 s, which the log, kept for ever,
// has no reason to hold; only the round's end is an event. Entries
// written before the log held deliveries read as round 0.
type sending struct {
	// Round is the round it counts (webhook.Round.Round).
	Round uint64 `json:"round,omitempty"`
	// Status is where the round stood after the last attempt; an ended
	// round is recorded in the log next.
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	RetryUntil  time.Time `json:"retry_until"`
	LastCode    int       `json:"last_status_code,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SendWorkers is how many endpoints SendDue sends to at once. Each
// endpoint gets one delivery at a time, oldest event first, so a slow or
// dead endpoint holds up only its own deliveries.
const SendWorkers = 8

// senderActor is who records a delivery's outcome.
var senderActor = &pathwayv1.Actor{Id: "webhooks", Role: pathwayv1.Role_ROLE_SYSTEM}

// SendDue sends every pending delivery whose time has come, and returns
// how many it delivered. It sends from the view: call it once the view
// has caught up with the log (Loaded), as Run does, or a delivery whose
// outcome the view has not yet read may be sent again.
func (s *Service) SendDue(ctx context.Context) (int, error) {
	now := s.opts.Now()
	pending := s.view.deliveries(func(d *viewDelivery) bool { return d.Round.Status == webhook.StatusPending })
	type item struct {
		id string
		d  viewDelivery
	}
	byEndpoint := map[string][]item{}
	s.mu.Lock()
	for id, sd := range s.sending {
		if now.Sub(sd.UpdatedAt) > KeepDeliveries {
			delete(s.sending, id) // the bucket has dropped it too
		}
	}
	for id, d := range pending {
		if sd, ok := s.sending[id]; ok && sd.Round == d.Round.Round && sd.Status == StatusPending && now.Before(sd.NextAttempt) {
			continue
		}
		byEndpoint[d.Endpoint] = append(byEndpoint[d.Endpoint], item{id, d})
	}
	s.mu.Unlock()
	queues := make(chan []item, len(byEndpoint))
	for _, due := range byEndpoint {
		// Oldest event first; a retried delivery can still arrive after a
		// newer one, so receivers order by the payload's sequence.
		slices.SortFunc(due, func(a, b item) int {
			return cmp.Or(cmp.Compare(a.d.Sequence, b.d.Sequence), strings.Compare(a.id, b.id))
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
		wg.Go(func() {
			for due := range queues {
				for _, it := range due {
					ok, err := s.attempt(ctx, it.id, it.d, now)
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
		})
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// attempt claims one attempt of delivery id's round in the bucket, sends
// it, records the result, and, when the round has ended, records its end
// in the log. It reports whether the endpoint accepted the delivery.
func (s *Service) attempt(ctx context.Context, id string, d viewDelivery, now time.Time) (bool, error) {
	var sd sending
	var rev uint64
	entry, err := s.attempts.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return false, fmt.Errorf("delivery %s: %w", id, err)
	default:
		rev = entry.Revision()
		if err := json.Unmarshal(entry.Value(), &sd); err != nil {
			return false, fmt.Errorf("delivery %s: %w", id, err)
		}
	}
	if rev == 0 || sd.Round != d.Round.Round {
		// The round's first attempt: its 24 hours start now.
		sd = sending{Round: d.Round.Round, Status: StatusPending, RetryUntil: now.Add(RetryFor).UTC()}
	}
	if sd.Status != StatusPending {
		// The round ended, but the log does not say so yet.
		s.remember(id, sd)
		return false, s.record(ctx, id, sd)
	}
	if now.Before(sd.NextAttempt) {
		s.remember(id, sd)
		return false, nil
	}
	ep, ok := s.endpoint(d.Endpoint)
	if !ok {
		return false, nil // deleted: the view fails the delivery (or no operations endpoint here)
	}
	secret, err := s.secret(ctx, ep.ID)
	if err != nil {
		return false, err
	}
	// Claim the attempt: another sender that read the same revision fails
	// here and leaves it to us.
	sd.Attempts++
	sd.NextAttempt, sd.UpdatedAt = now.Add(Backoff(sd.Attempts)).UTC(), now.UTC()
	if rev, err = s.put(ctx, id, sd, rev); err != nil {
		if lostRace(err) {
			return false, nil
		}
		return false, fmt.Errorf("delivery %s: claim: %w", id, err)
	}
	s.remember(id, sd)
	code, sendErr := s.send(ctx, ep, secret, id, d, now)
	sd.LastCode, sd.LastError = code, ""
	switch {
	case sendErr == nil:
		sd.Status, sd.DeliveredAt, sd.NextAttempt = StatusDelivered, now.UTC(), time.Time{}
	default:
		sd.LastError = sendErr.Error()
		if !sd.NextAttempt.Before(sd.RetryUntil) {
			sd.Status, sd.NextAttempt = StatusFailed, time.Time{}
		}
		s.log.Info("webhook delivery failed", "delivery", id, "endpoint", ep.ID, "attempt", sd.Attempts, "status_code", code, "next_attempt", sd.NextAttempt)
	}
	sd.UpdatedAt = s.opts.Now().UTC()
	if _, err := s.put(ctx, id, sd, rev); err != nil {
		return sendErr == nil, fmt.Errorf("delivery %s: save: %w", id, err)
	}
	s.remember(id, sd)
	if sd.Status != StatusPending {
		return sendErr == nil, s.record(ctx, id, sd)
	}
	return sendErr == nil, nil
}

// put writes sd at revision rev (0: a new entry) and returns the new
// revision.
func (s *Service) put(ctx context.Context, id string, sd sending, rev uint64) (uint64, error) {
	data, _ := json.Marshal(sd)
	if rev == 0 {
		return s.attempts.Create(ctx, id, data)
	}
	return s.attempts.Update(ctx, id, data, rev)
}

// lostRace reports whether a write failed because another sender wrote
// first.
func lostRace(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

func (s *Service) remember(id string, sd sending) {
	s.mu.Lock()
	s.sending[id] = sd
	s.mu.Unlock()
}

// record appends the end of delivery id's round to the log, once however
// often it is called.
func (s *Service) record(ctx context.Context, id string, sd sending) error {
	round := strconv.FormatUint(sd.Round, 10)
	cmd := events.Command{Actor: senderActor, IdempotencyKey: "webhook-outcome\x00" + id + "\x00" + round}
	_, err := events.Do(ctx, s.store, aggregate.WebhookDelivery, id, cmd, func(d *webhook.Delivery) ([]proto.Message, error) {
		return d.Outcome(sd.Round, webhook.Status(sd.Status), sd.Attempts, sd.LastCode, sd.LastError), nil
	})
	if err != nil {
		return fmt.Errorf("delivery %s: record its end: %w", id, err)
	}
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

// send POSTs delivery id to ep, signed with secret.
func (s *Service) send(ctx context.Context, ep Endpoint, secret, id string, d viewDelivery, now time.Time) (int, error) {
	ts := now.Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pathway-webhooks/1")
	req.Header.Set(HeaderDeliveryID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, d.Payload))
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
