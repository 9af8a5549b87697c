package gateway_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
)

func TestRequestFrom(t *testing.T) {
	tests := []struct {
		target, host string
		refused      string
		want         engine.Request
	}{
		{"/app/x", "App.Test:8443", "", engine.Request{Host: "app.test", Path: "/app/x", Method: "GET"}},
		{"/app/./x//y/", "app.test.", "", engine.Request{Host: "app.test", Path: "/app/x/y/", Method: "GET"}},
		{"/app/x/../y?q=/admin", "app.test", "", engine.Request{Host: "app.test", Path: "/app/y", Method: "GET"}},
		{"/app/%7Eme", "app.test", "", engine.Request{Host: "app.test", Path: "/app/~me", Method: "GET"}},
		{"/app/x", "[::1]:8080", "", engine.Request{Host: "::1", Path: "/app/x", Method: "GET"}},
		{"/app/x", "my_service:8080", "", engine.Request{Host: "my_service", Path: "/app/x", Method: "GET"}},
		{"/public/..%2fadmin", "app.test", engine.ReasonBadPath, engine.Request{Host: "app.test", Method: "GET"}},
		{"/public/..%2Fadmin", "app.test", engine.ReasonBadPath, engine.Request{Host: "app.test", Method: "GET"}},
		{"/public/..%5cadmin", "app.test", engine.ReasonBadPath, engine.Request{Host: "app.test", Method: "GET"}},
		{"/public/%00", "app.test", engine.ReasonBadPath, engine.Request{Host: "app.test", Method: "GET"}},
		{"/app/x", "admin.test,public.test", engine.ReasonBadHost, engine.Request{Host: "admin.test,public.test", Method: "GET"}},
		{"/app/x", "app.test/x", engine.ReasonBadHost, engine.Request{Host: "app.test/x", Method: "GET"}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://x"+tt.target, nil)
		r.Host = tt.host
		got, refused := gateway.RequestFrom(r)
		if refused != tt.refused || got != tt.want {
			t.Errorf("RequestFrom(%s %s) = %+v, %q; want %+v, %q", tt.host, tt.target, got, refused, tt.want, tt.refused)
		}
	}
}

// recorder counts decisions like the metrics do.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Decision(adapter string, d engine.Decision, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	route := ""
	if d.Route != nil {
		route = d.Route.Name
	}
	r.got = append(r.got, adapter+" "+route+" "+d.Reason)
}

// TestDecideRecords: every decision, bad paths included, is counted and
// logged once, with the user and token but never the credential.
func TestDecideRecords(t *testing.T) {
	f := gatetest.New(t, streamRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	secret, tokenID := f.Token("alice", time.Hour)
	var logs bytes.Buffer
	rec := &recorder{}
	f.Gate.Log = slog.New(slog.NewTextHandler(&logs, nil))
	f.Gate.Metrics = rec

	r := httptest.NewRequest("GET", "http://app.test/app/x", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	req, _ := gateway.RequestFrom(r)
	c := f.Gate.Decide("proxy", r, req)
	if !c.Decision.Allow || c.Principal.TokenID != tokenID || c.Adapter != "proxy" || c.Request != req {
		t.Fatalf("Decide = %+v, want allowed with token %s", c, tokenID)
	}
	f.Gate.BadRequest("forwardauth", r, "app.test", "GET", engine.ReasonBadPath)

	if want := []string{"proxy app group-ok", "forwardauth  bad-path"}; strings.Join(rec.got, "|") != strings.Join(want, "|") {
		t.Errorf("recorded %q, want %q", rec.got, want)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"adapter=proxy", "allow=true", "reason=group-ok", "route=app", "user=alice", "token_id=" + tokenID, "path=/app/x", "host=app.test"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("decision log %q lacks %q", lines[0], want)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the access token secret was logged:\n%s", logs.String())
	}
	if !strings.Contains(lines[1], "reason=bad-path") || !strings.Contains(lines[1], "allow=false") {
		t.Errorf("bad path log %q, want a refusal with reason bad-path", lines[1])
	}

	// Without a logger or metrics, deciding still works.
	f.Gate.Log, f.Gate.Metrics = nil, nil
	if c := f.Gate.Decide("proxy", r, req); !c.Decision.Allow {
		t.Errorf("Decide without logger = %+v", c.Decision)
	}
}

// TestIdentify: a user gets identity values; an anonymous request on a
// public route gets none.
func TestIdentify(t *testing.T) {
	f := gatetest.New(t, streamRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	r := httptest.NewRequest("GET", "http://app.test/public/x", nil)
	c := f.Gate.Decide("proxy", r, engine.Request{Host: "app.test", Path: "/public/x", Method: "GET"})
	if v, ok, err := f.Gate.Identify(c); ok || err != nil || v.User != "" {
		t.Errorf("Identify(anonymous on public) = %+v, %v, %v; want nothing", v, ok, err)
	}
	c = gateway.Check{Decision: f.Eng.Decide(f.Who("alice"), engine.Request{Host: "app.test", Path: "/app", Method: "GET"})}
	v, ok, err := f.Gate.Identify(c)
	if !ok || err != nil || v.User != "alice" || v.Email != "alice" || v.Groups != "engineering" || v.Assertion == "" {
		t.Errorf("Identify(alice on app) = %+v, %v, %v", v, ok, err)
	}
	if aud := audience(t, f, v.Assertion); aud != "app" {
		t.Errorf("assertion audience %q, want app", aud)
	}

	// A reload that puts another route where app was: the assertion names
	// the route that admitted the request, not the one cached for its place.
	f.Eng.SetPolicy(gatetest.Compile(t, `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: reports, host: app.test, path: /reports, allow: {groups: [engineering]}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
`))
	c = gateway.Check{Decision: f.Eng.Decide(f.Who("alice"), engine.Request{Host: "app.test", Path: "/reports", Method: "GET"})}
	if v, _, err = f.Gate.Identify(c); err != nil || audience(t, f, v.Assertion) != "reports" {
		t.Errorf("after the reload, the assertion for reports has audience %q (%v), want reports", audience(t, f, v.Assertion), err)
	}
}

// audience returns the aud claim of an assertion the fixture's signer made.
func audience(t *testing.T, f *gatetest.Fixture, jwt string) string {
	t.Helper()
	c, err := assertion.Verify(jwt, assertion.Keys{f.Signer.KeyID(): f.Signer.PublicKey()}, time.Now())
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	return c.Audience
}

// TestDenyNamesNoMembers: a refusal decided by the real engine says which
// route refused and why, but not which groups or users it admits.
func TestDenyNamesNoMembers(t *testing.T) {
	f := gatetest.New(t, `
routes:
  - {name: console, host: app.test, path: /console, allow: {groups: [console-admins], users: [carol-the-admin]}, deny: {groups: [contractors-secret]}}
`)
	f.User("bob")
	f.User("carol-the-admin")
	f.Group("console-admins", "carol-the-admin")
	f.Group("contractors-secret")
	for _, accept := range []string{"application/json", "text/html"} {
		r := httptest.NewRequest("GET", "http://app.test/console", nil)
		r.Header.Set("Accept", accept)
		c := gateway.Check{Decision: f.Eng.Decide(f.Who("bob"), engine.Request{Host: "app.test", Path: "/console", Method: "GET"})}
		w := httptest.NewRecorder()
		f.Gate.Deny(w, r, c, "")
		body := w.Body.String()
		if w.Code != 403 || !strings.Contains(body, "console") || !strings.Contains(body, engine.ReasonNotAllowed) {
			t.Errorf("%s: %d %s, want 403 naming the route and reason", accept, w.Code, body)
		}
		for _, secret := range []string{"console-admins", "carol-the-admin", "contractors-secret"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s: refusal names %q, which the route admits or refuses:\n%s", accept, secret, body)
			}
		}
	}
}

// TestAllowLevel: allowed requests are logged at the gate's AllowLevel,
// refusals at info whatever it is.
func TestAllowLevel(t *testing.T) {
	f := gatetest.New(t, streamRoutes)
	f.User("alice")
	f.Group("engineering", "alice")
	secret, _ := f.Token("alice", time.Hour)
	tests := []struct {
		name       string
		allowLevel slog.Level
		want       string // the levels logged: allowed, then refused
	}{
		{"default", 0, "INFO INFO"},
		{"debug, logger at info", slog.LevelDebug, "INFO"},
		{"warn", slog.LevelWarn, "WARN INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f.Gate.Log = slog.New(slog.NewTextHandler(&logs, nil))
			f.Gate.AllowLevel = tt.allowLevel
			for _, auth := range []string{"Bearer " + secret, ""} {
				r := httptest.NewRequest("GET", "http://app.test/app/x", nil)
				r.Header.Set("Authorization", auth)
				req, _ := gateway.RequestFrom(r)
				f.Gate.Decide("proxy", r, req)
			}
			var levels []string
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				_, rest, _ := strings.Cut(l, "level=")
				lvl, _, _ := strings.Cut(rest, " ")
				levels = append(levels, lvl)
			}
			if got := strings.Join(levels, " "); got != tt.want {
				t.Errorf("logged levels %q, want %q:\n%s", got, tt.want, logs.String())
			}
		})
	}
}
