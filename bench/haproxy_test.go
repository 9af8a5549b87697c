package bench_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// HAProxy with scimgate (issue 7), end to end: wrk drives five HAProxy
// processes (Debian's, as installed) in front of the same upstream, in one
// run, rounds alternating between them:
//
//   - plain: the frontend forwards every request;
//   - spoe:  examples/haproxy/haproxy.cfg and spoe.conf as shipped, only
//     addresses replaced: every request is decided by scimgate's SPOE
//     agent (a `scimgate serve` at warn level on the benchmark's store);
//   - spoe-floor: the same configuration in front of an agent that decides
//     nothing and answers every request with the variables of an allow
//     (gatepeer spoefloor): what HAProxy's SPOE filter costs by itself,
//     with the cheapest agent written as scimgate's is;
//   - mapsync: examples/haproxy/mapsync/haproxy.cfg as shipped, only
//     addresses and the map directory replaced: HAProxy decides alone
//     from the maps the same scimgate keeps current;
//   - mapsync-floor: the fewest rules a decision from those maps takes
//     (mapsyncFloorCfg).
//
// Every request is allowed: plain and spoe requests carry alice's access
// token, mapsync requests the JWT cookie of a session alice signed in to
// (against a mock OpenID Connect provider in this process). Each mode is
// compared with plain HAProxy forwarding the same request, so the plain
// process is also measured with the cookie (plain-jwt).
//
//	./scripts/bench.sh HAProxy
func BenchmarkHAProxy(b *testing.B) {
	needWrk(b)
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		b.Fatal("haproxy is not installed (apt-get install haproxy; ./scripts/bench.sh installs it)")
	}
	s := settings()
	for _, l := range layouts(b) {
		b.Run("pin="+l.name, func(b *testing.B) {
			once(b, func() func() {
				w, err := theGateWorld()
				if err != nil {
					b.Fatal(err)
				}
				up, err := startProc("upstream", os.Stderr, "listening on", pin(l.load, w.peer, "upstream")...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(up.stop)
				upAddr := up.value("listening on")

				spoeAddr, runtimeAddr, gateListen := freeAddr(b), freeAddr(b), freeAddr(b)
				mapsDir := filepath.Join(w.dir, "maps-"+l.name)
				if err := os.RemoveAll(mapsDir); err != nil {
					b.Fatal(err)
				}
				idp, err := mockoidc.Run()
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = idp.Shutdown() })
				cfg, err := w.config("haproxy-spoe-"+l.name, "warn", "", false)
				if err != nil {
					b.Fatal(err)
				}
				extra := fmt.Sprintf("spoe:\n  listen: %q\nroutes:\n  - {name: app, host: %s, path: /app/, allow: {groups: [%s]}}\n"+
					"haproxy_maps: {runtime_api: %q, dir: %q}\n"+
					"oidc: {issuer: %q, client_id: %q, client_secret: %q, redirect_url: %q}\n",
					spoeAddr, gateHost, gateGroup, runtimeAddr, mapsDir,
					idp.Issuer(), idp.ClientID, idp.ClientSecret, "http://"+gateListen+"/.scimgate/callback")
				if err := appendFile(cfg, extra); err != nil {
					b.Fatal(err)
				}
				if err := replaceInFile(cfg, `listen: "127.0.0.1:0"`, fmt.Sprintf("listen: %q", gateListen)); err != nil {
					b.Fatal(err)
				}
				gate, err := startProc("scimgate", os.Stderr, "SCIM base URL:", pin(l.proxy, w.bin, "serve", "--config", cfg)...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(gate.stop)
				gateAddr := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(gate.value("SCIM base URL:"), "/"), "/scim/v2"), "http://")

				// spoe-floor: the same SPOE configuration in front of an
				// agent that decides nothing (gatepeer spoefloor).
				floor, err := startProc("spoefloor", os.Stderr, "listening on", pin(l.proxy, w.peer, "spoefloor", "-user", gateUser, "-groups", gateGroup)...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(floor.stop)
				addrs := map[string]string{"plain": freeAddr(b), "spoe": freeAddr(b), "spoe-floor": freeAddr(b), "mapsync": freeAddr(b), "mapsync-floor": freeAddr(b)}
				plainCfg := fmt.Sprintf(haproxyPreamble+`frontend app
    bind %s
    default_backend whoami
backend whoami
    server app %s
`, addrs["plain"], upAddr)
				spoeConf := filepath.Join(w.dir, "spoe-"+l.name+".conf")
				if err := copyRewritten("../examples/haproxy/spoe.conf", spoeConf); err != nil {
					b.Fatal(err)
				}
				raw, err := os.ReadFile("../examples/haproxy/haproxy.cfg")
				if err != nil {
					b.Fatal(err)
				}
				spoeRaw := string(raw)
				spoeCfg := func(bind, agent string) string {
					return strings.NewReplacer(
						"log stdout format raw local0 info", "maxconn 4096",
						"stats socket ipv4@127.0.0.1:9999 level admin", "",
						"option httplog", "",
						"bind 127.0.0.1:8088", "bind "+bind,
						"config examples/haproxy/spoe.conf", "config "+spoeConf,
						"server app 127.0.0.1:9001", "server app "+upAddr,
						"server scimgate 127.0.0.1:8080", "server scimgate "+gateAddr,
						"server agent 127.0.0.1:12345", "server agent "+agent,
					).Replace(spoeRaw)
				}
				raw, err = os.ReadFile("../examples/haproxy/mapsync/haproxy.cfg")
				if err != nil {
					b.Fatal(err)
				}
				mapsCfg := strings.NewReplacer(
					"log stdout format raw local0 info", "maxconn 4096",
					"ipv4@127.0.0.1:9999", "ipv4@"+runtimeAddr,
					"option httplog", "",
					"bind 127.0.0.1:8088", "bind "+addrs["mapsync"],
					"/etc/haproxy/scimgate", mapsDir,
					"server app 127.0.0.1:9001", "server app "+upAddr,
					"server scimgate 127.0.0.1:8080", "server scimgate "+gateAddr,
				).Replace(string(raw))
				procs := map[string]*proc{}
				startHAProxy := func(name, text string) {
					path := filepath.Join(w.dir, "haproxy-"+l.name+"-"+name+".cfg")
					if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
						b.Fatal(err)
					}
					if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
						b.Fatalf("haproxy -c %s: %v\n%s", name, err, out)
					}
					// -db: foreground; "ready" once it parsed the configuration.
					p, err := startProc("haproxy-"+name, os.Stderr, "ready",
						pin(l.proxy, "sh", "-c", `echo ready; exec "$0" -db -f "$1"`, bin, path)...)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(p.stop)
					procs[name] = p
				}
				for name, text := range map[string]string{
					"plain": plainCfg, "spoe": spoeCfg(addrs["spoe"], spoeAddr), "mapsync": mapsCfg,
					"spoe-floor": spoeCfg(addrs["spoe-floor"], floor.value("listening on")),
				} {
					startHAProxy(name, text)
				}
				// The floor allows everything: only that it answers is checked.
				for _, n := range []string{"plain", "spoe", "spoe-floor"} {
					if err := checkSite("http://"+addrs[n], w.token, n == "spoe"); err != nil {
						b.Fatalf("%s: %v", n, err)
					}
				}
				// Sign-in fails while HAProxy's runtime API is not up yet.
				var jwt string
				for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					if jwt, err = signInForJWT(idp, "http://"+gateListen); err == nil {
						break
					}
					if time.Now().After(end) {
						b.Fatal(err)
					}
				}
				if err := checkMapSync("http://"+addrs["mapsync"], jwt); err != nil {
					b.Fatalf("mapsync: %v", err)
				}
				// It reads the map files once, at start: after alice's
				// session reached them.
				startHAProxy("mapsync-floor", fmt.Sprintf(mapsyncFloorCfg, addrs["mapsync-floor"], mapsDir, upAddr))
				// cpu/req is HAProxy's alone; the agent's is reported apart.
				// plain-jwt: the plain process sent the mapsync request (a
				// 317-byte cookie where plain and spoe send an access token).
				bearer := []string{"Host: " + gateHost, "Authorization: Bearer " + w.token}
				cookie := []string{"Host: " + gateHost, "Cookie: scimgate_jwt=" + jwt}
				ts := []target{
					{name: "plain", url: "http://" + addrs["plain"] + "/app/x", headers: bearer, proc: procs["plain"]},
					{name: "spoe", url: "http://" + addrs["spoe"] + "/app/x", headers: bearer, proc: procs["spoe"], agent: gate},
					{name: "spoe-floor", url: "http://" + addrs["spoe-floor"] + "/app/x", headers: bearer, proc: procs["spoe-floor"], agent: floor},
					{name: "plain-jwt", url: "http://" + addrs["plain"] + "/app/x", headers: cookie, proc: procs["plain"]},
					{name: "mapsync", url: "http://" + addrs["mapsync"] + "/app/x", headers: cookie, proc: procs["mapsync"]},
					{name: "mapsync-floor", url: "http://" + addrs["mapsync-floor"] + "/app/x", headers: cookie, proc: procs["mapsync-floor"]},
				}
				res := rounds(b, s, l, ts)
				return func() {
					for _, t := range ts {
						report(b, t.name, res[t.name])
					}
					r := ratio(b, "spoe/plain-%", res["spoe"], res["plain"])
					ratio(b, "spoe-floor/plain-%", res["spoe-floor"], res["plain"])
					ratio(b, "spoe/spoe-floor-%", res["spoe"], res["spoe-floor"])
					m := ratio(b, "mapsync/plain-jwt-%", res["mapsync"], res["plain-jwt"])
					ratio(b, "mapsync/plain-%", res["mapsync"], res["plain"])
					ratio(b, "mapsync-floor/plain-jwt-%", res["mapsync-floor"], res["plain-jwt"])
					ratio(b, "mapsync/mapsync-floor-%", res["mapsync"], res["mapsync-floor"])
					reportOthers(b, res)
					if r < 75 {
						b.Logf("SPOE mode at %.1f%% of plain HAProxy: below the 75%% target", r)
					}
					if m < 95 {
						b.Logf("map-sync mode at %.1f%% of plain HAProxy sent the same request: below the 95%% target", m)
					}
				}
			})
		})
	}
}

// haproxyPreamble begins the benchmark's own HAProxy configurations.
const haproxyPreamble = `global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client  1m
    timeout server  1m
`

// mapsyncFloorCfg is the fewest rules a decision from scimgate's maps
// takes (bind address, map directory, upstream): the session id of the
// cookie, read once a connection and not verified (the example verifies it
// once a connection too), the route lookup, the access lookup, the
// refusal, one identity header. None of the example's checks of paths,
// hosts, staleness, tokens or cookies. What map-sync mode costs above it
// is those checks; what it costs above plain HAProxy is the lookups.
const mapsyncFloorCfg = haproxyPreamble + `frontend app
    bind %[1]s
    acl sg_cached req.cook(scimgate_jwt),strcmp(sess.sg_jwt) eq 0
    http-request set-var(sess.sg_sid) req.cook(scimgate_jwt),jwt_payload_query('$.sid') if !sg_cached
    http-request set-var(sess.sg_jwt) req.cook(scimgate_jwt) if !sg_cached
    http-request set-var(txn.sg_host) req.fhdr(host),lower
    http-request set-var(txn.sg_path) path
    http-request set-var(txn.sg_route) method,concat(|,txn.sg_host),concat(,txn.sg_path),map_reg(%[2]s/routes.map)
    http-request set-var(txn.sg_user) var(sess.sg_sid),map(%[2]s/sessions.map),concat(|,txn.sg_route),map(%[2]s/access.map)
    http-request deny if !{ var(txn.sg_user) -m found }
    http-request set-header X-Scimgate-User %%[var(txn.sg_user)]
    default_backend app
backend app
    server app %[3]s
`

// signInForJWT signs alice in at scimgate (base) through the mock provider
// and returns the scimgate_jwt cookie that sign-in set.
func signInForJWT(idp *mockoidc.MockOIDC, base string) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	idp.QueueUser(&mockoidc.MockUser{Subject: "alice", Email: gateUser})
	res, err := c.Get(base + "/.scimgate/signin?rd=/")
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	res.Body.Close()
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "scimgate_jwt" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("sign in ended with %d at %s and no scimgate_jwt cookie", res.StatusCode, res.Request.URL)
}

// checkMapSync verifies, before measuring, that HAProxy in map-sync mode
// allows the benchmarked request with the JWT cookie, refuses it without,
// and sends the identity, not a spoofed one, to the upstream. The first
// sync may still be under way: it waits for it.
func checkMapSync(base, jwt string) error {
	get := func(path, jwt string) (int, string, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = gateHost
		if jwt != "" {
			req.Header.Set("Cookie", "scimgate_jwt="+jwt)
		}
		req.Header.Set("X-Scimgate-User", "mallory@example.com")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), err
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _, err := get("/app/x", jwt); err == nil && code == 200 || time.Now().After(end) {
			break
		}
	}
	var errs []error
	if code, body, err := get("/app/echo", jwt); err != nil || code != 200 || !strings.Contains(body, "X-Scimgate-User: "+gateUser) || strings.Contains(body, "mallory") {
		errs = append(errs, fmt.Errorf("GET /app/echo = %d %q %v", code, body, err))
	}
	if code, body, err := get("/app/x", ""); err != nil || code != 401 {
		errs = append(errs, fmt.Errorf("GET /app/x without the cookie = %d %q %v", code, body, err))
	}
	return errors.Join(errs...)
}

func replaceInFile(path, old, new string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(raw), old) {
		return fmt.Errorf("%s does not contain %q", path, old)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(raw), old, new, 1)), 0o600)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyRewritten(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, raw, 0o600)
}
