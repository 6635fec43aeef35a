package webhooks

// The view: the endpoints, the handoffs' partners and statuses, the
// referrals' organisations and stages, and the deliveries they make, built
// from the log on the projection engine.

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/domain/webhook"
)

// ViewName is the name of the webhook service's view as a projection (and
// its checkpoint's).
const ViewName = "webhook-deliveries"

// View is what the webhook service decides from, built from the log: each
// owner's endpoints (a partner's or a referring organisation's), the
// partner, service and status of each handoff, the organisation,
// reference, stage and cancel reason of each referral, and the
// deliveries, one per handoff event and endpoint the handoff's partner had
// registered before it, one per change of a referral's stage and endpoint
// its referring organisation had registered before it, and one per notice
// raised to the operations endpoint (OpsEndpointID), each with its current round of
// attempts (pending, delivered or failed, as the log records it). A
// delivery is forgotten KeepDeliveries after its round ended, by the
// log's recorded times. It runs on the projection engine, checkpointed, so
// a restart resumes from its checkpoint. It is safe for concurrent use.
type View struct {
	name string

	mu sync.RWMutex
	st viewState
}

// viewState is the view's state, as its checkpoint holds it.
type viewState struct {
	Endpoints  map[string]*viewEndpoint `json:"endpoints"`
	Handoffs   map[string]*viewHandoff  `json:"handoffs"`
	Referrals  map[string]*viewReferral `json:"referrals"`
	Deliveries map[string]*viewDelivery `json:"deliveries"`
	// Swept is the recorded time of the event at which ended deliveries
	// were last forgotten.
	Swept time.Time `json:"swept"`
}

type viewEndpoint struct {
	// Partner is the owner's key (webhook.Owner.Key).
	Partner string `json:"partner"`
	URL     string `json:"url"`
	// Sequence and At are those of its registration.
	Sequence uint64    `json:"seq"`
	At       time.Time `json:"at"`
}

type viewHandoff struct {
	Partner   string         `json:"partner"`
	Service   string         `json:"service"`
	Status    handoff.Status `json:"status"`
	RespondBy time.Time      `json:"respond_by"`
}

// viewReferral is what a referral's deliveries say of it: no personal
// data (the organisation, the referrer's own reference, codes).
type viewReferral struct {
	Organisation string                 `json:"org"`
	Reference    string                 `json:"ref,omitempty"`
	Stage        referral.Status        `json:"stage"`
	Cancel       pathwayv1.CancelReason `json:"cancel,omitempty"`
}

type viewDelivery struct {
	Endpoint string `json:"endpoint"`
	// Partner is the owner's key (webhook.Owner.Key).
	Partner   string          `json:"partner"`
	Sequence  uint64          `json:"seq"`
	Event     string          `json:"event"`
	Handoff   string          `json:"handoff,omitempty"`
	Referral  string          `json:"referral,omitempty"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	Round     webhook.Round   `json:"round"`
}

// NewView returns an empty view named name (ViewName, unless several
// services must each keep their own, as in tests).
func NewView(name string) *View {
	v := &View{name: name}
	v.Reset()
	return v
}

// Name is the view's name as a projection.
func (v *View) Name() string { return v.name }

// Subject is the whole log: the view follows handoffs, webhooks and
// deliveries, and declares the event types it uses.
func (v *View) Subject() string { return events.AllSubjects }

// EventTypes are the events the view applies (projections.Typed).
func (v *View) EventTypes() []string { return slices.Clone(viewTypes) }

// viewTypes are the events the view applies; uses is the same as a set.
var (
	viewTypes = events.TypesOf(&pathwayv1.HandoffRequested{}, &pathwayv1.HandoffAccepted{}, &pathwayv1.HandoffRejected{},
		&pathwayv1.HandoffStarted{}, &pathwayv1.HandoffPutOnHold{}, &pathwayv1.HandoffCompleted{}, &pathwayv1.HandoffFailed{},
		&pathwayv1.HandoffCancelled{}, &pathwayv1.HandoffEnteredInError{}, &pathwayv1.HandoffExpired{}, &pathwayv1.HandoffReminderSent{},
		&pathwayv1.WebhookEndpointRegistered{}, &pathwayv1.WebhookEndpointDeleted{},
		&pathwayv1.WebhookRedeliveryRequested{}, &pathwayv1.WebhookDelivered{}, &pathwayv1.WebhookDeliveryFailed{},
		&pathwayv1.WebhookNoticeRaised{},
		// A referral's status changes (the referrers' webhooks).
		&pathwayv1.ReferralReceived{}, &pathwayv1.ReferralTriaged{}, &pathwayv1.ReferralWaitlisted{}, &pathwayv1.ReferralAssigned{},
		&pathwayv1.ReferralDischarged{}, &pathwayv1.ReferralCancelled{}, &pathwayv1.ReferralReopened{}, &pathwayv1.ReferralMerged{})
	uses = func() map[string]bool {
		m := map[string]bool{}
		for _, t := range viewTypes {
			m[t] = true
		}
		return m
	}()
)

// Reset empties the view.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.st = viewState{Endpoints: map[string]*viewEndpoint{}, Handoffs: map[string]*viewHandoff{}, Referrals: map[string]*viewReferral{}, Deliveries: map[string]*viewDelivery{}}
}

// Snapshot writes the view for a checkpoint.
func (v *View) Snapshot(w io.Writer) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return json.NewEncoder(w).Encode(v.st)
}

// Restore reads a checkpoint written by Snapshot.
func (v *View) Restore(r io.Reader) error {
	var st viewState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return err
	}
	if st.Endpoints == nil || st.Handoffs == nil || st.Deliveries == nil || st.Referrals == nil {
		// Also a checkpoint from before the view followed referrals: the
		// engine replays the log instead, which gives the same state.
		return io.ErrUnexpectedEOF
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.st = st
	return nil
}

// deliveryNamespace derives delivery ids.
var deliveryNamespace = uuid.MustParse("8b5e7f4a-1c2d-5e3f-9a8b-7c6d5e4f3a2b")

// deliveryID is the id of the delivery of the event at seq to endpoint.
func deliveryID(endpoint string, seq uint64) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(endpoint+"/"+strconv.FormatUint(seq, 10))).String()
}

// endpointDeleted is the reason a delivery whose endpoint was deleted
// fails with.
const endpointDeleted = "the endpoint was deleted"

// Apply applies one event. It uses the event's recorded time, never the
// clock.
func (v *View) Apply(rec events.Record) error {
	if !uses[events.TypeOf(rec.Payload)] {
		return nil // nor does it move the sweep on
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at := rec.Envelope.GetRecordedAt().AsTime().UTC()
	id := rec.Aggregate.ID
	switch e := rec.Payload.(type) {
	case *pathwayv1.WebhookEndpointRegistered:
		if owner, ok := webhook.OwnerOf(rec.Aggregate.Type, id); ok {
			v.st.Endpoints[e.GetEndpointId()] = &viewEndpoint{Partner: owner.Key(), URL: e.GetUrl(), Sequence: rec.Sequence, At: at}
		}
	case *pathwayv1.WebhookEndpointDeleted:
		owner, ok := webhook.OwnerOf(rec.Aggregate.Type, id)
		if ep := v.st.Endpoints[e.GetEndpointId()]; ok && ep != nil && ep.Partner == owner.Key() {
			delete(v.st.Endpoints, e.GetEndpointId())
			for _, d := range v.st.Deliveries {
				if d.Endpoint == e.GetEndpointId() && d.Round.Status == webhook.StatusPending {
					d.Round = webhook.Round{Round: d.Round.Round, Status: webhook.StatusFailed, Reason: endpointDeleted, At: at}
				}
			}
		}
	case *pathwayv1.WebhookNoticeRaised:
		if _, ok := v.st.Deliveries[id]; !ok {
			v.st.Deliveries[id] = opsDelivery(id, e, rec.Sequence, at)
		}
	case *pathwayv1.WebhookRedeliveryRequested, *pathwayv1.WebhookDelivered, *pathwayv1.WebhookDeliveryFailed:
		d := v.st.Deliveries[id]
		if d == nil {
			break
		}
		d.Round = webhook.After(d.Round, aggregate.Change(rec))
		if _, ok := v.st.Endpoints[d.Endpoint]; !ok && d.Endpoint != OpsEndpointID && d.Round.Status == webhook.StatusPending {
			d.Round = webhook.Round{Round: d.Round.Round, Status: webhook.StatusFailed, Reason: endpointDeleted, At: at}
		}
	default:
		if rec.Aggregate.Type == referral.AggregateType {
			v.applyReferral(rec, at)
		} else {
			v.applyHandoff(rec, at)
		}
	}
	v.sweep(at)
	return nil
}

// applyReferral follows a referral's organisation and stage, and makes a
// delivery of each change of its stage to each endpoint its referring
// organisation registered before it.
func (v *View) applyReferral(rec events.Record, at time.Time) {
	id := rec.Aggregate.ID
	r := v.st.Referrals[id]
	if e, ok := rec.Payload.(*pathwayv1.ReferralReceived); ok && r == nil {
		r = &viewReferral{Organisation: e.GetReferrer().GetOrganisation(), Reference: e.GetExternalReference()}
		v.st.Referrals[id] = r
	}
	if r == nil {
		return // an event of a referral never received
	}
	stage := referral.StatusAfter(r.Stage, rec.Payload)
	switch e := rec.Payload.(type) {
	case *pathwayv1.ReferralCancelled:
		r.Cancel = e.GetReason()
	case *pathwayv1.ReferralReopened:
		r.Cancel = pathwayv1.CancelReason_CANCEL_REASON_UNSPECIFIED
	}
	if stage == r.Stage {
		return // not a status change (a move between queues, a merge's survivor)
	}
	r.Stage = stage
	typ := "referral." + referral.WireName(string(rec.Payload.ProtoReflect().Descriptor().Name()), "Referral")
	for _, epID := range v.endpointsOf(webhook.Referrer(r.Organisation).Key()) {
		did := deliveryID(epID, rec.Sequence)
		body, _ := json.Marshal(ReferralPayload{DeliveryID: did, Type: typ, ReferralID: id, ExternalReference: r.Reference,
			Status: referral.ServiceRequestStatus(r.Stage, r.Cancel), Stage: string(r.Stage), Reason: referral.ReasonCode(rec.Payload),
			Sequence: rec.Sequence, Version: rec.Sequence, OccurredAt: at, Link: "/v1/referrals/" + id})
		v.st.Deliveries[did] = &viewDelivery{Endpoint: epID, Partner: webhook.Referrer(r.Organisation).Key(), Sequence: rec.Sequence, Event: typ,
			Referral: id, Payload: body, CreatedAt: at, Round: webhook.Pending(at)}
	}
}

// applyHandoff follows a handoff's partner and status, and makes the
// event's deliveries.
func (v *View) applyHandoff(rec events.Record, at time.Time) {
	id := rec.Aggregate.ID
	h := v.st.Handoffs[id]
	if e, ok := rec.Payload.(*pathwayv1.HandoffRequested); ok {
		h = &viewHandoff{Partner: e.GetPartnerId(), Service: e.GetServiceId(), RespondBy: e.GetRespondBy().AsTime().UTC()}
		v.st.Handoffs[id] = h
	}
	if h == nil {
		return // an event of a handoff never requested
	}
	h.Status = handoff.StatusAfter(h.Status, rec.Payload)
	if h.Status == handoff.StatusEnteredInError {
		delete(v.st.Handoffs, id) // nothing can happen to it after
	}
	typ, ok := eventNames[strings.TrimPrefix(events.TypeOf(rec.Payload), "pathway.v1.")]
	if !ok {
		return
	}
	var reminder int
	if e, ok := rec.Payload.(*pathwayv1.HandoffReminderSent); ok {
		reminder = int(e.GetReminderNumber())
	}
	for _, epID := range v.endpointsOf(h.Partner) {
		did := deliveryID(epID, rec.Sequence)
		body, _ := json.Marshal(Payload{DeliveryID: did, Type: typ, HandoffID: id, ServiceID: h.Service, Status: string(h.Status),
			Sequence: rec.Sequence, OccurredAt: at, RespondBy: h.RespondBy, Reminder: reminder, Link: "/v1/partner/handoffs/" + id})
		v.st.Deliveries[did] = &viewDelivery{Endpoint: epID, Partner: h.Partner, Sequence: rec.Sequence, Event: typ, Handoff: id,
			Payload: body, CreatedAt: at, Round: webhook.Pending(at)}
	}
}

// sweepEvery is how much recorded time passes between two sweeps of the
// ended deliveries.
const sweepEvery = time.Hour

// sweep forgets the deliveries whose round ended more than
// KeepDeliveries before at, once every sweepEvery of recorded time.
func (v *View) sweep(at time.Time) {
	if at.Sub(v.st.Swept) < sweepEvery {
		return
	}
	v.st.Swept = at
	for id, d := range v.st.Deliveries {
		if d.Round.Status != webhook.StatusPending && at.Sub(d.Round.At) > KeepDeliveries {
			delete(v.st.Deliveries, id)
		}
	}
}

// endpointsOf returns the endpoint ids of the owner whose key is partner,
// oldest first. v.mu must be held.
func (v *View) endpointsOf(partner string) []string {
	var ids []string
	for id, ep := range v.st.Endpoints {
		if ep.Partner == partner {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(v.st.Endpoints[a].Sequence, v.st.Endpoints[b].Sequence) })
	return ids
}

// Endpoints returns the endpoints of the owner whose key is partner,
// oldest first, without secrets.
func (v *View) Endpoints(partner string) []Endpoint {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []Endpoint
	for _, id := range v.endpointsOf(partner) {
		ep := v.st.Endpoints[id]
		out = append(out, Endpoint{ID: id, Partner: ep.Partner, URL: ep.URL, CreatedAt: ep.At})
	}
	return out
}

// endpoint returns endpoint id.
func (v *View) endpoint(id string) (Endpoint, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ep, ok := v.st.Endpoints[id]
	if !ok {
		return Endpoint{}, false
	}
	return Endpoint{ID: id, Partner: ep.Partner, URL: ep.URL, CreatedAt: ep.At}, true
}

// deliveries returns copies of the deliveries keep selects.
func (v *View) deliveries(keep func(d *viewDelivery) bool) map[string]viewDelivery {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[string]viewDelivery{}
	for id, d := range v.st.Deliveries {
		if keep(d) {
			out[id] = *d
		}
	}
	return out
}

// delivery returns a copy of delivery id.
func (v *View) delivery(id string) (viewDelivery, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	d, ok := v.st.Deliveries[id]
	if !ok {
		return viewDelivery{}, false
	}
	return *d, true
}

// countByStatus returns how many deliveries the view keeps in each status
// of their current round.
func (v *View) countByStatus() map[webhook.Status]int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := map[webhook.Status]int{}
	for _, d := range v.st.Deliveries {
		out[d.Round.Status]++
	}
	return out
}
