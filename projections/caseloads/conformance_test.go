package caseloads_test

import (
	"testing"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/caseloads"
	"github.com/pathway-sp/pathway/projections/conformance"
)

// TestConformance runs the read-model conformance suite on caseloads.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Config{New: func() projections.Projection { return caseloads.New() }})
}
