package sqlite

// SetHistoryIndexing turns the temporal index's upkeep on or off, as a
// binary from before the index would write, and returns the function that
// restores it.
func SetHistoryIndexing(on bool) func() {
	old := indexHistory
	indexHistory = on
	return func() { indexHistory = old }
}
