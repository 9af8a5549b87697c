package sqlite

// SetBackfillChunk sets the backfill's chunk size for a test and returns
// the function that restores it.
func SetBackfillChunk(n int) func() {
	old := backfillChunk
	backfillChunk = n
	return func() { backfillChunk = old }
}
