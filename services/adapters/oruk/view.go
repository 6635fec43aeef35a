package oruk

import (
	"encoding/json"
	"io"
	"time"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// ViewName is the name and checkpoint key of View.
const ViewName = "oruk-services"

// View is the read model the ORUK list needs beyond the partners read
// model: each service's HSDS status (active, or the status that retired
// it) and when it, or the organisation that runs it, last changed, so a
// retirement and an organisation's new details reach a client that asks
// for modified_after. It implements projections.Projection; read it
// through its engine.
type View struct {
	Services map[string]*ServiceState `json:"services"`
	// ByPartner lists each partner's services.
	ByPartner map[string][]string `json:"by_partner"`
}

// ServiceState is what View keeps of one service.
type ServiceState struct {
	Partner  string    `json:"partner"`
	Status   string    `json:"status"`
	Modified time.Time `json:"modified"`
}

// NewView returns an empty View.
func NewView() *View { v := &View{}; v.Reset(); return v }

// Name returns ViewName.
func (v *View) Name() string { return ViewName }

// Subject returns the whole log; only service and partner events apply.
func (v *View) Subject() string { return events.AllSubjects }

// EventTypes returns the event types Apply uses.
func (v *View) EventTypes() []string {
	return events.TypesOf(&pathwayv1.PartnerRegistered{}, &pathwayv1.PartnerUpdated{}, &pathwayv1.ServiceRegistered{}, &pathwayv1.ServiceUpdated{},
		&pathwayv1.ServiceCapacityChanged{}, &pathwayv1.ServiceRetired{}, &pathwayv1.ServiceReinstated{})
}

// Reset empties the view.
func (v *View) Reset() { v.Services, v.ByPartner = map[string]*ServiceState{}, map[string][]string{} }

// Snapshot writes the view as JSON.
func (v *View) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(v) }

// Restore reads a Snapshot.
func (v *View) Restore(r io.Reader) error { return json.NewDecoder(r).Decode(v) }

// Apply applies one event.
func (v *View) Apply(rec events.Record) error {
	id := rec.Aggregate.ID
	at := rec.Envelope.GetRecordedAt().AsTime()
	switch e := rec.Payload.(type) {
	case *pathwayv1.PartnerUpdated:
		for _, sid := range v.ByPartner[id] {
			v.Services[sid].Modified = at
		}
	case *pathwayv1.ServiceRegistered:
		v.setPartner(id, e.GetDetails().GetPartnerId())
		v.Services[id].Status, v.Services[id].Modified = "active", at
	case *pathwayv1.ServiceUpdated:
		v.setPartner(id, e.GetDetails().GetPartnerId())
		v.Services[id].Modified = at
	case *pathwayv1.ServiceCapacityChanged:
		if s := v.Services[id]; s != nil {
			s.Modified = at
		}
	case *pathwayv1.ServiceRetired:
		if s := v.Services[id]; s != nil {
			s.Status, s.Modified = e.GetStatus(), at
		}
	case *pathwayv1.ServiceReinstated:
		if s := v.Services[id]; s != nil {
			s.Status, s.Modified = "active", at
		}
	}
	return nil
}

func (v *View) setPartner(id, partnerID string) {
	s := v.Services[id]
	if s == nil {
		s = &ServiceState{Status: "active"}
		v.Services[id] = s
	}
	if s.Partner == partnerID {
		return
	}
	if old := v.ByPartner[s.Partner]; old != nil {
		for i, sid := range old {
			if sid == id {
				v.ByPartner[s.Partner] = append(old[:i:i], old[i+1:]...)
				break
			}
		}
	}
	s.Partner = partnerID
	v.ByPartner[partnerID] = append(v.ByPartner[partnerID], id)
}
