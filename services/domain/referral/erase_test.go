package referral_test

import (
	"errors"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"google.golang.org/protobuf/proto"
)

func TestErase(t *testing.T) {
	person := func() *pathwayv1.ReferralReceived {
		ev := received(false)
		ev.Person = &pathwayv1.Person{NhsNumber: "9434765919", GivenName: "Sam", FamilyName: "Example", Postcode: "TS1 3BA", Phone: "07700 900123"}
		return ev
	}
	cancelled := &pathwayv1.ReferralCancelled{Reason: pathwayv1.CancelReason_CANCEL_REASON_ENTERED_IN_ERROR}
	erased := &pathwayv1.ReferralErased{Ground: pathwayv1.ErasureGround_ERASURE_GROUND_ENTERED_IN_ERROR, Reason: "wrong patient"}
	ground := pathwayv1.ErasureGround_ERASURE_GROUND_SUBJECT_REQUEST
	for _, tc := range []struct {
		name   string
		given  []proto.Message
		ground pathwayv1.ErasureGround
		reason string
		want   []proto.Message
		kind   kernel.Kind // of the error, when one is wanted
	}{
		{name: "closed referral", given: []proto.Message{person(), cancelled}, ground: ground, reason: "request DP-1",
			want: []proto.Message{&pathwayv1.ReferralErased{Ground: ground, Reason: "request DP-1", HandoffIds: []string{"h1"}}}},
		{name: "open referral", given: []proto.Message{person()}, ground: ground, reason: "request DP-1", kind: kernel.Conflict},
		{name: "no referral", ground: ground, reason: "request DP-1", kind: kernel.Conflict},
		{name: "no ground", given: []proto.Message{person(), cancelled}, reason: "request DP-1", kind: kernel.Invalid},
		{name: "no reason", given: []proto.Message{person(), cancelled}, ground: ground, reason: "  ", kind: kernel.Invalid},
		{name: "reason names the person", given: []proto.Message{person(), cancelled}, ground: ground, reason: "asked by Mrs example", kind: kernel.Invalid},
		{name: "reason holds the NHS number", given: []proto.Message{person(), cancelled}, ground: ground, reason: "re 943 476 5919", kind: kernel.Invalid},
		{name: "reason holds the phone", given: []proto.Message{person(), cancelled}, ground: ground, reason: "rang from 07700900123", kind: kernel.Invalid},
		{name: "reason holds the postcode", given: []proto.Message{person(), cancelled}, ground: ground, reason: "lives at ts1 3ba", kind: kernel.Invalid},
		{name: "already erased: nothing more", given: []proto.Message{person(), cancelled, erased}, ground: ground, reason: "again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := given(tc.given...).Erase(tc.ground, tc.reason, []string{"h1"})
			var ke *kernel.Error
			if tc.kind != 0 || tc.want == nil && err != nil {
				if !errors.As(err, &ke) || ke.Kind != tc.kind {
					t.Fatalf("got %v, %v; want a %s error", got, err, tc.kind)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if !proto.Equal(got[i], tc.want[i]) {
					t.Errorf("event %d: got %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestErasedReferral(t *testing.T) {
	r := given(received(false), &pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET},
		&pathwayv1.ReferralErased{Ground: pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION, Reason: "retention"})
	if erased, e, _ := r.Erased(); !erased || e.GetGround() != pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION {
		t.Errorf("Erased: %v %v, want erased on retention", erased, e)
	}
	if r.Status() != referral.StatusDischarged {
		t.Errorf("status %s, want discharged still", r.Status())
	}
	if _, err := r.Reopen("came back"); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("reopen of an erased referral: %v, want a conflict", err)
	}
}
