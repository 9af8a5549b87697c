package bench_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkGateProfile takes CPU profiles of the real processes under the
// load of BenchmarkGateProxy and BenchmarkGateForwardAuth: the bare proxy
// (gatepeer -pprof) and scimgate built with bench/gatepeer/pprof.go.overlay
// (the same binary plus net/http/pprof on a listener of its own). wrk
// drives each target for GATE_DURATION while /debug/pprof/profile samples
// it. The profiles are written to $GATE_PROFILE (default: a directory
// under the run's temporary directory, logged):
//
//	go tool pprof -top gate.pprof
//	go tool pprof -top -diff_base bare.pprof gate.pprof
//	go tool pprof -top -sample_index=alloc_space gate.allocs.pprof
func BenchmarkGateProfile(b *testing.B) {
	needWrk(b)
	s := settings()
	for _, l := range layouts(b) {
		b.Run("pin="+l.name, func(b *testing.B) {
			once(b, func() func() {
				w, err := theGateWorld()
				if err != nil {
					b.Fatal(err)
				}
				bareAddr, gateAddr := freeAddr(b), freeAddr(b)
				e := startGateEnv(b, w, l, bareAddr, gateAddr)
				dir := os.Getenv("GATE_PROFILE")
				if dir == "" {
					dir = filepath.Join(w.dir, "profiles")
				}
				dir = filepath.Join(dir, "pin="+l.name)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				hdr := []string{"Host: " + gateHost, "Authorization: Bearer " + w.token}
				fa := append(hdr[:len(hdr):len(hdr)], "X-Original-URI: /app/x", "X-Original-Method: GET")
				targets := []struct {
					t     target
					pprof string
				}{
					{target{name: "bare", url: e.bareURL + "/app/x", headers: hdr, proc: e.bare}, bareAddr},
					{target{name: "gate", url: e.gateURL + "/app/x", headers: hdr, proc: e.gate}, gateAddr},
					{target{name: "fa", url: e.gateURL + "/.scimgate/auth", headers: fa, proc: e.gate}, gateAddr},
				}
				res := map[string]runResult{}
				for _, tp := range targets {
					if _, err := tp.t.run(s, l, 2*time.Second); err != nil {
						b.Fatal(err)
					}
					waitQuiet(s.quietWait)
					path := filepath.Join(dir, tp.t.name+".pprof")
					prof := make(chan error, 2)
					for kind, file := range map[string]string{"profile": path, "allocs": strings.TrimSuffix(path, ".pprof") + ".allocs.pprof"} {
						go func() {
							// Sample the middle of the run.
							time.Sleep(time.Second)
							prof <- fetchProfile(tp.pprof, kind, s.duration-2*time.Second, file)
						}()
					}
					r, err := tp.t.run(s, l, s.duration)
					if err != nil {
						b.Fatal(err)
					}
					for range 2 {
						if err := <-prof; err != nil {
							b.Fatal(err)
						}
					}
					res[tp.t.name] = r
					b.Logf("%s: %.0f req/s, cpu %s/req (others %.0f%%), profile %s", tp.t.name, r.rps, r.cpuPerReq, r.foreign, path)
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

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// fetchProfile saves a CPU profile ("profile") or the allocations
// ("allocs") of the next d.
func fetchProfile(addr, kind string, d time.Duration, path string) error {
	secs := max(1, int(d.Seconds()))
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("profile %s: %d %s", addr, resp.StatusCode, raw)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
