package bench_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// IdP provisioning cycles (issue 3): the recorded Entra ID and Okta cycles
// of scimapi/testdata/idp replayed against the real server on the big
// dataset by N concurrent virtual IdP connections. Each connection runs
// whole cycles in order, one request at a time, over its own keep-alive
// TCP connection. Every cycle uses its own userNames, displayNames and
// externalIds (a unique prefix on each literal the cycle writes), and the
// ids the golden file recorded are replaced with the ids the server
// returned for the corresponding create. Every response must have the
// golden's status.

// cycleStep is one request of a golden file and the status it must get.
type cycleStep struct {
	title   string
	line    int
	method  string
	target  string // as written: readable query, under /scim/v2
	auth    string
	headers [][2]string
	body    string
	status  int
	created string // the golden id a 201 step recorded in Location
}

// parseCycle reads a golden file in the format of scimapi/golden_test.go:
// comments, then "### title", the request line, headers (Authorization
// names a tenant), a blank line and the body, then "--- status", the
// response headers, a blank line and the response body up to the next
// line starting with '#'.
func parseCycle(path string) ([]cycleStep, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	var steps []cycleStep
	for i := 0; i < len(lines); {
		title, ok := strings.CutPrefix(lines[i], "### ")
		if !ok {
			if l := lines[i]; strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
				return nil, fmt.Errorf("%s:%d: expected a comment or a '### title' line, got %q", path, i+1, l)
			}
			i++
			continue
		}
		st := cycleStep{title: strings.TrimSpace(title), line: i + 1}
		i++
		start := i
		for i < len(lines) && !strings.HasPrefix(lines[i], "--- ") {
			if strings.HasPrefix(lines[i], "### ") {
				i = len(lines)
				break
			}
			i++
		}
		if i >= len(lines) {
			return nil, fmt.Errorf("%s:%d: step %q has no '--- status' line", path, st.line, st.title)
		}
		req := lines[start:i]
		for len(req) > 0 && strings.TrimSpace(req[0]) == "" {
			req = req[1:]
		}
		for len(req) > 0 && strings.TrimSpace(req[len(req)-1]) == "" {
			req = req[:len(req)-1]
		}
		if len(req) == 0 {
			return nil, fmt.Errorf("%s:%d: step %q: no request line", path, st.line, st.title)
		}
		method, target, ok := strings.Cut(req[0], " ")
		if !ok || !strings.HasPrefix(strings.TrimSpace(target), "/") {
			return nil, fmt.Errorf("%s:%d: step %q: bad request line %q", path, st.line, st.title, req[0])
		}
		st.method, st.target = method, strings.TrimSpace(target)
		j := 1
		for ; j < len(req) && strings.TrimSpace(req[j]) != ""; j++ {
			name, value, ok := strings.Cut(req[j], ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: step %q: bad request header %q", path, st.line, st.title, req[j])
			}
			if value = strings.TrimSpace(value); strings.EqualFold(name, "Authorization") {
				st.auth = value
			} else {
				st.headers = append(st.headers, [2]string{name, value})
			}
		}
		if j < len(req) {
			st.body = strings.Join(req[j+1:], "\n")
		}
		if st.status, err = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lines[i], "--- "))); err != nil {
			return nil, fmt.Errorf("%s:%d: bad status line %q", path, i+1, lines[i])
		}
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], "#"); i++ {
			if v, ok := strings.CutPrefix(lines[i], "Location:"); ok && st.status == http.StatusCreated {
				v = strings.TrimSpace(v)
				st.created = v[strings.LastIndexByte(v, '/')+1:]
			}
		}
		for i < len(lines) && !strings.HasPrefix(lines[i], "#") {
			i++
		}
		steps = append(steps, st)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%s: no steps", path)
	}
	return steps, nil
}

// goldenIDs matches the ids the golden harness assigns (and, in the
// benchmark dataset, real users: an unmapped one must never be sent).
var goldenIDs = regexp.MustCompile(`00000000-0000-4000-[89]000-[0-9a-f]{12}`)

// cycle is a golden file prepared for replay.
type cycle struct {
	name     string
	steps    []cycleStep
	skipped  []string // titles of steps needing another tenant or a literal token
	literals []string // names and external ids the cycle writes, longest first
}

func loadCycle(tb testing.TB, idp string, withChecks bool) *cycle {
	tb.Helper()
	path := filepath.Join("..", "scimapi", "testdata", "idp", idp, "cycle.txt")
	steps, err := parseCycle(path)
	if err != nil {
		tb.Fatal(err)
	}
	c := &cycle{name: idp}
	lits := map[string]bool{}
	for _, st := range steps {
		if st.auth != "acme" {
			c.skipped = append(c.skipped, st.title)
			continue
		}
		if !withChecks && strings.HasPrefix(st.title, "check:") {
			continue
		}
		if st.body != "" {
			var v any
			if err := json.Unmarshal([]byte(st.body), &v); err != nil {
				tb.Fatalf("%s:%d: step %q: body is not JSON: %v", path, st.line, st.title, err)
			}
			collectLiterals(v, "", lits)
		}
		c.steps = append(c.steps, st)
	}
	for l := range lits {
		if l != "" && !goldenIDs.MatchString(l) {
			c.literals = append(c.literals, l)
		}
	}
	// Longest first: strings.Replacer tries its patterns in argument order.
	slices.SortFunc(c.literals, func(a, b string) int { return len(b) - len(a) })
	if len(c.literals) == 0 {
		tb.Fatalf("%s: found no names to make unique", path)
	}
	return c
}

// uniqueAttrs are the attributes whose values must differ between
// concurrent cycles: uniqueness is enforced on userName and group
// displayName; displayName and externalId are made unique too so that
// every cycle is its own set of people.
var uniqueAttrs = map[string]bool{"username": true, "displayname": true, "externalid": true}

// collectLiterals gathers the string values a request body writes to a
// unique attribute, an email address, or (in a PATCH operation) to a path
// naming one of them.
func collectLiterals(v any, key string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if p, ok := v["path"].(string); ok {
			if s, ok := v["value"].(string); ok {
				attr := strings.ToLower(p)
				attr = attr[strings.LastIndexAny(attr, ":.]")+1:]
				if uniqueAttrs[attr] || strings.Contains(strings.ToLower(p), "emails") {
					out[s] = true
				}
			}
		}
		for k, e := range v {
			if k == "emails" {
				if list, ok := e.([]any); ok {
					for _, m := range list {
						if m, ok := m.(map[string]any); ok {
							if s, ok := m["value"].(string); ok {
								out[s] = true
							}
						}
					}
				}
			}
			collectLiterals(e, k, out)
		}
	case []any:
		for _, e := range v {
			collectLiterals(e, key, out)
		}
	case string:
		if uniqueAttrs[strings.ToLower(key)] {
			out[v] = true
		}
	}
}

// cycleSeq numbers cycles across the whole run: the server is shared by
// every benchmark of the run, so names must never repeat.
var cycleSeq atomic.Int64

// replayer is one virtual IdP connection.
type replayer struct {
	e    *env
	c    *cycle
	http *http.Client
	lat  []time.Duration
	reqs int
}

func newReplayer(e *env, c *cycle) *replayer {
	return &replayer{e: e, c: c, http: &http.Client{
		Timeout: time.Minute,
		// One keep-alive connection per virtual IdP connection.
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1},
	}}
}

// run replays the cycle once with fresh names.
func (r *replayer) run() error {
	tag := fmt.Sprintf("cy%d-", cycleSeq.Add(1))
	pairs := make([]string, 0, 2*len(r.c.literals))
	for _, l := range r.c.literals {
		pairs = append(pairs, l, tag+l)
	}
	names := strings.NewReplacer(pairs...)
	ids := map[string]string{}
	var missing error
	subst := func(s string) string {
		return goldenIDs.ReplaceAllStringFunc(names.Replace(s), func(g string) string {
			if live, ok := ids[g]; ok {
				return live
			}
			missing = fmt.Errorf("id %s is used before the create that returns it", g)
			return g
		})
	}
	for _, st := range r.c.steps {
		target, body := subst(st.target), subst(st.body)
		if missing != nil {
			return fmt.Errorf("%s step %q (line %d): %w", r.c.name, st.title, st.line, missing)
		}
		target, err := encodeQuery(strings.TrimPrefix(target, "/scim/v2"))
		if err != nil {
			return fmt.Errorf("%s step %q: %w", r.c.name, st.title, err)
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(st.method, r.e.base+target, rd)
		if err != nil {
			return fmt.Errorf("%s step %q: %w", r.c.name, st.title, err)
		}
		for _, h := range st.headers {
			req.Header.Add(h[0], h[1])
		}
		req.Header.Set("Authorization", "Bearer "+r.e.token)
		start := time.Now()
		resp, err := r.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s step %q: %w", r.c.name, st.title, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.lat = append(r.lat, time.Since(start))
		r.reqs++
		if err != nil {
			return fmt.Errorf("%s step %q: read response: %w", r.c.name, st.title, err)
		}
		if resp.StatusCode != st.status {
			return fmt.Errorf("%s step %q (line %d): %s %s: status %d, want %d: %.500s",
				r.c.name, st.title, st.line, st.method, target, resp.StatusCode, st.status, raw)
		}
		if st.created != "" {
			live := resp.Header.Get("Location")
			live = live[strings.LastIndexByte(live, '/')+1:]
			if live == "" {
				var doc struct{ ID string }
				json.Unmarshal(raw, &doc)
				live = doc.ID
			}
			if live == "" {
				return fmt.Errorf("%s step %q: 201 without Location or id", r.c.name, st.title)
			}
			ids[st.created] = live
		}
	}
	return nil
}

// encodeQuery percent-encodes the readable query of a golden target the
// way the golden harness does: split on '&' and the first '=', decode
// %XX escapes, encode again, keeping order.
func encodeQuery(target string) (string, error) {
	path, raw, ok := strings.Cut(target, "?")
	if !ok {
		return path, nil
	}
	var parts []string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			parts = append(parts, "")
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		dk, err := url.PathUnescape(k)
		if err != nil {
			return "", err
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return "", err
		}
		parts = append(parts, url.QueryEscape(dk)+"="+url.QueryEscape(dv))
	}
	return path + "?" + strings.Join(parts, "&"), nil
}

// BenchmarkIdPCycle replays whole provisioning cycles with 8 and 32
// concurrent virtual IdP connections; one op is one cycle. steps=idp sends
// only what the IdP sends (the golden's "check:" steps are the test's own
// reads, not IdP traffic); steps=all sends every step of the file.
func BenchmarkIdPCycle(b *testing.B) {
	for _, idp := range []string{"entra", "okta"} {
		for _, mode := range []string{"idp", "all"} {
			c := loadCycle(b, idp, mode == "all")
			for _, conns := range []int{8, 32} {
				b.Run(fmt.Sprintf("%s/steps=%s/conns=%d", idp, mode, conns), func(b *testing.B) {
					benchCycle(b, c, conns)
				})
			}
		}
	}
}

func benchCycle(b *testing.B, c *cycle, conns int) {
	e := server(b)
	rs := make([]*replayer, conns)
	for i := range rs {
		rs[i] = newReplayer(e, c)
	}
	var (
		next   atomic.Int64
		failed atomic.Bool
		errMu  sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for _, r := range rs {
		wg.Go(func() {
			for !failed.Load() && next.Add(1) <= int64(b.N) {
				if err := r.run(); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if first != nil {
		b.Fatal(first)
	}
	var lat latencies
	reqs := 0
	for _, r := range rs {
		lat.d = append(lat.d, r.lat...)
		reqs += r.reqs
		r.http.CloseIdleConnections()
	}
	b.ReportMetric(float64(reqs)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	b.ReportMetric(float64(reqs)/float64(b.N), "req/cycle")
	lat.report(b)
	if len(c.skipped) > 0 && b.N == 1 {
		b.Logf("%s: skipped steps needing another tenant or a literal token: %q", c.name, c.skipped)
	}
}

// memberOp is one PATCH operation adding one member, the way Okta sends
// up to 1,000 of them in one request.
func memberOp(id string) string {
	return `{"op":"add","path":"members","value":[{"value":"` + id + `"}]}`
}

func removeOp(id string) string {
	return `{"op":"remove","path":"members[value eq \"` + id + `\"]"}`
}

func patchOps(ops []string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// newGroup creates an empty group with a name unique in the run.
func newGroup(b *testing.B, e *env, prefix string) string {
	raw := e.do(b, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"%s-%d"}`, prefix, groupSeq.Add(1)), http.StatusCreated)
	id := jsonField(raw, "id")
	if id == "" {
		b.Fatalf("group create returned no id: %s", raw)
	}
	return id
}

// checkMembers reads a group's members and compares them with want.
func checkMembers(b *testing.B, e *env, group string, want []string) {
	raw := e.do(b, "GET", "/Groups/"+group+"?attributes=members.value", "", http.StatusOK)
	var doc struct{ Members []struct{ Value string } }
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	have := make([]string, 0, len(doc.Members))
	for _, m := range doc.Members {
		have = append(have, m.Value)
	}
	slices.Sort(have)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(have, want) {
		b.Fatalf("group %s has %d members, want %d", group, len(have), len(want))
	}
}

// reportPatch reports percentiles and the slowest request: Okta gives up
// on a request after 60 s.
func reportPatch(b *testing.B, lat *latencies) {
	if len(lat.d) == 0 {
		return
	}
	lat.report(b)
	b.ReportMetric(float64(slices.Max(lat.d).Microseconds())/1000, "max-ms")
}

// BenchmarkPatch1000MemberOps measures one PATCH carrying 1,000 separate
// add operations of one member each (Okta's maximum), on a new group:
// compare BenchmarkPatchAdd1000Members, one operation with 1,000 values.
func BenchmarkPatch1000MemberOps(b *testing.B) {
	e := server(b)
	var lat latencies
	for b.Loop() {
		b.StopTimer()
		group := newGroup(b, e, "bench-ops")
		first := rand.IntN(numUsers - 1000)
		ids := make([]string, 1000)
		ops := make([]string, 1000)
		for i := range ids {
			ids[i] = userID(first + i)
			ops[i] = memberOp(ids[i])
		}
		body := patchOps(ops)
		b.StartTimer()
		lat.time(func() { e.do(b, "PATCH", "/Groups/"+group, body, http.StatusNoContent) })
		b.StopTimer()
		checkMembers(b, e, group, ids)
		b.StartTimer()
	}
	reportPatch(b, &lat)
}

// BenchmarkPatch1000MixedOps measures one PATCH of 500 operations
// removing a member by value filter and 500 adding one, as an Okta group
// push with both sends them: removals first, then additions.
func BenchmarkPatch1000MixedOps(b *testing.B) {
	e := server(b)
	var lat latencies
	for b.Loop() {
		b.StopTimer()
		group := newGroup(b, e, "bench-mixed")
		first := rand.IntN(numUsers - 1000)
		old := make([]string, 500)
		add := make([]string, 500)
		for i := range 500 {
			old[i] = userID(first + i)
			add[i] = userID(first + 500 + i)
		}
		e.do(b, "PATCH", "/Groups/"+group, memberPatch("add", old), http.StatusNoContent)
		ops := make([]string, 0, 1000)
		for _, id := range old {
			ops = append(ops, removeOp(id))
		}
		for _, id := range add {
			ops = append(ops, memberOp(id))
		}
		body := patchOps(ops)
		b.StartTimer()
		lat.time(func() { e.do(b, "PATCH", "/Groups/"+group, body, http.StatusNoContent) })
		b.StopTimer()
		checkMembers(b, e, group, add)
		b.StartTimer()
	}
	reportPatch(b, &lat)
}

// TestIdPCycleParse checks the replay's parsing without a server: both
// cycles parse and record three creates (two users, one group) whose ids
// later steps use.
func TestIdPCycleParse(t *testing.T) {
	for _, idp := range []string{"entra", "okta"} {
		c := loadCycle(t, idp, true)
		creates := 0
		for _, st := range c.steps {
			if st.created != "" {
				creates++
			}
		}
		if creates != 3 {
			t.Errorf("%s: %d creates with a Location, want 3", idp, creates)
		}
		t.Logf("%s: %d steps, %d skipped, literals %q", idp, len(c.steps), len(c.skipped), c.literals)
	}
}
