package spoe

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/policy"
)

// sessionsOf answers "show sess" with fixed streams and records the ones
// shut down (HAProxy itself is driven in cmd/scimgate's TestHAProxySPOE).
type sessionsOf struct {
	mu       sync.Mutex
	sessions []runtime.Session
	shut     []string
}

func (r *sessionsOf) Sessions(context.Context) ([]runtime.Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runtime.Session(nil), r.sessions...), nil
}

func (r *sessionsOf) ShutdownSession(_ context.Context, s runtime.Session) error {
	r.mu.Lock()
	r.shut = append(r.shut, s.ID)
	r.mu.Unlock()
	return nil
}

func (r *sessionsOf) shutDown() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.shut...)
}

// TestCutEveryRequestOfAConnection: a connection carrying a stream on a
// protected route and then a request on a public one (HTTP/2, or
// keep-alive) is cut when the user loses the protected route; the later
// public request does not take the stream out of the recheck. An IPv4
// client listed in its IPv4-mapped form is found.
func TestCutEveryRequestOfAConnection(t *testing.T) {
	f := gatetest.New(t, `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`)
	f.User("alice")
	f.Group("engineering", "alice")
	rt := &sessionsOf{sessions: []runtime.Session{
		{ID: "0x1", Src: "[::ffff:192.0.2.7]:5000"},
		{ID: "0x2", Src: "192.0.2.8:6000"},
	}}
	streams := gateway.NewStreams(slog.New(slog.DiscardHandler))
	c := newCutter(rt, streams, nil, slog.New(slog.DiscardHandler))
	alice := f.Who("alice")
	c.track("192.0.2.7:5000", "app", f.Eng, alice, engine.Request{Host: "app.test", Path: "/app/events", Method: "GET"})
	c.track("192.0.2.7:5000", "public", f.Eng, alice, engine.Request{Host: "app.test", Path: "/public/logo.png", Method: "GET"})
	c.track("192.0.2.8:6000", "public", f.Eng, alice, engine.Request{Host: "app.test", Path: "/public/x", Method: "GET"})
	if n := streams.Len(); n != 3 {
		t.Fatalf("tracked %d requests, want 3", n)
	}
	f.RemoveMember("engineering", "alice")
	if n := streams.Recheck(); n != 1 {
		t.Fatalf("Recheck cut %d, want the one on /app", n)
	}
	c.flush(context.Background())
	if got := rt.shutDown(); len(got) != 1 || got[0] != "0x1" {
		t.Errorf("shut down %v, want the stream of 192.0.2.7:5000 (listed as ::ffff:192.0.2.7)", got)
	}
	if n := streams.Len(); n != 1 {
		t.Errorf("%d requests still tracked, want the other connection's only", n)
	}
}

// TestCutNotEvictedByMethods: on one connection, alice keeps a stream open
// on /app and then sends requests to a public route with ever new
// methods, more than a connection may track. They are one entry, decided
// as any method no route lists, so the /app stream is still tracked and
// cut when alice leaves engineering.
func TestCutNotEvictedByMethods(t *testing.T) {
	f := gatetest.New(t, agentRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	rt := &sessionsOf{sessions: []runtime.Session{{ID: "0x1", Src: "192.0.2.7:5000"}}}
	streams := gateway.NewStreams(slog.New(slog.DiscardHandler))
	log := &recorder{}
	c := newCutter(rt, streams, nil, slog.New(log))
	alice := f.Who("alice")
	c.track("192.0.2.7:5000", "app", f.Eng, alice, engine.Request{Host: "app.test", Path: "/app/events", Method: "GET"})
	for i := range maxTrackedPerConn + 10 {
		req := engine.Request{Host: "app.test", Path: "/public/x", Method: "X" + strconv.Itoa(i)}
		if d := f.Eng.Decide(alice, req); !d.Allow {
			t.Fatalf("%s refused: %s", req.Method, d.Reason)
		}
		c.track("192.0.2.7:5000", "public", f.Eng, alice, req)
	}
	if n := streams.Len(); n != 2 {
		t.Errorf("tracked %d requests, want 2: the stream on /app and one for every other method", n)
	}
	if got := rt.shutDown(); len(got) != 0 {
		t.Fatalf("shut down %v before any change", got)
	}
	f.RemoveMember("engineering", "alice")
	if n := streams.Recheck(); n != 1 {
		t.Errorf("Recheck cut %d, want the stream on /app", n)
	}
	c.flush(context.Background())
	if got := rt.shutDown(); len(got) != 1 || got[0] != "0x1" {
		t.Errorf("shut down %v, want alice's connection, 0x1", got)
	}
	if w := log.warnings(); len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
}

// TestMethodClass: methods are tracked as the engine decides them: every
// spelling of a known method as that method, every other token as one.
// Methods of one class are decided alike, on routes that list methods.
func TestMethodClass(t *testing.T) {
	f := gatetest.New(t, `
routes:
  - {name: read, host: app.test, path: /r, methods: [GET], allow: {public: true}}
  - {name: write, host: app.test, path: /r, methods: [POST, DELETE], allow: {public: true}}
  - {name: opts, host: app.test, path: /r, methods: [OPTIONS, TRACE, CONNECT, PUT, PATCH], allow: {public: true}}
  - {name: rest, host: app.test, path: /, allow: {groups: [nobody]}}
`)
	f.Group("nobody")
	tests := []struct {
		class   string
		methods []string
	}{
		{"GET", []string{"GET", "get", "Get", "gEt"}},
		{"HEAD", []string{"HEAD", "head", "Head"}},
		{"POST", []string{"POST", "post", "PoSt", "po\u017ft", "PO\u017fT"}}, // U+017F folds to s
		{"DELETE", []string{"DELETE", "delete"}},
		{"PUT", []string{"PUT", "put"}},
		{"PATCH", []string{"PATCH", "patch"}},
		{"OPTIONS", []string{"OPTIONS", "options", "OPTION\u017f"}},
		{"TRACE", []string{"TRACE", "trace"}},
		{"CONNECT", []string{"CONNECT", "connect"}},
		{policy.OtherMethods, []string{"PURGE", "purge", "X1", "M-SEARCH", "GETS", "GE", "", "PROPFIND", "propfind"}},
	}
	type outcome struct {
		allow         bool
		reason, route string
	}
	decide := func(m string) outcome {
		d := f.Eng.Decide(engine.Principal{}, engine.Request{Host: "app.test", Path: "/r/x", Method: m})
		o := outcome{allow: d.Allow, reason: d.Reason}
		if d.Route != nil {
			o.route = d.Route.Name
		}
		return o
	}
	for _, tt := range tests {
		want := decide(tt.methods[0])
		for _, m := range tt.methods {
			if got := policy.MethodClass(m); got != tt.class {
				t.Errorf("MethodClass(%q) = %q, want %q", m, got, tt.class)
			}
			if got := decide(m); got != want {
				t.Errorf("%q decided %+v, %q %+v: one class, two decisions", m, got, tt.methods[0], want)
			}
		}
	}
}

// TestCutOnTrackingOverflow: a connection with more distinct requests
// than may be tracked is cut, with a warning, rather than any request
// dropped from the recheck silently; the request that overflowed is
// tracked afresh.
func TestCutOnTrackingOverflow(t *testing.T) {
	f := gatetest.New(t, agentRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	rt := &sessionsOf{sessions: []runtime.Session{{ID: "0x1", Src: "192.0.2.7:5000"}, {ID: "0x2", Src: "192.0.2.8:6000"}}}
	streams := gateway.NewStreams(slog.New(slog.DiscardHandler))
	log := &recorder{}
	c := newCutter(rt, streams, nil, slog.New(log))
	c.max = 4
	alice := f.Who("alice")
	c.track("192.0.2.8:6000", "app", f.Eng, alice, engine.Request{Host: "app.test", Path: "/app/x", Method: "GET"})
	c.track("192.0.2.7:5000", "app", f.Eng, alice, engine.Request{Host: "app.test", Path: "/app/events", Method: "GET"})
	for _, m := range []string{"GET", "POST", "get", "X-1", "X-2"} {
		c.track("192.0.2.7:5000", "public", f.Eng, alice, engine.Request{Host: "app.test", Path: "/public/x", Method: m})
	}
	c.flush(context.Background())
	if got := rt.shutDown(); len(got) != 0 {
		t.Fatalf("shut down %v at the limit", got)
	}
	if w := log.warnings(); len(w) != 0 {
		t.Fatalf("warnings at the limit: %v", w)
	}
	c.track("192.0.2.7:5000", "public", f.Eng, alice, engine.Request{Host: "app.test", Path: "/public/x", Method: "DELETE"})
	c.flush(context.Background())
	if got := rt.shutDown(); len(got) != 1 || got[0] != "0x1" {
		t.Errorf("shut down %v, want the connection over the limit, 0x1", got)
	}
	w := log.warnings()
	if len(w) != 1 || w[0]["remote"] != "192.0.2.7:5000" || w[0]["tracked"] != "4" {
		t.Errorf("warnings %v, want one naming 192.0.2.7:5000 and its 4 tracked requests", w)
	}
	if n := streams.Len(); n != 2 {
		t.Errorf("%d requests tracked, want the other connection's and the one that overflowed", n)
	}
	// The request that overflowed is still cut when access goes.
	f.Eng.SetPolicy(gatetest.Compile(t, `
routes:
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`))
	if n := streams.Recheck(); n != 1 {
		t.Errorf("Recheck cut %d, want the request that overflowed", n)
	}
}

// TestCutMergedOnPolicyChange: alice opens a WebSocket at /app/admin/ws
// and then asks for /app/x on the same connection; both are one entry
// (alice, app, GET), decided again with the latest. A directory change
// decides every path of the route alike; a new policy may not (an admin
// route carved out of /app), so an entry standing for several paths cuts
// its connection when the policy changes, and one for a single path, or a
// reload that changes no route, cuts nothing.
func TestCutMergedOnPolicyChange(t *testing.T) {
	const before = `
routes:
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`
	const after = `
routes:
  - {name: admin, host: app.test, path: /app/admin, allow: {groups: [admins]}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`
	tests := []struct {
		name   string
		paths  []string // requests of alice's connection, in order
		policy string   // the policy put in force then
		cut    bool
	}{
		{"several paths, a route carved out", []string{"/app/admin/ws", "/app/x"}, after, true},
		{"several paths, the same routes again", []string{"/app/admin/ws", "/app/x"}, before, false},
		{"one path, a route carved out elsewhere", []string{"/app/x", "/app/x"}, after, false},
		{"one path under the new route", []string{"/app/admin/ws"}, after, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gatetest.New(t, before)
			f.User("alice")
			f.Group("engineering", "alice")
			f.Group("admins")
			rt := &sessionsOf{sessions: []runtime.Session{{ID: "0x1", Src: "192.0.2.7:5000"}}}
			streams := gateway.NewStreams(slog.New(slog.DiscardHandler))
			c := newCutter(rt, streams, nil, slog.New(slog.DiscardHandler))
			alice := f.Who("alice")
			for _, p := range tt.paths {
				c.track("192.0.2.7:5000", "app", f.Eng, alice, engine.Request{Host: "app.test", Path: p, Method: "GET"})
			}
			// A directory change that leaves alice her route cuts nothing.
			f.User("bob")
			if n := streams.Recheck(); n != 0 {
				t.Fatalf("Recheck after a directory change cut %d", n)
			}
			f.Eng.SetPolicy(gatetest.Compile(t, tt.policy))
			streams.Recheck()
			c.flush(context.Background())
			if got := rt.shutDown(); (len(got) == 1) != tt.cut {
				t.Errorf("after the new policy, shut down %v; want the connection cut %v", got, tt.cut)
			}
		})
	}
}
