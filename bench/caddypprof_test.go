package bench_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
				w, err := theGateWorld()
				if err != nil {
					b.Fatal(err)
				}
				bin, err := buildCaddy()
				if err != nil {
					b.Fatal(err)
				}
				up, err := startProc("upstream", os.Stderr, "listening on", pin(l.load, w.peer, "upstream")...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(up.stop)
				dir := os.Getenv("GATE_PROFILE")
				if dir == "" {
					dir = filepath.Join(w.dir, "profiles")
				}
				dir = filepath.Join(dir, "pin="+l.name)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				sites := caddySites(w, up.value("listening on"))
				hdr := []string{"Host: " + gateHost, "Authorization: Bearer " + w.token}
				res := map[string]runResult{}
				for i, name := range []string{"plain", "gate"} {
					addr, admin := freeAddr(b), freeAddr(b)
					p := startCaddyProc(b, w, l, bin, name, sites.caddyfile(name, addr, admin))
					if err := checkSite("http://"+addr, w.token, i > 0); err != nil {
						b.Fatalf("%s: %v", name, err)
					}
					t := target{name: name, url: "http://" + addr + "/app/x", headers: hdr, proc: p}
					if _, err := t.run(s, l, 2*time.Second); err != nil {
						b.Fatal(err)
					}
					waitQuiet(s.quietWait)
					path := filepath.Join(dir, "caddy-"+name+".pprof")
					prof := make(chan error, 2)
					for kind, file := range map[string]string{"profile": path, "allocs": filepath.Join(dir, "caddy-"+name+".allocs.pprof")} {
						go func() {
							time.Sleep(time.Second) // sample the middle of the run
							prof <- fetchProfile(admin, kind, s.duration-2*time.Second, file)
						}()
					}
					r, err := t.run(s, l, s.duration)
					if err != nil {
						b.Fatal(err)
					}
					for range 2 {
						if err := <-prof; err != nil {
							b.Fatal(err)
						}
					}
					p.stop()
					res[name] = r
					b.Logf("%s: %.0f req/s, cpu %s/req (others %.0f%%), profile %s", name, r.rps, r.cpuPerReq, r.foreign, path)
				}
				return func() {
					for n, r := range res {
						b.ReportMetric(r.rps, n+"-req/s")
						b.ReportMetric(float64(r.cpuPerReq.Nanoseconds())/1e3, n+"-cpu-µs/req")
					}
				}
			})
		})
	}
}
