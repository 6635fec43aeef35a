package dashboard

import (
	"encoding/json"
	"io"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// InitialsName is the name and checkpoint key of the Initials read model.
const InitialsName = "dashboard-initials"

// Initials is the dashboard's own read model: the initials of the person
// of every referral (referral.Initials, as the API's pseudonymised views
// show them), which is all of a person the ops pages show. It is
// built from ReferralReceived events and implements
// projections.Projection; read it through its engine.
type Initials struct {
	Of map[string]string `json:"of"`
}

// Erased is what the pages show for a person whose data was erased.
const Erased = "(erased)"

// NewInitials returns an empty read model.
func NewInitials() *Initials { i := &Initials{}; i.Reset(); return i }

// Name returns InitialsName.
func (i *Initials) Name() string { return InitialsName }

// Subject returns the referral events.
func (i *Initials) Subject() string { return events.TypeSubject("referral") }

// EventTypes returns the event types Apply uses (projections.Typed).
func (i *Initials) EventTypes() []string {
	return events.TypesOf(&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralErased{})
}

// Personal reports that the model reads the person's names (sealed
// fields): it keeps only their initials, and forgets them on erasure.
func (i *Initials) Personal() bool { return true }

// Reset empties the model.
func (i *Initials) Reset() { i.Of = map[string]string{} }

// Apply applies one referral event.
func (i *Initials) Apply(rec events.Record) error {
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralReceived:
		if rec.Erased {
			i.Of[rec.Aggregate.ID] = Erased
		} else {
			i.Of[rec.Aggregate.ID] = referral.Initials(e.GetPerson().GetGivenName(), e.GetPerson().GetFamilyName())
		}
	case *pathwayv1.ReferralErased:
		i.Of[rec.Aggregate.ID] = Erased
	}
	return nil
}

// Snapshot writes the state as JSON.
func (i *Initials) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(i) }

// Restore reads a Snapshot.
func (i *Initials) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(i) }
