package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// signInYAML is the scimgate configuration of the sign-in tests: the
// OpenID Connect provider, and one route for handlers in policy mode.
func signInYAML(idp *mockoidc.MockOIDC, site, db string) string {
	return fmt.Sprintf(`store: "sqlite:%s"
admin_listen: ""
routes:
  - {name: reports, path: /reports, allow: {groups: [eng]}}
oidc:
  issuer: %q
  client_id: %q
  client_secret: %q
  redirect_url: %q
`, db, idp.Issuer(), idp.ClientID, idp.ClientSecret, site+"/.scimgate/callback")
}

// TestCaddyReload: sign-in through Caddy, then `caddy reload`, first to
// another Caddyfile, then to Caddy's JSON with rules from the scimgate
// policy file: sessions, tokens and the directory survive, the store is
// opened once, and deprovisioning still cuts access at once afterwards.
func TestCaddyReload(t *testing.T) {
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	up := newUpstream(t)
	siteBlock := func(site, extra string) string {
		return fmt.Sprintf(`%s {
	scimgate_signin
	handle /scim/v2/* {
		scimgate_scim
	}
	handle /app/* {
		scimgate {
			name app
			allow groups eng
		}
		reverse_proxy %s
	}
%s}
`, site, up.URL, extra)
	}
	global := func(c *caddyProc) string {
		return fmt.Sprintf("{\n\tadmin %s\n\tscimgate {\n\t\tconfig scimgate.yaml\n\t\tpublic_url %s\n\t}\n}\n", c.admin, c.site)
	}
	c := startCaddy(t, func(c *caddyProc) {
		c.write("scimgate.yaml", signInYAML(idp, c.site, c.db))
		c.write("Caddyfile", global(c)+siteBlock(c.site, ""))
	})

	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	scim.createGroup(t, "eng", alice)
	aliceTok := c.scimgate(t, "access-token", "create", "--user", "alice@example.com")

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	visit := func(path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.site+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.String(), string(b)
	}
	idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
	code, final, body := visit("/app/dash?tab=1")
	if code != http.StatusOK || final != c.site+"/app/dash?tab=1" || decodeSeen(t, body).Headers["X-Scimgate-User"][0] != "alice@example.com" {
		t.Fatalf("sign-in through Caddy ended at %d %s: %s", code, final, body)
	}
	if ck := decodeSeen(t, body).Headers["Cookie"]; strings.Contains(strings.Join(ck, ";"), "scimgate_session") {
		t.Errorf("the session cookie went upstream: %q", ck)
	}

	// stillIn checks the session and the token without a new sign-in.
	stillIn := func(when string) {
		t.Helper()
		// A reload ends the old server's keep-alive connections; a request
		// racing that close on a reused one sees EOF, and a connection the
		// old server accepts as it stops is reset. Browsers retry on a new
		// connection: so do these clients, until each holds a connection
		// the reloaded server answered on (kept alive for the checks).
		for _, hc := range []*http.Client{browser, c.httpClient} {
			var err error
			for range 5 {
				hc.CloseIdleConnections()
				var resp *http.Response
				if resp, err = hc.Get(c.site + "/app/x"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s: no answer after 5 tries: %v", when, err)
			}
		}
		code, final, body := visit("/app/dash")
		if code != http.StatusOK || final != c.site+"/app/dash" {
			t.Fatalf("%s: the session no longer works: %d %s %s", when, code, final, body)
		}
		if code, _, body := c.do(t, "GET", "/app/x", bearer(aliceTok), ""); code != http.StatusOK {
			t.Fatalf("%s: the access token no longer works: %d %s", when, code, body)
		}
		scim.call(t, http.StatusOK, "GET", "/Users/"+alice, "")
	}

	c.write("Caddyfile", global(c)+siteBlock(c.site, "\thandle /new {\n\t\tscimgate {\n\t\t\tallow groups eng\n\t\t}\n\t\trespond \"new {scimgate.user}\"\n\t}\n"))
	c.reload("Caddyfile")
	stillIn("after a Caddyfile reload")
	if code, _, body := c.do(t, "GET", "/new", bearer(aliceTok), ""); code != http.StatusOK || body != "new alice@example.com" {
		t.Fatalf("the reloaded site's new route = %d %q", code, body)
	}

	c.write("caddy.json", jsonConfig(c.admin, c.site, up.URL))
	c.reload("caddy.json")
	stillIn("after a reload to Caddy's JSON")
	if code, _, body := c.do(t, "GET", "/reports/q3", bearer(aliceTok), ""); code != http.StatusOK || body != "report for alice@example.com" {
		t.Fatalf("policy-mode route = %d %q", code, body)
	}
	if code, _, body := c.do(t, "GET", "/reports/q3", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("policy-mode route without a credential = %d %q", code, body)
	}
	if n := strings.Count(c.log.String(), `"msg":"load complete"`); n != 2 {
		t.Errorf("caddy logged %d completed reloads, want 2", n)
	}
	if n := strings.Count(c.log.String(), "scimgate store opened"); n != 1 {
		t.Errorf("the store was opened %d times over three configurations, want once", n)
	}

	scim.patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":false}]`)
	if code, _, body := visit("/app/dash"); code != http.StatusForbidden {
		t.Errorf("the session after deactivation = %d %s, want 403", code, body)
	}
	if code, _, body := c.do(t, "GET", "/reports/q3", bearer(aliceTok), ""); code != http.StatusForbidden {
		t.Errorf("the token after deactivation = %d %s, want 403", code, body)
	}
}

// jsonConfig is a Caddy JSON configuration with the scimgate app, the
// sign-in and SCIM handlers, the app route with its own rules and a route
// in policy mode (the routes of scimgate.yaml).
func jsonConfig(admin, site, upstream string) string {
	handler := func(h ...map[string]any) []map[string]any { return h }
	route := func(path string, handle []map[string]any) map[string]any {
		r := map[string]any{"handle": handle}
		if path != "" {
			r["match"] = []map[string]any{{"path": []string{path}}}
		}
		return r
	}
	cfg := map[string]any{
		"admin": map[string]any{"listen": admin},
		"apps": map[string]any{
			"scimgate": map[string]any{"config": "scimgate.yaml", "public_url": site},
			"http": map[string]any{"servers": map[string]any{"site": map[string]any{
				"listen": []string{strings.TrimPrefix(site, "http://")},
				"routes": []map[string]any{
					route("", handler(map[string]any{"handler": "scimgate_signin"})),
					route("/scim/v2/*", handler(map[string]any{"handler": "scimgate_scim"})),
					route("/app/*", handler(
						map[string]any{"handler": "scimgate", "name": "app", "allow": map[string]any{"groups": []string{"eng"}}},
						map[string]any{"handler": "reverse_proxy", "upstreams": []map[string]any{{"dial": strings.TrimPrefix(upstream, "http://")}}})),
					route("/reports/*", handler(
						map[string]any{"handler": "scimgate", "policy": true},
						map[string]any{"handler": "static_response", "body": "report for {scimgate.user}"})),
				},
			}}},
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestCaddyReloadTightensOpenStreams: with stream_close_delay, WebSockets
// outlive `caddy reload`; from the reload on they are decided by the
// reloaded rules: one whose user the new rules refuse is cut, one whose
// user they admit stays open.
func TestCaddyReloadTightensOpenStreams(t *testing.T) {
	up := newUpstream(t)
	caddyfile := func(c *caddyProc, groups string) string {
		return c.scimSite(fmt.Sprintf(`	handle /ws/* {
		scimgate {
			name ws
			allow groups %s
		}
		reverse_proxy %s {
			stream_close_delay 1m
		}
	}
`, groups, up.URL))
	}
	c := startCaddy(t, func(c *caddyProc) { c.write("Caddyfile", caddyfile(c, "eng")) })
	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	bob := scim.createUser(t, "bob@example.com")
	scim.createGroup(t, "eng", alice, bob)
	scim.createGroup(t, "ops", bob)
	open := func(user string) (<-chan time.Time, func()) {
		t.Helper()
		return c.echoSocket(t, "/ws/echo", c.scimgate(t, "access-token", "create", "--user", user), 1)
	}
	aliceClosed, closeAlice := open("alice@example.com")
	defer closeAlice()
	bobClosed, closeBob := open("bob@example.com")
	defer closeBob()

	c.write("Caddyfile", caddyfile(c, "ops"))
	reloaded := time.Now()
	c.reload("Caddyfile")
	select {
	case at := <-aliceClosed:
		t.Logf("alice's WebSocket closed %v after the reload began", at.Sub(reloaded))
	case <-time.After(3 * time.Second):
		t.Fatal("alice's WebSocket is still open 3s after a reload whose rules refuse her")
	}
	select {
	case <-bobClosed:
		t.Error("bob's WebSocket was closed, though the reloaded rules admit him")
	case <-time.After(1500 * time.Millisecond):
	}
}

// TestCaddyReloadUnnamedHandlersKeepTheirRules: unnamed handlers are
// called caddy, caddy-2... in the order Caddy provisions them (routes
// with longer paths first). A reload that adds one before another shifts
// their names, not the rules an open stream is decided by: alice's
// WebSocket, admitted by the rules that allow eng, stays open though
// "caddy" now names the rules that allow ops. A reload that drops those
// rules cuts it.
func TestCaddyReloadUnnamedHandlersKeepTheirRules(t *testing.T) {
	up := newUpstream(t)
	caddyfile := func(c *caddyProc, paths ...string) string {
		groups := map[string]string{"/a": "eng", "/longer": "ops"}
		var blocks string
		for _, path := range paths {
			blocks += fmt.Sprintf(`	handle %s/* {
		scimgate {
			allow groups %s
		}
		reverse_proxy %s {
			stream_close_delay 1m
		}
	}
`, path, groups[path], up.URL)
		}
		return c.scimSite(blocks)
	}
	c := startCaddy(t, func(c *caddyProc) { c.write("Caddyfile", caddyfile(c, "/a")) }) // eng is "caddy"
	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	scim.createGroup(t, "eng", alice)
	scim.createGroup(t, "ops")
	closed, closeWS := c.echoSocket(t, "/a/ws/echo", c.scimgate(t, "access-token", "create", "--user", "alice@example.com"), 1)
	defer closeWS()

	c.write("Caddyfile", caddyfile(c, "/a", "/longer")) // ops is "caddy" now, eng "caddy-2"
	c.reload("Caddyfile")
	select {
	case <-closed:
		t.Fatal("alice's WebSocket was cut by a reload that kept the rules that admitted her, under another name")
	case <-time.After(1500 * time.Millisecond):
	}
	if st, _, body := c.do(t, "GET", "/a/x", bearer(c.scimgate(t, "access-token", "create", "--user", "alice@example.com")), ""); st != http.StatusOK {
		t.Fatalf("alice on /a after the reload = %d %s, want 200", st, body)
	}

	c.write("Caddyfile", caddyfile(c, "/longer")) // the eng rules are gone
	reloaded := time.Now()
	c.reload("Caddyfile")
	select {
	case at := <-closed:
		t.Logf("alice's WebSocket closed %v after the reload that dropped its rules", at.Sub(reloaded))
	case <-time.After(3 * time.Second):
		t.Fatal("alice's WebSocket is still open 3s after a reload that dropped the rules that admitted her")
	}
}
