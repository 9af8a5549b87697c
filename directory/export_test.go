package directory

// SetPurgeBatch sets how many sessions one purge transaction deletes, and
// returns a function that restores it.
func SetPurgeBatch(n int) (restore func()) {
	old := purgeBatch
	purgeBatch = n
	return func() { purgeBatch = old }
}
