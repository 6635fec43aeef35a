package assignment_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/services/assignment"
)

// TestViewConformance runs the read-model conformance suite on the view
// assignment decides from.
func TestViewConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{
		New:  func() projections.Projection { return assignment.NewView("assignment-view") },
		View: func(p projections.Projection) any { return assignment.ViewState(p.(*assignment.View)) },
	})
}
