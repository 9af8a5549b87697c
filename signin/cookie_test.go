package signin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// TestSessionCookieSecure: the session cookie (and the session JWT cookie
// and the cookie that clears them on sign-out, built alike) is Secure
// exactly when the gateway's public URL is https, and otherwise HttpOnly,
// SameSite=Lax, Path=/, on sessions.cookie_domain, expiring with the
// session.
func TestSessionCookieSecure(t *testing.T) {
	tests := []struct {
		name, public, domain string
		secure               bool
		cookie               string // the session cookie's name
	}{
		{"https public URL", "https://gate.example.test", "", true, "__Host-scimgate_session"},
		{"https public URL with a port and a cookie domain", "https://gate.example.test:8443", ".example.test", true, "scimgate_session"},
		{"http public URL", "http://gate.example.test", "", false, "scimgate_session"},
		{"http public URL on loopback", "http://127.0.0.1:8080", "", false, "scimgate_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := url.Parse(tt.public)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Options{
				// The callback stays https in every case: the session
				// cookie must follow the public URL, not the callback.
				OIDC:      &config.OIDC{Issuer: "https://idp.test", ClientID: "c", RedirectURL: "https://gate.example.test/oauth2/callback"},
				Sessions:  config.Sessions{CookieName: "scimgate_session", CookieDomain: tt.domain, Idle: time.Hour, Lifetime: 12 * time.Hour},
				PublicURL: pub,
			})
			if err != nil {
				t.Fatal(err)
			}
			exp := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
			check := func(t *testing.T, what string, c *http.Cookie, name, value string, cleared bool) {
				t.Helper()
				if c.Name != name || c.Value != value || c.Path != "/" || c.Domain != tt.domain {
					t.Errorf("%s: %s=%q Path=%q Domain=%q; want %s=%q Path=/ Domain=%q", what, c.Name, c.Value, c.Path, c.Domain, name, value, tt.domain)
				}
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
					t.Errorf("%s: HttpOnly=%v SameSite=%v; want HttpOnly, Lax", what, c.HttpOnly, c.SameSite)
				}
				if c.Secure != tt.secure {
					t.Errorf("%s: Secure=%v with public URL %s; want %v", what, c.Secure, tt.public, tt.secure)
				}
				// What the browser receives.
				if got := strings.Contains(c.String(), "; Secure"); got != tt.secure {
					t.Errorf("%s: Set-Cookie %q; Secure attribute present %v, want %v", what, c.String(), got, tt.secure)
				}
				if cleared {
					if c.MaxAge >= 0 {
						t.Errorf("%s: MaxAge=%d; want a deletion (negative)", what, c.MaxAge)
					}
				} else if !c.Expires.Equal(exp) || c.MaxAge != 0 {
					t.Errorf("%s: Expires=%s MaxAge=%d; want Expires=%s (the session's end)", what, c.Expires, c.MaxAge, exp)
				}
			}
			if s.CookieName() != tt.cookie {
				t.Errorf("CookieName() = %q, want %q", s.CookieName(), tt.cookie)
			}
			check(t, "session cookie", s.cookie("0123456789abcdef.secret", exp), tt.cookie, "0123456789abcdef.secret", false)
			check(t, "sign-out's clearing cookie", s.cookie("", time.Time{}), tt.cookie, "", true)
			check(t, "session JWT cookie", s.named("scimgate_jwt", "jwt", exp), "scimgate_jwt", "jwt", false)
		})
	}
}

// TestSessionCookieName: over https and without a cookie domain the
// session cookie is a __Host- cookie, which no sibling host can plant; a
// prefix the operator chose is kept when browsers accept it, refused when
// they would drop the cookie.
func TestSessionCookieName(t *testing.T) {
	tests := []struct {
		name, public, domain, cookie string
		want                         string // "" when refused
	}{
		{"https, host only", "https://gate.example.test", "", "scimgate_session", "__Host-scimgate_session"},
		{"https, another name", "https://gate.example.test", "", "sid", "__Host-sid"},
		{"https, a cookie domain", "https://gate.example.test", ".example.test", "scimgate_session", "scimgate_session"},
		{"http", "http://127.0.0.1:8080", "", "scimgate_session", "scimgate_session"},
		{"__Host- chosen, https", "https://gate.example.test", "", "__Host-sid", "__Host-sid"},
		{"__Secure- chosen, https with a domain", "https://gate.example.test", ".example.test", "__Secure-sid", "__Secure-sid"},
		{"__Host- with a domain", "https://gate.example.test", ".example.test", "__Host-sid", ""},
		{"__Host- over http", "http://gate.example.test", "", "__Host-sid", ""},
		{"__Secure- over http", "http://gate.example.test", "", "__Secure-sid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, _ := url.Parse(tt.public)
			got, err := sessionCookieName(config.Sessions{CookieName: tt.cookie, CookieDomain: tt.domain}, pub)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("sessionCookieName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestSessionAbsoluteLifetime: a session lives sessions.lifetime from its
// creation, however active it is. The idle check (authn) passes while the
// session is in use; the absolute lifetime is the engine's to enforce,
// from the session's Expires, which CreateSession sets to creation plus
// the lifetime sign-in passes it. Both run on an injected clock.
func TestSessionAbsoluteLifetime(t *testing.T) {
	const routes = `
routes:
  - {name: app, host: app.example.test, path: /, allow: {groups: [eng]}}
`
	f := gatetest.New(t, routes)
	f.User("alice")
	f.Group("eng", "alice")
	const lifetime, idle = 2 * time.Hour, 30 * time.Minute
	short, sess, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID("alice"), Lifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	if want := sess.Created.Add(lifetime); !sess.Expires.Equal(want) {
		t.Fatalf("session created %s with lifetime %s expires %s, want %s", sess.Created, lifetime, sess.Expires, want)
	}
	// A control created alike with a longer lifetime: at the instant the
	// first is refused, it still passes, so the refusal is the lifetime.
	long, _, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID("alice"), Lifetime: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clock := sess.Created
	now := func() time.Time { return clock }
	auth := authn.New(f.Live, authn.Options{CookieName: "scimgate_session", Idle: idle, Now: now})
	eng := engine.New(f.Live, gatetest.Compile(t, routes), engine.Options{Now: now})
	req := engine.Request{Host: "app.example.test", Path: "/x", Method: "GET"}
	decide := func(cookie string) (engine.Principal, engine.Decision) {
		p := auth.Session(cookie)
		return p, eng.Decide(p, req)
	}

	// In use every 20 minutes (within the 30-minute idle limit) up to the
	// last second of its lifetime: admitted throughout. The control is in
	// use alike.
	for at := time.Duration(0); at < lifetime; at += 20 * time.Minute {
		clock = sess.Created.Add(at)
		if p, d := decide(short); p.Reject != "" || !d.Allow {
			t.Fatalf("at +%s, in use: principal reject %q, decision %v %q; want admitted", at, p.Reject, d.Allow, d.Reason)
		}
		if _, d := decide(long); !d.Allow {
			t.Fatalf("at +%s, the control session: %q; want admitted", at, d.Reason)
		}
	}
	clock = sess.Expires.Add(-time.Second)
	if p, d := decide(short); p.Reject != "" || !d.Allow {
		t.Fatalf("one second before the lifetime ends: reject %q, decision %v %q; want admitted", p.Reject, d.Allow, d.Reason)
	}
	for _, after := range []time.Duration{0, time.Second, 10 * time.Minute} {
		clock = sess.Expires.Add(after)
		p, d := decide(short)
		if p.Reject != "" || p.SessionID != sess.ID {
			t.Errorf("lifetime +%s: authn refused (%q) a session used a moment ago; the idle check must pass here", after, p.Reject)
		}
		if d.Allow || d.Reason != engine.ReasonSessionExpired || !d.Unauthenticated() {
			t.Errorf("lifetime +%s: decision %v %q; want refused, %s (unauthenticated)", after, d.Allow, d.Reason, engine.ReasonSessionExpired)
		}
		if p, d := decide(long); p.Reject != "" || !d.Allow {
			t.Errorf("lifetime +%s: the 12h control session: reject %q, decision %v %q; want admitted", after, p.Reject, d.Allow, d.Reason)
		}
	}
}

// TestJWTCookieName: the session's JWT cookie is set under the name
// configured (haproxy_maps.jwt_cookie), which haproxy.cfg reads: never
// renamed behind it. A __Host- or __Secure- name the browser would refuse
// where it is set is a configuration error.
func TestJWTCookieName(t *testing.T) {
	for _, tt := range []struct{ public, domain, name, want string }{
		{"https://gate.example.test", "", "scimgate_jwt", "scimgate_jwt"},
		{"https://gate.example.test", "", "__Host-scimgate_jwt", "__Host-scimgate_jwt"},
		{"https://gate.example.test", ".example.test", "__Host-scimgate_jwt", ""},
		{"http://127.0.0.1:8080", "", "__Host-scimgate_jwt", ""},
		{"http://127.0.0.1:8080", "", "__Secure-scimgate_jwt", ""},
		{"http://127.0.0.1:8080", "", "scimgate_jwt", "scimgate_jwt"},
	} {
		pub, _ := url.Parse(tt.public)
		s, err := New(Options{
			OIDC:      &config.OIDC{Issuer: "https://idp.test", ClientID: "c", RedirectURL: tt.public + "/.scimgate/callback"},
			Sessions:  config.Sessions{CookieName: "scimgate_session", CookieDomain: tt.domain},
			PublicURL: pub, SessionJWT: &minted{}, SessionJWTCookie: tt.name,
		})
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s, domain %q: %s accepted, want an error", tt.public, tt.domain, tt.name)
		case tt.want != "" && (err != nil || s.JWTCookieName() != tt.want):
			t.Errorf("%s, domain %q: %s: %v, want it set as %s", tt.public, tt.domain, tt.name, err, tt.want)
		}
	}
}
