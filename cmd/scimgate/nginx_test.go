package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/forwardauth"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/freeport"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store/sqlite"
)

// nginxExample is the configuration users copy; the test runs it as is,
// with only its addresses and log paths replaced.
const nginxExample = "../../examples/nginx/nginx.conf"

// TestNginxAuthRequest runs the example nginx.conf in front of a Go
// application, with the real scimgate binary answering its auth_request,
// and checks what the operator is promised: anonymous requests are refused
// (or sent to sign in), allowed users reach the application with identity
// headers it can trust, and deactivation or group removal over SCIM
// refuses the very next request.
func TestNginxAuthRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and the real binary")
	}
	nginxBin := findNginx(t)
	bin := realBinary(t)
	dir := t.TempDir()
	app := newNginxApp(t)
	dbPath := filepath.Join(dir, "data", "scimgate.db")
	configPath := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: ""
store: "sqlite:%s"
scim:
  bootstrap_tenant: nginx
log:
  level: warn
routes:
  - {name: public, host: localhost, path: /public, allow: {public: true}}
  - {name: app, host: localhost, path: /app, allow: {groups: [engineering]}}
  - {name: elsewhere, host: elsewhere.test, allow: {public: true}}
`, dbPath)
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, configPath)
	gateAddr := strings.TrimPrefix(strings.TrimSuffix(srv.base, "/scim/v2"), "http://")
	scim := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}

	alice := nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@example.com", "active": true,
		"emails": []any{map[string]any{"value": "alice@example.com", "primary": true}},
	})
	nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@example.com", "active": true,
	})
	eng := nginxSCIMCreate(t, scim, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "engineering",
		"members": []any{map[string]any{"value": alice}},
	})
	aliceToken := nginxAccessToken(t, bin, configPath, "alice@example.com")
	bobToken := nginxAccessToken(t, bin, configPath, "bob@example.com")

	ngx := startNginx(t, nginxBin, filepath.Join(dir, "nginx"), gateAddr, app.addr())
	get := func(target string, h http.Header) (*http.Response, string) {
		t.Helper()
		return ngx.do(t, "GET", target, h)
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
	spoof := func(h http.Header) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		for k, v := range map[string]string{
			"X-Scimgate-User": "root", "X-Scimgate-Email": "root@evil.test", "X-Scimgate-Groups": "admins",
			"X-Scimgate-Assertion": "forged", "X-Scimgate-Sign-In": "https://evil.test/",
		} {
			h.Set(k, v)
		}
		h["X_Scimgate_User"] = []string{"root"}
		// Hop-by-hop by the client's say: must not take the gate's
		// headers away either.
		h["Connection"] = []string{"X-Scimgate-User, X-Scimgate-Groups"}
		// Nor may the client change the method that was decided.
		h.Set("X-HTTP-Method-Override", "DELETE")
		h.Set("X-Method-Override", "DELETE")
		// Nor open a tunnel of HTTP/2 requests nobody decides.
		h.Set("Upgrade", "h2c")
		h.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
		return h
	}
	// forged reports identity headers the application got from the client.
	forged := func(step string, h http.Header) {
		t.Helper()
		for k, vs := range h {
			norm := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
			if strings.Contains(norm, "method") || norm == "upgrade" || norm == "http2-settings" {
				t.Errorf("%s: the application received the client's %s: %q", step, k, vs)
			}
			if !strings.HasPrefix(norm, "x-scimgate-") {
				continue
			}
			for _, v := range vs {
				switch v {
				case "root", "root@evil.test", "admins", "forged", "https://evil.test/":
					t.Errorf("%s: the application received the client's %s: %q", step, k, v)
				}
			}
		}
	}

	t.Run("anonymous", func(t *testing.T) {
		before := app.count()
		res, body := get("/app/x", spoof(nil))
		if res.StatusCode != 401 {
			t.Fatalf("anonymous GET /app/x = %d %s, want 401", res.StatusCode, body)
		}
		if got := res.Header.Get("WWW-Authenticate"); got != `Bearer realm="scimgate"` {
			t.Errorf("WWW-Authenticate = %q, want scimgate's Bearer challenge", got)
		}
		res, _ = get("/app/x", http.Header{"Accept": {"text/html"}})
		if res.StatusCode != 401 {
			t.Errorf("anonymous browser without sign-in configured = %d, want 401", res.StatusCode)
		}
		res, _ = get("/app/x", bearer("sga_0123456789abcdef_nope"))
		if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("bad token = %d %q, want 401 invalid_token", res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
		if app.count() != before {
			t.Error("refused requests reached the application")
		}
	})

	t.Run("public route drops client identity headers", func(t *testing.T) {
		h := spoof(nil)
		h.Set("Authorization", "Basic dXNlcjpwdw==") // the application's own
		res, body := get("/public/x", h)
		if res.StatusCode != 200 {
			t.Fatalf("anonymous GET /public/x = %d %s", res.StatusCode, body)
		}
		got := app.last(t)
		forged("public, anonymous", got.Header)
		if a := got.Header.Get("Authorization"); a != "Basic dXNlcjpwdw==" {
			t.Errorf("the application's own Authorization = %q, want it kept", a)
		}
		for k := range got.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-scimgate-") {
				t.Errorf("public, anonymous: the application received %s", k)
			}
		}
	})

	t.Run("allowed user reaches the application", func(t *testing.T) {
		h := spoof(bearer(aliceToken))
		h.Set("Cookie", "theme=dark; lang=en")
		res, body := get("/app/x?y=1", h)
		if res.StatusCode != 200 {
			t.Fatalf("alice GET /app/x = %d %s", res.StatusCode, body)
		}
		got := app.last(t)
		forged("alice", got.Header)
		if got.URI != "/app/x?y=1" {
			t.Errorf("the application got %q, want /app/x?y=1", got.URI)
		}
		want := map[string]string{
			assertion.HeaderUser: "alice@example.com", assertion.HeaderEmail: "alice@example.com", assertion.HeaderGroups: "engineering",
		}
		for k, v := range want {
			if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
				t.Errorf("%s = %q, want [%s]", k, vs, v)
			}
		}
		if a := got.Header.Get("Authorization"); a != "" {
			t.Errorf("the access token reached the application: %q", a)
		}
		if c := got.Header.Get("Cookie"); c != "theme=dark; lang=en" {
			t.Errorf("the application's cookies = %q, want them kept", c)
		}
		if got.Header.Get("X-Scimgate-Sign-In") != "" {
			t.Errorf("the application received X-Scimgate-Sign-In %q", got.Header.Get("X-Scimgate-Sign-In"))
		}
		jwks := nginxJWKS(t, "http://"+gateAddr)
		claims, err := nginxVerifyJWT(jwks, got.Header.Get(assertion.HeaderAssertion))
		if err != nil {
			t.Fatalf("assertion does not verify with scimgate's JWKS: %v", err)
		}
		if claims["sub"] != alice || claims["aud"] != "app" || claims["preferred_username"] != "alice@example.com" {
			t.Errorf("assertion claims = %v, want sub %s aud app", claims, alice)
		}
	})

	t.Run("client cannot choose what is decided", func(t *testing.T) {
		// scimgate reads X-Forwarded-* (Traefik, Caddy) as well as
		// X-Original-*; the example sets them all, so a client's own
		// cannot move the decision to a public host or path.
		h := http.Header{
			"X-Forwarded-Host": {"elsewhere.test"}, "X-Forwarded-Uri": {"/public/"}, "X-Forwarded-Method": {"GET"},
			"X-Original-Uri": {"/public/"}, "X-Original-Method": {"GET"},
		}
		if res, body := get("/app/x", h); res.StatusCode != 401 {
			t.Errorf("anonymous GET /app/x with forged X-Forwarded-* and X-Original-* = %d %s, want 401", res.StatusCode, body)
		}
		if res, _ := get("/public/..%2fapp/x", nil); res.StatusCode != 403 && res.StatusCode != 400 {
			t.Errorf("GET /public/..%%2fapp/x = %d, want a refusal", res.StatusCode)
		}
		if res, _ := get("/_scimgate_auth", bearer(aliceToken)); res.StatusCode != 404 {
			t.Errorf("GET /_scimgate_auth from a client = %d, want 404 (internal)", res.StatusCode)
		}
		// Nor the path: nginx sends the path as written upstream.
		if res, _ := get("/public/../app/x", nil); res.StatusCode != 403 && res.StatusCode != 400 {
			t.Errorf("GET /public/../app/x = %d, want a refusal", res.StatusCode)
		}
		// Nor the host: elsewhere.test has a public route, and nginx
		// would serve any Host with the application's server block if the
		// example had no default server of its own.
		before := app.count()
		req, err := http.NewRequest("GET", "http://"+ngx.addr+"/app/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "elsewhere.test"
		if res, err := ngx.client.Do(req); err == nil {
			res.Body.Close()
			t.Errorf("GET /app/x with Host elsewhere.test = %d, want the connection closed (444)", res.StatusCode)
		}
		if n := app.count() - before; n != 0 {
			t.Errorf("the application got %d requests for another host", n)
		}
	})

	t.Run("other user is refused", func(t *testing.T) {
		before := app.count()
		res, body := get("/app/x", bearer(bobToken))
		if res.StatusCode != 403 {
			t.Errorf("bob GET /app/x = %d %s, want 403", res.StatusCode, body)
		}
		res, _ = get("/public/x", spoof(bearer(bobToken)))
		if res.StatusCode != 200 {
			t.Fatalf("bob GET /public/x = %d", res.StatusCode)
		}
		got := app.last(t)
		forged("bob, public", got.Header)
		if u := got.Header.Get(assertion.HeaderUser); u != "bob@example.com" {
			t.Errorf("bob on the public route reached the application as %q, want bob@example.com", u)
		}
		if app.count() != before+1 {
			t.Errorf("the application saw %d requests, want 1 (bob's public one)", app.count()-before)
		}
	})

	t.Run("sign-in", func(t *testing.T) {
		// The binary has no sign-in to configure yet; the same forward-auth
		// handler, on the same store, with sign-in set, answers a second
		// nginx running the same example.
		fa := startSignInGate(t, configPath, dbPath)
		ngx2 := startNginx(t, nginxBin, filepath.Join(dir, "nginx-signin"), fa, app.addr())
		res, _ := ngx2.do(t, "GET", "/app/x?y=1", http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}})
		want := "https://idp.test/sign-in?rd=" + url.QueryEscape("http://localhost/app/x?y=1")
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Errorf("anonymous browser = %d Location %q, want 302 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		res, _ = ngx2.do(t, "GET", "/app/x", http.Header{"Accept": {"application/json"}})
		if res.StatusCode != 401 || res.Header.Get("Location") != "" || res.Header.Get("WWW-Authenticate") != `Bearer realm="scimgate"` {
			t.Errorf("anonymous API client = %d Location %q WWW-Authenticate %q, want a 401 challenge", res.StatusCode,
				res.Header.Get("Location"), res.Header.Get("WWW-Authenticate"))
		}
		h := bearer(bobToken)
		h.Set("Accept", "text/html")
		if res, _ := ngx2.do(t, "GET", "/app/x", h); res.StatusCode != 403 {
			t.Errorf("refused browser = %d, want 403 (not a sign-in loop)", res.StatusCode)
		}
		if res, body := ngx2.do(t, "GET", "/app/x", bearer(aliceToken)); res.StatusCode != 200 {
			t.Errorf("alice through the second gate = %d %s", res.StatusCode, body)
		}
	})

	t.Run("group removal refuses the next request", func(t *testing.T) {
		st, body, err := scim.do("PATCH", "/Groups/"+eng, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", alice)}},
		})
		if err != nil || st != http.StatusNoContent {
			t.Fatalf("remove member: %d %v %v", st, body, err)
		}
		if res, _ := get("/app/x", bearer(aliceToken)); res.StatusCode != 403 {
			t.Errorf("alice right after leaving engineering = %d, want 403", res.StatusCode)
		}
		st, body, err = scim.do("PATCH", "/Groups/"+eng, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": alice}}}},
		})
		if err != nil || st != http.StatusNoContent {
			t.Fatalf("add member: %d %v %v", st, body, err)
		}
		if res, _ := get("/app/x", bearer(aliceToken)); res.StatusCode != 200 {
			t.Errorf("alice right after rejoining engineering = %d, want 200", res.StatusCode)
		}
	})

	t.Run("deactivation refuses the next request", func(t *testing.T) {
		st, body, err := scim.do("PATCH", "/Users/"+alice, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}},
		})
		if err != nil || st != http.StatusOK {
			t.Fatalf("deactivate: %d %v %v", st, body, err)
		}
		before := app.count()
		res, _ := get("/app/x", bearer(aliceToken))
		if res.StatusCode != 403 && res.StatusCode != 401 {
			t.Errorf("alice right after deactivation = %d, want 403", res.StatusCode)
		}
		// On a public route she is anonymous now: no identity reaches the
		// application.
		if res, _ := get("/public/x", bearer(aliceToken)); res.StatusCode != 200 {
			t.Errorf("deactivated alice on the public route = %d, want 200", res.StatusCode)
		} else if u := app.last(t).Header.Get(assertion.HeaderUser); u != "" {
			t.Errorf("the public route's application was told %s = %q after she was deactivated, want no identity", assertion.HeaderUser, u)
		}
		if n := app.count() - before; n != 1 {
			t.Errorf("the application saw %d requests after deactivation, want 1 (the public one)", n)
		}
	})
	if t.Failed() {
		ngx.dumpLog(t)
	}
}

// findNginx returns the nginx binary, installing Debian's package when it
// is missing and the test runs as root; it skips when neither works.
func findNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "nginx"}} {
				cmd := exec.CommandContext(ctx, "apt-get", args...)
				cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Logf("apt-get %s: %v\n%s", args[0], err, out)
				}
			}
			if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
				return "/usr/sbin/nginx"
			}
		}
	}
	t.Skip("nginx is not installed and could not be installed (apt-get install nginx, or run scripts/test.sh as root)")
	return ""
}

// nginxProc is an nginx started by a test.
type nginxProc struct {
	addr   string // 127.0.0.1:port it listens on
	client *http.Client
	errLog string
}

// startNginx renders the example configuration for this test into prefix
// and runs nginx in the foreground until the test ends.
func startNginx(t *testing.T, nginxBin, prefix, gateAddr, appAddr string) *nginxProc {
	t.Helper()
	for _, d := range []string{"logs", "temp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile(nginxExample)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	temp := filepath.Join(prefix, "temp")
	conf := string(example)
	for _, r := range []struct{ old, new string }{
		{"server 127.0.0.1:8080;", "server " + gateAddr + ";"},
		{"server 127.0.0.1:9001;", "server " + appAddr + ";"},
		{"listen 80;", "listen 127.0.0.1:" + port + ";"},
		{"listen 80 default_server;", "listen 127.0.0.1:" + port + " default_server;"},
		{"server_name app.example.com;", "server_name localhost;"},
		{"/var/log/nginx/", filepath.Join(prefix, "logs") + "/"},
		{"http {\n", fmt.Sprintf("http {\n    client_body_temp_path %[1]s/body;\n    proxy_temp_path %[1]s/proxy;\n"+
			"    fastcgi_temp_path %[1]s/fastcgi;\n    uwsgi_temp_path %[1]s/uwsgi;\n    scgi_temp_path %[1]s/scgi;\n", temp)},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("%s has %q %d times, want once: update startNginx with the example", nginxExample, r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(prefix, "logs", "error.log")
	global := "daemon off; master_process on; pid " + filepath.Join(prefix, "nginx.pid") + "; error_log " + errLog + " info;"
	if os.Geteuid() == 0 {
		global += " user root;" // workers must read the test's private directories
	}
	args := []string{"-p", prefix, "-c", confPath, "-e", errLog, "-g", global}
	if out, err := exec.Command(nginxBin, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	cmd := exec.Command(nginxBin, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGINT: nginx stops its master and workers at once.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	p := &nginxProc{
		addr:   "127.0.0.1:" + port,
		errLog: errLog,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(errLog)
			t.Fatalf("nginx exited: %s\n%s", output.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 10s: %s", p.addr, output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// do sends a request to nginx for host localhost; target is sent as
// written.
func (p *nginxProc) do(t *testing.T, method, target string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost"
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s through nginx: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s through nginx: read body: %v", method, target, err)
	}
	return res, string(b)
}

func (p *nginxProc) dumpLog(t *testing.T) {
	if b, err := os.ReadFile(p.errLog); err == nil {
		t.Logf("nginx error log:\n%s", b)
	}
}

// freePort returns a port nothing listens on now, outside the range
// outgoing connections take theirs from (see freeport).
func freePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(freeport.Get(t))
}

// nginxApp is the application behind nginx: it records what it receives.
type nginxApp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []nginxSeen
}

type nginxSeen struct {
	URI    string
	Header http.Header
}

func newNginxApp(t *testing.T) *nginxApp {
	a := &nginxApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, nginxSeen{URI: r.RequestURI, Header: r.Header.Clone()})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *nginxApp) addr() string { return strings.TrimPrefix(a.srv.URL, "http://") }

func (a *nginxApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func (a *nginxApp) last(t *testing.T) nginxSeen {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) == 0 {
		t.Fatal("the application received no request")
	}
	return a.reqs[len(a.reqs)-1]
}

// nginxSCIMCreate creates a resource over SCIM and returns its id.
func nginxSCIMCreate(t *testing.T, c *client, path string, body map[string]any) string {
	t.Helper()
	st, res, err := c.do("POST", path, body)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("POST %s: %d %v %v", path, st, res, err)
	}
	return res["id"].(string)
}

// nginxAccessToken creates an access token with the command line and
// returns the secret it prints alone on stdout.
func nginxAccessToken(t *testing.T, bin, configPath, user string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "access-token", "create", "--config", configPath, "--user", user)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("access-token create --user %s: %v\n%s", user, err, stderr.String())
	}
	secret := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(secret, "sga_") || strings.ContainsAny(secret, " \n") {
		t.Fatalf("access-token create printed %q, want the secret alone", stdout.String())
	}
	return secret
}

// startSignInGate serves the forward-auth endpoint in this process, over
// the store the binary serves, with sign-in configured; it returns its
// address.
func startSignInGate(t *testing.T, configPath, dbPath string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); st.Close() })
	live, err := snapshot.Start(ctx, st, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile(cfg.Routes, configPath, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := assertion.NewSigner(ctx, st, assertion.Options{Issuer: "http://gate.test"})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateway.Gate{
		Engine: engine.New(live, pol, engine.Options{}), Auth: authn.New(live, authn.Options{}), Identity: assertion.NewIdentity(signer),
		SignIn: func(r *http.Request, returnTo string) string {
			return "https://idp.test/sign-in?rd=" + url.QueryEscape(returnTo)
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/.scimgate/auth", forwardauth.New(gate))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// nginxJWKS fetches scimgate's published keys.
func nginxJWKS(t *testing.T, base string) []byte {
	t.Helper()
	res, err := http.Get(base + "/.scimgate/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /.scimgate/jwks.json = %d %v", res.StatusCode, err)
	}
	return b
}

// nginxVerifyJWT verifies an ES256 JWT against a JWKS, as an application
// would, and returns its claims.
func nginxVerifyJWT(jwks []byte, token string) (map[string]any, error) {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
	}
	for _, k := range set.Keys {
		if k["kid"] != header["kid"] || header["alg"] != "ES256" {
			continue
		}
		x, _ := enc.DecodeString(k["x"])
		y, _ := enc.DecodeString(k["y"])
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, err
		}
		sig, err := enc.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			return nil, fmt.Errorf("bad signature encoding")
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil, fmt.Errorf("signature does not verify")
		}
		return claims, nil
	}
	return nil, fmt.Errorf("no ES256 key %v in the JWKS", header["kid"])
}
