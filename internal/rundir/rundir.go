// Package rundir gives test binaries directories that live for one run:
// what is built once per run (binaries, stores) and must not stay in the
// system's temporary directory after it.
package rundir

import (
	"os"
	"sync"
	"testing"
)

var (
	mu   sync.Mutex
	dirs []string
)

// Make creates a temporary directory named after prefix that RemoveAll
// removes.
func Make(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		mu.Lock()
		dirs = append(dirs, dir)
		mu.Unlock()
	}
	return dir, err
}

// RemoveAll removes every directory Make created; TestMain calls it after
// the tests ran.
func RemoveAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	dirs = nil
}

// Main is a TestMain that runs the tests, then RemoveAll.
func Main(m *testing.M) {
	code := m.Run()
	RemoveAll()
	os.Exit(code)
}
