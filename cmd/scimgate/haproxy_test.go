package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/haproxytest"
)

// The HAProxy SPOE example, run as users copy it: only addresses and paths
// are replaced.
const (
	haproxyExampleCfg  = "../../examples/haproxy/haproxy.cfg"
	haproxyExampleSPOE = "../../examples/haproxy/spoe.conf"
	haproxyExampleGate = "../../examples/haproxy/scimgate.yaml"
)

// haproxyApp is the application behind HAProxy: it records what it
// receives, and streams without end on /whoami/stream.
type haproxyApp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []nginxSeen
}

func newHAProxyApp(t *testing.T) *haproxyApp {
	a := &haproxyApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, nginxSeen{URI: r.RequestURI, Header: r.Header.Clone()})
		a.mu.Unlock()
		if r.URL.Path == "/whoami/stream" {
			w.Header().Set("Content-Type", "text/plain")
			for {
				if _, err := io.WriteString(w, "tick\n"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *haproxyApp) last(t *testing.T) nginxSeen {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		t.Fatal("the application received no request")
	}
	return a.reqs[len(a.reqs)-1]
}

// rewrite replaces each old string, which must be present, with its new.
func rewrite(t *testing.T, path string, pairs ...string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s no longer contains %q", path, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// TestHAProxySPOE runs examples/haproxy with the real scimgate binary as
// the SPOE agent and Debian's HAProxy: allow and deny, spoofed headers,
// credentials kept from the application, group change and deactivation
// refused at once, an open stream shut down on deprovisioning, and the
// agent killed then every request refused. It runs twice: the agent on a
// loopback TCP port, as the example ships, and on a unix socket.
func TestHAProxySPOE(t *testing.T) {
	if testing.Short() {
		t.Skip("starts HAProxy and the real binary")
	}
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) { testHAProxySPOE(t, network) })
	}
}

func testHAProxySPOE(t *testing.T, network string) {
	bin := realBinary(t)
	dir := t.TempDir()
	app := newHAProxyApp(t)
	gatePort, spoePort, runtimePort, edgePort := freePort(t), freePort(t), freePort(t), freePort(t)
	configPath := filepath.Join(dir, "scimgate.yaml")
	agentListen, agentServer := "127.0.0.1:"+spoePort, "127.0.0.1:"+spoePort
	if network == "unix" {
		sock := filepath.Join(dir, "spoe.sock")
		agentListen, agentServer = "unix:"+sock, "unix@"+sock
	}
	cfg := rewrite(t, haproxyExampleGate,
		`"127.0.0.1:8080"`, `"127.0.0.1:`+gatePort+`"`,
		`"127.0.0.1:9090"`, `""`,
		`"sqlite:./data/haproxy.db"`, `"sqlite:`+filepath.Join(dir, "scimgate.db")+`"`,
		`"127.0.0.1:12345"`, `"`+agentListen+`"`,
		`"127.0.0.1:9999"`, `"127.0.0.1:`+runtimePort+`"`,
		"level: info", "level: warn")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	spoeConf := filepath.Join(dir, "spoe.conf")
	if err := os.WriteFile(spoeConf, []byte(rewrite(t, haproxyExampleSPOE)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, configPath)
	scim := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}
	hp := haproxytest.Start(t, rewrite(t, haproxyExampleCfg,
		"ipv4@127.0.0.1:9999", "ipv4@127.0.0.1:"+runtimePort,
		"bind 127.0.0.1:8088", "bind 127.0.0.1:"+edgePort,
		"config examples/haproxy/spoe.conf", "config "+spoeConf,
		"server app 127.0.0.1:9001", "server app "+strings.TrimPrefix(app.srv.URL, "http://"),
		"server scimgate 127.0.0.1:8080", "server scimgate 127.0.0.1:"+gatePort,
		"server agent 127.0.0.1:12345", "server agent "+agentServer))
	edge := "http://127.0.0.1:" + edgePort

	alice := nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@example.com", "active": true,
		"emails": []map[string]any{{"value": "alice@example.com", "primary": true}}})
	nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@example.com", "active": true})
	eng := nginxSCIMCreate(t, scim, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "engineering",
		"members": []map[string]any{{"value": alice}}})
	aliceTok := nginxAccessToken(t, bin, configPath, "alice@example.com")
	bobTok := nginxAccessToken(t, bin, configPath, "bob@example.com")

	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(t *testing.T, path string, h http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", edge+path, nil)
		req.Host = "localhost"
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, hp.Logs())
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	patch := func(t *testing.T, path string, ops string) {
		t.Helper()
		var v []map[string]any
		if err := json.Unmarshal([]byte(ops), &v); err != nil {
			t.Fatal(err)
		}
		st, res, err := scim.do("PATCH", path, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": v})
		if err != nil || (st != http.StatusOK && st != http.StatusNoContent) {
			t.Fatalf("PATCH %s: %d %v %v", path, st, res, err)
		}
	}

	t.Run("decisions", func(t *testing.T) {
		tests := []struct {
			name   string
			path   string
			h      http.Header
			status int
			reason string
		}{
			{"anonymous", "/whoami/", nil, 401, "unauthenticated"},
			{"bad token", "/whoami/", bearer("sga_nope"), 401, "token-invalid"},
			{"not in the group", "/whoami/", bearer(bobTok), 403, "not-allowed"},
			{"no route", "/elsewhere", bearer(aliceTok), 403, "no-route"},
			{"ambiguous path", "/whoami/%2e%2e%2fx", bearer(aliceTok), 400, "bad-path"},
			{"public, anonymous", "/public/x", nil, 200, ""},
			{"alice", "/whoami/", bearer(aliceTok), 200, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, body := do(t, tt.path, tt.h)
				if res.StatusCode != tt.status || (tt.reason != "" && !strings.Contains(body, `"reason":"`+tt.reason+`"`)) {
					t.Errorf("GET %s = %d %s, want %d %s", tt.path, res.StatusCode, body, tt.status, tt.reason)
				}
				if tt.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
	})

	t.Run("identity headers, spoofing, credentials", func(t *testing.T) {
		h := bearer(aliceTok)
		h["X-Scimgate-User"] = []string{"mallory@example.com"}
		h["X-Scimgate_User"] = []string{"mallory@example.com"}
		h["X_Scimgate_User"] = []string{"mallory@example.com"}
		h["X-Scimgate-Groups"] = []string{"admins"}
		h["Connection"] = []string{"X-Scimgate-User, X-Scimgate-Groups, Upgrade"} // must not drop the gate's
		h["Upgrade"] = []string{"h2c"}                                            // a tunnel of HTTP/2 requests no one decides
		h["Http2-Settings"] = []string{"AAMAAABkAARAAAAAAAIAAAAA"}
		h["Cookie"] = []string{"theme=dark; scimgate_session=0123456789abcdef.forged; lang=en"}
		h["X-Http-Method-Override"] = []string{"DELETE"} // no header may change the decided method
		h["X_Method_Override"] = []string{"DELETE"}
		h["X-Http-Method"] = []string{"DELETE"}
		res, body := do(t, "/whoami/", h)
		if res.StatusCode != 200 {
			t.Fatalf("alice = %d %s", res.StatusCode, body)
		}
		seen := app.last(t).Header
		if got := seen.Values("X-Scimgate-User"); len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("X-Scimgate-User = %q", got)
		}
		if got := seen.Get("X-Scimgate-Groups"); got != "engineering" {
			t.Errorf("X-Scimgate-Groups = %q", got)
		}
		if seen.Get("X-Scimgate-Email") != "alice@example.com" || strings.Count(seen.Get("X-Scimgate-Assertion"), ".") != 2 {
			t.Errorf("email %q, assertion %q", seen.Get("X-Scimgate-Email"), seen.Get("X-Scimgate-Assertion"))
		}
		for k := range seen {
			if l := strings.ToLower(k); strings.HasPrefix(l, "x-scimgate_") || strings.HasPrefix(l, "x_scimgate") || gateway.IsMethodOverride(k) || l == "upgrade" || l == "http2-settings" {
				t.Errorf("the spoofed %s reached the application", k)
			}
		}
		if a := seen.Get("Authorization"); a != "" {
			t.Errorf("the access token reached the application: %q", a)
		}
		// Without sign-in there is no session cookie: the application's
		// cookies pass untouched (the agent's tests cover the removal).
		if c := seen.Get("Cookie"); c != "theme=dark; scimgate_session=0123456789abcdef.forged; lang=en" {
			t.Errorf("Cookie at the application = %q", c)
		}
		// The assertion verifies against the JWKS HAProxy serves from scimgate.
		claims, err := nginxVerifyJWT(nginxJWKS(t, edge), seen.Get("X-Scimgate-Assertion"))
		if err != nil || claims["preferred_username"] != "alice@example.com" {
			t.Errorf("assertion: %v %v", claims, err)
		}
	})

	t.Run("group change, then deactivation, refused at once", func(t *testing.T) {
		patch(t, "/Groups/"+eng, `[{"op":"remove","path":"members[value eq \"`+alice+`\"]"}]`)
		if res, body := do(t, "/whoami/", bearer(aliceTok)); res.StatusCode != 403 || !strings.Contains(body, "not-allowed") {
			t.Errorf("after group removal = %d %s", res.StatusCode, body)
		}
		patch(t, "/Groups/"+eng, `[{"op":"add","path":"members","value":[{"value":"`+alice+`"}]}]`)
		if res, _ := do(t, "/whoami/", bearer(aliceTok)); res.StatusCode != 200 {
			t.Errorf("after re-adding = %d", res.StatusCode)
		}
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":false}]`)
		if res, body := do(t, "/whoami/", bearer(aliceTok)); res.StatusCode != 403 || !strings.Contains(body, "user-inactive") {
			t.Errorf("after deactivation = %d %s", res.StatusCode, body)
		}
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":true}]`)
	})

	t.Run("open stream shut down on deactivation", func(t *testing.T) {
		req, _ := http.NewRequest("GET", edge+"/whoami/stream", nil)
		req.Host = "localhost"
		req.Header.Set("Authorization", "Bearer "+aliceTok)
		res, err := (&http.Client{}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("stream = %d", res.StatusCode)
		}
		br := bufio.NewReader(res.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "tick\n" {
			t.Fatalf("first line %q %v", line, err)
		}
		ended := make(chan time.Time, 1)
		go func() {
			for {
				if _, err := br.ReadString('\n'); err != nil {
					ended <- time.Now()
					return
				}
			}
		}()
		start := time.Now()
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":false}]`)
		select {
		case at := <-ended:
			t.Logf("stream ended %v after the PATCH was sent", at.Sub(start).Round(time.Millisecond))
			if d := at.Sub(start); d > time.Second {
				t.Errorf("stream ended %v after deactivation, want within 1s", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the stream is still open 5s after deactivation\n%s", hp.Logs())
		}
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":true}]`)
	})

	t.Run("agent killed, then refused", func(t *testing.T) {
		// spoe.conf's dontlog-normal: every decision so far went
		// unlogged by the SPOE; the failures below are logged.
		if logs := hp.Logs(); strings.Contains(logs, "SPOE: [scimgate]") {
			t.Errorf("HAProxy logged normal SPOE processing:\n%s", logs)
		}
		srv.kill()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, path := range []string{"/whoami/", "/public/x"} {
			req, _ := http.NewRequestWithContext(ctx, "GET", edge+path, nil)
			req.Host = "localhost"
			req.Header.Set("Authorization", "Bearer "+aliceTok)
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 503 || !strings.Contains(string(b), "authorization-unavailable") {
				t.Errorf("GET %s with the agent down = %d %s, want 503", path, res.StatusCode, b)
			}
		}
		if logs := hp.Logs(); !strings.Contains(logs, "SPOE: [scimgate]") {
			t.Errorf("HAProxy did not log the SPOE's failures:\n%s", logs)
		}
	})
}
