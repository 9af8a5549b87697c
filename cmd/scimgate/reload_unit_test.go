package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

// TestReloaderSerialisesAndStamps drives the reloader as SIGHUP and the
// watcher do, from goroutines of their own, on a real store: reloads take
// turns (never two between stamp and swap at once), the version recorded
// last is the one in force, and each version is stamped with the clock
// read right before it is recorded, not when its file was read.
func TestReloaderSerialisesAndStamps(t *testing.T) {
	ctx, dir, st, live := reloadWorld(t)
	content := func(i int) string {
		return fmt.Sprintf("routes:\n  - {name: app, path: /app, allow: {groups: [g%d]}}\n", i)
	}
	start, err := config.Parse([]byte(content(0)))
	if err != nil {
		t.Fatal(err)
	}
	p0, err := policy.Compile(start.Routes, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(live, p0, engine.Options{MaxSnapshotAge: time.Minute, Logger: slog.New(slog.DiscardHandler)})

	var inside, most atomic.Int32
	var mu sync.Mutex
	var stamps []time.Time
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &reloader{path: filepath.Join(dir, "scimgate.yaml"), st: st, eng: eng, log: slog.New(slog.DiscardHandler), running: start,
		now: func() time.Time {
			n := inside.Add(1)
			defer inside.Add(-1)
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(5 * time.Millisecond) // another reload would overlap here
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Hour)
			stamps = append(stamps, clock)
			return clock
		}}
	// Compiled now, recorded at the stamps: far apart.
	before := time.Now()
	var wg sync.WaitGroup
	for i := 1; i <= 16; i++ {
		wg.Go(func() { r.apply(ctx, "test", []byte(content(i)), nil) })
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d reloads overlapped; want them one at a time", most.Load())
	}
	var vs []store.PolicyVersion
	if err := st.View(ctx, func(tx store.ReadTx) error {
		vs, err = tx.PolicyVersions(ctx, 0, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 16 {
		t.Fatalf("%d versions recorded, want 16", len(vs))
	}
	for i, v := range vs {
		if !v.At.Equal(stamps[i]) {
			t.Errorf("version %d stamped %s, want %s, the clock when it was recorded (compiled after %s)", i, v.At, stamps[i], before)
		}
	}
	if last := vs[len(vs)-1]; eng.Policy().Hash != last.Digest {
		t.Errorf("in force: %s; the trail's last version: %s", eng.Policy().Hash, last.Digest)
	}
}

// TestReloaderNeedsRestart: a reload that changes fields only a restart
// applies logs a warning naming them, besides putting the routes in force;
// new admin tokens are put in force at once (the old token is refused),
// also by a reload whose policy cannot be put in force, while removing
// every token is left to a restart.
func TestReloaderNeedsRestart(t *testing.T) {
	ctx, _, st, live := reloadWorld(t)
	sum := func(tok string) string { h := sha256.Sum256([]byte(tok)); return hex.EncodeToString(h[:]) }
	cfg := func(listen, level string, tokens ...string) string {
		var hs []string
		for _, tok := range tokens {
			hs = append(hs, strconv.Quote(sum(tok)))
		}
		return fmt.Sprintf("listen: %q\nadmin_listen: \"127.0.0.1:9090\"\nadmin_token_sha256: [%s]\nlog: {level: %s}\nroutes:\n  - {name: app, path: /app, allow: {groups: [staff]}}\n",
			listen, strings.Join(hs, ", "), level)
	}
	start, err := config.Parse([]byte(cfg("127.0.0.1:8080", "info", "old-token")))
	if err != nil {
		t.Fatal(err)
	}
	p0, err := policy.Compile(start.Routes, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	guard, err := newAdminGuard(start.AdminTokenSHA256, ok)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r := &reloader{path: "scimgate.yaml", st: st, now: time.Now, running: start, adminTokens: guard,
		eng: engine.New(live, p0, engine.Options{MaxSnapshotAge: time.Minute, Logger: slog.New(slog.DiscardHandler)}),
		log: slog.New(slog.NewJSONHandler(&logs, nil))}
	status := func(tok string) int {
		req := httptest.NewRequest("GET", "http://127.0.0.1:9090/audit/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		guard.ServeHTTP(w, req)
		return w.Code
	}
	tests := []struct {
		name       string
		next       string
		want       []string // needs_restart; nil: no warning
		old, fresh int      // the old and the new token's status afterwards
		// unrecordable: the store is closed first, so the policy cannot
		// be recorded and the reload fails; the tokens apply all the same.
		unrecordable bool
	}{
		{name: "unchanged", next: cfg("127.0.0.1:8080", "info", "old-token"), old: 200, fresh: 401},
		{name: "listen and log level need a restart; a new token is in force",
			next: cfg("127.0.0.1:8081", "debug", "new-token"), want: []string{"listen", "log.level"}, old: 401, fresh: 200},
		{name: "still not in force on the next reload", next: cfg("127.0.0.1:8081", "debug", "new-token"),
			want: []string{"listen", "log.level"}, old: 401, fresh: 200},
		{name: "removing every token needs a restart", next: cfg("127.0.0.1:8080", "info"),
			want: []string{"admin_token_sha256"}, old: 401, fresh: 200},
		{name: "a token revoked although the policy cannot be recorded",
			next:         strings.Replace(cfg("127.0.0.1:8080", "info", "old-token"), "path: /app,", "path: /app2,", 1),
			unrecordable: true, old: 200, fresh: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			if tt.unrecordable {
				st.Close()
			}
			r.apply(ctx, "test", []byte(tt.next), nil)
			var got []string
			var reloaded bool
			for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
				var e struct {
					Level, Msg   string
					NeedsRestart []string `json:"needs_restart"`
				}
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				reloaded = reloaded || e.Msg == "policy reloaded"
				if e.NeedsRestart != nil {
					if e.Level != "WARN" || !strings.Contains(e.Msg, "needs restart: "+strings.Join(e.NeedsRestart, ", ")) {
						t.Errorf("logged %s %q; want a warning naming the fields", e.Level, e.Msg)
					}
					got = e.NeedsRestart
				}
			}
			if reloaded == tt.unrecordable {
				t.Errorf("policy reloaded: %v, want %v; log:\n%s", reloaded, !tt.unrecordable, logs.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("needs_restart %q, want %q; log:\n%s", got, tt.want, logs.String())
			}
			if o, f := status("old-token"), status("new-token"); o != tt.old || f != tt.fresh {
				t.Errorf("old token %d, new token %d; want %d and %d", o, f, tt.old, tt.fresh)
			}
		})
	}
}

// reloadWorld is a real store in a temporary directory and its live
// snapshot, closed when the test ends.
func reloadWorld(t *testing.T) (context.Context, string, *sqlite.Store, *snapshot.Live) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	live, err := snapshot.Start(ctx, st, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, dir, st, live
}
