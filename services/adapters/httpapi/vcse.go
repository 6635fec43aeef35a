package httpapi

import (
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/handoffs"
	"github.com/pathway-sp/pathway/services/webhooks"
)

// VCSE is what the directory, handoff and partner endpoints need.
type VCSE struct {
	Directory *directory.Service
	Handoffs  *handoffs.Service
	Webhooks  *webhooks.Service
	// Partners is the partners read model (directory, inboxes, stats).
	Partners *projections.Engine
}

// nonNil is s, or an empty slice for nil (a JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
