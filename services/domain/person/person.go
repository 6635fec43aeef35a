// Package person holds the rule of one open episode per person. A person
// aggregate lists the referrals that opened an episode for one person. Its
// id is a keyed hash of the person's NHS number (or, for a self-referral
// without one, of their name, date of birth and postcode), so neither its
// subject nor its events carry personal data, and only a holder of the key
// can link an id to a person.
//
// Every command that opens an episode (a new referral, a reopen) decides
// from the person's aggregate and claims the episode on it at the version
// it read, before (a new referral) or with (a reopen) the referral's own
// events: two commands for one person never both open an episode, and
// different people never wait for each other. A claim whose referral is
// not in the log yet counts as open for ClaimWindow.
package person

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"google.golang.org/protobuf/proto"
)

// AggregateType is the aggregate type of a person in the event log.
const AggregateType = "person"

// KeySize is the size of the secret that keys person ids.
const KeySize = 32

// Keyer derives person ids from identities with a secret key. It is safe
// for concurrent use.
type Keyer struct {
	secret []byte
}

// NewKeyer returns a Keyer for secret, which must be KeySize random bytes,
// the same for every process on one log.
func NewKeyer(secret []byte) (Keyer, error) {
	if len(secret) != KeySize {
		return Keyer{}, errors.New("person: the key must be 32 bytes")
	}
	return Keyer{secret: slices.Clone(secret)}, nil
}

func (k Keyer) id(kind, value string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(kind + "\x00" + value))
	return hex.EncodeToString(m.Sum(nil))
}

// ByNHS returns the id of the person with this (valid, normalised) NHS
// number.
func (k Keyer) ByNHS(nhs string) string { return k.id("nhs", nhs) }

// ByMatch returns the id of the person with this name, date of birth and
// postcode, compared without case or extra spaces; "" when the date of
// birth is unknown.
func (k Keyer) ByMatch(given, family string, dob *pathwayv1.Date, postcode string) string {
	if dob == nil {
		return ""
	}
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	d := time.Date(int(dob.GetYear()), time.Month(dob.GetMonth()), int(dob.GetDay()), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	return k.id("match", norm(given)+"|"+norm(family)+"|"+d+"|"+strings.ToUpper(strings.ReplaceAll(postcode, " ", "")))
}

// Person is the state of one person's aggregate: the referrals that opened
// an episode for them, oldest first.
type Person struct {
	id        string
	version   uint64
	referrals []string
	claimed   map[string]time.Time // when each referral opened its episode
}

// New returns a person with no events.
func New(id string) *Person { return &Person{id: id} }

// Apply applies one event.
func (p *Person) Apply(c kernel.Change) {
	p.version = c.Sequence
	if e, ok := c.Payload.(*pathwayv1.PersonEpisodeOpened); ok {
		p.referrals = slices.DeleteFunc(p.referrals, func(id string) bool { return id == e.GetReferralId() })
		p.referrals = append(p.referrals, e.GetReferralId())
		if p.claimed == nil {
			p.claimed = map[string]time.Time{}
		}
		p.claimed[e.GetReferralId()] = c.At
	}
}

// ID returns the person's id.
func (p *Person) ID() string { return p.id }

// Version is the sequence of the person's last event.
func (p *Person) Version() uint64 { return p.version }

// Referrals returns the referrals that opened an episode for the person,
// the most recently opened last.
func (p *Person) Referrals() []string { return p.referrals }

// ClaimedAt is when referral id last opened an episode for the person
// (the time its PersonEpisodeOpened was recorded); zero if it never did.
func (p *Person) ClaimedAt(id string) time.Time { return p.claimed[id] }

// ClaimWindow is how long an episode claimed for a referral that is not in
// the log yet counts as open: intake records the claim just before the
// referral, so a claim without its referral is a create under way, or one
// whose process stopped between the two (then, after the window, it is
// ignored; a retry with the same key completes it).
const ClaimWindow = 30 * time.Second

// Open decides that referralID opens an episode for the person, given
// which of their referrals are open now (open reports it). It returns the
// events, or *OpenError naming the open referral.
func (p *Person) Open(referralID string, open func(id string) bool) ([]proto.Message, error) {
	for _, id := range slices.Backward(p.referrals) {
		if id != referralID && open(id) {
			return nil, &OpenError{OpenID: id}
		}
	}
	return []proto.Message{&pathwayv1.PersonEpisodeOpened{ReferralId: referralID}}, nil
}

// OpenError reports that the person already has an open episode.
type OpenError struct {
	OpenID string
}

func (e *OpenError) Error() string { return "the person already has an open referral " + e.OpenID }
