package handoff_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const day = 24 * time.Hour

// t0 is when every handoff in these tests is requested.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// requestedBy is a HandoffRequested with the partner's deadline at respondBy.
func requestedBy(respondBy time.Time) *pathwayv1.HandoffRequested {
	return &pathwayv1.HandoffRequested{
		ReferralId: "r1", ServiceId: "s1", PartnerId: "org-1", Consent: true,
		SharedFields: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME},
		Shared:       &pathwayv1.SharedData{GivenName: "Ada"},
		RespondBy:    timestamppb.New(respondBy),
	}
}

// event is one payload recorded at an offset from t0.
type event struct {
	after   time.Duration
	payload proto.Message
}

// at records payload at t0+after.
func at(after time.Duration, payload proto.Message) event { return event{after, payload} }

// replay builds a handoff from events recorded at their offsets from t0.
func replay(tb testing.TB, evs ...event) *handoff.Handoff {
	tb.Helper()
	changes := make([]kernel.Change, len(evs))
	for i, e := range evs {
		changes[i] = kernel.Change{Sequence: uint64(i + 1), At: t0.Add(e.after), Payload: e.payload}
	}
	return handoff.Replay("h1", changes)
}

// given builds a handoff from events one hour apart, starting at t0.
func given(tb testing.TB, payloads ...proto.Message) *handoff.Handoff {
	tb.Helper()
	evs := make([]event, len(payloads))
	for i, p := range payloads {
		evs[i] = at(time.Duration(i)*time.Hour, p)
	}
	return replay(tb, evs...)
}

// inStatus are the events that bring a handoff to each status.
func inStatus(s handoff.Status) []proto.Message {
	req := requestedBy(t0.Add(handoff.DefaultDeadline))
	accepted := &pathwayv1.HandoffAccepted{}
	switch s {
	case handoff.StatusRequested:
		return []proto.Message{req}
	case handoff.StatusAccepted:
		return []proto.Message{req, accepted}
	case handoff.StatusRejected:
		return []proto.Message{req, &pathwayv1.HandoffRejected{Reason: "not-eligible"}}
	case handoff.StatusInProgress:
		return []proto.Message{req, accepted, &pathwayv1.HandoffStarted{}}
	case handoff.StatusOnHold:
		return []proto.Message{req, accepted, &pathwayv1.HandoffStarted{}, &pathwayv1.HandoffPutOnHold{Reason: "waitlist"}}
	case handoff.StatusCompleted:
		return []proto.Message{req, accepted, &pathwayv1.HandoffStarted{}, &pathwayv1.HandoffCompleted{Outcome: "support_completed"}}
	case handoff.StatusFailed:
		return []proto.Message{req, accepted, &pathwayv1.HandoffFailed{Reason: "FC"}}
	case handoff.StatusCancelled:
		return []proto.Message{req, &pathwayv1.HandoffCancelled{Reason: "circumstances-changed"}}
	case handoff.StatusEnteredInError:
		return []proto.Message{req, &pathwayv1.HandoffEnteredInError{Reason: "duplicate"}}
	case handoff.StatusExpired:
		return []proto.Message{req, &pathwayv1.HandoffExpired{RespondBy: req.GetRespondBy()}}
	}
	return nil
}

// actions are the commands a partner or link worker takes (expiry is the
// clock's, tested with Due).
var actions = []handoff.Action{
	handoff.ActionAccept, handoff.ActionReject, handoff.ActionStart, handoff.ActionHold,
	handoff.ActionComplete, handoff.ActionFail, handoff.ActionCancel, handoff.ActionEnterInError,
}

// legal is the contract: the actions allowed from each status (HL7 Gravity
// referral Task, plus expired). Every other (status, action) is a conflict.
var legal = map[handoff.Status][]handoff.Action{
	handoff.StatusRequested:      {handoff.ActionAccept, handoff.ActionReject, handoff.ActionCancel, handoff.ActionEnterInError},
	handoff.StatusAccepted:       {handoff.ActionStart, handoff.ActionHold, handoff.ActionComplete, handoff.ActionFail, handoff.ActionCancel, handoff.ActionEnterInError},
	handoff.StatusInProgress:     {handoff.ActionHold, handoff.ActionComplete, handoff.ActionFail, handoff.ActionCancel, handoff.ActionEnterInError},
	handoff.StatusOnHold:         {handoff.ActionStart, handoff.ActionComplete, handoff.ActionFail, handoff.ActionCancel, handoff.ActionEnterInError},
	handoff.StatusRejected:       {handoff.ActionEnterInError},
	handoff.StatusCompleted:      {handoff.ActionEnterInError},
	handoff.StatusFailed:         {handoff.ActionEnterInError},
	handoff.StatusCancelled:      {handoff.ActionEnterInError},
	handoff.StatusExpired:        {handoff.ActionCancel, handoff.ActionEnterInError},
	handoff.StatusEnteredInError: {},
}

// outcomeOf is the event type and the status each action leads to,
// whatever the status it starts from.
var outcomeOf = map[handoff.Action]struct {
	event  proto.Message
	status handoff.Status
}{
	handoff.ActionAccept:       {&pathwayv1.HandoffAccepted{}, handoff.StatusAccepted},
	handoff.ActionReject:       {&pathwayv1.HandoffRejected{}, handoff.StatusRejected},
	handoff.ActionStart:        {&pathwayv1.HandoffStarted{}, handoff.StatusInProgress},
	handoff.ActionHold:         {&pathwayv1.HandoffPutOnHold{}, handoff.StatusOnHold},
	handoff.ActionComplete:     {&pathwayv1.HandoffCompleted{}, handoff.StatusCompleted},
	handoff.ActionFail:         {&pathwayv1.HandoffFailed{}, handoff.StatusFailed},
	handoff.ActionCancel:       {&pathwayv1.HandoffCancelled{}, handoff.StatusCancelled},
	handoff.ActionEnterInError: {&pathwayv1.HandoffEnteredInError{}, handoff.StatusEnteredInError},
}

func typeName(m proto.Message) string { return fmt.Sprintf("%T", m) }

func TestLifecycleTableCoversEveryStatus(t *testing.T) {
	for _, s := range handoff.Statuses {
		if _, ok := legal[s]; !ok {
			t.Errorf("status %s: got no row in the test's legal table, want one", s)
		}
	}
	if len(legal) != len(handoff.Statuses) {
		t.Errorf("legal table: got %d statuses, want %d (handoff.Statuses)", len(legal), len(handoff.Statuses))
	}
}

func TestLifecycle(t *testing.T) {
	for _, from := range handoff.Statuses {
		for _, a := range actions {
			allowed := slices.Contains(legal[from], a)
			want := "ErrConflict"
			if allowed {
				want = string(outcomeOf[a].status)
			}
			t.Run(fmt.Sprintf("%s/%s/%s", from, a, want), func(t *testing.T) {
				h := given(t, inStatus(from)...)
				if h.Status() != from {
					t.Fatalf("given status: got %s, want %s", h.Status(), from)
				}
				to, ok := handoff.Next(from, a)
				if ok != allowed {
					t.Errorf("Next(%s, %s) allowed: got %v, want %v", from, a, ok, allowed)
				}
				if ok && allowed && to != outcomeOf[a].status {
					t.Errorf("Next(%s, %s): got %s, want %s", from, a, to, outcomeOf[a].status)
				}

				evs, err := h.Act(a, "OTH", "support_completed", "a note")
				if !allowed {
					if !errors.Is(err, handoff.ErrConflict) {
						t.Fatalf("got error %v (events %v), want ErrConflict", err, evs)
					}
					if evs != nil {
						t.Errorf("got events %v with the error, want none", evs)
					}
					return
				}
				if err != nil {
					t.Fatalf("got error %v, want a %s", err, typeName(outcomeOf[a].event))
				}
				if len(evs) != 1 {
					t.Fatalf("got %d events, want 1", len(evs))
				}
				if got, want := typeName(evs[0]), typeName(outcomeOf[a].event); got != want {
					t.Fatalf("event: got %s, want %s", got, want)
				}
				h.Apply(kernel.Change{Sequence: h.Version() + 1, At: t0.Add(day), Payload: evs[0]})
				if h.Status() != outcomeOf[a].status {
					t.Errorf("status after the event: got %s, want %s", h.Status(), outcomeOf[a].status)
				}
			})
		}
	}
}

func TestActExpireIsTheClocksOnly(t *testing.T) {
	for _, s := range handoff.Statuses {
		t.Run(string(s), func(t *testing.T) {
			if _, err := given(t, inStatus(s)...).Act(handoff.ActionExpire, "OTH", "", ""); !errors.Is(err, handoff.ErrConflict) {
				t.Errorf("got error %v, want ErrConflict", err)
			}
		})
	}
}

func TestActOnMissingHandoff(t *testing.T) {
	for _, a := range actions {
		t.Run(string(a), func(t *testing.T) {
			if _, err := given(t).Act(a, "OTH", "support_completed", ""); !errors.Is(err, handoff.ErrConflict) {
				t.Errorf("got error %v, want ErrConflict", err)
			}
		})
	}
}

func TestActReasons(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    handoff.Status
		action  handoff.Action
		reason  string
		wantErr error
	}{
		{"reject without a reason", handoff.StatusRequested, handoff.ActionReject, "", handoff.ErrInvalid},
		{"reject with a reason", handoff.StatusRequested, handoff.ActionReject, "no-capacity", nil},
		{"hold without a reason", handoff.StatusAccepted, handoff.ActionHold, "", handoff.ErrInvalid},
		{"hold with a reason", handoff.StatusAccepted, handoff.ActionHold, "waitlist", nil},
		{"fail without a reason", handoff.StatusInProgress, handoff.ActionFail, "", handoff.ErrInvalid},
		{"fail with a reason", handoff.StatusInProgress, handoff.ActionFail, "FC", nil},
		{"cancel without a reason", handoff.StatusRequested, handoff.ActionCancel, "", handoff.ErrInvalid},
		{"cancel with a reason", handoff.StatusRequested, handoff.ActionCancel, "circumstances-changed", nil},
		{"cancel an expired handoff without a reason", handoff.StatusExpired, handoff.ActionCancel, "", handoff.ErrInvalid},
		{"entered-in-error without a reason", handoff.StatusCompleted, handoff.ActionEnterInError, "", handoff.ErrInvalid},
		{"entered-in-error with a reason", handoff.StatusCompleted, handoff.ActionEnterInError, "duplicate", nil},
		{"accept needs no reason", handoff.StatusRequested, handoff.ActionAccept, "", nil},
		{"start needs no reason", handoff.StatusOnHold, handoff.ActionStart, "", nil},
		{"a conflict is reported before a missing reason", handoff.StatusEnteredInError, handoff.ActionCancel, "", handoff.ErrConflict},
		{"a reason with a control character", handoff.StatusRequested, handoff.ActionReject, "no-capacity\x1b", handoff.ErrInvalid},
		{"a reason with a zero-width space", handoff.StatusRequested, handoff.ActionReject, "no-\u200bcapacity", handoff.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := given(t, inStatus(tc.from)...)
			evs, err := h.Act(tc.action, tc.reason, "", "")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			h.Apply(kernel.Change{Sequence: h.Version() + 1, At: t0.Add(day), Payload: evs[0]})
			if h.Reason() != tc.reason {
				t.Errorf("reason after the event: got %q, want %q", h.Reason(), tc.reason)
			}
		})
	}
}

func TestNeedsReason(t *testing.T) {
	want := map[handoff.Action]bool{handoff.ActionReject: true, handoff.ActionHold: true, handoff.ActionFail: true,
		handoff.ActionCancel: true, handoff.ActionEnterInError: true}
	for _, a := range actions {
		t.Run(string(a), func(t *testing.T) {
			if got := handoff.NeedsReason(a); got != want[a] {
				t.Errorf("got %v, want %v", got, want[a])
			}
		})
	}
}

func TestActCompleteOutcome(t *testing.T) {
	type row struct {
		name    string
		outcome string
		wantErr error
	}
	rows := []row{
		{"no outcome", "", handoff.ErrInvalid},
		{"an unknown outcome", "great", handoff.ErrInvalid},
		{"an outcome in another case", "SUPPORT_COMPLETED", handoff.ErrInvalid},
	}
	for _, o := range handoff.Outcomes {
		rows = append(rows, row{"outcome " + o, o, nil})
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			h := given(t, inStatus(handoff.StatusInProgress)...)
			evs, err := h.Act(handoff.ActionComplete, "", tc.outcome, "went well")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			c, ok := evs[0].(*pathwayv1.HandoffCompleted)
			if !ok {
				t.Fatalf("event: got %T, want *HandoffCompleted", evs[0])
			}
			if c.GetOutcome() != tc.outcome || c.GetNote() != "went well" {
				t.Errorf("event: got outcome %q note %q, want %q %q", c.GetOutcome(), c.GetNote(), tc.outcome, "went well")
			}
			h.Apply(kernel.Change{Sequence: h.Version() + 1, At: t0.Add(day), Payload: c})
			if h.Outcome() != tc.outcome {
				t.Errorf("outcome after the event: got %q, want %q", h.Outcome(), tc.outcome)
			}
		})
	}
}

// Decide.

// person has every field set, so a test can see what is left out.
func person() *pathwayv1.Person {
	return &pathwayv1.Person{
		NhsNumber: "9434765919", GivenName: "Ada", FamilyName: "Lovelace",
		DateOfBirth: &pathwayv1.Date{Year: 1950, Month: 12, Day: 10}, Postcode: "TS1 3BA",
		Phone: "07700 900123", Email: "ada@example.org", Language: "en", AccessibilityNeeds: "step-free access",
		PreferredContact: pathwayv1.ContactMethod_CONTACT_METHOD_PHONE,
	}
}

// referralAfter builds referral r1 from a ReferralReceived and then the
// further events.
func referralAfter(tb testing.TB, more ...proto.Message) *referral.Referral {
	tb.Helper()
	payloads := append([]proto.Message{&pathwayv1.ReferralReceived{
		Person: person(), Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS},
		WhatMatters: "getting out of the house", Urgency: pathwayv1.Priority_PRIORITY_ROUTINE,
	}}, more...)
	changes := make([]kernel.Change, len(payloads))
	for i, p := range payloads {
		changes[i] = kernel.Change{Sequence: uint64(i + 1), At: t0.Add(time.Duration(i-len(payloads)) * day), Payload: p}
	}
	return referral.Replay("r1", changes)
}

var (
	triagedAccept = &pathwayv1.ReferralTriaged{Decision: pathwayv1.TriageDecision_TRIAGE_DECISION_ACCEPT, Reason: "meets criteria"}
	assigned      = &pathwayv1.ReferralAssigned{WorkerId: "w1"}
)

// assignedReferral is a referral on link worker w1's caseload.
func assignedReferral(tb testing.TB) *referral.Referral {
	tb.Helper()
	r := referralAfter(tb, triagedAccept, assigned)
	if r.Status() != referral.StatusAssigned {
		tb.Fatalf("given referral status: got %s, want %s", r.Status(), referral.StatusAssigned)
	}
	return r
}

const (
	givenName = pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME
	phone     = pathwayv1.SharedField_SHARED_FIELD_PHONE
)

// request is a valid handoff request; mutate it for each case.
func request(tb testing.TB) handoff.Request {
	tb.Helper()
	return handoff.Request{
		Referral: assignedReferral(tb), ServiceID: "s1", PartnerID: "org-1", ServiceActive: true,
		Capacity: pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY,
		Shared:   []pathwayv1.SharedField{phone, givenName}, Consent: true, Note: "prefers mornings",
		RespondBy: t0.Add(handoff.DefaultDeadline),
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name        string
		change      func(tb testing.TB, r *handoff.Request)
		wantErr     error
		wantWarning bool
	}{
		{"a valid request", func(testing.TB, *handoff.Request) {}, nil, false},
		{"no consent", func(_ testing.TB, r *handoff.Request) { r.Consent = false }, handoff.ErrInvalid, false},
		{"a field shared twice", func(_ testing.TB, r *handoff.Request) { r.Shared = []pathwayv1.SharedField{phone, phone} }, handoff.ErrInvalid, false},
		{"an unspecified shared field", func(_ testing.TB, r *handoff.Request) {
			r.Shared = []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_UNSPECIFIED}
		}, handoff.ErrInvalid, false},
		{"no referral", func(_ testing.TB, r *handoff.Request) { r.Referral = nil }, handoff.ErrConflict, false},
		{"a referral never received", func(_ testing.TB, r *handoff.Request) { r.Referral = referral.Replay("r1", nil) }, handoff.ErrConflict, false},
		{"a referral received, not triaged", func(tb testing.TB, r *handoff.Request) { r.Referral = referralAfter(tb) }, handoff.ErrConflict, false},
		{"a referral accepted, not assigned", func(tb testing.TB, r *handoff.Request) { r.Referral = referralAfter(tb, triagedAccept) }, handoff.ErrConflict, false},
		{"a referral on the waitlist", func(tb testing.TB, r *handoff.Request) {
			r.Referral = referralAfter(tb, triagedAccept, &pathwayv1.ReferralWaitlisted{})
		}, handoff.ErrConflict, false},
		{"a discharged referral", func(tb testing.TB, r *handoff.Request) {
			r.Referral = referralAfter(tb, triagedAccept, assigned, &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET})
		}, handoff.ErrConflict, false},
		{"a cancelled referral", func(tb testing.TB, r *handoff.Request) {
			r.Referral = referralAfter(tb, triagedAccept, assigned, &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_REVOKED})
		}, handoff.ErrConflict, false},
		{"a service gone from the directory", func(_ testing.TB, r *handoff.Request) { r.ServiceActive = false }, handoff.ErrConflict, false},
		{"no capacity", func(_ testing.TB, r *handoff.Request) {
			r.Capacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY
		}, handoff.ErrCapacity, false},
		{"a waitlist", func(_ testing.TB, r *handoff.Request) {
			r.Capacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST
		}, handoff.ErrCapacity, false},
		{"no capacity, confirmed", func(_ testing.TB, r *handoff.Request) {
			r.Capacity, r.ConfirmCapacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY, true
		}, nil, true},
		{"a waitlist, confirmed", func(_ testing.TB, r *handoff.Request) {
			r.Capacity, r.ConfirmCapacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST, true
		}, nil, true},
		{"capacity, confirmed needlessly", func(_ testing.TB, r *handoff.Request) { r.ConfirmCapacity = true }, nil, false},
		{"a note over lines", func(_ testing.TB, r *handoff.Request) { r.Note = "prefers mornings;\nnot Mondays" }, nil, false},
		{"a note with a bidirectional override", func(_ testing.TB, r *handoff.Request) { r.Note = "prefers \u202emornings" }, handoff.ErrInvalid, false},
		{"additional assessment required", func(_ testing.TB, r *handoff.Request) {
			r.Capacity = pathwayv1.CapacityStatus_CAPACITY_STATUS_ADDITIONAL_ASSESSMENT_REQUIRED
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t)
			tc.change(t, &req)
			evs, err := handoff.Decide(req)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if evs != nil {
					t.Errorf("got events %v with the error, want none", evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			e, ok := evs[0].(*pathwayv1.HandoffRequested)
			if !ok {
				t.Fatalf("event: got %T, want *HandoffRequested", evs[0])
			}
			if e.GetCapacityWarningConfirmed() != tc.wantWarning {
				t.Errorf("capacity_warning_confirmed: got %v, want %v", e.GetCapacityWarningConfirmed(), tc.wantWarning)
			}
		})
	}
}

func TestErrCapacityIsAConflict(t *testing.T) {
	if !errors.Is(handoff.ErrCapacity, handoff.ErrConflict) {
		t.Errorf("errors.Is(ErrCapacity, ErrConflict): got false, want true")
	}
}

func TestDecideSharesOnlyTheSharedFields(t *testing.T) {
	for _, tc := range []struct {
		name       string
		shared     []pathwayv1.SharedField
		wantFields []pathwayv1.SharedField
		want       *pathwayv1.SharedData
	}{
		{"given name and phone", []pathwayv1.SharedField{phone, givenName}, []pathwayv1.SharedField{givenName, phone},
			&pathwayv1.SharedData{GivenName: "Ada", Phone: "07700 900123"}},
		{"nothing", nil, nil, &pathwayv1.SharedData{}},
		{"needs, what matters, NHS number", []pathwayv1.SharedField{
			pathwayv1.SharedField_SHARED_FIELD_NHS_NUMBER, pathwayv1.SharedField_SHARED_FIELD_WHAT_MATTERS, pathwayv1.SharedField_SHARED_FIELD_NEEDS,
		}, []pathwayv1.SharedField{
			pathwayv1.SharedField_SHARED_FIELD_NEEDS, pathwayv1.SharedField_SHARED_FIELD_WHAT_MATTERS, pathwayv1.SharedField_SHARED_FIELD_NHS_NUMBER,
		}, &pathwayv1.SharedData{NhsNumber: "9434765919", WhatMatters: "getting out of the house", Needs: []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t)
			req.Shared = tc.shared
			evs, err := handoff.Decide(req)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			e := evs[0].(*pathwayv1.HandoffRequested)
			if !slices.Equal(e.GetSharedFields(), tc.wantFields) {
				t.Errorf("shared_fields: got %v, want %v (sorted)", e.GetSharedFields(), tc.wantFields)
			}
			if !proto.Equal(e.GetShared(), tc.want) {
				t.Errorf("shared: got %v, want %v", e.GetShared(), tc.want)
			}
			if !e.GetRespondBy().AsTime().Equal(req.RespondBy) {
				t.Errorf("respond_by: got %v, want %v", e.GetRespondBy().AsTime(), req.RespondBy)
			}
			if e.GetReferralId() != "r1" || e.GetServiceId() != "s1" || e.GetPartnerId() != "org-1" {
				t.Errorf("ids: got referral %q service %q partner %q, want r1 s1 org-1", e.GetReferralId(), e.GetServiceId(), e.GetPartnerId())
			}
			if !e.GetConsent() || e.GetNote() != "prefers mornings" {
				t.Errorf("consent, note: got %v %q, want true %q", e.GetConsent(), e.GetNote(), "prefers mornings")
			}
		})
	}
}

func TestDecideLeavesOutWhatIsNotShared(t *testing.T) {
	req := request(t)
	req.Shared = []pathwayv1.SharedField{givenName, phone}
	evs, err := handoff.Decide(req)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	d := evs[0].(*pathwayv1.HandoffRequested).GetShared()
	for _, tc := range []struct {
		field string
		got   any
		want  any
	}{
		{"given_name", d.GetGivenName(), "Ada"},
		{"phone", d.GetPhone(), "07700 900123"},
		{"family_name", d.GetFamilyName(), ""},
		{"nhs_number", d.GetNhsNumber(), ""},
		{"date_of_birth", d.GetDateOfBirth() != nil, false},
		{"postcode", d.GetPostcode(), ""},
		{"email", d.GetEmail(), ""},
		{"needs", len(d.GetNeeds()), 0},
		{"what_matters", d.GetWhatMatters(), ""},
		{"language", d.GetLanguage(), ""},
		{"accessibility_needs", d.GetAccessibilityNeeds(), ""},
		{"preferred_contact", d.GetPreferredContact(), pathwayv1.ContactMethod_CONTACT_METHOD_UNSPECIFIED},
	} {
		t.Run(tc.field, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestSharedFieldNames(t *testing.T) {
	for name, f := range handoff.SharedFieldNames {
		t.Run(name, func(t *testing.T) {
			if got := handoff.SharedFieldName(f); got != name {
				t.Errorf("SharedFieldName(%v): got %q, want %q", f, got, name)
			}
		})
	}
}

// Due and NextDue.

var reminders = []time.Duration{7 * day, 2 * day}

func reminderSent(n uint32) *pathwayv1.HandoffReminderSent {
	return &pathwayv1.HandoffReminderSent{RespondBy: timestamppb.New(t0.Add(14 * day)), ReminderNumber: n}
}

func TestDefaults(t *testing.T) {
	if handoff.DefaultDeadline != 14*day {
		t.Errorf("DefaultDeadline: got %v, want %v", handoff.DefaultDeadline, 14*day)
	}
	if !slices.Equal(handoff.DefaultReminders, reminders) {
		t.Errorf("DefaultReminders: got %v, want %v", handoff.DefaultReminders, reminders)
	}
}

func TestDue(t *testing.T) {
	deadline := t0.Add(14 * day)
	req := requestedBy(deadline)
	for _, tc := range []struct {
		name  string
		given []event
		now   time.Duration // after t0
		want  proto.Message // nil: nothing due
	}{
		{"nothing at day 1", []event{at(0, req)}, 1 * day, nil},
		{"nothing just before the first reminder", []event{at(0, req)}, 7*day - time.Second, nil},
		{"reminder 1 at day 7", []event{at(0, req)}, 7 * day, reminderSent(1)},
		{"reminder 1 at day 8", []event{at(0, req)}, 8 * day, reminderSent(1)},
		{"reminder 1 is not sent again", []event{at(0, req), at(7*day, reminderSent(1))}, 8 * day, nil},
		{"reminder 1 is not sent again at once", []event{at(0, req), at(7*day, reminderSent(1))}, 7 * day, nil},
		{"reminder 2 at day 12", []event{at(0, req), at(7*day, reminderSent(1))}, 12 * day, reminderSent(2)},
		{"reminder 2 is not sent again", []event{at(0, req), at(7*day, reminderSent(1)), at(12*day, reminderSent(2))}, 13 * day, nil},
		{"expired at day 14", []event{at(0, req), at(7*day, reminderSent(1)), at(12*day, reminderSent(2))}, 14 * day, &pathwayv1.HandoffExpired{RespondBy: timestamppb.New(deadline)}},
		{"expired at day 14 without reminders", []event{at(0, req)}, 14 * day, &pathwayv1.HandoffExpired{RespondBy: timestamppb.New(deadline)}},
		{"expired well after the deadline", []event{at(0, req)}, 30 * day, &pathwayv1.HandoffExpired{RespondBy: timestamppb.New(deadline)}},
		{"nothing once accepted, at a reminder", []event{at(0, req), at(3*day, &pathwayv1.HandoffAccepted{})}, 7 * day, nil},
		{"nothing once accepted, past the deadline", []event{at(0, req), at(3*day, &pathwayv1.HandoffAccepted{})}, 15 * day, nil},
		{"nothing once rejected", []event{at(0, req), at(3*day, &pathwayv1.HandoffRejected{Reason: "OTH"})}, 15 * day, nil},
		{"nothing once cancelled", []event{at(0, req), at(3*day, &pathwayv1.HandoffCancelled{Reason: "OTH"})}, 15 * day, nil},
		{"nothing once expired", []event{at(0, req), at(14*day, &pathwayv1.HandoffExpired{RespondBy: timestamppb.New(deadline)})}, 15 * day, nil},
		{"nothing for a missing handoff", nil, 15 * day, nil},
		{"short deadline: no reminder before it", []event{at(0, requestedBy(t0.Add(day)))}, 12 * time.Hour, nil},
		{"short deadline: still expires", []event{at(0, requestedBy(t0.Add(day)))}, day, &pathwayv1.HandoffExpired{RespondBy: timestamppb.New(t0.Add(day))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, tc.given...)
			got := h.Due(t0.Add(tc.now), reminders)
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 || !proto.Equal(got[0], tc.want) {
				t.Fatalf("got %v, want [%T %v]", got, tc.want, tc.want)
			}
		})
	}
}

func TestNextDue(t *testing.T) {
	req := requestedBy(t0.Add(14 * day))
	for _, tc := range []struct {
		name  string
		given []event
		want  time.Time
	}{
		{"a new handoff: the first reminder", []event{at(0, req)}, t0.Add(7 * day)},
		{"after reminder 1: the second", []event{at(0, req), at(7*day, reminderSent(1))}, t0.Add(12 * day)},
		{"after reminder 2: the deadline", []event{at(0, req), at(7*day, reminderSent(1)), at(12*day, reminderSent(2))}, t0.Add(14 * day)},
		{"short deadline: the deadline", []event{at(0, requestedBy(t0.Add(day)))}, t0.Add(day)},
		{"accepted: nothing", []event{at(0, req), at(day, &pathwayv1.HandoffAccepted{})}, time.Time{}},
		{"expired: nothing", []event{at(0, req), at(14*day, &pathwayv1.HandoffExpired{})}, time.Time{}},
		{"missing: nothing", nil, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := replay(t, tc.given...).NextDue(reminders); !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestClock drives a handoff with an injected clock: at each NextDue, Due
// decides one event, which is applied, until nothing is left.
func TestClock(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
		want     []string // event type @ offset from t0
	}{
		{"14-day deadline", 14 * day, []string{
			"*pathwayv1.HandoffReminderSent@168h0m0s", "*pathwayv1.HandoffReminderSent@288h0m0s", "*pathwayv1.HandoffExpired@336h0m0s",
		}},
		{"1-day deadline", day, []string{"*pathwayv1.HandoffExpired@24h0m0s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, at(0, requestedBy(t0.Add(tc.deadline))))
			var got []string
			for i := 0; i < 10; i++ {
				next := h.NextDue(reminders)
				if next.IsZero() {
					break
				}
				evs := h.Due(next, reminders)
				if len(evs) != 1 {
					t.Fatalf("at %v: got %d events, want 1", next.Sub(t0), len(evs))
				}
				if len(h.Due(next.Add(-time.Second), reminders)) != 0 {
					t.Errorf("a second before %v: got an event, want nothing", next.Sub(t0))
				}
				got = append(got, fmt.Sprintf("%T@%v", evs[0], next.Sub(t0)))
				h.Apply(kernel.Change{Sequence: h.Version() + 1, At: next, Payload: evs[0]})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestActNote(t *testing.T) {
	for _, tc := range []struct {
		name, note string
		wantErr    error
	}{
		{"over lines", "called twice;\r\nno answer", nil},
		{"with NUL", "called\x00", handoff.ErrInvalid},
		{"with an isolate", "called \u2068twice", handoff.ErrInvalid},
		{"not UTF-8", "called \xff", handoff.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := given(t, inStatus(handoff.StatusRequested)...).Act(handoff.ActionAccept, "", "", tc.note)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if ke, ok := errors.AsType[*kernel.Error](err); err != nil && (!ok || len(ke.Fields) != 1 || ke.Fields[0].Field != "note") {
				t.Errorf("got %v, want the field note named", err)
			}
		})
	}
}
