package events

// SetTailKeep sets how many events the shared tail keeps, until the
// returned function restores it.
func SetTailKeep(n int) (restore func()) {
	old := tailKeep
	tailKeep = n
	return func() { tailKeep = old }
}
