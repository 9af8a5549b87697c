package config

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// Watch calls onChange whenever the content of the file at path changes,
// checking every interval, until ctx ends. Polling is used rather than
// inotify so that it works on every file system and survives editors that
// replace the file.
func Watch(ctx context.Context, path string, interval time.Duration, onChange func()) {
	sum := func() [32]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			return [32]byte{}
		}
		return sha256.Sum256(b)
	}
	last := sum()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cur := sum(); cur != last {
			last = cur
			onChange()
		}
	}
}
