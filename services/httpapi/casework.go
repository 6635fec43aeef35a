package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// recordContact handles POST /v1/referrals/{id}/contacts.
func (a *api) recordContact(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Kind                    string    `json:"kind"`
		When                    time.Time `json:"when"`
		DurationMinutes         int       `json:"duration_minutes"`
		DidNotAttend            bool      `json:"did_not_attend"`
		WhatMattersConversation bool      `json:"what_matters_conversation"`
		Note                    string    `json:"note"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	kind, ok := referral.ContactKind(body.Kind)
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "kind", Reason: "must be phone, face_to_face, home_visit or video"})
	}
	if body.When.IsZero() {
		errs = append(errs, kernel.FieldError{Field: "when", Reason: "is required (RFC 3339 time)"})
	}
	if body.DurationMinutes < 0 || body.DurationMinutes > 480 {
		errs = append(errs, kernel.FieldError{Field: "duration_minutes", Reason: "must be 0 to 480"})
	}
	if len(body.Note) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "note", Reason: "must be at most 2000 characters"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.RecordContact(r.Context(), id, cmd, &pathwayv1.ContactRecorded{
			ContactId: uuid.NewString(), Kind: kind, At: timestamppb.New(body.When), DurationMinutes: uint32(body.DurationMinutes),
			DidNotAttend: body.DidNotAttend, WhatMattersConversation: body.WhatMattersConversation, Note: body.Note,
		})
	})
}

// discharge handles POST /v1/referrals/{id}/discharge.
func (a *api) discharge(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	reason, ok := referral.DischargeReason(body.Reason)
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be goals_met, disengaged, declined, moved_away, redirected, died or other"})
	}
	if len(body.Note) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "note", Reason: "must be at most 2000 characters"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.Discharge(r.Context(), id, cmd, reason, body.Note)
	})
}

// reopen handles POST /v1/referrals/{id}/reopen.
func (a *api) reopen(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	if body.Reason == "" || len(body.Reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "a reason of at most 2000 characters is required"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.Reopen(r.Context(), id, cmd, body.Reason)
	})
}

// timeline handles GET /v1/referrals/{id}/timeline: every event of the
// referral, oldest first, with who and when, and what it says (personal
// data stays in the referral itself: the timeline shows event data only
// for events that carry none).
func (a *api) timeline(w http.ResponseWriter, r *http.Request) {
	ref, ok := a.load(w, r)
	if !ok {
		return
	}
	type item struct {
		Sequence     uint64         `json:"sequence"`
		Type         string         `json:"type"`
		At           time.Time      `json:"at"`
		ActorID      string         `json:"actor_id,omitempty"`
		ActorRole    string         `json:"actor_role,omitempty"`
		Organisation string         `json:"actor_organisation,omitempty"`
		Details      map[string]any `json:"details,omitempty"`
	}
	items := []item{}
	for _, c := range ref.History() {
		it := item{Sequence: c.Sequence, Type: string(c.Payload.ProtoReflect().Descriptor().Name()), At: c.At}
		if c.Actor != nil {
			it.ActorID, it.ActorRole, it.Organisation = c.Actor.GetId(), enumWire(c.Actor.GetRole().String(), "ROLE_"), c.Actor.GetOrganisation()
		}
		if _, personal := c.Payload.(*pathwayv1.ReferralReceived); !personal {
			it.Details = details(c.Payload)
		}
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": ref.ID(), "sequence": ref.Version(), "events": items})
}

// details renders an event's fields as JSON values (protojson names).
func details(m proto.Message) map[string]any {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// assign handles POST /v1/referrals/{id}/assign: staff assign or reassign
// by hand, with a reason.
func (a *api) assign(w http.ResponseWriter, r *http.Request) {
	var body struct {
		WorkerID string `json:"worker_id"`
		Reason   string `json:"reason"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	if _, err := uuid.Parse(body.WorkerID); err != nil {
		errs = append(errs, kernel.FieldError{Field: "worker_id", Reason: "must be the id of a link worker"})
	}
	if body.Reason == "" || len(body.Reason) > 2000 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "a reason of at most 2000 characters is required"})
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return assignment.Assign(r.Context(), a.refs.Store, id, body.WorkerID, body.Reason, cmd, a.refs.Now())
	})
}

// agreePlan handles POST /v1/referrals/{id}/plan.
func (a *api) agreePlan(w http.ResponseWriter, r *http.Request) {
	var body struct {
		WhatMatters string `json:"what_matters"`
		Goals       []struct {
			Description string `json:"description"`
			TargetDate  string `json:"target_date"`
		} `json:"goals"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	var goals []*pathwayv1.Goal
	for i, g := range body.Goals {
		goal := &pathwayv1.Goal{Id: uuid.NewString(), Description: g.Description}
		if g.TargetDate != "" {
			d, err := time.Parse(time.DateOnly, g.TargetDate)
			if err != nil {
				errs = append(errs, kernel.FieldError{Field: "goals[" + strconv.Itoa(i) + "].target_date", Reason: "must be a date as YYYY-MM-DD"})
			} else {
				goal.TargetDate = &pathwayv1.Date{Year: int32(d.Year()), Month: int32(d.Month()), Day: int32(d.Day())}
			}
		}
		goals = append(goals, goal)
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.AgreePlan(r.Context(), id, cmd, body.WhatMatters, goals)
	})
}

// measureOutcome handles POST /v1/referrals/{id}/outcomes.
func (a *api) measureOutcome(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Instrument string     `json:"instrument"`
		Point      string     `json:"point"`
		MeasuredAt *time.Time `json:"measured_at"`
		Ons4       *struct {
			LifeSatisfaction *uint32 `json:"life_satisfaction"`
			Worthwhile       *uint32 `json:"worthwhile"`
			HappyYesterday   *uint32 `json:"happy_yesterday"`
			AnxiousYesterday *uint32 `json:"anxious_yesterday"`
		} `json:"ons4"`
		Items []uint32 `json:"items"`
		Mycaw *struct {
			Concerns []struct {
				Concern string `json:"concern"`
				Score   uint32 `json:"score"`
			} `json:"concerns"`
			Wellbeing uint32 `json:"wellbeing"`
		} `json:"mycaw"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	var errs []kernel.FieldError
	instruments := map[string]pathwayv1.OutcomeInstrument{"ons4": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4,
		"swemwbs": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS, "wemwbs": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS,
		"mycaw": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW}
	points := map[string]pathwayv1.MeasurementPoint{"baseline": pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE,
		"follow_up": pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP}
	inst, ok := instruments[body.Instrument]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "instrument", Reason: "must be ons4, swemwbs, wemwbs or mycaw"})
	}
	point, ok := points[body.Point]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "point", Reason: "must be baseline or follow_up"})
	}
	at := a.refs.Now()
	if body.MeasuredAt != nil {
		if body.MeasuredAt.After(at.Add(5 * time.Minute)) {
			errs = append(errs, kernel.FieldError{Field: "measured_at", Reason: "must not be in the future"})
		}
		at = *body.MeasuredAt
	}
	m := &pathwayv1.OutcomeMeasured{Instrument: inst, Point: point, MeasuredAt: timestamppb.New(at)}
	switch body.Instrument {
	case "ons4":
		o := body.Ons4
		if o == nil || o.LifeSatisfaction == nil || o.Worthwhile == nil || o.HappyYesterday == nil || o.AnxiousYesterday == nil {
			errs = append(errs, kernel.FieldError{Field: "ons4", Reason: "life_satisfaction, worthwhile, happy_yesterday and anxious_yesterday are required, each 0 to 10"})
		} else {
			m.Scores = &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: *o.LifeSatisfaction, Worthwhile: *o.Worthwhile,
				HappyYesterday: *o.HappyYesterday, AnxiousYesterday: *o.AnxiousYesterday}}
		}
	case "swemwbs", "wemwbs":
		m.Scores = &pathwayv1.OutcomeMeasured_WarwickEdinburgh{WarwickEdinburgh: &pathwayv1.WarwickEdinburghScores{Items: body.Items}}
	case "mycaw":
		if body.Mycaw != nil {
			my := &pathwayv1.MycawScores{Wellbeing: body.Mycaw.Wellbeing}
			for _, c := range body.Mycaw.Concerns {
				my.Concerns = append(my.Concerns, &pathwayv1.MycawConcern{Concern: c.Concern, Score: c.Score})
			}
			m.Scores = &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: my}
		}
	}
	a.change(w, r, errs, func(id string, cmd events.Command) (uint64, error) {
		return a.refs.Intake.MeasureOutcome(r.Context(), id, cmd, m)
	})
}
