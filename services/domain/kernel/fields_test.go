package kernel_test

import (
	"fmt"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// TestFieldsShowEnumsAsWords: enum values, single, repeated and nested,
// read as the words the API takes.
func TestFieldsShowEnumsAsWords(t *testing.T) {
	got := kernel.Fields(&pathwayv1.HandoffRequested{
		SharedFields: []pathwayv1.SharedField{pathwayv1.SharedField_SHARED_FIELD_GIVEN_NAME, pathwayv1.SharedField_SHARED_FIELD_NEEDS},
		Shared:       &pathwayv1.SharedData{Needs: []pathwayv1.Need{pathwayv1.Need_NEED_BEREAVEMENT}},
	})
	if fmt.Sprint(got["shared_fields"]) != "[given_name needs]" {
		t.Errorf("shared_fields %v, want [given_name needs]", got["shared_fields"])
	}
	if shared, _ := got["shared"].(map[string]any); fmt.Sprint(shared["needs"]) != "[bereavement]" {
		t.Errorf("shared.needs %v, want [bereavement]", got["shared"])
	}
	d := kernel.Fields(&pathwayv1.ReferralDischarged{Reason: pathwayv1.DischargeReason_DISCHARGE_REASON_GOALS_MET})
	if d["reason"] != "goals_met" {
		t.Errorf("reason %v, want goals_met", d["reason"])
	}
	if n := len(kernel.Fields(nil)); n != 0 {
		t.Errorf("a nil message has %d fields", n)
	}
}
