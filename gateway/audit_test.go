package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// auditor keeps what the gate hands the audit trail.
type auditor struct {
	mu  sync.Mutex
	got []string
}

func (a *auditor) Record(adapter, remote string, p engine.Principal, req engine.Request, d engine.Decision) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, adapter+" "+remote+" "+p.TokenID+" "+req.Method+" "+req.Host+req.Path+" "+d.Reason)
}

// auditFixture is a gate that audits into an auditor, and alice's request
// for /app/x with her access token.
func auditFixture(t *testing.T) (*gatetest.Fixture, *auditor, *http.Request, string) {
	t.Helper()
	f := gatetest.New(t, streamRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	secret, tokenID := f.Token("alice", time.Hour)
	a := &auditor{}
	f.Gate.Audit = a
	r := httptest.NewRequest("GET", "http://app.test/app/x", nil)
	r.RemoteAddr = "192.0.2.1:1000"
	r.Header.Set("Authorization", "Bearer "+secret)
	return f, a, r, tokenID
}

// TestDecideAudits: every way an adapter decides goes to the audit
// trail, once, whatever the log level.
func TestDecideAudits(t *testing.T) {
	f, a, r, tokenID := auditFixture(t)
	req, _ := gateway.RequestFrom(r)
	f.Gate.Decide("proxy", r, req)
	f.Gate.DecideCredentials(context.Background(), "spoe", "", "", "192.0.2.2:2000", req)
	f.Gate.BadRequest("forwardauth", r, "app.test", "GET", engine.ReasonBadPath)
	f.Gate.Refuse(context.Background(), "spoe", "192.0.2.3:3000", "app,test", "POST", engine.ReasonBadHost)

	want := []string{
		"proxy 192.0.2.1:1000 " + tokenID + " GET app.test/app/x group-ok",
		"spoe 192.0.2.2:2000  GET app.test/app/x unauthenticated",
		"forwardauth 192.0.2.1:1000  GET app.test bad-path",
		"spoe 192.0.2.3:3000  POST app,test bad-host",
	}
	if len(a.got) != len(want) {
		t.Fatalf("audited %q, want %q", a.got, want)
	}
	for i := range want {
		if a.got[i] != want[i] {
			t.Errorf("audit %d = %q, want %q", i, a.got[i], want[i])
		}
	}
}

// TestConfirmAudits: a decision that Confirm turns into a refusal is
// audited; one it keeps is not audited twice.
func TestConfirmAudits(t *testing.T) {
	f, a, r, tokenID := auditFixture(t)
	req, _ := gateway.RequestFrom(r)
	c := f.Gate.Decide("proxy", r, req)
	if c = f.Gate.Confirm(context.Background(), r.RemoteAddr, c); !c.Decision.Allow {
		t.Fatalf("confirmed with nothing changed: %+v", c.Decision)
	}
	f.SetActive("alice", false)
	if c = f.Gate.Confirm(context.Background(), r.RemoteAddr, c); c.Decision.Allow || c.Decision.Reason != engine.ReasonUserInactive {
		t.Fatalf("confirmed after deactivation: %+v", c.Decision)
	}
	want := []string{
		"proxy 192.0.2.1:1000 " + tokenID + " GET app.test/app/x group-ok",
		"proxy 192.0.2.1:1000 " + tokenID + " GET app.test/app/x user-inactive",
	}
	if len(a.got) != len(want) || a.got[0] != want[0] || a.got[1] != want[1] {
		t.Errorf("audited %q, want %q", a.got, want)
	}
}

// TestStreamCutAudited: a stream cut because its user lost access is in
// the audit trail, as a refusal by the adapter that admitted it ("-cut"),
// with the reason; a stream that ends on its own adds nothing.
func TestStreamCutAudited(t *testing.T) {
	f, a, r, tokenID := auditFixture(t)
	streams := gateway.NewStreams(nil)
	req, _ := gateway.RequestFrom(r)
	c := f.Gate.Decide("proxy", r, req)
	track := func(c gateway.Check) (context.Context, func()) {
		ctx, cancel := context.WithCancelCause(context.Background())
		t.Cleanup(func() { cancel(nil) })
		return ctx, streams.Track(gateway.Tracked{Decider: f.Eng, Principal: c.Principal, Request: c.Request,
			Adapter: c.Adapter, Remote: r.RemoteAddr, Audit: a}, cancel)
	}
	_, done := track(c)
	done() // ended on its own
	ctx, _ := track(c)
	f.SetActive("alice", false)
	if n := streams.Recheck(); n != 1 || !errors.Is(context.Cause(ctx), gateway.ErrAccessRevoked) {
		t.Fatalf("Recheck cut %d streams (cause %v), want alice's", n, context.Cause(ctx))
	}
	want := []string{
		"proxy 192.0.2.1:1000 " + tokenID + " GET app.test/app/x group-ok",
		"proxy-cut 192.0.2.1:1000 " + tokenID + " GET app.test/app/x user-inactive",
	}
	if len(a.got) != len(want) || a.got[0] != want[0] || a.got[1] != want[1] {
		t.Errorf("audited %q, want %q", a.got, want)
	}
}

// hookDecider refuses, after running hook: what happens to the stream
// while it is being decided again.
type hookDecider struct{ hook func() }

func (d hookDecider) Decide(engine.Principal, engine.Request) engine.Decision {
	d.hook()
	return engine.Decision{Reason: engine.ReasonUserInactive}
}

// TestStreamCutOnce: a stream is cut and recorded once, also when two
// rechecks refuse it at the same time, and not at all when it ended while
// it was being decided again.
func TestStreamCutOnce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		during  func(s *gateway.Streams, done func())
		records int
	}{
		{"another recheck cuts it first", func(s *gateway.Streams, _ func()) { s.Recheck() }, 1},
		{"it ends meanwhile", func(_ *gateway.Streams, done func()) { done() }, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &auditor{}
			s := gateway.NewStreams(nil)
			var done func()
			nested := false
			d := hookDecider{hook: func() {
				if !nested {
					nested = true
					tt.during(s, done)
				}
			}}
			cancels := 0
			done = s.Track(gateway.Tracked{Decider: d, Adapter: "proxy", Remote: "192.0.2.1:1", Audit: a},
				func(error) { cancels++ })
			s.Recheck()
			if len(a.got) != tt.records || cancels != tt.records {
				t.Errorf("recorded %q and cancelled %d times, want %d of each", a.got, cancels, tt.records)
			}
		})
	}
}

// TestDecideBoth: a request read at two paths (Caddy after a rewrite) is
// allowed only when both are, recorded once, naming the path refused; its
// confirmation and its stream's recheck decide both paths too.
func TestDecideBoth(t *testing.T) {
	f, a, r, tokenID := auditFixture(t)
	rewritten := engine.Request{Host: "app.test", Path: "/public/x", Method: "GET"}
	arrived := engine.Request{Host: "app.test", Path: "/app/x", Method: "GET"}

	anon := httptest.NewRequest("GET", "http://app.test/public/x", nil)
	anon.RemoteAddr = r.RemoteAddr
	if c := f.Gate.DecideBoth("caddy", anon, rewritten, arrived); c.Decision.Allow || c.Request != arrived || c.Also != rewritten {
		t.Errorf("anonymous = %v %s for %s, want a refusal of %s", c.Decision.Allow, c.Decision.Reason, c.Request.Path, arrived.Path)
	}
	if c := f.Gate.DecideBoth("caddy", anon, rewritten, engine.Request{}); !c.Decision.Allow {
		t.Errorf("anonymous, the public path alone = %s, want allowed", c.Decision.Reason)
	}
	c := f.Gate.DecideBoth("caddy", r, rewritten, arrived)
	if !c.Decision.Allow || c.Request != rewritten {
		t.Fatalf("alice = %v %s for %s, want allowed", c.Decision.Allow, c.Decision.Reason, c.Request.Path)
	}

	streams := gateway.NewStreams(nil)
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	defer streams.Track(gateway.Tracked{Decider: f.Eng, Principal: c.Principal, Request: c.Request, Also: c.Also,
		Adapter: c.Adapter, Remote: r.RemoteAddr, Audit: a}, cancel)()
	f.RemoveMember("engineering", "alice") // /public still admits her, /app no longer
	if again := f.Gate.Confirm(context.Background(), r.RemoteAddr, c); again.Decision.Allow || again.Request != arrived {
		t.Errorf("confirmed after the group change: %v %s for %s, want a refusal of %s",
			again.Decision.Allow, again.Decision.Reason, again.Request.Path, arrived.Path)
	}
	if n := streams.Recheck(); n != 1 || !errors.Is(context.Cause(ctx), gateway.ErrAccessRevoked) {
		t.Errorf("Recheck cut %d streams (cause %v), want alice's", n, context.Cause(ctx))
	}
	want := []string{
		"caddy 192.0.2.1:1000  GET app.test/app/x unauthenticated",
		"caddy 192.0.2.1:1000  GET app.test/public/x public",
		"caddy 192.0.2.1:1000 " + tokenID + " GET app.test/public/x public",
		"caddy 192.0.2.1:1000 " + tokenID + " GET app.test/app/x not-allowed",
		"caddy-cut 192.0.2.1:1000 " + tokenID + " GET app.test/app/x not-allowed",
	}
	if strings.Join(a.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audited\n%s\nwant\n%s", strings.Join(a.got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConfirmNamesGroupsNow: a decision confirmed after a change that
// still allows names the user's groups as they are now, which the
// identity headers carry.
func TestConfirmNamesGroupsNow(t *testing.T) {
	f, _, r, _ := auditFixture(t)
	f.Group("ops", "alice")
	req, _ := gateway.RequestFrom(r)
	c := f.Gate.Decide("proxy", r, req)
	f.RemoveMember("ops", "alice")
	c = f.Gate.Confirm(context.Background(), r.RemoteAddr, c)
	vals, ok, err := f.Gate.Identify(c)
	if err != nil || !ok || !c.Decision.Allow {
		t.Fatalf("confirmed %v %s, identify %v %v", c.Decision.Allow, c.Decision.Reason, ok, err)
	}
	if vals.Groups != "engineering" {
		t.Errorf("groups %q after leaving ops, want engineering", vals.Groups)
	}
}
