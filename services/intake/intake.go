// Package intake is the front door of pathway: it turns a validated
// submission into a ReferralReceived event (with a safeguarding escalation
// when a concern is raised), at most once per idempotency key, and never
// opens a second episode for a person who already has an open one.
package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/person"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
	"google.golang.org/protobuf/proto"
)

// DuplicateError reports that the person already has an open referral.
// Its kind is kernel.Conflict: it wraps errOpenEpisode.
type DuplicateError struct {
	// OpenID is the open referral.
	OpenID string
	// Organisation is the ODS code of the organisation that made the open
	// referral: "" when it is not in the log yet (a create under way), so
	// not known.
	Organisation string
}

func (e *DuplicateError) Error() string {
	return "the person already has an open referral " + e.OpenID
}

// Unwrap returns the kernel.Conflict error that says what is refused, so
// kernel.KindOf(err) is kernel.Conflict.
func (e *DuplicateError) Unwrap() error { return errOpenEpisode }

var errOpenEpisode = kernel.Errorf(kernel.Conflict, "only one open referral per person is allowed; cancel the open one first to refer again")

// idNamespace derives referral ids from idempotency keys, so a retry
// addresses the same referral.
var idNamespace = uuid.MustParse("6f1d3c2a-5b7e-4e8a-9c0d-2a4b6c8e0f13")

// PersonKeyBucket is the key-value bucket that holds the secret keying
// person ids (person.Keyer), shared by every pathway process on one log.
const PersonKeyBucket = "PATHWAY_INTAKE"

// OpenPersonKeyer returns the Keyer of person ids, creating its secret in
// PersonKeyBucket when missing, stored wrapped by wrap (the master key).
func OpenPersonKeyer(ctx context.Context, js jetstream.JetStream, replicas int, wrap keys.Wrapper) (person.Keyer, error) {
	secret, err := keys.Secret(ctx, js, PersonKeyBucket, "person-key", "pathway intake: the secret that keys person ids", person.KeySize, replicas, wrap)
	if err != nil {
		return person.Keyer{}, fmt.Errorf("person key: %w", err)
	}
	return person.NewKeyer(secret)
}

// Service submits, cancels, merges and changes referrals. It is safe for
// concurrent use.
type Service struct {
	store   *events.Store
	people  person.Keyer
	now     func() time.Time
	newID   func() (uuid.UUID, error)
	matches MatchFinder
}

// Options configure a Service. The zero value of each field picks its
// default.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID generates the ids of referrals submitted without an
	// Idempotency-Key or external reference; default uuid.NewV7.
	NewID func() (uuid.UUID, error)
	// Matches finds open referrals by person match (FindMatches on a
	// Matches view). With it, a referral with an NHS number is recorded
	// on no person aggregate but that of its NHS number: a self-referral
	// without one finds it here. Without it, the referral is recorded on
	// the person aggregate of its match too (a write more per referral).
	Matches MatchFinder
}

// New returns an intake service on store; people keys the person
// aggregates that guard one open episode per person.
func New(store *events.Store, people person.Keyer, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewV7
	}
	return &Service{store: store, people: people, now: opts.Now, newID: opts.NewID, matches: opts.Matches}
}

// Submission is one submit request.
type Submission struct {
	referral.Submission
	// Actor is who submits (from the API key).
	Actor *pathwayv1.Actor
	// IdempotencyKey is the Idempotency-Key header, when sent.
	IdempotencyKey string
	// Channel is "json" or "fhir".
	Channel string
	// CorrelationID ties the events to the request.
	CorrelationID string
}

// Result is the outcome of a submit.
type Result struct {
	ID       string
	Status   referral.Status
	Sequence uint64
	// Created is false when the submit was a retry of an earlier one.
	Created bool
	// PossibleDuplicateOf names an open referral that matched a
	// self-referral without an NHS number on name, date of birth and
	// postcode.
	PossibleDuplicateOf string
}

// Submit records a new referral: it claims the episode on the person's
// aggregate, then appends the referral's events, two appends in turn (see
// openEpisode for the claim's rules). Errors:
// a kernel.Invalid error listing the invalid fields (nothing was written),
// *DuplicateError (the person has an open referral), or a storage error.
func (s *Service) Submit(ctx context.Context, sub Submission) (Result, error) {
	received, errs := sub.Submission.Event(s.now())
	if len(errs) > 0 {
		return Result{}, kernel.InvalidFields(errs...)
	}
	received.Channel = sub.Channel

	org := received.GetReferrer().GetOrganisation()
	id, key := "", ""
	switch {
	case sub.IdempotencyKey != "":
		key = org + "\x00key\x00" + sub.IdempotencyKey
	case received.GetExternalReference() != "":
		key = org + "\x00ref\x00" + received.GetExternalReference()
	}
	if key != "" {
		id = referralID(key)
	} else {
		u, err := s.newID()
		if err != nil {
			return Result{}, err
		}
		id = u.String()
	}
	cmd := events.Command{Actor: sub.Actor, IdempotencyKey: key, CorrelationID: sub.CorrelationID}
	var created bool
	var ev *pathwayv1.ReferralReceived
	seq, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		// The claim, the name hint and then the referral, each appended on
		// its own: a batch costs the log far more (docs/PERFORMANCE.md).
		tx.InTurn()
		created = false
		ref, err := events.Load(tx, aggregate.Referral, id)
		var retry *events.Retry
		if errors.As(err, &retry) || err == nil && ref.Exists() {
			// A retry, answered below; or this call's own earlier
			// attempt, whose answer the log lost.
			created = tx.MayHaveAppended() && ev != nil
			return err
		}
		if err != nil {
			return err
		}
		ev = proto.Clone(received).(*pathwayv1.ReferralReceived)
		p := ev.GetPerson()
		ev.PersonMatch = s.people.ByMatch(p.GetGivenName(), p.GetFamilyName(), p.GetDateOfBirth(), p.GetPostcode())
		dup, err := s.openEpisode(tx, id, p, false)
		if err != nil {
			return err
		}
		ev.PossibleDuplicateOf = dup
		tx.Emit(aggregate.Referral.Aggregate(id), referral.Receive(ev)...)
		created = true
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	if !created {
		return s.existing(ctx, id)
	}
	return Result{ID: id, Status: referral.StatusReceived, Sequence: seq, Created: true, PossibleDuplicateOf: ev.GetPossibleDuplicateOf()}, nil
}

// referralID is the id of the referral a scoped key makes.
func referralID(scopedKey string) string {
	return uuid.NewSHA1(idNamespace, []byte(scopedKey)).String()
}

// ReferralID returns the id of the referral that organisation org made
// (or will make) with idempotencyKey: a later request finds it again by
// the same key, as a FHIR message's cancellation does by the sender's
// reference of its ServiceRequest.
func ReferralID(org, idempotencyKey string) string {
	return referralID(org + "\x00key\x00" + idempotencyKey)
}

// openEpisode records within tx that referral id opens an episode for the
// person: on the aggregate of their NHS number, where an open episode
// refuses it (*DuplicateError), and on that of their name, date of birth
// and postcode (their match), where an open episode only flags it as a
// possible duplicate when there is no NHS number. It returns that possible
// duplicate. A new referral with an NHS number is recorded on its match
// only when the service has no Matches view (the view finds it by the
// person_match of its ReferralReceived); a reopened one always is (its
// ReferralReopened names no match).
func (s *Service) openEpisode(tx *events.Tx, id string, p *pathwayv1.Person, reopen bool) (string, error) {
	if nhs := p.GetNhsNumber(); nhs != "" {
		pid := s.people.ByNHS(nhs)
		who, claimed, err := s.loadPerson(tx, pid)
		if err != nil {
			return "", err
		}
		if !claimed {
			open, err := s.openOf(tx, who, id)
			if err != nil {
				return "", err
			}
			opened, err := who.Open(id, func(rid string) bool { return open[rid] })
			var oe *person.OpenError
			if errors.As(err, &oe) {
				r, err := events.Load(tx, aggregate.Referral, oe.OpenID)
				if err != nil {
					return "", err
				}
				return "", &DuplicateError{OpenID: oe.OpenID, Organisation: r.Received().GetReferrer().GetOrganisation()}
			}
			if err != nil {
				return "", err
			}
			tx.Emit(aggregate.Person.Aggregate(pid), opened...)
		}
	}
	mid := s.people.ByMatch(p.GetGivenName(), p.GetFamilyName(), p.GetDateOfBirth(), p.GetPostcode())
	if mid == "" {
		return "", nil
	}
	opened := &pathwayv1.PersonEpisodeOpened{ReferralId: id}
	if p.GetNhsNumber() != "" {
		if s.matches == nil || reopen {
			// Recorded for self-referrals to find, but not decided
			// from: no version check, so people who share a name, date
			// of birth and postcode never wait for each other.
			// (Appended again by a retry, the command's key makes it
			// once.)
			tx.EmitAnyVersion(aggregate.Person.Aggregate(mid), opened)
		}
		return "", nil
	}
	// Without an NHS number a match is only a hint: flag the oldest open
	// referral of those recorded on the match's aggregate (self-referrals,
	// reopened referrals, those received before the view) and those the
	// view finds.
	who, claimed, err := s.loadPerson(tx, mid)
	if err != nil {
		return "", err
	}
	open, err := s.openOf(tx, who, id)
	if err != nil {
		return "", err
	}
	if s.matches != nil {
		found, err := s.matches.Matching(tx.Context(), mid)
		if err != nil {
			return "", fmt.Errorf("possible duplicates: %w", err)
		}
		for _, rid := range found {
			if _, seen := open[rid]; seen || rid == id {
				continue
			}
			r, err := events.Load(tx, aggregate.Referral, rid)
			if err != nil {
				return "", err
			}
			open[rid] = r.Exists() && r.Status().Active()
		}
	}
	dup, first := "", time.Time{}
	for rid, isOpen := range open {
		if !isOpen {
			continue
		}
		r, err := events.Load(tx, aggregate.Referral, rid) // loaded above: from the cache
		if err != nil {
			return "", err
		}
		at := r.ReceivedAt()
		if !r.Exists() {
			at = who.ClaimedAt(rid) // a create under way
		}
		if dup == "" || at.Before(first) || at.Equal(first) && rid < dup {
			dup, first = rid, at
		}
	}
	if !claimed {
		tx.Emit(aggregate.Person.Aggregate(mid), opened)
	}
	return dup, nil
}

// loadPerson loads a person within tx. claimed reports that the person
// already carries this command's claim: an earlier attempt appended it and
// did not get as far as the referral (the command is appended in turn).
func (s *Service) loadPerson(tx *events.Tx, pid string) (who *person.Person, claimed bool, err error) {
	who, err = events.Load(tx, aggregate.Person, pid)
	var retry *events.Retry
	if errors.As(err, &retry) {
		return who, true, nil
	}
	return who, false, err
}

// openOf reports which of the person's referrals other than self are open
// now: in the log and active, or claimed within person.ClaimWindow and not
// in the log yet (a create under way).
func (s *Service) openOf(tx *events.Tx, who *person.Person, self string) (map[string]bool, error) {
	open := map[string]bool{}
	for _, rid := range who.Referrals() {
		if rid == self {
			continue
		}
		r, err := events.Load(tx, aggregate.Referral, rid)
		if err != nil {
			return nil, err
		}
		if r.Exists() {
			open[rid] = r.Status().Active()
		} else {
			open[rid] = s.now().Before(who.ClaimedAt(rid).Add(person.ClaimWindow))
		}
	}
	return open, nil
}

// existing answers a retried submit with the referral as it is now.
func (s *Service) existing(ctx context.Context, id string) (Result, error) {
	r, version, err := events.Get(ctx, s.store, aggregate.Referral, id)
	if err != nil {
		return Result{}, err
	}
	return Result{ID: id, Status: r.Status(), Sequence: version}, nil
}

// change runs a command on an existing referral. Errors: events.ErrNotFound,
// decide's error, or a storage error.
func (s *Service) change(ctx context.Context, id string, cmd events.Command, decide func(*referral.Referral) ([]proto.Message, error)) (uint64, error) {
	return events.Do(ctx, s.store, aggregate.Referral, id, cmd, aggregate.Existing(decide))
}

// Cancel cancels an active referral (BaRS revoked or entered-in-error).
func (s *Service) Cancel(ctx context.Context, id string, cmd events.Command, reason pathwayv1.CancelReason, note string) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.Cancel(reason, note)
	})
}

// CancelAt cancels the referral as Cancel does, if it is still at version
// (a version-aware update: FHIR's If-Match): otherwise its error wraps
// referral.ErrStale. The version is checked within the command, at the
// version the cancellation is appended at, so no change comes in between.
func (s *Service) CancelAt(ctx context.Context, id string, version uint64, cmd events.Command, reason pathwayv1.CancelReason, note string) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		if err := r.At(version); err != nil {
			return nil, err
		}
		return r.Cancel(reason, note)
	})
}

// Triage records a staff triage decision, or overrides an automatic one.
func (s *Service) Triage(ctx context.Context, id string, cmd events.Command, d *pathwayv1.ReferralTriaged) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.StaffTriage(proto.Clone(d).(*pathwayv1.ReferralTriaged))
	})
}

// Merge merges the duplicate referral dupID into survivorID in one atomic
// command: the duplicate closes as merged, and the survivor records what
// it absorbed.
func (s *Service) Merge(ctx context.Context, dupID, survivorID string, cmd events.Command, reason string) (uint64, error) {
	return s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		dup, err := events.Load(tx, aggregate.Referral, dupID)
		if err != nil {
			return err
		}
		if !dup.Exists() {
			return fmt.Errorf("referral %s: %w", dupID, events.ErrNotFound)
		}
		surv, err := events.Load(tx, aggregate.Referral, survivorID)
		if err != nil {
			return err
		}
		if !surv.Exists() {
			return referral.ErrConflict.Errorf("referral %s does not exist", survivorID)
		}
		d, sv, err := dup.MergeInto(surv, reason)
		if err != nil {
			return err
		}
		tx.Emit(aggregate.Referral.Aggregate(dupID), d...)
		tx.Emit(aggregate.Referral.Aggregate(survivorID), sv...)
		return nil
	})
}

// Reopen reopens a discharged or revoked referral, unless the person has
// opened another episode since (*DuplicateError); the reopened episode is
// recorded on the person's aggregate in the same atomic command.
func (s *Service) Reopen(ctx context.Context, id string, cmd events.Command, reason string) (uint64, error) {
	return s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		r, err := events.Load(tx, aggregate.Referral, id)
		if err != nil {
			return err
		}
		if !r.Exists() {
			return fmt.Errorf("referral %s: %w", id, events.ErrNotFound)
		}
		evs, err := r.Reopen(reason)
		if err != nil {
			return err
		}
		if _, err := s.openEpisode(tx, id, r.Received().GetPerson(), true); err != nil {
			return err
		}
		tx.Emit(aggregate.Referral.Aggregate(id), evs...)
		return nil
	})
}

// Discharge closes an active episode.
func (s *Service) Discharge(ctx context.Context, id string, cmd events.Command, reason pathwayv1.DischargeReason, note string) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.Discharge(reason, note)
	})
}

// RecordContact records a contact on an assigned referral.
func (s *Service) RecordContact(ctx context.Context, id string, cmd events.Command, c *pathwayv1.ContactRecorded) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.RecordContact(proto.Clone(c).(*pathwayv1.ContactRecorded), s.now())
	})
}

// AgreePlan records an agreed support plan on an assigned referral.
func (s *Service) AgreePlan(ctx context.Context, id string, cmd events.Command, whatMatters string, goals []*pathwayv1.Goal) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.AgreePlan(whatMatters, goals)
	})
}

// MeasureOutcome records a wellbeing measure on an open episode.
func (s *Service) MeasureOutcome(ctx context.Context, id string, cmd events.Command, m *pathwayv1.OutcomeMeasured) (uint64, error) {
	return s.change(ctx, id, cmd, func(r *referral.Referral) ([]proto.Message, error) {
		return r.MeasureOutcome(proto.Clone(m).(*pathwayv1.OutcomeMeasured))
	})
}
