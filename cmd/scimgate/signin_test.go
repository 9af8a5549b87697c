package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimgate/scimgate/config"
)

// oidcStack is the whole server with sign-in against a local OpenID
// Connect provider (mockoidc: it signs in whichever user is queued).
type oidcStack struct {
	*stack
	idp    *mockoidc.MockOIDC
	groups map[string]string // displayName -> id
}

func newOIDCStack(t *testing.T, oidcYAML string) *oidcStack {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.Header.Get("X-Scimgate-User"))
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`store: "sqlite:%s"
admin_listen: ""
routes:
  - {name: app, path: /app, upstream: %q, allow: {groups: [eng]}}
  - {name: admin, path: /admin, upstream: %q, allow: {groups: [admins]}}
oidc:
  issuer: %q
  client_id: %q
  client_secret: %q
  redirect_url: %q
%s`, filepath.Join(dir, "db"), up.URL, up.URL, idp.Issuer(), idp.ClientID, idp.ClientSecret, base+"/oauth2/callback", oidcYAML)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, err := newApp(ctx, cfg, filepath.Join(dir, "cfg.yaml"), base, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.st.Close() })
	secret, err := a.dir.Bootstrap(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	s := &stack{t: t, a: a, srv: srv, upstream: up, scimTok: secret, client: &http.Client{Timeout: 10 * time.Second}}
	return &oidcStack{stack: s, idp: idp, groups: map[string]string{}}
}

// browser is a cookie-keeping HTTP client that follows redirects, as a
// browser navigating would.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// navigate GETs a URL as a browser and returns the final status, URL and
// body.
func navigate(t *testing.T, c *http.Client, u string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html")
	// What a browser says of an address typed in, which sign-out believes.
	req.Header.Set("Sec-Fetch-Site", "none")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.String(), string(b)
}

// provision creates a user in groups, creating the groups that are new.
func (s *oidcStack) provision(name string, groups ...string) string {
	uid := s.createUser(name)
	for _, g := range groups {
		if id, ok := s.groups[g]; ok {
			s.mustSCIM(http.StatusNoContent, "PATCH", "/Groups/"+id, patchOps(`[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]`))
			continue
		}
		s.groups[g] = s.createGroup(g, uid)
	}
	return uid
}

func TestSignIn(t *testing.T) {
	s := newOIDCStack(t, "")
	alice := s.provision("alice@example.com", "eng")
	app := s.srv.URL + "/app/dashboard?tab=1"

	b := browser(t)
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
	st, final, body := navigate(t, b, app)
	if st != http.StatusOK || final != app || !strings.Contains(body, "hello alice@example.com") {
		t.Fatalf("sign-in and return = %d at %s: %q, want 200 back at %s", st, final, body, app)
	}
	u, _ := url.Parse(s.srv.URL)
	var cookie *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "scimgate_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if st, _, _ := navigate(t, b, s.srv.URL+"/admin/"); st != http.StatusForbidden {
		t.Errorf("a route alice's groups do not admit = %d, want 403", st)
	}
	// Deprovisioning over SCIM ends the session: the next navigation is
	// sent to sign in, as if the browser had none.
	s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+alice, patchOps(`[{"op":"replace","value":{"active":false}}]`))
	noFollow := &http.Client{Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", app, nil)
	req.Header.Set("Accept", "text/html")
	if resp, err := noFollow.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/.scimgate/signin") {
			t.Errorf("after deactivation = %d to %q, want 302 to sign in (the session ended)", resp.StatusCode, loc)
		}
	}

	t.Run("tampered cookie", func(t *testing.T) {
		c := browser(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, v := range []string{cookie.Value[:len(cookie.Value)-2] + "xx", "0000000000000000.forged", "garbage"} {
			req, _ := http.NewRequest("GET", app, nil)
			req.Header.Set("Accept", "text/html")
			req.AddCookie(&http.Cookie{Name: "scimgate_session", Value: v})
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/.scimgate/signin") {
				t.Errorf("cookie %q = %d to %q, want a redirect to sign in", v, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("never provisioned", func(t *testing.T) {
		c := browser(t)
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "m1", Email: "mallory@example.com"})
		st, _, body := navigate(t, c, app)
		if st != http.StatusForbidden || !strings.Contains(body, "not been provisioned") || !strings.Contains(body, "mallory@example.com") {
			t.Errorf("unprovisioned sign-in = %d %q, want a 403 page saying so", st, body)
		}
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "scimgate_session" {
				t.Errorf("a session cookie was set for an unprovisioned identity")
			}
		}
	})

	t.Run("replayed state", func(t *testing.T) {
		s.provision("bob@example.com", "eng")
		c := browser(t)
		var callback string
		c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.Path, "/oauth2/callback") {
				callback = r.URL.String()
			}
			return nil
		}
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "b1", Email: "bob@example.com"})
		if st, _, _ := navigate(t, c, app); st != http.StatusOK || callback == "" {
			t.Fatalf("bob's sign-in = %d (callback %q)", st, callback)
		}
		if st, _, body := navigate(t, browser(t), callback); st != http.StatusBadRequest || !strings.Contains(body, "already used or has expired") {
			t.Errorf("replaying the callback = %d %q, want 400", st, body)
		}
	})

	t.Run("login CSRF", func(t *testing.T) {
		s.provision("erin@example.com", "eng")
		// The attacker starts a sign-in and stops at the callback...
		attacker := browser(t)
		var callback string
		attacker.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.Path, "/oauth2/callback") {
				callback = r.URL.String()
				return http.ErrUseLastResponse
			}
			return nil
		}
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "e1", Email: "erin@example.com"})
		navigate(t, attacker, app)
		if callback == "" {
			t.Fatal("no callback reached")
		}
		// ...and sends it to a victim, whose browser did not start it.
		victim := browser(t)
		if st, _, _ := navigate(t, victim, callback); st != http.StatusBadRequest {
			t.Errorf("a callback from another browser = %d, want 400", st)
		}
		for _, ck := range victim.Jar.Cookies(u) {
			if ck.Name == "scimgate_session" {
				t.Errorf("the victim's browser got a session")
			}
		}
		// The browser that started it can still finish it.
		attacker.CheckRedirect = nil
		if st, _, body := navigate(t, attacker, callback); st != http.StatusOK || !strings.Contains(body, "erin@example.com") {
			t.Errorf("the starting browser completing its sign-in = %d %q, want 200", st, body)
		}
	})

	t.Run("open redirect", func(t *testing.T) {
		for _, rd := range []string{"https://evil.example/", "//evil.example/", "javascript:alert(1)", "http://127.0.0.1.evil.example/"} {
			st, _, _ := navigate(t, browser(t), s.srv.URL+"/.scimgate/signin?rd="+url.QueryEscape(rd))
			if st != http.StatusBadRequest {
				t.Errorf("sign-in returning to %q = %d, want 400", rd, st)
			}
		}
	})

	t.Run("sign-out and CLI revocation", func(t *testing.T) {
		s.provision("carol@example.com", "eng")
		c := browser(t)
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "c1", Email: "carol@example.com"})
		if st, _, _ := navigate(t, c, app); st != http.StatusOK {
			t.Fatalf("carol's sign-in = %d", st)
		}
		n, err := s.a.dir.RevokeUserSessions(context.Background(), "", "carol@example.com", "test")
		if err != nil || n != 1 {
			t.Fatalf("RevokeUserSessions = %d, %v; want 1", n, err)
		}
		nc := c
		nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, _ := http.NewRequest("GET", app, nil)
		resp, err := nc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("after revocation an API request with the session = %d, want 401", resp.StatusCode)
		}
	})
}

// TestBearerJWT: a JWT the identity provider issued is accepted as a
// bearer credential, mapped by its sub claim to the user's externalId, and
// judged on the user's current state.
func TestBearerJWT(t *testing.T) {
	s := newOIDCStack(t, "  user_claim: sub\n  user_attribute: externalId\n")
	m := s.mustSCIM(http.StatusCreated, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"svc@example.com","externalId":"svc-1"}`)
	uid := m["id"].(string)
	s.createGroup("eng", uid)
	// A token from the provider: run its code flow without scimgate.
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "svc-1", Email: "svc@example.com"})
	jwt, idToken := providerTokens(t, s.idp)
	get := func(token string) int {
		req, _ := http.NewRequest("GET", s.srv.URL+"/app/x", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(jwt); st != http.StatusOK {
		t.Fatalf("bearer JWT = %d, want 200", st)
	}
	if st := get(jwt[:len(jwt)-4] + "AAAA"); st != http.StatusUnauthorized {
		t.Errorf("tampered JWT = %d, want 401", st)
	}
	// An ID token has the same issuer and audience, but proves a browser
	// sign-in: leaked from a log or a session store, it must not open APIs.
	if st := get(idToken); st != http.StatusUnauthorized {
		t.Errorf("ID token (with a nonce) as a bearer token = %d, want 401", st)
	}
	s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+uid, patchOps(`[{"op":"replace","value":{"active":false}}]`))
	if st := get(jwt); st != http.StatusForbidden {
		t.Errorf("JWT of a deactivated user = %d, want 403", st)
	}
}

// providerTokens runs the provider's authorization code flow directly and
// returns the access token and the ID token (which carries the nonce).
func providerTokens(t *testing.T, idp *mockoidc.MockOIDC) (string, string) {
	t.Helper()
	cfg := idp.Config()
	redirect := "http://127.0.0.1:1/cb"
	q := url.Values{"client_id": {cfg.ClientID}, "response_type": {"code"}, "scope": {"openid email"},
		"redirect_uri": {redirect}, "state": {"s"}, "nonce": {"n"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(idp.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	resp, err = http.PostForm(idp.TokenEndpoint(), url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := jsonDecode(resp.Body, &tok); err != nil || tok.AccessToken == "" || tok.IDToken == "" {
		t.Fatalf("token response: %v", err)
	}
	return tok.AccessToken, tok.IDToken
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
