package bench_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
				dir := profileDir(b, w, l)
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
					res[tp.t.name] = profileRun(b, s, l, tp.t, tp.pprof, filepath.Join(dir, tp.t.name))
				}
				return func() { reportProfiled(b, res) }
			})
		})
	}
}

// profileDir is where the profiles of layout l go: $GATE_PROFILE, or a
// directory under the run's temporary directory.
func profileDir(b *testing.B, w *gateWorld, l gateLayout) string {
	dir := os.Getenv("GATE_PROFILE")
	if dir == "" {
		dir = filepath.Join(w.dir, "profiles")
	}
	dir = filepath.Join(dir, "pin="+l.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// profileRun warms t up, then runs it for the configured duration while
// the process serving /debug/pprof on pprofAddr is sampled: a CPU profile
// to base+".pprof" and the allocations to base+".allocs.pprof", both from
// the middle of the run.
func profileRun(b *testing.B, s gateSettings, l gateLayout, t target, pprofAddr, base string) runResult {
	if _, err := t.run(s, l, 2*time.Second); err != nil {
		b.Fatal(err)
	}
	waitQuiet(s.quietWait)
	prof := make(chan error, 2)
	for kind, file := range map[string]string{"profile": base + ".pprof", "allocs": base + ".allocs.pprof"} {
		go func() {
			time.Sleep(time.Second)
			prof <- fetchProfile(pprofAddr, kind, s.duration-2*time.Second, file)
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
	b.Logf("%s: %.0f req/s, cpu %s/req (others %.0f%%), profile %s.pprof", t.name, r.rps, r.cpuPerReq, r.foreign, base)
	return r
}

func reportProfiled(b *testing.B, res map[string]runResult) {
	for n, r := range res {
		b.ReportMetric(r.rps, n+"-req/s")
		b.ReportMetric(float64(r.cpuPerReq.Nanoseconds())/1e3, n+"-cpu-µs/req")
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
