package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func decisions(t testing.TB, st store.Store) []store.Decision {
	t.Helper()
	var ds []store.Decision
	err := st.View(context.Background(), func(tx store.ReadTx) (err error) {
		ds, err = tx.Decisions(context.Background(), 0, 1<<20)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// counts is a Metrics that remembers.
type counts struct {
	mu                sync.Mutex
	recorded, written int
	dropped           map[string]int
}

func (c *counts) Recorded() { c.mu.Lock(); c.recorded++; c.mu.Unlock() }
func (c *counts) Written(n int) {
	c.mu.Lock()
	c.written += n
	c.mu.Unlock()
}

func (c *counts) Dropped(reason string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped[reason] += n
}

var (
	alice    = &snapshot.User{Key: snapshot.Key{Tenant: 1, ID: "u-alice"}, UserName: "alice@example.com"}
	appRoute = &policy.Route{Name: "app"}
	req      = engine.Request{Host: "app.test", Path: "/app/x", Method: "GET"}
)

func allow() engine.Decision {
	return engine.Decision{Allow: true, Reason: engine.ReasonGroupOK, Route: appRoute, User: alice}
}
func deny() engine.Decision {
	return engine.Decision{Reason: engine.ReasonNotAllowed, Route: appRoute, User: alice}
}

func TestRecorderFields(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	r := audit.NewRecorder(st, audit.RecorderOptions{Now: func() time.Time { return now }})
	r.Record("proxy", "192.0.2.7:4321", engine.Principal{User: alice.Key, TokenID: "tok1"}, req, allow())
	r.Record("forwardauth", "192.0.2.8:1", engine.Principal{User: alice.Key, SessionID: "sess1"}, req, deny())
	r.Record("caddy", "192.0.2.9:2", engine.Principal{}, engine.Request{Host: "x.test", Path: "/", Method: "POST"},
		engine.Decision{Reason: engine.ReasonNoRoute})
	r.Close()
	want := []store.Decision{
		{Seq: 1, At: now, TenantID: 1, UserID: "u-alice", UserName: "alice@example.com", Route: "app", Method: "GET", Host: "app.test",
			Path: "/app/x", Allow: true, Reason: "group-ok", Adapter: "proxy", Remote: "192.0.2.7:4321", CredKind: "token", CredID: "tok1"},
		{Seq: 2, At: now, TenantID: 1, UserID: "u-alice", UserName: "alice@example.com", Route: "app", Method: "GET", Host: "app.test",
			Path: "/app/x", Reason: "not-allowed", Adapter: "forwardauth", Remote: "192.0.2.8:1", CredKind: "session", CredID: "sess1"},
		{Seq: 3, At: now, Method: "POST", Host: "x.test", Path: "/", Reason: "no-route", Adapter: "caddy", Remote: "192.0.2.9:2"},
	}
	if diff := cmp.Diff(want, decisions(t, st), cmpopts.IgnoreFields(store.Decision{}, "Prev", "Hash")); diff != "" {
		t.Errorf("recorded decisions mismatch (-want +got):\n%s", diff)
	}
}

// TestRecorderNamesTheOwner: a credential refused for its state (a revoked
// token) is recorded under its owner, whom the decision does not name as
// the user it admitted; an anonymous refusal stays anonymous.
func TestRecorderNamesTheOwner(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	b := snapshot.NewBuilder(1)
	b.AddTenant(1, "acme")
	b.AddUser(alice.Key, alice.UserName, true)
	snap := b.Snapshot()
	r := audit.NewRecorder(st, audit.RecorderOptions{})
	r.Record("proxy", "", engine.Principal{User: alice.Key, TokenID: "tok1"}, req,
		engine.Decision{Reason: engine.ReasonTokenRevoked, Route: appRoute, Snap: snap})
	r.Record("proxy", "", engine.Principal{}, req, engine.Decision{Reason: engine.ReasonUnauthenticated, Route: appRoute, Snap: snap})
	r.Close()
	ds := decisions(t, st)
	if len(ds) != 2 {
		t.Fatalf("%d decisions recorded, want 2", len(ds))
	}
	if d := ds[0]; d.UserID != alice.ID || d.UserName != alice.UserName || d.TenantID != 1 || d.Reason != engine.ReasonTokenRevoked || d.CredID != "tok1" {
		t.Errorf("revoked token's refusal recorded as %+v, want it under alice", d)
	}
	if d := ds[1]; d.UserID != "" || d.UserName != "" {
		t.Errorf("anonymous refusal recorded under %q", d.UserName)
	}
}

// TestRecorderSampling: every refusal is kept; allows as configured.
func TestRecorderSampling(t *testing.T) {
	tests := []struct {
		allows     string
		rate       float64
		wantAllows int // of 10
	}{
		{audit.AllowsAll, 0, 10},
		{audit.AllowsNone, 0, 0},
		{audit.AllowsSample, 0.5, 4}, // Rand cycles 0.1, 0.3, 0.5, 0.7, 0.9: below 0.5 twice in five
		{audit.AllowsSample, 1, 10},
		{audit.AllowsSample, 0.05, 0},
	}
	for _, tt := range tests {
		// No "#" in the name: it would end up in the database's file URI.
		t.Run(fmt.Sprintf("%s_%v", tt.allows, tt.rate), func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "db"))
			i := 0
			rnd := func() float64 { i++; return []float64{0.1, 0.3, 0.5, 0.7, 0.9}[(i-1)%5] }
			m := &counts{}
			r := audit.NewRecorder(st, audit.RecorderOptions{Allows: tt.allows, SampleRate: tt.rate, Rand: rnd, Metrics: m})
			for range 10 {
				r.Record("proxy", "", engine.Principal{}, req, allow())
				r.Record("proxy", "", engine.Principal{}, req, deny())
			}
			r.Close()
			var allows, denies int
			for _, d := range decisions(t, st) {
				if d.Allow {
					allows++
				} else {
					denies++
				}
			}
			if allows != tt.wantAllows || denies != 10 {
				t.Errorf("allows %s (rate %v): kept %d allows, %d denies; want %d, 10", tt.allows, tt.rate, allows, denies, tt.wantAllows)
			}
			if m.recorded != allows+denies || m.written != allows+denies || len(m.dropped) != 0 {
				t.Errorf("metrics: recorded %d, written %d, dropped %v; want %d, %d, none", m.recorded, m.written, m.dropped, allows+denies, allows+denies)
			}
		})
	}
}

// stalled is a store whose writes wait until released: a disk that
// stopped answering.
type stalled struct {
	store.Store
	release chan struct{}
}

func (s *stalled) Update(ctx context.Context, fn func(store.Tx) error) error {
	<-s.release
	return s.Store.Update(ctx, fn)
}

// TestRecorderDropsWhenFull: with the store stalled, Record keeps
// returning at once, keeps what the buffer holds and drops the rest,
// counted; everything kept is written once the store answers.
func TestRecorderDropsWhenFull(t *testing.T) {
	st := &stalled{Store: openStore(t, filepath.Join(t.TempDir(), "db")), release: make(chan struct{})}
	m := &counts{}
	var logs bytes.Buffer // written by the writer goroutine, read after Close
	r := audit.NewRecorder(st, audit.RecorderOptions{Buffer: 8, BatchSize: 4, FlushInterval: time.Millisecond, Metrics: m,
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	start := time.Now()
	for range 1000 {
		r.Record("proxy", "", engine.Principal{}, req, deny())
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("1000 Record calls on a stalled store took %s: Record blocks", took)
	}
	m.mu.Lock()
	recorded, dropped := m.recorded, m.dropped[audit.DropBufferFull]
	m.mu.Unlock()
	// The buffer, plus at most one batch the writer took out of it.
	if recorded < 8 || recorded > 8+4 || recorded+dropped != 1000 {
		t.Errorf("recorded %d, dropped %d; want 8 to 12 recorded and the rest of 1000 dropped", recorded, dropped)
	}
	close(st.release)
	r.Close()
	if n := len(decisions(t, st)); n != recorded || m.written != recorded {
		t.Errorf("%d decisions stored, %d counted written; want the %d recorded", n, m.written, recorded)
	}
	if want := fmt.Sprintf("dropped=%d", dropped); !strings.Contains(logs.String(), "audit: decisions dropped") || !strings.Contains(logs.String(), want) {
		t.Errorf("log %q does not report the %d dropped decisions", logs.String(), dropped)
	}
}

// TestRecorderWritesFullBatches: a whole batch waiting wakes the writer
// before the flush interval ends, so a long interval never fills the
// buffer while the store keeps up. Here the interval never ends: every
// write is the work of a full batch.
func TestRecorderWritesFullBatches(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	m := &counts{}
	const batch = 64
	r := audit.NewRecorder(st, audit.RecorderOptions{FlushInterval: time.Hour, BatchSize: batch, Buffer: 4 * batch, Metrics: m})
	// A buffer smaller than a batch: half of it waiting is enough to wake
	// the writer. Three quarters are recorded; at least the half is
	// written soon (the writer may wake before the rest is recorded,
	// which then waits under the half).
	small := audit.NewRecorder(st, audit.RecorderOptions{FlushInterval: time.Hour, BatchSize: 4096, Buffer: batch, Metrics: m})
	defer small.Close()
	for range batch * 3 / 4 {
		small.Record("proxy", "", engine.Principal{}, req, deny())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		m.mu.Lock()
		w := m.written
		m.mu.Unlock()
		if w >= batch/2 {
			m.mu.Lock()
			m.written, m.recorded = 0, 0
			m.mu.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a buffer smaller than a batch, half full: %d written; the writer waits for the interval", w)
		}
	}
	defer r.Close()
	written := func() int { m.mu.Lock(); defer m.mu.Unlock(); return m.written }
	for k := 1; k <= 40; k++ {
		for range batch / 2 {
			r.Record("proxy", "", engine.Principal{}, req, deny())
		}
		// Everything but the last, partial batch is written soon.
		deadline := time.Now().Add(10 * time.Second)
		for written() < k*batch/2-batch {
			if time.Now().After(deadline) {
				t.Fatalf("after %d decisions only %d written: the writer waits for the interval", k*batch/2, written())
			}
			time.Sleep(time.Millisecond)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.dropped) > 0 {
		t.Errorf("dropped %v; want none", m.dropped)
	}
}

// TestRecorderFlushOnClose: Close writes what waits, however long the
// flush interval; later decisions are dropped, counted.
func TestRecorderFlushOnClose(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	m := &counts{}
	r := audit.NewRecorder(st, audit.RecorderOptions{FlushInterval: time.Hour, BatchSize: 3, Metrics: m})
	for range 10 {
		r.Record("proxy", "", engine.Principal{}, req, deny())
	}
	r.Close()
	r.Close() // idempotent
	r.Record("proxy", "", engine.Principal{}, req, deny())
	if n := len(decisions(t, st)); n != 10 {
		t.Errorf("%d decisions stored after Close, want 10", n)
	}
	if m.dropped[audit.DropClosed] != 1 {
		t.Errorf("dropped %v, want one closed", m.dropped)
	}
}

// TestRecorderChain: the chain runs on across batches, across recorders
// writing at the same time, and across a restart on the same file.
func TestRecorderChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	st := openStore(t, path)
	a := audit.NewRecorder(st, audit.RecorderOptions{BatchSize: 7, FlushInterval: time.Millisecond})
	b := audit.NewRecorder(st, audit.RecorderOptions{BatchSize: 5, FlushInterval: time.Millisecond})
	var wg sync.WaitGroup
	for _, r := range []*audit.Recorder{a, b} {
		wg.Go(func() {
			for i := range 50 {
				r.Record("proxy", "", engine.Principal{}, req, deny())
				if i%10 == 0 {
					time.Sleep(2 * time.Millisecond) // let batches form and interleave
				}
			}
		})
	}
	wg.Wait()
	a.Close()
	b.Close()
	st.Close()

	st = openStore(t, path)
	c := audit.NewRecorder(st, audit.RecorderOptions{BatchSize: 3})
	for range 20 {
		c.Record("proxy", "", engine.Principal{}, req, allow())
	}
	c.Close()
	ds := decisions(t, st)
	if len(ds) != 120 || ds[119].Seq != 120 {
		t.Fatalf("%d decisions, last seq %d; want 120", len(ds), ds[len(ds)-1].Seq)
	}
	rep, err := audit.Verify(context.Background(), st, nil)
	if err != nil || !rep.OK {
		t.Errorf("Verify = %v, %v; want OK", rep.Findings, err)
	}
}

// TestRecordPolicy: a version per load that changes something.
func TestRecordPolicy(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	compile := func(source string, names ...string) (*policy.Policy, []config.Route) {
		t.Helper()
		var routes []config.Route
		for _, n := range names {
			routes = append(routes, config.Route{Name: n, Path: "/" + n + "/", Allow: config.AllowRule{Groups: []string{"staff"}}})
		}
		p, err := policy.Compile(routes, source, t0)
		if err != nil {
			t.Fatal(err)
		}
		return p, routes
	}
	steps := []struct {
		source    string
		routes    []string
		wantAdded bool
	}{
		{"a.yaml", []string{"app"}, true},
		{"a.yaml", []string{"app"}, false}, // a restart, or a reload that changed nothing
		{"a.yaml", []string{"app", "admin"}, true},
		{"caddy", []string{"app", "admin"}, true}, // same routes, other source
		{"a.yaml", []string{"app"}, true},         // back to an earlier policy: a new version
	}
	for i, s := range steps {
		p, routes := compile(s.source, s.routes...)
		v, added, err := audit.RecordPolicy(ctx, st, p, routes)
		if err != nil || added != s.wantAdded || v.Digest != p.Hash || v.Source != s.source {
			t.Errorf("step %d: RecordPolicy = %+v, added %v, %v; want added %v with digest %s", i, v, added, err, s.wantAdded, p.Hash)
		}
	}
	var vs []store.PolicyVersion
	err := st.View(ctx, func(tx store.ReadTx) (err error) {
		vs, err = tx.PolicyVersions(ctx, 0, 100)
		return err
	})
	if err != nil || len(vs) != 4 {
		t.Fatalf("%d policy versions, %v; want 4", len(vs), err)
	}
	var doc []config.Route
	if err := json.Unmarshal(vs[1].Doc, &doc); err != nil || len(doc) != 2 || doc[1].Name != "admin" || doc[1].Allow.Groups[0] != "staff" {
		t.Errorf("version 2's doc %s = %+v, %v; want the routes app and admin", vs[1].Doc, doc, err)
	}
}
