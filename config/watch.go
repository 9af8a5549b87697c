package config

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// Sum is the digest Watch compares contents by. Seed Watch with the Sum of
// the bytes actually loaded (LoadFile returns them), so that an edit made
// after they were read is not taken for the running configuration.
func Sum(data []byte) [32]byte { return sha256.Sum256(data) }

// Watch calls onChange with the file's new content (or the error reading
// it: the file is gone) whenever the content of the file at path changes,
// checking every interval, until ctx ends. loaded is the Sum of the
// content in force.
//
// A change is applied only once the file has read the same on two checks
// in a row: a file written in place (cat >, scp, most editors' "save")
// can be read cut off, and a cut-off YAML file often still parses. A file
// replaced by rename (write a temporary file, then mv it over) is
// atomic and never read half-written; it is applied within two intervals.
//
// Polling is used rather than inotify so that it works on every file
// system and survives editors that replace the file.
func Watch(ctx context.Context, path string, interval time.Duration, loaded [32]byte, onChange func(data []byte, err error)) {
	w := &watcher{path: path, last: loaded, onChange: onChange}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.check()
	}
}

// watcher is Watch's state between checks.
type watcher struct {
	path     string
	last     [32]byte  // the content applied last
	pending  *[32]byte // a content seen once, not yet applied
	onChange func([]byte, error)
}

// check reads the file once, and applies its content when it differs from
// the one applied last and read the same on the check before.
func (w *watcher) check() {
	b, err := os.ReadFile(w.path)
	var cur [32]byte // a file that cannot be read: the zero digest
	if err == nil {
		cur = Sum(b)
	}
	switch {
	case cur == w.last:
		w.pending = nil
	case w.pending != nil && *w.pending == cur:
		w.last, w.pending = cur, nil
		w.onChange(b, err)
	default:
		w.pending = &cur
	}
}
