package intake

import (
	"slices"
	"strings"
)

// IndexState is the index's whole state, sorted, for the read-model
// conformance suite to compare.
func IndexState(ix *Index) any {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make([]entry, 0, len(ix.entries))
	for _, e := range ix.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}
