package bench_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/rundir"
)

// env is a running scimgate on a copy of the dataset.
type env struct {
	dir   string // the copy of the dataset; removed at exit
	cmd   *exec.Cmd
	base  string
	token string
	http  *http.Client
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// server starts scimgate on a fresh copy of the dataset, once per run; it
// is killed when the test binary exits (see TestMain).
func server(b *testing.B) *env {
	envOnce.Do(func() { theEnv, envErr = startEnv() })
	if envErr != nil {
		b.Fatal(envErr)
	}
	return theEnv
}

func startEnv() (*env, error) {
	bin, err := buildBinary()
	if err != nil {
		return nil, err
	}
	src, token, err := dataset()
	if err != nil {
		return nil, err
	}
	dir, err := rundir.Make("scimgate-bench-run")
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "scimgate.db")
	if err := copyFile(db, src); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(cfg, []byte("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:"+db+"\"\nlog:\n  level: warn\n"), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &env{dir: dir, cmd: cmd, token: token, http: &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SCIM base URL:"); ok {
			e.base = strings.TrimSuffix(strings.TrimSpace(v), "/")
			break
		}
	}
	go io.Copy(io.Discard, out)
	if e.base == "" {
		cmd.Process.Kill()
		return nil, fmt.Errorf("server printed no base URL")
	}
	return e, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theEnv != nil {
		theEnv.cmd.Process.Signal(syscall.SIGTERM)
		theEnv.cmd.Wait()
		os.RemoveAll(theEnv.dir)
	}
	rundir.RemoveAll()
	os.Exit(code)
}

func (e *env) do(tb testing.TB, method, path, body string, want int) []byte {
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	return raw
}

// latencies collects request durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) time(fn func()) {
	start := time.Now()
	fn()
	d := time.Since(start)
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	slices.Sort(l.d)
	if len(l.d) == 0 {
		return
	}
	pct := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

var createSeq atomic.Int64

// BenchmarkCreateUsers16 measures durable user creates with 16 concurrent
// clients: each 201 is acknowledged only after its fsync'd commit.
func BenchmarkCreateUsers16(b *testing.B) {
	e := server(b)
	b.SetParallelism(max(1, 16/runtimeProcs()))
	var lat latencies
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := createSeq.Add(1)
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new%d@example.com",`+
				`"name":{"givenName":"New","familyName":"User%d"},"emails":[{"value":"new%d@example.com","type":"work","primary":true}],"active":true}`, n, n, n)
			lat.time(func() { e.do(b, "POST", "/Users", body, http.StatusCreated) })
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
	lat.report(b)
}

// BenchmarkFilterUserNameEq measures one client looking users up by
// userName, the way every IdP does before a create.
func BenchmarkFilterUserNameEq(b *testing.B) {
	e := server(b)
	var lat latencies
	b.ResetTimer()
	for b.Loop() {
		q := url.QueryEscape(`userName eq "` + strings.ToUpper(userName(rand.IntN(numUsers))) + `"`)
		lat.time(func() {
			raw := e.do(b, "GET", "/Users?filter="+q, "", http.StatusOK)
			if !bytes.Contains(raw, []byte(`"totalResults":1,`)) {
				b.Fatalf("lookup found no user: %s", raw)
			}
		})
	}
	lat.report(b)
}

// BenchmarkGroupsPageExcludeMembers measures a page of 100 groups without
// members, as Entra ID reads groups.
func BenchmarkGroupsPageExcludeMembers(b *testing.B) {
	e := server(b)
	var lat latencies
	b.ResetTimer()
	for b.Loop() {
		start := 1 + rand.IntN(numGroups-100)
		lat.time(func() {
			e.do(b, "GET", "/Groups?excludedAttributes=members&count=100&startIndex="+strconv.Itoa(start), "", http.StatusOK)
		})
	}
	lat.report(b)
}

func memberPatch(op string, ids []string) string {
	var sb strings.Builder
	sb.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`)
	switch op {
	case "add":
		sb.WriteString(`{"op":"add","path":"members","value":[`)
		for i, id := range ids {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`{"value":"` + id + `"}`)
		}
		sb.WriteString(`]}`)
	case "remove":
		sb.WriteString(`{"op":"remove","path":"members[value eq \"` + ids[0] + `\"]"}`)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

var groupSeq atomic.Int64

// BenchmarkPatchAdd1000Members measures one PATCH adding 1,000 members
// (Okta's maximum) to a new group.
func BenchmarkPatchAdd1000Members(b *testing.B) {
	e := server(b)
	for b.Loop() {
		b.StopTimer()
		raw := e.do(b, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"bench-add-%d"}`, groupSeq.Add(1)), http.StatusCreated)
		id := jsonField(raw, "id")
		first := rand.IntN(numUsers - 1000)
		ids := make([]string, 1000)
		for i := range ids {
			ids[i] = userID(first + i)
		}
		body := memberPatch("add", ids)
		b.StartTimer()
		e.do(b, "PATCH", "/Groups/"+id, body, http.StatusNoContent)
	}
}

// BenchmarkPatchRemoveOneMember measures removing one member from a group
// of 100,000 and from a group of 90: the cost must not grow with the size.
func BenchmarkPatchRemoveOneMember(b *testing.B) {
	for _, tc := range []struct {
		name  string
		group string
		user  func() int
	}{
		{"group=100k", groupID(0), func() int { return rand.IntN(numUsers) }},
		{"group=90", groupID(7), func() int { return 7*perGroup + rand.IntN(perGroup) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := server(b)
			for b.Loop() {
				b.StopTimer()
				u := userID(tc.user())
				e.do(b, "PATCH", "/Groups/"+tc.group, memberPatch("add", []string{u}), http.StatusNoContent)
				b.StartTimer()
				e.do(b, "PATCH", "/Groups/"+tc.group, memberPatch("remove", []string{u}), http.StatusNoContent)
			}
		})
	}
}

// BenchmarkServerMemory reports the server's resident memory, current and
// peak, after the benchmarks before it (run it last).
func BenchmarkServerMemory(b *testing.B) {
	e := server(b)
	// The largest single response: the group of 100,000 members.
	e.do(b, "GET", "/Groups/"+groupID(0), "", http.StatusOK)
	for b.Loop() {
		e.do(b, "GET", "/Groups/"+groupID(0)+"?attributes=displayName", "", http.StatusOK)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		for _, key := range []string{"VmRSS", "VmHWM"} {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				b.ReportMetric(float64(kb)/1024, key+"-MB")
			}
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func jsonField(raw []byte, key string) string {
	i := bytes.Index(raw, []byte(`"`+key+`":"`))
	if i < 0 {
		return ""
	}
	rest := raw[i+len(key)+4:]
	return string(rest[:bytes.IndexByte(rest, '"')])
}
