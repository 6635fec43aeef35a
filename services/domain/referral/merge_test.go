package referral_test

import (
	"errors"
	"fmt"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// TestMergeRefusesTwoPeople: a merge closes the duplicate's referral, so
// it is refused when the two referrals carry NHS numbers, or dates of
// birth, that differ: they are two people. A self-referral that gave no
// NHS number merges into the referral it duplicates.
func TestMergeRefusesTwoPeople(t *testing.T) {
	n := 0
	person := func(nhs string, dob *pathwayv1.Date) *referral.Referral {
		n++
		return referral.Replay(fmt.Sprint("r", n), []kernel.Change{{Sequence: 1, Payload: &pathwayv1.ReferralReceived{
			Person: &pathwayv1.Person{NhsNumber: nhs, GivenName: "Sam", FamilyName: "Example", DateOfBirth: dob}}}})
	}
	born := &pathwayv1.Date{Year: 1956, Month: 3, Day: 14}
	other := &pathwayv1.Date{Year: 1956, Month: 3, Day: 15}
	for _, tc := range []struct {
		name          string
		dup, survivor *referral.Referral
		wantErr       error
	}{
		{"one person, twice", person("9434765919", born), person("943 476 5919", born), nil},
		{"a self-referral without an NHS number", person("", born), person("9434765919", born), nil},
		{"no date of birth on one", person("9434765919", nil), person("9434765919", born), nil},
		{"different NHS numbers", person("9434765919", born), person("4010232137", born), referral.ErrConflict},
		{"different dates of birth", person("", born), person("9434765919", other), referral.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.dup.MergeInto(tc.survivor, "same person")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}
