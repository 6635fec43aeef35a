package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/intake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// caseRecorder records a case's work: contacts, the plan, outcomes.
type caseRecorder interface {
	RecordContact(ctx context.Context, id string, cmd events.Command, c *pathwayv1.ContactRecorded) (uint64, error)
	AgreePlan(ctx context.Context, id string, cmd events.Command, whatMatters string, goals []*pathwayv1.Goal) (uint64, error)
	MeasureOutcome(ctx context.Context, id string, cmd events.Command, m *pathwayv1.OutcomeMeasured) (uint64, error)
}

// caseCloser discharges a case and reopens it.
type caseCloser interface {
	Discharge(ctx context.Context, id string, cmd events.Command, reason pathwayv1.DischargeReason, note string) (uint64, error)
	Reopen(ctx context.Context, id string, cmd events.Command, reason string) (uint64, error)
}

var (
	_ caseRecorder = (*intake.Service)(nil)
	_ caseCloser   = (*intake.Service)(nil)
)

type contactRecordBody struct {
	Kind                    string    `json:"kind"`
	When                    time.Time `json:"when"`
	DurationMinutes         int       `json:"duration_minutes"`
	DidNotAttend            bool      `json:"did_not_attend"`
	WhatMattersConversation bool      `json:"what_matters_conversation"`
	Note                    string    `json:"note"`
	kind                    pathwayv1.ContactKind
}

func (b *contactRecordBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	var ok bool
	if b.kind, ok = referral.ContactKind(b.Kind); !ok {
		errs = append(errs, kernel.FieldError{Field: "kind", Reason: "must be phone, face_to_face, home_visit or video"})
	}
	if b.When.IsZero() {
		errs = append(errs, kernel.FieldError{Field: "when", Reason: "is required (RFC 3339 time)"})
	}
	if b.DurationMinutes < 0 || b.DurationMinutes > 480 {
		errs = append(errs, kernel.FieldError{Field: "duration_minutes", Reason: "must be 0 to 480"})
	}
	return append(errs, checkNote(b.Note)...)
}

// recordContact handles POST /v1/referrals/{id}/contacts.
func (a *api) recordContact() http.HandlerFunc {
	return change(a, (*contactRecordBody).check, func(ctx context.Context, id string, b *contactRecordBody, cmd events.Command) (uint64, error) {
		return a.cases.RecordContact(ctx, id, cmd, &pathwayv1.ContactRecorded{
			ContactId: uuid.NewString(), Kind: b.kind, At: timestamppb.New(b.When), DurationMinutes: uint32(b.DurationMinutes),
			DidNotAttend: b.DidNotAttend, WhatMattersConversation: b.WhatMattersConversation, Note: b.Note,
		})
	})
}

type dischargeBody struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
	reason pathwayv1.DischargeReason
}

func (b *dischargeBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	var ok bool
	if b.reason, ok = referral.DischargeReason(b.Reason); !ok {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "must be goals_met, disengaged, declined, moved_away, redirected, died or other"})
	}
	return append(errs, checkNote(b.Note)...)
}

// discharge handles POST /v1/referrals/{id}/discharge.
func (a *api) discharge() http.HandlerFunc {
	return change(a, (*dischargeBody).check, func(ctx context.Context, id string, b *dischargeBody, cmd events.Command) (uint64, error) {
		return a.closer.Discharge(ctx, id, cmd, b.reason, b.Note)
	})
}

type reopenBody struct {
	Reason string `json:"reason"`
}

func (b *reopenBody) check() []kernel.FieldError { return checkReason(b.Reason) }

// reopen handles POST /v1/referrals/{id}/reopen.
func (a *api) reopen() http.HandlerFunc {
	return change(a, (*reopenBody).check, func(ctx context.Context, id string, b *reopenBody, cmd events.Command) (uint64, error) {
		return a.closer.Reopen(ctx, id, cmd, b.Reason)
	})
}

// timeline handles GET /v1/referrals/{id}/timeline: every event of the
// referral, oldest first, with who and when, and what it says (personal
// data stays in the referral itself: the timeline shows event data only
// for events that carry none; a pseudonymised view shows it without free
// text, codedDetails).
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
	pseudo := pseudonymised(principalFrom(r.Context()).key)
	for _, c := range ref.History() {
		it := item{Sequence: c.Sequence, Type: string(c.Payload.ProtoReflect().Descriptor().Name()), At: c.At}
		if c.Actor != nil {
			it.ActorID, it.ActorRole, it.Organisation = c.Actor.GetId(), enumWire(c.Actor.GetRole().String(), "ROLE_"), c.Actor.GetOrganisation()
		}
		switch _, personal := c.Payload.(*pathwayv1.ReferralReceived); {
		case personal:
		case pseudo:
			it.Details = codedDetails(c.Payload)
		default:
			it.Details = details(c.Payload)
		}
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": ref.ID(), "sequence": ref.Version(), "events": items})
}

// details renders an event's fields as JSON values (kernel.Fields).
func details(m proto.Message) map[string]any { return kernel.Fields(m) }

type assignBody struct {
	WorkerID string `json:"worker_id"`
	Reason   string `json:"reason"`
}

func (b *assignBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	if _, err := uuid.Parse(b.WorkerID); err != nil {
		errs = append(errs, kernel.FieldError{Field: "worker_id", Reason: "must be the id of a link worker"})
	}
	return append(errs, checkReason(b.Reason)...)
}

// assign handles POST /v1/referrals/{id}/assign: staff assign or reassign
// by hand, with a reason.
func (a *api) assign() http.HandlerFunc {
	return change(a, (*assignBody).check, func(ctx context.Context, id string, b *assignBody, cmd events.Command) (uint64, error) {
		return assignment.Assign(ctx, a.store, id, b.WorkerID, b.Reason, cmd, a.now())
	})
}

type planBody struct {
	WhatMatters string `json:"what_matters"`
	Goals       []struct {
		Description string `json:"description"`
		TargetDate  string `json:"target_date"`
	} `json:"goals"`
	goals []*pathwayv1.Goal
}

func (b *planBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	for i, g := range b.Goals {
		goal := &pathwayv1.Goal{Id: uuid.NewString(), Description: g.Description}
		if g.TargetDate != "" {
			d, err := time.Parse(time.DateOnly, g.TargetDate)
			if err != nil {
				errs = append(errs, kernel.FieldError{Field: "goals[" + strconv.Itoa(i) + "].target_date", Reason: "must be a date as YYYY-MM-DD"})
			} else {
				goal.TargetDate = &pathwayv1.Date{Year: int32(d.Year()), Month: int32(d.Month()), Day: int32(d.Day())}
			}
		}
		b.goals = append(b.goals, goal)
	}
	return errs
}

// agreePlan handles POST /v1/referrals/{id}/plan.
func (a *api) agreePlan() http.HandlerFunc {
	return change(a, (*planBody).check, func(ctx context.Context, id string, b *planBody, cmd events.Command) (uint64, error) {
		return a.cases.AgreePlan(ctx, id, cmd, b.WhatMatters, b.goals)
	})
}

type outcomeBody struct {
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
	measured *pathwayv1.OutcomeMeasured
}

var (
	instruments = map[string]pathwayv1.OutcomeInstrument{"ons4": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_ONS4,
		"swemwbs": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_SWEMWBS, "wemwbs": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_WEMWBS,
		"mycaw": pathwayv1.OutcomeInstrument_OUTCOME_INSTRUMENT_MYCAW}
	measurementPoints = map[string]pathwayv1.MeasurementPoint{"baseline": pathwayv1.MeasurementPoint_MEASUREMENT_POINT_BASELINE,
		"follow_up": pathwayv1.MeasurementPoint_MEASUREMENT_POINT_FOLLOW_UP}
)

// check checks the body at now, the default time of the measurement.
func (b *outcomeBody) check(now time.Time) []kernel.FieldError {
	var errs []kernel.FieldError
	inst, ok := instruments[b.Instrument]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "instrument", Reason: "must be ons4, swemwbs, wemwbs or mycaw"})
	}
	point, ok := measurementPoints[b.Point]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "point", Reason: "must be baseline or follow_up"})
	}
	at := now
	if b.MeasuredAt != nil {
		if b.MeasuredAt.After(at.Add(5 * time.Minute)) {
			errs = append(errs, kernel.FieldError{Field: "measured_at", Reason: "must not be in the future"})
		}
		at = *b.MeasuredAt
	}
	m := &pathwayv1.OutcomeMeasured{Instrument: inst, Point: point, MeasuredAt: timestamppb.New(at)}
	switch b.Instrument {
	case "ons4":
		o := b.Ons4
		if o == nil || o.LifeSatisfaction == nil || o.Worthwhile == nil || o.HappyYesterday == nil || o.AnxiousYesterday == nil {
			errs = append(errs, kernel.FieldError{Field: "ons4", Reason: "life_satisfaction, worthwhile, happy_yesterday and anxious_yesterday are required, each 0 to 10"})
		} else {
			m.Scores = &pathwayv1.OutcomeMeasured_Ons4{Ons4: &pathwayv1.Ons4Scores{LifeSatisfaction: *o.LifeSatisfaction, Worthwhile: *o.Worthwhile,
				HappyYesterday: *o.HappyYesterday, AnxiousYesterday: *o.AnxiousYesterday}}
		}
	case "swemwbs", "wemwbs":
		m.Scores = &pathwayv1.OutcomeMeasured_WarwickEdinburgh{WarwickEdinburgh: &pathwayv1.WarwickEdinburghScores{Items: b.Items}}
	case "mycaw":
		if b.Mycaw != nil {
			my := &pathwayv1.MycawScores{Wellbeing: b.Mycaw.Wellbeing}
			for _, c := range b.Mycaw.Concerns {
				my.Concerns = append(my.Concerns, &pathwayv1.MycawConcern{Concern: c.Concern, Score: c.Score})
			}
			m.Scores = &pathwayv1.OutcomeMeasured_Mycaw{Mycaw: my}
		}
	}
	b.measured = m
	return errs
}

// measureOutcome handles POST /v1/referrals/{id}/outcomes.
func (a *api) measureOutcome() http.HandlerFunc {
	check := func(b *outcomeBody) []kernel.FieldError { return b.check(a.now()) }
	return change(a, check, func(ctx context.Context, id string, b *outcomeBody, cmd events.Command) (uint64, error) {
		return a.cases.MeasureOutcome(ctx, id, cmd, b.measured)
	})
}
