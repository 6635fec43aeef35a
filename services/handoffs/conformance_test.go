package handoffs_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/services/handoffs"
)

// TestDeadlinesConformance runs the read-model conformance suite on the
// deadline clock's view of open handoffs.
func TestDeadlinesConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return handoffs.NewDeadlines() },
		View: func(p projections.Projection) any { return handoffs.DeadlinesState(p.(*handoffs.Deadlines)) },
	})
}
