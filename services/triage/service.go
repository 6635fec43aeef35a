package triage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/supervisor"
	"google.golang.org/protobuf/proto"
)

// ConsumerName is the durable consumer of the triage service.
const ConsumerName = "triage"

// Service triages every new referral by the rules, as it arrives in the
// log. A redelivered referral is triaged once: the decision is appended
// only while the referral still awaits automatic triage.
type Service struct {
	store *events.Store
	rules *Rules
	now   func() time.Time
	log   *slog.Logger
}

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// Now is the clock the rules see (a person's age); default time.Now.
	Now func() time.Time
	// Logger gets sequences and rule ids, never personal data; nil
	// discards.
	Logger *slog.Logger
}

// New returns the triage service, deciding by rules.
func New(store *events.Store, rules *Rules, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, rules: rules, now: opts.Now, log: log.With("service", "triage")}
}

// Start runs the service's durable consumer (ConsumerName) under sup.
func (s *Service) Start(sup *supervisor.Supervisor) { sup.Go(ConsumerName, supervisor.Func(s.Run)) }

// Run consumes new referrals until ctx ends. Events it cannot decode, or
// keeps failing on, are parked. Its errors are broken invariants
// (events.Consume).
func (s *Service) Run(ctx context.Context) error {
	return s.store.Consume(ctx, events.Consumer{
		Name:      ConsumerName,
		Subjects:  []string{events.TypeSubject(referral.AggregateType)},
		Types:     []string{events.TypeOf(&pathwayv1.ReferralReceived{})},
		OnBadData: events.Park,
		Logger:    s.log,
		// The rules read the person's age and postcode.
		Open: true,
	}, s.handle)
}

func (s *Service) handle(ctx context.Context, rec events.Record) error {
	ev, ok := rec.Payload.(*pathwayv1.ReferralReceived)
	if !ok || rec.Erased {
		return nil // erased before triage: nothing to decide from
	}
	d, err := s.rules.Evaluate(InputFrom(ev, s.now()))
	if err != nil {
		return fmt.Errorf("evaluate rules for referral at %d: %w", rec.Sequence, err)
	}
	cmd := events.Command{
		Actor:          &pathwayv1.Actor{Id: "triage-rules", Role: pathwayv1.Role_ROLE_SYSTEM},
		IdempotencyKey: "triage\x00" + strconv.FormatUint(rec.Sequence, 10),
		CorrelationID:  rec.Envelope.GetCorrelationId(),
		CausationID:    rec.Envelope.GetEventId(),
	}
	_, err = events.Do(ctx, s.store, aggregate.Referral, rec.Aggregate.ID, cmd, aggregate.Existing(func(r *referral.Referral) ([]proto.Message, error) {
		return r.AutoTriage(d.Event())
	}))
	if errors.Is(err, referral.ErrConflict) {
		return nil // already triaged, cancelled or merged: nothing to do
	}
	if err == nil {
		s.log.Info("referral triaged", "seq", rec.Sequence, "rule", d.RuleID, "rules_version", d.RulesVersion)
	}
	return err
}
