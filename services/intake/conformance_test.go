package intake_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/services/intake"
)

// TestIndexConformance runs the read-model conformance suite on the
// manual triage queue.
func TestIndexConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return intake.NewIndex() },
		View: func(p projections.Projection) any { return intake.IndexState(p.(*intake.Index)) },
	})
}

// TestMatchesConformance runs the read-model conformance suite on the
// open referrals by person match.
func TestMatchesConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return intake.NewMatches() },
		View: func(p projections.Projection) any { return intake.MatchesState(p.(*intake.Matches)) },
	})
}
