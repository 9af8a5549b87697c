package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimgate/scimgate/internal/haproxytest"
)

const (
	mapsyncExampleCfg  = "../../examples/haproxy/mapsync/haproxy.cfg"
	mapsyncExampleGate = "../../examples/haproxy/mapsync/scimgate.yaml"
)

// TestHAProxyMapSync runs examples/haproxy/mapsync as users copy it, with
// the real scimgate binary keeping Debian's HAProxy's maps current and a
// local OpenID Connect provider: a browser signs in through HAProxy and
// gets the JWT cookie, allow and deny, spoofed headers dropped, group
// change and deactivation refused within 100 ms of the SCIM response,
// sign-out, HAProxy restarted with a change made while it was down, and
// scimgate killed so that HAProxy refuses everything past max_stale.
// The application is on another host than scimgate's sign-in
// (app.scimgate.test and gate.scimgate.test, one cookie domain), as
// operators run it: sign-in starts on the application's host, goes by the
// gateway's and comes back.
func TestHAProxyMapSync(t *testing.T) {
	bin := realBinary(t)
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	dir := t.TempDir()
	mapsDir := filepath.Join(dir, "maps")
	app := newHAProxyApp(t)
	gatePort, runtimePort, edgePort, adminPort := freePort(t), freePort(t), freePort(t), freePort(t)
	edge, gate := "http://app.scimgate.test:"+edgePort, "http://gate.scimgate.test:"+edgePort
	// Both names are 127.0.0.1, as DNS would have them.
	hosts := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, p, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".scimgate.test") {
			addr = net.JoinHostPort("127.0.0.1", p)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	configPath := filepath.Join(dir, "scimgate.yaml")
	cfg := rewrite(t, mapsyncExampleGate,
		`"127.0.0.1:8080"`, `"127.0.0.1:`+gatePort+`"`,
		`"127.0.0.1:9090"`, `"127.0.0.1:`+adminPort+`"`,
		`"sqlite:./data/haproxy-mapsync.db"`, `"sqlite:`+filepath.Join(dir, "scimgate.db")+`"`,
		`"127.0.0.1:9999"`, `"127.0.0.1:`+runtimePort+`"`,
		`"/etc/haproxy/scimgate"`, `"`+mapsDir+`"`,
		"http://127.0.0.1:8088", gate,
		"gateway:", "sessions:\n  cookie_domain: .scimgate.test\ngateway:",
		"drift_every: 10s", "drift_every: 500ms",
		"max_stale: 30s", "max_stale: 5s", // HAProxy refuses from 4-5 s without a sync
		`"https://idp.example.com"`, `"`+idp.Issuer()+`"`,
		`client_id: "scimgate"`, `client_id: "`+idp.ClientID+`"`,
		`"change-me"`, `"`+idp.ClientSecret+`"`,
		"level: info", "level: warn")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, configPath)
	scim := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}
	hp := haproxytest.Start(t, rewrite(t, mapsyncExampleCfg,
		"ipv4@127.0.0.1:9999", "ipv4@127.0.0.1:"+runtimePort,
		"bind 127.0.0.1:8088", "bind 127.0.0.1:"+edgePort,
		"/etc/haproxy/scimgate", mapsDir,
		"server app 127.0.0.1:9001", "server app "+strings.TrimPrefix(app.srv.URL, "http://"),
		"server scimgate 127.0.0.1:8080", "server scimgate 127.0.0.1:"+gatePort))

	alice := nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice@example.com", "active": true})
	nginxSCIMCreate(t, scim, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "bob@example.com", "active": true})
	eng := nginxSCIMCreate(t, scim, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "engineering",
		"members": []map[string]any{{"value": alice}}})
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

	// get requests path through HAProxy with c's cookies, without
	// following redirects, and returns the status and body.
	noFollow := func(c *http.Client) *http.Client {
		return &http.Client{Jar: c.Jar, Timeout: 10 * time.Second, Transport: hosts,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(t *testing.T, c *http.Client, path string, h http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", edge+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := noFollow(c).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, hp.Logs())
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// untilH polls path until it answers want, and returns how long that
	// took.
	untilH := func(t *testing.T, c *http.Client, path string, h http.Header, want int, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			st, body := get(t, c, path, h)
			if st == want {
				return time.Since(start)
			}
			if time.Since(start) > limit {
				t.Fatalf("GET %s = %d %s, still not %d after %v\n%s", path, st, body, want, limit, hp.Logs())
			}
			time.Sleep(time.Millisecond)
		}
	}
	until := func(t *testing.T, c *http.Client, path string, want int, limit time.Duration) time.Duration {
		t.Helper()
		return untilH(t, c, path, nil, want, limit)
	}
	signIn := func(t *testing.T, sub, email string) *http.Client {
		t.Helper()
		b := browser(t)
		b.Transport = hosts
		var hops []string
		b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			hops = append(hops, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
			return nil
		}
		idp.QueueUser(&mockoidc.MockUser{Subject: sub, Email: email})
		st, final, body := navigate(t, b, edge+"/whoami/page?x=1")
		if final != edge+"/whoami/page?x=1" {
			t.Fatalf("sign-in as %s ended at %s (%d) by %q: %s\n%s", email, final, st, hops, body, hp.Logs())
		}
		// Asked on the application's host, started again on the gateway's,
		// where the callback sets the cookies for both.
		if len(hops) < 4 || hops[0] != edge+"/.scimgate/signin" || hops[1] != gate+"/.scimgate/signin" || !slices.Contains(hops, gate+"/.scimgate/callback") {
			t.Errorf("sign-in went by %q", hops)
		}
		b.CheckRedirect = nil
		return b
	}
	anon := &http.Client{Transport: hosts}
	until(t, anon, "/public/x", http.StatusOK, 10*time.Second) // the first sync is done

	var aliceB *http.Client
	t.Run("sign in through HAProxy", func(t *testing.T) {
		if st, body := get(t, anon, "/whoami/", http.Header{"Accept": {"text/html"}}); st != http.StatusFound {
			t.Errorf("anonymous browser = %d %s, want a redirect to sign-in", st, body)
		}
		if st, body := get(t, anon, "/whoami/", nil); st != http.StatusUnauthorized || !strings.Contains(body, "unauthenticated") {
			t.Errorf("anonymous API client = %d %s, want 401", st, body)
		}
		aliceB = signIn(t, "a1", "alice@example.com")
		u, _ := url.Parse(edge)
		names := map[string]bool{}
		for _, c := range aliceB.Jar.Cookies(u) {
			names[c.Name] = true
		}
		if !names["scimgate_jwt"] || !names["scimgate_session"] {
			t.Fatalf("cookies after sign-in: %v, want scimgate_jwt and scimgate_session", names)
		}
		seen := app.last(t).Header
		if got := seen.Values("X-Scimgate-User"); len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("X-Scimgate-User at the application = %q", got)
		}
		if strings.Contains(seen.Get("Cookie"), "scimgate_jwt") {
			t.Errorf("the JWT cookie reached the application: %q", seen.Get("Cookie"))
		}
	})
	if aliceB == nil {
		t.FailNow()
	}

	// sessions.idle (default 1h, lifetime 12h): the JWT lives one idle
	// period and asks to be renewed from half of it; the refresh endpoint,
	// reached through HAProxy with the session cookie, renews it and goes
	// back.
	t.Run("the session JWT is renewed through HAProxy", func(t *testing.T) {
		u, _ := url.Parse(edge)
		jwtOf := func() string {
			for _, c := range aliceB.Jar.Cookies(u) {
				if c.Name == "scimgate_jwt" {
					return c.Value
				}
			}
			return ""
		}
		before := jwtOf()
		var claims struct{ Iat, Exp, Rfa int64 }
		if parts := strings.Split(before, "."); len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(raw, &claims)
		}
		if claims.Exp-claims.Iat != 3600 || claims.Rfa-claims.Iat != 1800 {
			t.Errorf("JWT claims %+v; want exp one idle period (1h) after iat and rfa half of it", claims)
		}
		st, final, body := navigate(t, aliceB, edge+"/.scimgate/refresh?rd="+url.QueryEscape("/whoami/page?y=2"))
		if st != http.StatusOK || final != edge+"/whoami/page?y=2" {
			t.Fatalf("refresh ended at %s (%d): %s\n%s", final, st, body, hp.Logs())
		}
		after := jwtOf()
		if after == "" || after == before {
			t.Fatalf("the JWT was not renewed")
		}
		var renewed struct{ Exp, Rfa int64 }
		if parts := strings.Split(after, "."); len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(raw, &renewed)
		}
		if now := time.Now().Unix(); renewed.Rfa <= now || renewed.Exp <= renewed.Rfa {
			t.Errorf("renewed JWT %+v at %d: it must not be due already", renewed, now)
		}
		if st, _ := get(t, anon, "/whoami/", http.Header{"Cookie": {"scimgate_jwt=" + after}}); st != http.StatusOK {
			t.Errorf("the renewed JWT = %d, want 200", st)
		}
		// Without the session cookie there is nothing to renew: sign in.
		if st, body := get(t, anon, "/.scimgate/refresh?rd=%2Fwhoami%2F", http.Header{"Cookie": {"scimgate_jwt=" + after}}); st != http.StatusFound ||
			!strings.Contains(body, "/.scimgate/signin") {
			t.Errorf("refresh without a session = %d %s, want a redirect to sign-in", st, body)
		}
	})

	t.Run("decisions and spoofing", func(t *testing.T) {
		bobB := signIn(t, "b1", "bob@example.com")
		if st, body := get(t, bobB, "/whoami/", nil); st != http.StatusForbidden || !strings.Contains(body, "not-allowed") {
			t.Errorf("bob = %d %s, want 403 not-allowed", st, body)
		}
		if st, body := get(t, aliceB, "/elsewhere", nil); st != http.StatusForbidden || !strings.Contains(body, "no-route") {
			t.Errorf("no route = %d %s", st, body)
		}
		h := http.Header{"X-Scimgate-User": {"mallory@example.com"}, "X-Scimgate_user": {"mallory@example.com"}, "X_Scimgate_User": {"mallory@example.com"}}
		if st, _ := get(t, aliceB, "/whoami/", h); st != http.StatusOK {
			t.Fatalf("alice = %d", st)
		}
		seen := app.last(t).Header
		if got := seen.Values("X-Scimgate-User"); len(got) != 1 || got[0] != "alice@example.com" {
			t.Errorf("X-Scimgate-User = %q", got)
		}
		for k := range seen {
			if l := strings.ToLower(k); strings.HasPrefix(l, "x-scimgate_") || strings.HasPrefix(l, "x_scimgate") {
				t.Errorf("the spoofed %s reached the application", k)
			}
		}
		if c := seen.Get("Cookie"); strings.Contains(c, "scimgate_") {
			t.Errorf("scimgate's cookies reached the application: %q", c)
		}
		// Another user's session id under alice's signature is no use,
		// and neither is a cookie scimgate did not sign.
		if st, _ := get(t, anon, "/whoami/", http.Header{"Cookie": {"scimgate_jwt=eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0."}}); st != http.StatusUnauthorized {
			t.Errorf("unsigned JWT = %d, want 401", st)
		}
	})

	t.Run("an access token made on the command line", func(t *testing.T) {
		tok := strings.TrimSpace(mustCLI(t, bin, "access-token", "create", "--config", configPath, "--user", "alice@example.com").stdout)
		h := http.Header{"Authorization": {"Bearer " + tok}}
		d := untilH(t, anon, "/whoami/", h, http.StatusOK, 5*time.Second)
		t.Logf("a new token reached HAProxy within %v", d.Round(time.Millisecond))
		seen := app.last(t).Header
		if seen.Get("X-Scimgate-User") != "alice@example.com" || seen.Get("Authorization") != "" {
			t.Errorf("the application saw X-Scimgate-User %q, Authorization %q", seen.Get("X-Scimgate-User"), seen.Get("Authorization"))
		}
		id := strings.SplitN(strings.TrimPrefix(tok, "sga_"), "_", 2)[0]
		mustCLI(t, bin, "access-token", "revoke", "--config", configPath, id)
		d = untilH(t, anon, "/whoami/", h, http.StatusUnauthorized, 5*time.Second)
		t.Logf("the revoked token was refused within %v of the command's exit", d.Round(time.Millisecond))
	})

	t.Run("group change, then deactivation, refused at once", func(t *testing.T) {
		patch(t, "/Groups/"+eng, `[{"op":"remove","path":"members[value eq \"`+alice+`\"]"}]`)
		d := until(t, aliceB, "/whoami/", http.StatusForbidden, 5*time.Second)
		t.Logf("group removal denied %v after the SCIM response", d.Round(10*time.Microsecond))
		patch(t, "/Groups/"+eng, `[{"op":"add","path":"members","value":[{"value":"`+alice+`"}]}]`)
		until(t, aliceB, "/whoami/", http.StatusOK, 5*time.Second)
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":false}]`)
		d = until(t, aliceB, "/whoami/", http.StatusUnauthorized, 5*time.Second)
		t.Logf("deactivation denied %v after the SCIM response", d.Round(10*time.Microsecond))
		// Deactivation ended alice's sessions (as with every adapter):
		// reactivated, her old cookie stays refused, and she signs in again.
		patch(t, "/Users/"+alice, `[{"op":"replace","path":"active","value":true}]`)
		time.Sleep(200 * time.Millisecond) // time enough for a wrongly revived session to show
		if st, _ := get(t, aliceB, "/whoami/", nil); st != http.StatusUnauthorized {
			t.Errorf("the session from before the deactivation after reactivation = %d, want 401", st)
		}
		aliceB = signIn(t, "a1", "alice@example.com")
		until(t, aliceB, "/whoami/", http.StatusOK, 5*time.Second)
	})

	t.Run("sign-out ends the JWT too", func(t *testing.T) {
		u, _ := url.Parse(edge)
		var jwt string
		for _, c := range aliceB.Jar.Cookies(u) {
			if c.Name == "scimgate_jwt" {
				jwt = c.Value
			}
		}
		if st, _ := get(t, anon, "/whoami/", http.Header{"Cookie": {"scimgate_jwt=" + jwt}}); st != http.StatusOK {
			t.Fatalf("the JWT alone = %d, want 200", st)
		}
		navigate(t, aliceB, edge+"/.scimgate/signout")
		for _, c := range aliceB.Jar.Cookies(u) {
			if c.Name == "scimgate_jwt" || c.Name == "scimgate_session" {
				t.Errorf("%s still set after sign-out", c.Name)
			}
		}
		// The JWT is unexpired, but the session behind it is gone.
		untilH(t, anon, "/whoami/", http.Header{"Cookie": {"scimgate_jwt=" + jwt}}, http.StatusUnauthorized, 5*time.Second)
		aliceB = signIn(t, "a1", "alice@example.com")
	})

	t.Run("HAProxy restarted after a change it missed", func(t *testing.T) {
		hp.Stop(t)
		patch(t, "/Groups/"+eng, `[{"op":"remove","path":"members[value eq \"`+alice+`\"]"}]`)
		// The failing sync shows on the admin listener: /healthz fails
		// once the maps are older than max_stale, and /metrics counts.
		admin := "http://127.0.0.1:" + adminPort
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			res, err := http.Get(admin + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "haproxy maps") {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("/healthz = %d %s, still not failing 10s after HAProxy stopped", res.StatusCode, body)
			}
		}
		res, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(metrics), "scimgate_haproxy_map_sync_failures_total ") ||
			strings.Contains(string(metrics), "scimgate_haproxy_map_sync_failures_total 0\n") {
			t.Errorf("/metrics does not count the failed syncs:\n%s", grepLines(string(metrics), "scimgate_haproxy_map"))
		}
		hp.Restart(t)
		// The files on disk or the resync after the restart: either way
		// the change is there.
		until(t, aliceB, "/whoami/", http.StatusForbidden, 10*time.Second)
		patch(t, "/Groups/"+eng, `[{"op":"add","path":"members","value":[{"value":"`+alice+`"}]}]`)
		until(t, aliceB, "/whoami/", http.StatusOK, 5*time.Second)
	})

	t.Run("scimgate killed, then refused past max_stale", func(t *testing.T) {
		srv.kill()
		d := until(t, aliceB, "/whoami/", http.StatusServiceUnavailable, 10*time.Second)
		t.Logf("HAProxy refused %v after scimgate was killed (max_stale 5s)", d.Round(time.Millisecond))
		if st, body := get(t, anon, "/public/x", nil); st != http.StatusServiceUnavailable || !strings.Contains(body, "snapshot-stale") {
			t.Errorf("public route with stale maps = %d %s, want 503", st, body)
		}
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
