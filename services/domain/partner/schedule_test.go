package partner_test

import (
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

func TestScheduleSummary(t *testing.T) {
	for _, tc := range []struct {
		s    *pathwayv1.Schedule
		want string
	}{
		{&pathwayv1.Schedule{Freq: "WEEKLY", Byday: []string{"TH", "FR"}, OpensAt: "10:00", ClosesAt: "18:00"}, "Thursdays and Fridays, 10:00 to 18:00"},
		{&pathwayv1.Schedule{Freq: "WEEKLY", Interval: 2, Byday: []string{"MO"}}, "Every 2 weeks on Mondays"},
		{&pathwayv1.Schedule{Freq: "MONTHLY", Byday: []string{"1MO"}, OpensAt: "14:00", ClosesAt: "16:00"}, "The first Monday of the month, 14:00 to 16:00"},
		{&pathwayv1.Schedule{Freq: "MONTHLY", Byday: []string{"-1FR"}}, "The last Friday of the month"},
		{&pathwayv1.Schedule{Freq: "MONTHLY", Byday: []string{"-3TU"}}, "The third to last Tuesday of the month"},
		{&pathwayv1.Schedule{Freq: "MONTHLY", Bymonthday: []int32{1, 15}}, "Days 1 and 15 of the month"},
		{&pathwayv1.Schedule{Byday: []string{"MO", "WE", "FR"}, OpensAt: "09:30"}, "Mondays, Wednesdays and Fridays, from 09:30"},
		{&pathwayv1.Schedule{Description: "Term time only"}, "Term time only"},
	} {
		if got := partner.ScheduleSummary(tc.s); got != tc.want {
			t.Errorf("ScheduleSummary(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
