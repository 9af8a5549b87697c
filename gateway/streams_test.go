package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/snapshot"
)

const streamRoutes = `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
  - {name: other, host: app.test, path: /other, allow: {groups: [engineering]}}
`

// tracked is one stream registered with Streams in a test.
type tracked struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   func()
	calls  int
	mu     sync.Mutex
}

func track(t *testing.T, s *reg, p engine.Principal, path string) *tracked {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	tr := &tracked{ctx: ctx}
	tr.cancel = func(err error) {
		tr.mu.Lock()
		tr.calls++
		tr.mu.Unlock()
		cancel(err)
	}
	tr.done = s.Streams.Track(gateway.Tracked{Decider: s.d, Principal: p, Request: engine.Request{Host: "app.test", Path: path, Method: "GET"}}, tr.cancel)
	return tr
}

func (tr *tracked) cut() bool {
	return errors.Is(context.Cause(tr.ctx), gateway.ErrAccessRevoked)
}

func (tr *tracked) cancelCalls() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.calls
}

func streamWorld(t *testing.T) *gatetest.Fixture {
	f := gatetest.New(t, streamRoutes)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		f.User(u)
	}
	f.Group("engineering", "alice", "bob", "carol", "dave", "erin")
	return f
}

func TestStreamsTrackLen(t *testing.T) {
	f := streamWorld(t)
	s := newReg(f.Eng)
	if n := s.Len(); n != 0 {
		t.Fatalf("Len() of a new registry = %d, want 0", n)
	}
	a := track(t, s, f.Who("alice"), "/app/x")
	b := track(t, s, f.Who("bob"), "/app/y")
	c := track(t, s, engine.Principal{}, "/public/z")
	if n := s.Len(); n != 3 {
		t.Fatalf("Len() after three Track = %d, want 3", n)
	}
	b.done()
	if n := s.Len(); n != 2 {
		t.Errorf("Len() after one unregisters = %d, want 2", n)
	}
	b.done() // unregistering twice is harmless
	if n := s.Len(); n != 2 {
		t.Errorf("Len() after unregistering twice = %d, want 2", n)
	}
	a.done()
	c.done()
	if n := s.Len(); n != 0 {
		t.Errorf("Len() after all unregister = %d, want 0", n)
	}
	if n := s.Recheck(); n != 0 {
		t.Errorf("Recheck() of an empty registry = %d, want 0", n)
	}
}

// TestStreamsRecheck: every kind of revocation cuts exactly the streams it
// concerns, with ErrAccessRevoked as the cause; allowed streams stay.
func TestStreamsRecheck(t *testing.T) {
	f := streamWorld(t)
	_, carolToken := f.Token("carol", time.Hour)
	s := newReg(f.Eng)
	withToken := f.Who("carol")
	withToken.TokenID = carolToken

	alice := track(t, s, f.Who("alice"), "/app/a")
	alice2 := track(t, s, f.Who("alice"), "/public/a") // public: stays whatever happens to alice
	bob := track(t, s, f.Who("bob"), "/app/b")
	carol := track(t, s, withToken, "/app/c")
	dave := track(t, s, f.Who("dave"), "/app/d")
	erin := track(t, s, f.Who("erin"), "/other/e")
	anon := track(t, s, engine.Principal{}, "/public/x")
	all := []*tracked{alice, alice2, bob, carol, dave, erin, anon}

	if n := s.Recheck(); n != 0 {
		t.Fatalf("Recheck() with nothing changed = %d cut, want 0", n)
	}
	if n := s.Len(); n != len(all) {
		t.Fatalf("Len() = %d, want %d", n, len(all))
	}

	steps := []struct {
		name   string
		change func()
		cut    *tracked
	}{
		{"deactivate", func() { f.SetActive("alice", false) }, alice},
		{"remove from group", func() { f.RemoveMember("engineering", "bob") }, bob},
		{"revoke token", func() {
			if err := f.Dir.RevokeAccessToken(f.Ctx, carolToken, "test"); err != nil {
				t.Fatal(err)
			}
		}, carol},
		{"delete user", func() {
			f.DeleteUser("dave")
		}, dave},
		{"policy drops the route", func() {
			f.Eng.SetPolicy(gatetest.Compile(t, `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`))
		}, erin},
	}
	gone := map[*tracked]bool{}
	for _, st := range steps {
		st.change()
		if n := s.Recheck(); n != 1 {
			t.Errorf("%s: Recheck() = %d cut, want 1", st.name, n)
		}
		gone[st.cut] = true
		for i, tr := range all {
			if tr.cut() != gone[tr] {
				t.Errorf("%s: stream %d cut = %v, want %v (cause %v)", st.name, i, tr.cut(), gone[tr], context.Cause(tr.ctx))
			}
		}
		if n, want := s.Len(), len(all)-len(gone); n != want {
			t.Errorf("%s: Len() = %d, want %d (cut streams are unregistered)", st.name, n, want)
		}
	}
	// A cut stream is cancelled once, however often the registry rechecks,
	// and unregistering it afterwards is harmless.
	s.Recheck()
	s.Recheck()
	for i, tr := range all {
		want := 0
		if gone[tr] {
			want = 1
		}
		if n := tr.cancelCalls(); n != want {
			t.Errorf("stream %d cancelled %d times, want %d", i, n, want)
		}
		tr.done()
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len() after every stream ended = %d, want 0", n)
	}
}

// TestStreamsReactivatedUserIsNotCut: Recheck decides against the directory
// as it is when it runs.
func TestStreamsReactivatedUserIsNotCut(t *testing.T) {
	f := streamWorld(t)
	s := newReg(f.Eng)
	alice := track(t, s, f.Who("alice"), "/app/a")
	f.SetActive("alice", false)
	f.SetActive("alice", true)
	if n := s.Recheck(); n != 0 || alice.cut() {
		t.Errorf("Recheck() after deactivate+reactivate = %d cut (alice cut %v), want 0", n, alice.cut())
	}
}

// TestStreamsWatch: with Watch on the live snapshot's change signal, a
// SCIM change cuts the stream without anyone calling Recheck.
func TestStreamsWatch(t *testing.T) {
	f := streamWorld(t)
	s := newReg(f.Eng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := make(chan struct{})
	go func() { s.Watch(ctx, f.Live.Subscribe()); close(watched) }()

	alice := track(t, s, f.Who("alice"), "/app/a")
	bob := track(t, s, f.Who("bob"), "/app/b")
	start := time.Now()
	f.SetActive("alice", false)
	select {
	case <-alice.ctx.Done():
		t.Logf("stream cut %s after the SCIM change started", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("stream not cut within 1s of deactivation")
	}
	if !alice.cut() {
		t.Errorf("cause = %v, want ErrAccessRevoked", context.Cause(alice.ctx))
	}
	// Other changes keep bob's stream.
	f.User("zed")
	time.Sleep(50 * time.Millisecond)
	if bob.ctx.Err() != nil {
		t.Errorf("bob's allowed stream was cut: %v", context.Cause(bob.ctx))
	}
	cancel()
	select {
	case <-watched:
	case <-time.After(time.Second):
		t.Error("Watch did not return after its context ended")
	}
}

// TestStreamsStaleSnapshotCuts: fail closed, a registry whose snapshot is
// too old cuts everything, public streams included.
func TestStreamsStaleSnapshotCuts(t *testing.T) {
	f := streamWorld(t)
	e := engine.New(staleSource{f.Live.Current()}, gatetest.Compile(t, streamRoutes), engine.Options{MaxSnapshotAge: time.Minute})
	s := newReg(e)
	a := track(t, s, f.Who("alice"), "/app/a")
	p := track(t, s, engine.Principal{}, "/public/a")
	if n := s.Recheck(); n != 2 || !a.cut() || !p.cut() {
		t.Errorf("Recheck() on a stale snapshot = %d cut (%v %v), want both", n, a.cut(), p.cut())
	}
}

// staleSource is a snapshot source that has not been current for an hour.
type staleSource struct{ s *snapshot.Snapshot }

func (s staleSource) Current() *snapshot.Snapshot { return s.s }
func (s staleSource) Age() time.Duration          { return time.Hour }

// TestStreamsConcurrent runs Track, unregister and Recheck together (for
// the race detector).
func TestStreamsConcurrent(t *testing.T) {
	f := streamWorld(t)
	s := newReg(f.Eng)
	alice, bob := f.Who("alice"), f.Who("bob")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				p := alice
				if (i+j)%2 == 0 {
					p = bob
				}
				_, cancel := context.WithCancelCause(context.Background())
				done := s.Streams.Track(gateway.Tracked{Decider: s.d, Principal: p, Request: engine.Request{Host: "app.test", Path: "/app", Method: "GET"}}, cancel)
				if j%3 == 0 {
					s.Recheck()
				}
				done()
				cancel(nil)
			}
		})
	}
	wg.Go(func() { f.SetActive("bob", false) })
	wg.Wait()
	if n := s.Len(); n != 0 {
		t.Errorf("Len() = %d after every stream ended, want 0", n)
	}
}

// reg is a stream registry with the decider its streams are tracked with.
type reg struct {
	*gateway.Streams
	d gateway.Decider
}

func newReg(d gateway.Decider) *reg { return &reg{Streams: gateway.NewStreams(nil), d: d} }
