package webhooks

// ViewState is the view's whole state, for the read-model conformance
// suite to compare.
func ViewState(v *View) any {
	v.mu.RLock()
	defer v.mu.RUnlock()
	type delivery struct {
		Endpoint, Partner, Event, Handoff string
		Sequence                          uint64
		Payload                           string // compared as text
		CreatedAt                         any
		Round                             any
	}
	type state struct {
		Endpoints  map[string]viewEndpoint
		Handoffs   map[string]viewHandoff
		Deliveries map[string]delivery
	}
	st := state{Endpoints: map[string]viewEndpoint{}, Handoffs: map[string]viewHandoff{}, Deliveries: map[string]delivery{}}
	for id, e := range v.st.Endpoints {
		st.Endpoints[id] = *e
	}
	for id, h := range v.st.Handoffs {
		st.Handoffs[id] = *h
	}
	for id, d := range v.st.Deliveries {
		st.Deliveries[id] = delivery{Endpoint: d.Endpoint, Partner: d.Partner, Event: d.Event, Handoff: d.Handoff, Sequence: d.Sequence,
			Payload: string(d.Payload), CreatedAt: d.CreatedAt, Round: d.Round}
	}
	return st
}

// DeliveryID is the id of the delivery of the event at seq to endpoint.
var DeliveryID = deliveryID
