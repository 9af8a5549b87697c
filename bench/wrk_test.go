package bench_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---- wrk ----

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int
}

var (
	wrkPct      = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: ([0-9]+)`)
	wrkSockErr  = regexp.MustCompile(`(?m)^\s*Socket errors: .*$`)
)

// parseWrk reads the output of wrk --latency. Any non-2xx response or
// socket error fails the run: every benchmarked request must be allowed.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[m[3]]
		d := time.Duration(v * unit)
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk output (--latency):\n%s", out)
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		return r, fmt.Errorf("%s non-2xx responses:\n%s", m[1], out)
	}
	if m := wrkSockErr.FindString(out); m != "" {
		return r, fmt.Errorf("socket errors (%s):\n%s", strings.TrimSpace(m), out)
	}
	return r, nil
}

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:40000/app/x
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms    1.10ms  31.08ms   88.31%
    Req/Sec    16.44k     1.01k   18.83k    70.50%
  Latency Distribution
     50%    1.79ms
     75%    2.29ms
     90%    3.03ms
     99%  612.00us
  327214 requests in 10.00s, 113.58MB read
Requests/sec:  32714.60
Transfer/sec:     11.36MB
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 32714.60 || r.p50 != 1790*time.Microsecond || r.p99 != 612*time.Microsecond || r.requests != 327214 {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := parseWrk(strings.Replace(out, "Requests/sec", "  Non-2xx or 3xx responses: 7\nRequests/sec", 1)); err == nil {
		t.Fatal("non-2xx responses not reported")
	}
	if _, err := parseWrk(strings.Replace(out, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec", 1)); err == nil {
		t.Fatal("socket errors not reported")
	}
}

func needWrk(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is not installed (apt-get install wrk; ./scripts/bench.sh installs it)")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("taskset is not installed (util-linux)")
	}
}

// target is one URL wrk drives.
type target struct {
	name    string
	url     string
	headers []string
	proc    *proc  // the server under test, for its CPU time
	behind  *proc  // the upstream behind it, if any, for its CPU time
	agent   *proc  // the agent it asks, if any (HAProxy's SPOE), for its CPU time
	logFile string // emptied before each run and measured after
}

type runResult struct {
	wrkResult
	cpuPerReq time.Duration // the server's CPU time (user+system) per request
	// behindPerReq and wrkPerReq are the upstream's and wrk's: a proxy's
	// headers cost the upstream too.
	behindPerReq, wrkPerReq time.Duration
	agentPerReq             time.Duration
	logBytes                int64
	// foreign is the CPU time, in % of one core, that processes other
	// than the benchmark's used during the run: other work on the
	// machine skews the figures.
	foreign float64
}

func (t target) run(s gateSettings, l gateLayout, d time.Duration) (runResult, error) {
	args := []string{"wrk", "-t", strconv.Itoa(s.threads), "-c", strconv.Itoa(s.conns),
		"-d", strconv.Itoa(max(1, int(d.Seconds()))) + "s", "--latency", "--timeout", "5s"}
	for _, h := range t.headers {
		args = append(args, "-H", h)
	}
	args = append(args, t.url)
	argv := pin(l.load, args...)
	if t.logFile != "" {
		if err := os.Truncate(t.logFile, 0); err != nil {
			return runResult{}, err
		}
	}
	cpu0, behind0, agent0, mine0, busy0 := t.proc.cpu(), t.behind.cpu(), t.agent.cpu(), ourCPU(), busyCPU()
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	cpu, behind, agent, mine, busy := t.proc.cpu()-cpu0, t.behind.cpu()-behind0, t.agent.cpu()-agent0, ourCPU()-mine0, busyCPU()-busy0
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %s: %v\n%s", t.name, strings.Join(argv, " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		if e := t.proc.alive(); e != nil {
			err = fmt.Errorf("%w\n%v", err, e)
		}
		return runResult{}, fmt.Errorf("%s: %w", t.name, err)
	}
	res := runResult{wrkResult: r}
	wrkCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	mine += wrkCPU
	res.foreign = max(0, float64(busy-mine)/float64(wall)*100)
	if n := time.Duration(r.requests); n > 0 {
		res.cpuPerReq, res.behindPerReq, res.wrkPerReq, res.agentPerReq = cpu/n, behind/n, wrkCPU/n, agent/n
	}
	if t.logFile != "" {
		if fi, err := os.Stat(t.logFile); err == nil {
			res.logBytes = fi.Size()
		}
	}
	return res, nil
}

// ---- processes ----

// proc is a server process the benchmark started.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  []string      // stdout up to the line it was waited for
	exited chan struct{} // closed when the process has exited
	err    error         // how it exited
}

// startProc starts argv and waits for a stdout line containing until.
func startProc(name string, stderr io.Writer, until string, argv ...string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	// Die with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for !ok && sc.Scan() {
			p.lines = append(p.lines, sc.Text())
			ok = strings.Contains(sc.Text(), until)
		}
		found <- ok
		io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	select {
	case ok := <-found:
		if ok {
			running.Store(p, true)
			return p, nil
		}
	case <-time.After(2 * time.Minute):
	}
	p.stop()
	return nil, fmt.Errorf("%s printed no %q line; stdout:\n%s", name, until, strings.Join(p.lines, "\n"))
}

// value returns what follows prefix on the first stdout line having it.
func (p *proc) value(prefix string) string {
	for _, l := range p.lines {
		if _, v, ok := strings.Cut(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (p *proc) stop() {
	if p == nil {
		return
	}
	running.Delete(p)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// alive returns an error if the process has exited.
func (p *proc) alive() error {
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return fmt.Errorf("%s (pid %d) exited: %v", p.name, p.cmd.Process.Pid, p.err)
	default:
		return nil
	}
}

// cpu is the process's CPU time so far, user and system, from /proc.
func (p *proc) cpu() time.Duration {
	if p == nil {
		return 0
	}
	return pidCPU(strconv.Itoa(p.cmd.Process.Pid))
}

// running are the processes started and not yet stopped.
var running sync.Map // *proc → bool

// ourCPU is the CPU time of this test process and the servers it runs.
func ourCPU() time.Duration {
	d := pidCPU("self")
	running.Range(func(k, _ any) bool {
		d += k.(*proc).cpu()
		return true
	})
	return d
}

// busyCPU is the machine's CPU time in user and system mode so far.
func busyCPU() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle ...
	var ticks int64
	for _, v := range f[1:4] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clkTck
}

const clkTck = 100 // USER_HZ on Linux

func pidCPU(pid string) time.Duration {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck
}
