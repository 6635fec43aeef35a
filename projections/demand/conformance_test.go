package demand_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/projections/demand"
)

// TestConformance runs the read-model conformance suite on demand.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{New: func() projections.Projection { return demand.New() }})
}
