package bench_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/rundir"
)

// Caddy with scimgate (issue 6), end to end: wrk drives three real Caddy
// processes built from cmd/caddy, all proxying to the same upstream, in
// one run, rounds alternating between them:
//
//   - plain:   reverse_proxy alone;
//   - gate:    the scimgate handler (allow groups staff), then
//     reverse_proxy, with Caddy's default logging;
//   - fa:      forward_auth to a scimgate server's forward-auth endpoint,
//     then reverse_proxy (two hops per request).
//
// Every request carries alice's access token and is allowed.
//
//	./scripts/bench.sh Caddy
//
// The knobs of bench/gate_test.go apply (GATE_ROUNDS, GATE_DURATION...).

var buildCaddy = sync.OnceValues(func() (string, error) {
	dir, err := rundir.Make("scimgate-bench-caddy")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "caddy")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/caddy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
})

// startCaddyProc runs Caddy on a Caddyfile and waits for its configuration
// to be served. Its log goes to stdout, where startProc watches it.
func startCaddyProc(b *testing.B, w *gateWorld, l gateLayout, bin, name, caddyfile string) *proc {
	path := filepath.Join(w.dir, "Caddyfile-"+l.name+"-"+name)
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		b.Fatal(err)
	}
	home := filepath.Join(w.dir, "caddy-home-"+name)
	argv := pin(l.proxy, "env", "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home,
		"sh", "-c", `exec "$0" run --config "$1" --adapter caddyfile 2>&1`, bin, path)
	p, err := startProc("caddy-"+name, os.Stderr, "serving initial configuration", argv...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.stop)
	return p
}

// BenchmarkCaddy compares, in one run, plain reverse_proxy, the scimgate
// handler and forward_auth to scimgate, in Caddy.
func BenchmarkCaddy(b *testing.B) {
	needWrk(b)
	s := settings()
	for _, l := range layouts(b) {
		b.Run("pin="+l.name, func(b *testing.B) {
			once(b, func() func() {
				w, bin, upAddr := caddyBench(b, l)
				warn, err := w.config("caddy-fa-"+l.name, "warn", "http://"+upAddr, false)
				if err != nil {
					b.Fatal(err)
				}
				gate, err := startProc("scimgate", os.Stderr, "SCIM base URL:", pin(l.proxy, w.bin, "serve", "--config", warn)...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(gate.stop)
				gateAddr := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(gate.value("SCIM base URL:"), "/"), "/scim/v2"), "http://")

				addrs := map[string]string{}
				sites := caddySites(w, upAddr)
				site := func(name string) string {
					addrs[name] = freeAddr(b)
					return sites.caddyfile(name, addrs[name], "")
				}
				// As docs/forward-auth.md says.
				sites.body["fa"] = "\troute {\n\t\trequest_header -X-Scimgate-*\n\t\trequest_header -X-Scimgate_*\n" +
					"\t\tforward_auth " + gateAddr + " {\n\t\t\turi /.scimgate/auth\n\t\t\tcopy_headers X-Scimgate-User X-Scimgate-Email X-Scimgate-Groups X-Scimgate-Assertion\n\t\t}\n\t" + sites.body["plain"] + "\t}\n"
				procs := map[string]*proc{
					"plain": startCaddyProc(b, w, l, bin, "plain", site("plain")),
					"gate":  startCaddyProc(b, w, l, bin, "gate", site("gate")),
					"fa":    startCaddyProc(b, w, l, bin, "fa", site("fa")),
				}
				names := []string{"plain", "gate", "fa"}
				res := measureSites(b, s, l, w.token, names, addrs, procs)
				return func() {
					for _, n := range names {
						report(b, n, res[n])
					}
					r := ratio(b, "gate/plain-%", res["gate"], res["plain"])
					ratio(b, "fa/plain-%", res["fa"], res["plain"])
					ratio(b, "gate/fa-%", res["gate"], res["fa"])
					reportOthers(b, res)
					if r < 95 {
						b.Logf("scimgate handler at %.1f%% of plain reverse_proxy: below the 95%% target", r)
					}
				}
			})
		})
	}
}

// caddyBench returns the benchmark's world, the Caddy binary built from
// cmd/caddy and the address of a running upstream.
func caddyBench(b *testing.B, l gateLayout) (w *gateWorld, bin, upAddr string) {
	w, err := theGateWorld()
	if err != nil {
		b.Fatal(err)
	}
	if bin, err = buildCaddy(); err != nil {
		b.Fatal(err)
	}
	up, err := startProc("upstream", os.Stderr, "listening on", pin(l.load, w.peer, "upstream")...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(up.stop)
	return w, bin, up.value("listening on")
}

// caddySiteSet holds the global options and the site body of each Caddy
// configuration the benchmarks run: plain reverse_proxy, and the scimgate
// handler on the benchmark's store before it.
type caddySiteSet struct{ global, body map[string]string }

func caddySites(w *gateWorld, upAddr string) caddySiteSet {
	proxy := "\treverse_proxy " + upAddr + "\n"
	return caddySiteSet{
		global: map[string]string{"gate": fmt.Sprintf("\tscimgate {\n\t\tstore sqlite:%s\n\t}\n", w.db)},
		body: map[string]string{
			"plain": proxy,
			"gate":  "\tscimgate {\n\t\tname app\n\t\tallow groups " + gateGroup + "\n\t}\n" + proxy,
		},
	}
}

// caddyfile is the Caddyfile of site name on addr; admin is the admin
// listener's address, "" for none.
func (c caddySiteSet) caddyfile(name, addr, admin string) string {
	_, port, _ := net.SplitHostPort(addr)
	if admin == "" {
		admin = "off"
	}
	return fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n%s}\nhttp://:%s {\n\tbind 127.0.0.1\n%s}\n", admin, c.global[name], port, c.body[name])
}

// measureSites checks each site (checkSite; the first one unguarded), then
// runs the rounds of alice's allowed request against them all.
func measureSites(b *testing.B, s gateSettings, l gateLayout, token string, names []string, addrs map[string]string, procs map[string]*proc) map[string][]runResult {
	for i, n := range names {
		if err := checkSite("http://"+addrs[n], token, i > 0); err != nil {
			b.Fatalf("%s: %v", n, err)
		}
	}
	hdr := []string{"Host: " + gateHost, "Authorization: Bearer " + token}
	var ts []target
	for _, n := range names {
		ts = append(ts, target{name: n, url: "http://" + addrs[n] + "/app/x", headers: hdr, proc: procs[n]})
	}
	return rounds(b, s, l, ts)
}

// checkSite verifies, before measuring, that the benchmarked request is
// allowed and proxied, and that a guarded site refuses it without the
// token and sends the identity to the upstream.
func checkSite(base, token string, guarded bool) error {
	get := func(path, auth string) (int, string, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = gateHost
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		req.Header.Set("X-Scimgate-User", "mallory@example.com")
		req.Header["X-Scimgate_user"] = []string{"mallory@example.com"}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), err
	}
	var errs []error
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _, err := get("/app/x", token); err == nil && code == 200 || time.Now().After(end) {
			break
		}
	}
	if code, body, err := get("/app/x", token); err != nil || code != 200 || len(body) != 200 {
		errs = append(errs, fmt.Errorf("GET /app/x = %d %q %v", code, body, err))
	}
	if !guarded {
		return errors.Join(errs...)
	}
	if code, body, err := get("/app/echo", token); err != nil || code != 200 || !strings.Contains(body, "X-Scimgate-User: "+gateUser) ||
		strings.Contains(body, "mallory") || !strings.Contains(body, "X-Scimgate-Assertion: ey") {
		errs = append(errs, fmt.Errorf("GET /app/echo = %d %q %v", code, body, err))
	}
	if code, body, err := get("/app/x", ""); err != nil || code != 401 {
		errs = append(errs, fmt.Errorf("GET /app/x without a token = %d %q %v", code, body, err))
	}
	return errors.Join(errs...)
}
