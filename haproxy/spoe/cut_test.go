package spoe

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
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
	c := newCutter(rt, streams, slog.New(slog.DiscardHandler))
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
