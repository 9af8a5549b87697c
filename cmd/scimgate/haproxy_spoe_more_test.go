package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimgate/scimgate/internal/haproxytest"
)

// spoeStack is examples/haproxy run as TestHAProxySPOE runs it (the real
// scimgate binary as the SPOE agent, with the runtime API for the stream
// cut, and Debian's HAProxy), optionally with sign-in against a local
// OpenID Connect provider. Browsers reach scimgate's sign-in through
// HAProxy (gateway.public_url and oidc.redirect_url on HAProxy's address,
// as docs/haproxy.md says for map-sync).
type spoeStack struct {
	bin, configPath string
	scim            *client
	hp              *haproxytest.HAProxy
	edge            string // http://127.0.0.1:PORT, HAProxy's frontend
	alice, bob, eng string // SCIM ids: alice and bob in engineering
}

func startSPOEStack(t *testing.T, appURL string, idp *mockoidc.MockOIDC) *spoeStack {
	t.Helper()
	bin := realBinary(t)
	dir := t.TempDir()
	gatePort, spoePort, runtimePort, edgePort := freePort(t), freePort(t), freePort(t), freePort(t)
	s := &spoeStack{bin: bin, configPath: filepath.Join(dir, "scimgate.yaml"), edge: "http://127.0.0.1:" + edgePort}
	cfg := rewrite(t, haproxyExampleGate,
		`"127.0.0.1:8080"`, `"127.0.0.1:`+gatePort+`"`,
		`"127.0.0.1:9090"`, `""`,
		`"sqlite:./data/haproxy.db"`, `"sqlite:`+filepath.Join(dir, "scimgate.db")+`"`,
		`"127.0.0.1:12345"`, `"127.0.0.1:`+spoePort+`"`,
		`"127.0.0.1:9999"`, `"127.0.0.1:`+runtimePort+`"`,
		"level: info", "level: warn")
	if idp != nil {
		cfg += "gateway:\n  public_url: \"" + s.edge + "\"\n" +
			"oidc:\n  issuer: \"" + idp.Issuer() + "\"\n  client_id: \"" + idp.ClientID + "\"\n" +
			"  client_secret: \"" + idp.ClientSecret + "\"\n  redirect_url: \"" + s.edge + "/.scimgate/callback\"\n"
	}
	if err := os.WriteFile(s.configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	spoeConf := filepath.Join(dir, "spoe.conf")
	if err := os.WriteFile(spoeConf, []byte(rewrite(t, haproxyExampleSPOE)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, s.configPath)
	s.scim = &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}
	s.hp = haproxytest.Start(t, rewrite(t, haproxyExampleCfg,
		"ipv4@127.0.0.1:9999", "ipv4@127.0.0.1:"+runtimePort,
		"bind 127.0.0.1:8088", "bind 127.0.0.1:"+edgePort,
		"config examples/haproxy/spoe.conf", "config "+spoeConf,
		"server app 127.0.0.1:9001", "server app "+strings.TrimPrefix(appURL, "http://"),
		"server scimgate 127.0.0.1:8080", "server scimgate 127.0.0.1:"+gatePort,
		"server agent 127.0.0.1:12345", "server agent 127.0.0.1:"+spoePort))
	user := func(name string) string {
		return nginxSCIMCreate(t, s.scim, "/Users", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "active": true,
			"emails": []map[string]any{{"value": name, "primary": true}}})
	}
	s.alice, s.bob = user("alice@example.com"), user("bob@example.com")
	s.eng = nginxSCIMCreate(t, s.scim, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "engineering",
		"members": []map[string]any{{"value": s.alice}, {"value": s.bob}}})
	return s
}

// setActive deactivates or reactivates a user over SCIM.
func (s *spoeStack) setActive(t *testing.T, id string, active bool) {
	t.Helper()
	st, res, err := s.scim.do("PATCH", "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": active}}})
	if err != nil || st != http.StatusOK {
		t.Fatalf("PATCH active=%v: %d %v %v", active, st, res, err)
	}
}

// get requests path through HAProxy without following redirects.
func (s *spoeStack) get(t *testing.T, path string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.edge+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, s.hp.Logs())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestHAProxySPOESignIn: with sign-in configured, an anonymous browser is
// redirected by haproxy.cfg to scimgate's sign-in, signs in through
// HAProxy, and is then let through with its identity; the session cookie
// stops at HAProxy while the application's own cookies reach it.
func TestHAProxySPOESignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts HAProxy and the real binary")
	}
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	app := newHAProxyApp(t)
	s := startSPOEStack(t, app.srv.URL, idp)
	page := "/whoami/page?x=1"
	html := http.Header{"Accept": {"text/html"}}

	t.Run("anonymous browser redirected to sign in", func(t *testing.T) {
		res, body := s.get(t, page, html)
		want := s.edge + "/.scimgate/signin?rd=" + url.QueryEscape(s.edge+page)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Errorf("anonymous browser = %d to %q (%s), want 302 to %q", res.StatusCode, res.Header.Get("Location"), body, want)
		}
		// An API client is told 401, not redirected.
		if res, body := s.get(t, page, nil); res.StatusCode != http.StatusUnauthorized || res.Header.Get("Location") != "" ||
			!strings.Contains(body, "unauthenticated") {
			t.Errorf("anonymous API client = %d %s, want 401", res.StatusCode, body)
		}
		if n := len(appRequests(app)); n != 0 {
			t.Errorf("the application received %d requests from anonymous clients", n)
		}
	})

	// Sign in as a browser would, every hop through HAProxy.
	b := browser(t)
	var hops []string
	b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		hops = append(hops, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
		return nil
	}
	idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
	st, final, body := navigate(t, b, s.edge+page)
	if st != http.StatusOK || final != s.edge+page {
		t.Fatalf("sign-in ended at %s (%d) by %q: %s\n%s", final, st, hops, body, s.hp.Logs())
	}
	if !contains(hops, s.edge+"/.scimgate/signin") || !contains(hops, s.edge+"/.scimgate/callback") {
		t.Errorf("sign-in went by %q, want HAProxy's /.scimgate/signin and /.scimgate/callback", hops)
	}
	b.CheckRedirect = nil
	edgeURL, _ := url.Parse(s.edge)
	var session string
	for _, c := range b.Jar.Cookies(edgeURL) {
		if c.Name == "scimgate_session" {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatalf("no scimgate_session cookie after sign-in: %v", b.Jar.Cookies(edgeURL))
	}

	t.Run("signed in: identity headers, no session cookie", func(t *testing.T) {
		seen := app.last(t)
		if seen.URI != page {
			t.Fatalf("the application's last request is %q, want %q", seen.URI, page)
		}
		h := seen.Header
		if got := h.Values("X-Scimgate-User"); len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("X-Scimgate-User = %q", got)
		}
		if h.Get("X-Scimgate-Email") != "alice@example.com" || h.Get("X-Scimgate-Groups") != "engineering" {
			t.Errorf("X-Scimgate-Email %q, -Groups %q", h.Get("X-Scimgate-Email"), h.Get("X-Scimgate-Groups"))
		}
		claims, err := nginxVerifyJWT(nginxJWKS(t, s.edge), h.Get("X-Scimgate-Assertion"))
		if err != nil || claims["preferred_username"] != "alice@example.com" {
			t.Errorf("assertion: %v %v", claims, err)
		}
		// The browser held only the session cookie: nothing is left.
		if c, ok := h["Cookie"]; ok {
			t.Errorf("Cookie at the application = %q, want none", c)
		}
	})

	t.Run("session cookie removed, the application's cookies kept", func(t *testing.T) {
		sc := "scimgate_session=" + session
		for _, tc := range []struct{ sent, want string }{
			{"theme=dark; " + sc + "; lang=en", "theme=dark; lang=en"},
			{sc + "; theme=dark", "theme=dark"},
			{"theme=dark;" + sc, "theme=dark"},
			{"a=1; b=2; " + sc, "a=1; b=2"},
		} {
			res, body := s.get(t, "/whoami/c", http.Header{"Cookie": {tc.sent}, "Accept": {"text/html"}})
			if res.StatusCode != http.StatusOK {
				t.Errorf("Cookie %q = %d %s, want 200", tc.sent, res.StatusCode, body)
				continue
			}
			h := app.last(t).Header
			if got := h.Values("Cookie"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("sent Cookie %q: the application got %q, want %q", tc.sent, got, tc.want)
			}
			if h.Get("X-Scimgate-User") != "alice@example.com" {
				t.Errorf("sent Cookie %q: X-Scimgate-User %q", tc.sent, h.Get("X-Scimgate-User"))
			}
		}
		// Several Cookie headers, which browsers do not send over HTTP/1.1:
		// the agent sees the first. Whatever the outcome, the session
		// cookie must not reach the application.
		for _, sent := range [][]string{{sc, "theme=dark"}, {"theme=dark", sc}} {
			before := len(appRequests(app))
			res, _ := s.get(t, "/whoami/multi", http.Header{"Cookie": sent})
			for _, r := range appRequests(app)[before:] {
				for _, c := range r.Header.Values("Cookie") {
					if strings.Contains(c, "scimgate_session") {
						t.Errorf("Cookie headers %q (%d): the application got %q", sent, res.StatusCode, c)
					}
				}
			}
			t.Logf("Cookie headers %q: %d", sent, res.StatusCode)
		}
		// The browser's own jar: an application cookie set on the host
		// travels with the session cookie, and only it arrives.
		b.Jar.SetCookies(edgeURL, []*http.Cookie{{Name: "theme", Value: "dark", Path: "/"}})
		if st, _, body := navigate(t, b, s.edge+"/whoami/jar"); st != http.StatusOK {
			t.Fatalf("signed-in browser = %d %s", st, body)
		}
		if got := app.last(t).Header.Values("Cookie"); len(got) != 1 || got[0] != "theme=dark" {
			t.Errorf("the application got Cookie %q, want [theme=dark]", got)
		}
	})

	t.Run("sign-out through HAProxy, then redirected again", func(t *testing.T) {
		navigate(t, b, s.edge+"/.scimgate/signout")
		res, body := s.get(t, page, http.Header{"Cookie": {"scimgate_session=" + session}, "Accept": {"text/html"}})
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), s.edge+"/.scimgate/signin?") {
			t.Errorf("the signed-out session = %d %q %s, want a redirect to sign in", res.StatusCode, res.Header.Get("Location"), body)
		}
	})
}

// wsEcho is a WebSocket echo server, the application behind HAProxy.
func wsEcho(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHAProxySPOEWebSocketCut: a WebSocket open through HAProxy (SPOE mode,
// timeout tunnel 1h) is closed within 1 s of its user's deactivation over
// SCIM, for an access token and for a signed-in browser's session cookie,
// while another user's WebSocket on the same route stays open.
func TestHAProxySPOEWebSocketCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts HAProxy and the real binary")
	}
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	s := startSPOEStack(t, wsEcho(t), idp)
	wsURL := "ws" + strings.TrimPrefix(s.edge, "http") + "/whoami/ws"
	aliceTok := nginxAccessToken(t, s.bin, s.configPath, "alice@example.com")
	bobTok := nginxAccessToken(t, s.bin, s.configPath, "bob@example.com")

	dial := func(t *testing.T, ctx context.Context, h http.Header) *websocket.Conn {
		t.Helper()
		c, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			st := 0
			if res != nil {
				st = res.StatusCode
			}
			t.Fatalf("dial through HAProxy: %d %v\n%s", st, err, s.hp.Logs())
		}
		echo(t, ctx, c, "hello")
		return c
	}
	credentials := map[string]http.Header{"access token": {"Authorization": {"Bearer " + aliceTok}}}
	// A browser signed in through HAProxy opens the WebSocket with its
	// session cookie.
	b := browser(t)
	idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
	// It lands on the echo server, which answers a plain GET with an
	// error: only the cookie matters here.
	navigate(t, b, s.edge+"/.scimgate/signin?rd=%2Fwhoami%2F")
	edgeURL, _ := url.Parse(s.edge)
	for _, c := range b.Jar.Cookies(edgeURL) {
		if c.Name == "scimgate_session" {
			credentials["session cookie"] = http.Header{"Cookie": {"scimgate_session=" + c.Value}}
		}
	}
	if credentials["session cookie"] == nil {
		t.Fatal("no session cookie after sign-in")
	}

	// The session first: a deactivation deletes it (an access token only
	// waits for its owner's reactivation).
	for _, kind := range []string{"session cookie", "access token"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := dial(t, ctx, credentials[kind])
			defer c.CloseNow()
			other := dial(t, ctx, http.Header{"Authorization": {"Bearer " + bobTok}})
			defer other.CloseNow()
			// An idle moment, so that nothing but the cut ends it.
			time.Sleep(100 * time.Millisecond)
			echo(t, ctx, c, "still open")

			closed := make(chan time.Time, 1)
			go func() {
				_, msg, err := c.Read(ctx)
				if err == nil {
					t.Errorf("read after deactivation returned %q", msg)
				}
				closed <- time.Now()
			}()
			defer s.setActive(t, s.alice, true) // for the next case, whatever happens here
			sent := time.Now()
			s.setActive(t, s.alice, false)
			answered := time.Now()
			select {
			case at := <-closed:
				// The cut may land before the SCIM response has reached
				// this client: a negative delay after the response.
				t.Logf("%s: WebSocket closed %v after the SCIM PATCH returned (%v after it was sent)", kind,
					at.Sub(answered).Round(time.Microsecond), at.Sub(sent).Round(time.Microsecond))
				if d := at.Sub(answered); d > time.Second {
					t.Errorf("closed %v after deactivation, want within 1s", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("the WebSocket is still open 5s after deactivation\n%s", s.hp.Logs())
			}
			// bob's WebSocket on the same route is not touched.
			echo(t, ctx, other, "bob still here")
			// A new WebSocket is refused at the upgrade: the token's owner is
			// inactive (403), the session is gone (401).
			want := map[string]int{"access token": http.StatusForbidden, "session cookie": http.StatusUnauthorized}[kind]
			if _, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: credentials[kind]}); err == nil ||
				res == nil || res.StatusCode != want {
				st := 0
				if res != nil {
					st = res.StatusCode
				}
				t.Errorf("a new WebSocket after deactivation = %d %v, want %d", st, err, want)
			}
		})
	}
}

// echo sends msg on c and expects it back.
func echo(t *testing.T, ctx context.Context, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("echo of %q = %q, %v", msg, got, err)
	}
}

// appRequests is a copy of what the application has received so far.
func appRequests(a *haproxyApp) []nginxSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]nginxSeen(nil), a.reqs...)
}
