package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCaddyForwardAuth runs the Caddyfile of docs/forward-auth.md: Caddy's
// forward_auth asking a separate scimgate server. Identity headers from
// scimgate reach the upstream; those the client sent never do, in either
// spelling, on guarded and public routes alike.
func TestCaddyForwardAuth(t *testing.T) {
	up := newUpstream(t)
	gateAddr := freePort(t)
	var scimgateCfg string
	c := startCaddy(t, func(c *caddyProc) {
		scimgateCfg = filepath.Join(c.dir, "scimgate.yaml")
		c.write("scimgate.yaml", fmt.Sprintf(`listen: %q
admin_listen: ""
store: "sqlite:%s"
routes:
  - {name: app, path: /app, allow: {groups: [engineering]}}
  - {name: public, path: /public, allow: {public: true}}
`, gateAddr, c.db))
		// The Caddyfile of docs/forward-auth.md, with test addresses.
		c.write("Caddyfile", fmt.Sprintf(`{
	admin %s
}
%s {
	route {
		request_header -X-Scimgate*
		request_header -X_Scimgate*
		request_header Connection (?i)x[-_]scimgate[-_][a-z0-9_-]* ""
		request_header -X-Http-Method-Override
		request_header -X-Http-Method
		request_header -X-Method-Override
		@upgrade_not_websocket {
			header Upgrade *
			not header Upgrade websocket
		}
		request_header @upgrade_not_websocket -Upgrade
		request_header -Http2-Settings
		forward_auth %s {
			uri /.scimgate/auth
			copy_headers X-Scimgate-User X-Scimgate-Email X-Scimgate-Groups X-Scimgate-Assertion
			copy_headers X-Scimgate-Upstream-Cookie>Cookie X-Scimgate-Upstream-Authorization>Authorization
		}
		reverse_proxy %s
	}
}
`, c.admin, c.site, gateAddr, strings.TrimPrefix(up.URL, "http://")))
	})
	gate := exec.Command(c.cli, "serve", "--config", scimgateCfg)
	gate.Stdout, gate.Stderr = c.log, c.log
	gate.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := gate.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gate.Process.Kill(); gate.Wait() })
	waitListen(t, gateAddr)

	scimTok := c.scimgate(t, "scim-token", "create", "--tenant", "acme")
	scim := scimClient{c: &caddyProc{t: t, site: "http://" + gateAddr, httpClient: c.httpClient}, token: scimTok}
	alice := scim.createUser(t, "alice@example.com")
	scim.createGroup(t, "engineering", alice)
	scim.createUser(t, "bob@example.com")
	aliceTok := c.scimgate(t, "access-token", "create", "--user", "alice@example.com")
	bobTok := c.scimgate(t, "access-token", "create", "--user", "bob@example.com")

	spoof := []string{"X-Scimgate-User", "root@example.com", "X-Scimgate-Groups", "admins", "X-Scimgate-Email", "root@example.com"}
	for _, tc := range []struct {
		name, path, token string
		want              int
		user              string // X-Scimgate-User upstream; "" none
	}{
		{"allowed", "/app/x", aliceTok, http.StatusOK, "alice@example.com"},
		{"public, signed in", "/public/x", aliceTok, http.StatusOK, "alice@example.com"},
		{"public, anonymous", "/public/x", "", http.StatusOK, ""},
		{"not in the group", "/app/x", bobTok, http.StatusForbidden, ""},
		{"no credential", "/app/x", "", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := bearer(tc.token, spoof...)
			h["X-Scimgate_user"] = []string{"root@example.com"}
			h["X_Scimgate_User"] = []string{"root@example.com"}
			h["Cookie"] = []string{"theme=dark"}
			h["x_scimgate-groups"] = []string{"admins"}
			// reverse_proxy drops what Connection names: not the gate's headers.
			h["Connection"] = []string{"X-Scimgate-User, x_scimgate_assertion, Upgrade"}
			// Nor the method decided, nor a tunnel (h2c) of requests
			// nobody decides.
			h["X-Http-Method-Override"] = []string{"DELETE"}
			h["Upgrade"] = []string{"h2c"}
			h["Http2-Settings"] = []string{"AAMAAABkAARAAAAAAAIAAAAA"}
			code, _, body := c.do(t, "GET", tc.path, h, "")
			if code != tc.want {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, body, tc.want)
			}
			if code != http.StatusOK {
				if strings.Contains(body, `"headers"`) {
					t.Errorf("the upstream was reached: %s", body)
				}
				return
			}
			s := decodeSeen(t, body)
			if got := strings.Join(s.Headers["X-Scimgate-User"], ","); got != tc.user {
				t.Errorf("upstream X-Scimgate-User = %q, want %q", got, tc.user)
			}
			for k, v := range s.Headers {
				if strings.Contains(strings.Join(v, ","), "root@example.com") || strings.Contains(strings.Join(v, ","), "admins") {
					t.Errorf("the client's %s reached the upstream: %q", k, v)
				}
			}
			if a := s.Headers["Authorization"]; len(a) > 0 {
				t.Errorf("the access token reached the upstream: %q", a)
			}
			for _, k := range []string{"X-Http-Method-Override", "Upgrade", "Http2-Settings"} {
				if v, ok := s.Headers[k]; ok {
					t.Errorf("the client's %s reached the upstream: %q", k, v)
				}
			}
			if c := strings.Join(s.Headers["Cookie"], "; "); c != "theme=dark" {
				t.Errorf("upstream Cookie = %q, want the client's own kept", c)
			}
			if tc.user != "" && len(s.Headers["X-Scimgate-Assertion"]) != 1 {
				t.Errorf("no assertion upstream: %v", s.Headers)
			}
		})
	}
}

func waitListen(t *testing.T, addr string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/scim/v2/ServiceProviderConfig"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}
