package bench_test

import (
	"path/filepath"
	"testing"
)

// BenchmarkCaddyProfile takes CPU and allocation profiles of the plain and
// the gate Caddy of BenchmarkCaddy under the same load, from Caddy's admin
// endpoint (/debug/pprof). The profiles go to $GATE_PROFILE (default: a
// directory under the run's temporary directory, logged):
//
//	GATE_PROFILE=/tmp/prof ./scripts/bench.sh CaddyProfile
//	go tool pprof -top -diff_base caddy-plain.pprof caddy-gate.pprof
func BenchmarkCaddyProfile(b *testing.B) {
	needWrk(b)
	s := settings()
	for _, l := range layouts(b) {
		b.Run("pin="+l.name, func(b *testing.B) {
			once(b, func() func() {
				w, bin, upAddr := caddyBench(b, l)
				dir := profileDir(b, w, l)
				sites := caddySites(w, upAddr)
				hdr := []string{"Host: " + gateHost, "Authorization: Bearer " + w.token}
				res := map[string]runResult{}
				for i, name := range []string{"plain", "gate"} {
					addr, admin := freeAddr(b), freeAddr(b)
					p := startCaddyProc(b, w, l, bin, name, sites.caddyfile(name, addr, admin))
					if err := checkSite("http://"+addr, w.token, i > 0); err != nil {
						b.Fatalf("%s: %v", name, err)
					}
					t := target{name: name, url: "http://" + addr + "/app/x", headers: hdr, proc: p}
					res[name] = profileRun(b, s, l, t, admin, filepath.Join(dir, "caddy-"+name))
					p.stop()
				}
				return func() { reportProfiled(b, res) }
			})
		})
	}
}
