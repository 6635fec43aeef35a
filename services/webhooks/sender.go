package webhooks

// The sender: due deliveries POSTed, each attempt claimed in the bucket,
// failures retried with back-off.

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
