package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMapSyncWithoutOIDCSays: map-sync admits browsers by the session JWT
// that sign-in sets; serve says so when sign-in is not configured.
func TestMapSyncWithoutOIDCSays(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "scimgate.yaml")
	yaml := "listen: \"" + freeAddr(t) + "\"\nstore: \"sqlite:" + filepath.Join(dir, "db") + "\"\n" +
		"haproxy_maps:\n  runtime_api: \"" + freeAddr(t) + "\"\n  dir: \"" + filepath.Join(dir, "maps") + "\"\n" +
		"routes:\n  - name: public\n    path: /public\n    allow:\n      public: true\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"--config", cfg}, &stdout, &stderr) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.tail(4096), "haproxy_maps without oidc"); {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about haproxy_maps without oidc; stderr:\n%s", stderr.tail(4096))
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended: %v\n%s", err, stderr.tail(4096))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
