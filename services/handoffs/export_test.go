package handoffs

// DeadlinesState is the clock view's whole state, for the read-model
// conformance suite to compare.
func DeadlinesState(d *Deadlines) any {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]openHandoff{}
	for id, h := range d.open {
		out[id] = *h
	}
	return out
}
