package oruk_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/conformance"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
)

// TestViewConformance runs the read-model conformance suite on View.
func TestViewConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{New: func() projections.Projection { return oruk.NewView() }})
}
