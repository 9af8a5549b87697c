package bench_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// HAProxy with scimgate (issue 7), end to end: wrk drives two HAProxy
// processes (Debian's, as installed) in front of the same upstream, in one
// run, rounds alternating between them:
//
//   - plain: the frontend forwards every request;
//   - spoe:  examples/haproxy/haproxy.cfg and spoe.conf as shipped, only
//     addresses replaced: every request is decided by scimgate's SPOE
//     agent (a `scimgate serve` at warn level on the benchmark's store).
//
// Every request carries alice's access token and is allowed.
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

				spoeAddr := freeAddr(b)
				cfg, err := w.config("haproxy-spoe-"+l.name, "warn", "", false)
				if err != nil {
					b.Fatal(err)
				}
				extra := fmt.Sprintf("spoe:\n  listen: %q\nroutes:\n  - {name: app, host: %s, path: /app/, allow: {groups: [%s]}}\n",
					spoeAddr, gateHost, gateGroup)
				if err := appendFile(cfg, extra); err != nil {
					b.Fatal(err)
				}
				gate, err := startProc("scimgate", os.Stderr, "SCIM base URL:", pin(l.proxy, w.bin, "serve", "--config", cfg)...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(gate.stop)
				gateAddr := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(gate.value("SCIM base URL:"), "/"), "/scim/v2"), "http://")

				addrs := map[string]string{"plain": freeAddr(b), "spoe": freeAddr(b)}
				plainCfg := fmt.Sprintf(`global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client  1m
    timeout server  1m
frontend app
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
				spoeCfg := strings.NewReplacer(
					"log stdout format raw local0 info", "maxconn 4096",
					"stats socket ipv4@127.0.0.1:9999 level admin", "",
					"option httplog", "",
					"bind 127.0.0.1:8088", "bind "+addrs["spoe"],
					"config examples/haproxy/spoe.conf", "config "+spoeConf,
					"server app 127.0.0.1:9001", "server app "+upAddr,
					"server scimgate 127.0.0.1:8080", "server scimgate "+gateAddr,
					"server agent 127.0.0.1:12345", "server agent "+spoeAddr,
				).Replace(string(raw))
				procs := map[string]*proc{}
				for name, text := range map[string]string{"plain": plainCfg, "spoe": spoeCfg} {
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
				// cpu/req is HAProxy's alone, not the agent's.
				names := []string{"plain", "spoe"}
				res := measureSites(b, s, l, w.token, names, addrs, procs)
				return func() {
					for _, n := range names {
						report(b, n, res[n])
					}
					r := ratio(b, "spoe/plain-%", res["spoe"], res["plain"])
					reportOthers(b, res)
					if r < 75 {
						b.Logf("SPOE mode at %.1f%% of plain HAProxy: below the 75%% target", r)
					}
				}
			})
		})
	}
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
