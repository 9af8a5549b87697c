package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/store/sqlite"
)

// TestReloadDuringStartup holds the store's write lock so that the real
// binary stays in its startup (opening the store, recording the policy)
// while the test sends SIGHUP or edits the configuration file: the
// process survives the signal and applies it once ready, and the file
// watcher, seeded with the bytes the server loaded, applies the edit.
func TestReloadDuringStartup(t *testing.T) {
	bin := realBinary(t)
	tests := []struct {
		name    string
		sighup  bool // send SIGHUP during startup
		edit    bool // change the routes during startup
		trigger string
	}{
		{name: "SIGHUP during startup is applied once ready", sighup: true, trigger: "SIGHUP"},
		{name: "an edit during startup is applied by the watcher", edit: true, trigger: "file changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db := filepath.Join(dir, "scimgate.db")
			cfgPath := filepath.Join(dir, "scimgate.yaml")
			content := func(group string) string {
				return fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  format: json\nroutes:\n  - {name: app, path: /app, allow: {groups: [%s]}}\n", db, group)
			}
			writeFileAtomic(t, cfgPath, content("staff"))
			st, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			lock, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close()
			conn, err := lock.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			locked := true
			unlock := func() {
				if locked {
					locked = false
					if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
						t.Fatal(err)
					}
				}
			}
			defer unlock()

			s, logs, ready := launchLogged(t, bin, cfgPath)

			time.Sleep(time.Second) // the server is waiting for the store's lock
			select {
			case <-ready:
				t.Fatal("test setup: the server got ready while the store was locked")
			case <-s.done:
				t.Fatalf("server exited during startup:\n%s", logs.tail(3000))
			default:
			}
			want := content("staff")
			if tt.edit {
				want = content("ops")
				writeFileAtomic(t, cfgPath, want)
			}
			if tt.sighup {
				if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(200 * time.Millisecond)
			unlock()
			select {
			case <-ready:
			case <-s.done:
				t.Fatalf("server exited during startup (state %v):\n%s", s.cmd.ProcessState, logs.tail(3000))
			case <-time.After(20 * time.Second):
				t.Fatalf("server not ready within 20s:\n%s", logs.tail(3000))
			}
			c, err := config.Parse([]byte(want))
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Compile(c.Routes, cfgPath, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			e := awaitLog(t, logs, 0, fmt.Sprintf("%q with trigger %q", reloadOK, tt.trigger), func(e logEntry) bool {
				return e.str("msg") == reloadOK && e.str("trigger") == tt.trigger
			})
			if e.str("hash") != p.Hash {
				t.Errorf("reload by %s put %s in force, want %s (the file's content)", tt.trigger, e.str("hash"), p.Hash)
			}
		})
	}
}
