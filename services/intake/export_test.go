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

// MatchesState is the view's whole state (its open referrals, and the
// referrals of each match in order), for the conformance suite.
func MatchesState(m *Matches) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	open := make([]matchEntry, 0, len(m.open))
	for _, e := range m.open {
		open = append(open, *e)
	}
	slices.SortFunc(open, func(a, b matchEntry) int { return strings.Compare(a.ID, b.ID) })
	return map[string]any{"open": open, "by_match": m.byMatch}
}
