package signin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// minted records what the refresh endpoint asked a Minter for.
type minted struct {
	sid            string
	exp, refreshAt time.Time
	fail           error
}

func (m *minted) MintCookie(_ context.Context, sid string, exp, refreshAt time.Time) (string, error) {
	m.sid, m.exp, m.refreshAt = sid, exp, refreshAt
	if m.fail != nil {
		return "", m.fail
	}
	return "jwt-for-" + sid, nil
}

// TestRefresh: a browser whose session is in use gets a new session JWT,
// good for one idle period and renewable from half of it, and goes back
// where it was; a missing, forged, idle or revoked session goes to sign
// in; a return address on another host is refused.
func TestRefresh(t *testing.T) {
	f := gatetest.New(t, `
routes:
  - {name: app, host: app.example.test, path: /, allow: {groups: [eng]}}
`)
	f.User("alice")
	now := time.Now()
	clock := now
	sessions := config.Sessions{CookieName: "scimgate_session", CookieDomain: ".example.test", Idle: 10 * time.Minute, Lifetime: 12 * time.Hour}
	mint := &minted{}
	pub, _ := url.Parse("https://gate.example.test")
	s, err := New(Options{
		OIDC:     &config.OIDC{Issuer: "https://idp.test", ClientID: "c", RedirectURL: "https://gate.example.test/.scimgate/callback"},
		Sessions: sessions, PublicURL: pub, Dir: f.Dir, Snapshots: f.Live,
		SessionJWT: mint, SessionJWTCookie: "scimgate_jwt",
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.UseSessions(authn.New(f.Live, authn.Options{CookieName: sessions.CookieName, Idle: sessions.Idle, Now: func() time.Time { return clock }}))
	cookie, sess, err := f.Dir.CreateSession(f.Ctx, directory.NewSession{TenantID: f.Acme.TenantID, UserID: f.ID("alice"), Lifetime: sessions.Lifetime})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Handles(RefreshPath) {
		t.Fatalf("Handles(%s) = false", RefreshPath)
	}
	get := func(rd, session string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest("GET", "https://app.example.test"+RefreshPath+"?rd="+url.QueryEscape(rd), nil)
		if session != "" {
			r.AddCookie(&http.Cookie{Name: sessions.CookieName, Value: session})
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	toSignIn := func(t *testing.T, w *httptest.ResponseRecorder) {
		t.Helper()
		loc := w.Header().Get("Location")
		if w.Code != http.StatusFound || !strings.Contains(loc, StartPath+"?rd=") {
			t.Errorf("%d to %q; want 302 to sign-in", w.Code, loc)
		}
		// Sign-in starts on the gateway's host: it must come back to the
		// application's, where the refresh was asked.
		if u, err := url.Parse(loc); err != nil || !strings.HasPrefix(u.Query().Get("rd"), "https://app.example.test/") {
			t.Errorf("sign-in at %q returns to %q, want the application's host https://app.example.test/", loc, u.Query().Get("rd"))
		}
		if strings.Contains(w.Header().Get("Set-Cookie"), "scimgate_jwt=jwt") {
			t.Errorf("a JWT was set: %q", w.Header().Get("Set-Cookie"))
		}
	}

	t.Run("in use", func(t *testing.T) {
		clock = now.Add(6 * time.Minute)
		w := get("/app/page?x=1", cookie)
		// A path goes back to the host the browser came from.
		if w.Code != http.StatusFound || w.Header().Get("Location") != "/app/page?x=1" {
			t.Fatalf("%d to %q; want 302 back to the page, on the same host", w.Code, w.Header().Get("Location"))
		}
		if sc := w.Header().Get("Set-Cookie"); !strings.Contains(sc, "scimgate_jwt=jwt-for-"+sess.ID) || !strings.Contains(sc, "HttpOnly") {
			t.Errorf("Set-Cookie %q; want the new JWT, HttpOnly", sc)
		}
		if mint.sid != sess.ID || !mint.exp.Equal(clock.Add(10*time.Minute)) || !mint.refreshAt.Equal(clock.Add(5*time.Minute)) {
			t.Errorf("minted %s until %s, refresh at %s; want one idle period from now, renewable at half", mint.sid, mint.exp, mint.refreshAt)
		}
	})
	t.Run("a host under the cookie domain comes back there", func(t *testing.T) {
		w := get("https://app.example.test/x", cookie)
		if w.Header().Get("Location") != "https://app.example.test/x" {
			t.Errorf("Location %q", w.Header().Get("Location"))
		}
	})
	t.Run("open redirect", func(t *testing.T) {
		if w := get("https://evil.test/", cookie); w.Code != http.StatusBadRequest {
			t.Errorf("status %d, want 400", w.Code)
		}
	})
	t.Run("no session cookie", func(t *testing.T) { toSignIn(t, get("/app/", "")) })
	t.Run("forged session cookie", func(t *testing.T) { toSignIn(t, get("/app/", sess.ID+".forged")) })
	t.Run("the proxy refused the session", func(t *testing.T) {
		mint.fail = errors.New("session cannot be used")
		defer func() { mint.fail = nil }()
		toSignIn(t, get("/app/", cookie))
	})
	t.Run("a redirect loop is broken", func(t *testing.T) {
		clock = clock.Add(renewalWindow + time.Second)
		for i := range renewalMax {
			if w := get("/app/", cookie); w.Code != http.StatusFound {
				t.Fatalf("refresh %d: %d", i+1, w.Code)
			}
		}
		if w := get("/app/", cookie); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "clocks") {
			t.Errorf("refresh %d in %s: %d %s; want 503 naming the clocks", renewalMax+1, renewalWindow, w.Code, w.Body)
		}
	})
	t.Run("idle longer than sessions.idle", func(t *testing.T) {
		clock = clock.Add(11 * time.Minute)
		toSignIn(t, get("/app/", cookie))
	})
}

// TestJWTTimes: the JWT lives one idle period, renewable from half of it,
// unless the session ends first; then it lives as long as the session.
func TestJWTTimes(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		idle           time.Duration
		sessionEnds    time.Time
		exp, refreshAt time.Time
	}{
		{"idle shorter than the rest", time.Hour, now.Add(12 * time.Hour), now.Add(time.Hour), now.Add(30 * time.Minute)},
		{"the session ends first", time.Hour, now.Add(40 * time.Minute), now.Add(40 * time.Minute), time.Time{}},
		{"no idle timeout", 0, now.Add(12 * time.Hour), now.Add(12 * time.Hour), time.Time{}},
	}
	for _, tt := range tests {
		s := &Service{o: Options{Sessions: config.Sessions{Idle: tt.idle}}}
		exp, rfa := s.jwtTimes(now, tt.sessionEnds)
		if !exp.Equal(tt.exp) || !rfa.Equal(tt.refreshAt) {
			t.Errorf("%s: exp %s refresh %s; want %s, %s", tt.name, exp, rfa, tt.exp, tt.refreshAt)
		}
	}
}

// TestRefreshBeforeUseSessions: until the session checker is set, refresh
// sends every browser to sign in.
func TestRefreshBeforeUseSessions(t *testing.T) {
	pub, _ := url.Parse("https://gate.test")
	s, err := New(Options{
		OIDC:       &config.OIDC{Issuer: "https://idp.test", ClientID: "c", RedirectURL: "https://gate.test/.scimgate/callback"},
		Sessions:   config.Sessions{CookieName: "scimgate_session", Idle: time.Hour, Lifetime: 12 * time.Hour},
		PublicURL:  pub,
		SessionJWT: &minted{}, SessionJWTCookie: "scimgate_jwt",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://gate.test"+RefreshPath+"?rd=%2Fapp%2F", nil)
	r.AddCookie(&http.Cookie{Name: "scimgate_session", Value: "0123456789abcdef.x"})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); w.Code != http.StatusFound || !strings.Contains(loc, StartPath) {
		t.Errorf("%d to %q; want sign-in", w.Code, loc)
	}
}
