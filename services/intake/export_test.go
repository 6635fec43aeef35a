package intake

import (
	"slices"
	"strings"
)

// values returns copies of the entries of m, sorted by id.
func values[E any](m map[string]*E, id func(E) string) []E {
	out := make([]E, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b E) int { return strings.Compare(id(a), id(b)) })
	return out
}

// IndexState is the index's whole state, sorted, for the read-model
// conformance suite to compare.
func IndexState(ix *Index) any {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return values(ix.entries, func(e entry) string { return e.ID })
}

// MatchesState is the view's whole state (its open referrals, and the
// referrals of each match in order), for the conformance suite.
func MatchesState(m *Matches) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return map[string]any{"open": values(m.open, func(e matchEntry) string { return e.ID }), "by_match": m.byMatch}
}
