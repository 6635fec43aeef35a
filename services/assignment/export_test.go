package assignment

import (
	"slices"
	"strings"

	"github.com/pathway-sp/pathway/services/domain/worker"
)

// ViewState is the view's whole state as plain data, sorted, for the
// read-model conformance suite to compare.
func ViewState(v *View) any {
	v.mu.Lock()
	var s viewSnapshot
	for _, wk := range v.workers {
		s.Workers = append(s.Workers, wk.State())
	}
	for _, e := range v.refs {
		s.Refs = append(s.Refs, entryState{ID: e.id, Status: e.status, Priority: e.priority, Queue: e.queue, WaitingAt: e.waitingAt})
	}
	queues := make([]string, 0, len(v.queues))
	for q := range v.queues {
		queues = append(queues, q)
	}
	v.mu.Unlock()
	slices.SortFunc(s.Workers, func(a, b worker.State) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Refs, func(a, b entryState) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(queues)
	lists := map[string][]string{}
	for _, q := range queues {
		lists[q] = v.Waitlist(q)
	}
	return struct {
		State     viewSnapshot
		Waitlists map[string][]string
	}{s, lists}
}
