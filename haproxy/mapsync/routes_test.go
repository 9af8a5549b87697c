package mapsync

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	hxruntime "github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/internal/haproxytest"
	"github.com/scimgate/scimgate/policy"
)

const matchRoutes = `
routes:
  - {name: root, path: /, allow: {public: true}}
  - {name: any-api, path: /api, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {public: true}}
  - {name: app-read, host: app.test, path: /app/read, methods: [GET], allow: {public: true}}
  - {name: app-deep, host: app.test, path: /app/a/b/c, allow: {public: true}}
  - {name: app-put, host: app.test, path: /app/read, methods: [PUT, DELETE], allow: {public: true}}
  - {name: wild, host: "*.wild.test", path: /, allow: {public: true}}
  - {name: wild-x, host: "*.wild.test", path: /x, methods: [POST], allow: {public: true}}
  - {name: exact-in-wild, host: a.wild.test, path: /x/y, allow: {public: true}}
  - {name: dots, host: app.test, path: "/v1.0/a+b", allow: {public: true}}
  - {name: space, host: App.Test, path: "/with space", allow: {public: true}}
  - {name: reports, host: app.test, path: /Reports, methods: [GET], allow: {public: true}}
  - {name: keys, host: app.test, path: /keys, allow: {public: true}}
`

// requestShapes are the requests both matchers are asked about: method,
// Host header, escaped path.
func requestShapes() (out [][3]string) {
	hosts := []string{"app.test", "APP.test:8080", "app.test.", "app.test.:8080", "app.test:", "a.wild.test", "B.wild.test",
		"x.y.wild.test", "wild.test", "other.test", "", "a.wild.test:443", "a.wild.test.", "app.test..", "app.test:80:80",
		":80", ".", ".:8080", ":", "[]", "my_app.test"}
	paths := []string{"/", "/api", "/api/", "/api/x", "/apix", "/app", "/app/", "/app/read", "/app/read/x", "/app/reader",
		"/app/a/b/c/d", "/app/a/b", "/x", "/x/", "/x/y", "/x/y/z", "/v1.0/a+b/c", "/v1x0/a+b", "/with%20space/x",
		"/%61pp/x", "/app/%7e", "/App/x", "/APP/READ", "/Api/x", "/X/y", "/Reports/q", "/reports/q", "/REPORTS", "/%41pp",
		// PCRE's "$" also matches before a final line feed.
		"/api%0a", "/app/read%0A", "/x/y%0d", "/app%09", "/app%0a/x",
		// Non-ASCII letters that fold to ASCII ones: dotless and dotted
		// I, long s, the Kelvin sign; and ones that do not.
		"/ap%C4%B1/x", "/AP%C4%B0", "/report%C5%BF/q", "/%E2%84%AAeys/x", "/%C3%A4pp/x", "/caf%C3%A9"}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PURGE"} {
		for _, h := range hosts {
			for _, p := range paths {
				out = append(out, [3]string{m, h, p})
			}
		}
	}
	return out
}

// wantRoute is the route the engine picks, "" for none, ambiguous when
// the engine refuses the path as ambiguous in letter case.
func wantRoute(t testing.TB, p *policy.Policy, method, host, escaped string) string {
	t.Helper()
	path, err := policy.NormalizePath(escaped)
	if err != nil {
		t.Fatalf("NormalizePath(%q): %v", escaped, err)
	}
	h := policy.NormalizeHost(host)
	r := p.Match(h, path, method)
	switch {
	case !policy.ValidHost(h) || h == "" && p.NamesHosts():
		return ambiguous // bad-host, as the engine decides it
	case p.CaseAmbiguous(h, path, method, r):
		return ambiguous
	case r != nil:
		return r.Name
	}
	return ""
}

// ambiguous stands for a refusal as ambiguous in case, and for HAProxy's
// 400 bad-path.
const ambiguous = "(ambiguous)"

// matchPath is the path a request shape is matched on, and whether the
// engine refuses it as a bad path, as haproxy.cfg does: control
// characters. Those are still matched on their decoded path, which
// routes.map alone must read as policy.Match does.
func matchPath(t testing.TB, escaped string) (path string, refused bool) {
	t.Helper()
	if p, err := policy.NormalizePath(escaped); err == nil {
		return p, false
	}
	p, err := url.PathUnescape(escaped)
	if err != nil || !strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		t.Fatalf("request shape %q: refused by NormalizePath, not for control characters", escaped)
	}
	return p, true
}

func foldsToASCII(r rune) bool { return r == 0x130 || r == 0x131 || r == 0x17F || r == 0x212A }

// pick is the route the first expression matching key names, "" for none.
func pick(res []*regexp.Regexp, entries []hxruntime.Entry, key string) (string, bool) {
	for i, re := range res {
		if re.MatchString(key) {
			return entries[i].Value, true
		}
	}
	return "", false
}

// TestRouteEntriesGo checks routes.map's expressions with Go's regexp,
// which reads them as PCRE does, against policy.Match.
func TestRouteEntriesGo(t *testing.T) {
	p := gatetest.Compile(t, matchRoutes)
	entries, err := RouteEntries(p)
	if err != nil {
		t.Fatal(err)
	}
	res := make([]*regexp.Regexp, len(entries))
	for i, e := range entries {
		if !keySafe(e.Key) {
			t.Errorf("expression %q cannot be a map key", e.Key)
		}
		res[i] = regexp.MustCompile(e.Key)
	}
	// status.map's "fold": a route's path has upper case.
	fold := slices.ContainsFunc(p.Routes, func(r *policy.Route) bool { return foldLikeHAProxy(r.Path) != r.Path })
	if !fold {
		t.Fatal("matchRoutes lost its route with upper case")
	}
	for _, s := range requestShapes() {
		method, host, escaped := s[0], s[1], s[2]
		path, refused := matchPath(t, escaped)
		key := strings.ToUpper(method) + "|" + strings.ToLower(host) + path
		got, found := pick(res, entries, key)
		if refused {
			// haproxy.cfg refuses it first; the expressions still agree.
			want := ""
			if r := p.Match(policy.NormalizeHost(host), path, method); r != nil {
				want = r.Name
			}
			if got == NoRoute {
				got = ""
			}
			if got != want {
				t.Errorf("%s %s%s: routes.map picks %q, policy.Match %q", method, host, escaped, got, want)
			}
			continue
		}
		// haproxy.cfg: the folded key finds another route, or one where
		// the key found none or none where it found one.
		if strings.ContainsFunc(path, func(r rune) bool { return 'A' <= r && r <= 'Z' || foldsToASCII(r) }) || fold {
			folded, ffound := pick(res, entries, "|"+foldLikeHAProxy(method+"|"+strings.ToLower(host)+path))
			if found != ffound || folded != got {
				got = ambiguous
			}
		}
		if got == NoRoute {
			got = "" // refused for its method
		}
		if h := policy.NormalizeHost(host); h == "" || !policy.ValidHost(h) {
			got = ambiguous // haproxy.cfg refuses a request without a host name first
		}
		if want := wantRoute(t, p, method, host, escaped); got != want {
			t.Errorf("%s %s%s: routes.map picks %q, policy.Match %q", method, host, escaped, got, want)
		}
	}
}

// TestRouteEntriesHAProxy sends the same requests through the request lines
// of the example haproxy.cfg and compares the route HAProxy picks with
// policy.Match.
func TestRouteEntriesHAProxy(t *testing.T) {
	// With the reports route, a route has upper case: every request is
	// looked up folded. Without it, only those haproxy.cfg sees may fold.
	lowerRoutes := strings.Replace(matchRoutes, "  - {name: reports, host: app.test, path: /Reports, methods: [GET], allow: {public: true}}\n", "", 1)
	if lowerRoutes == matchRoutes {
		t.Fatal("matchRoutes lost its reports route")
	}
	t.Run("fold", func(t *testing.T) { testRouteEntriesHAProxy(t, matchRoutes, true) })
	t.Run("lower", func(t *testing.T) { testRouteEntriesHAProxy(t, lowerRoutes, false) })
}

func testRouteEntriesHAProxy(t *testing.T, routes string, fold bool) {
	p := gatetest.Compile(t, routes)
	entries, err := RouteEntries(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s\n", e.Key, e.Value)
	}
	if err := os.WriteFile(filepath.Join(dir, RoutesMap), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	status := ""
	if fold {
		status = "fold 1\n"
	}
	if err := os.WriteFile(filepath.Join(dir, StatusMap), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	h := haproxytest.Start(t, `
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{port "fe"}}
`+requestLines(t, dir)+`
    http-request return status 200 hdr x-route %[var(txn.sg_route)] if { var(txn.sg_route) -m found }
    http-request return status 404
`)
	shapes := requestShapes()
	for _, s := range shapes {
		method, host, escaped := s[0], s[1], s[2]
		r := do(t, h.Addr(), method, host, escaped)
		got := ""
		switch r.status {
		case 200:
			got = r.route
			if got == NoRoute {
				got = "" // refused for its method
			}
		case 400:
			got = ambiguous
		case 404:
		default:
			t.Errorf("%s %s%s: status %d", method, host, escaped, r.status)
			continue
		}
		want := ambiguous // bad-path, in the engine too
		if _, refused := matchPath(t, escaped); !refused {
			want = wantRoute(t, p, method, host, escaped)
		}
		if got != want {
			t.Errorf("%s %s%s: HAProxy picks %q, policy.Match %q", method, host, escaped, got, want)
		}
	}
	t.Logf("%d requests: HAProxy's route = policy.Match's, or bad-path", len(shapes))

	// Paths the engine reads one way and an upstream may read another are
	// refused; dot segments and "//" too (the engine would normalise them).
	for _, path := range []string{"/app/a%2fb", "/app/a%5Cb", "/app/%00", "/app/..", "/app/./x", "/app//x", "/app/%2e%2e/x", "/app/%zz", `/app\x`,
		"/app/%0a", "/app%0D", "/app/%09x", "/app/%1f", "/app/%7F", "/app/x%0d%0a"} {
		if r := do(t, h.Addr(), "GET", "app.test", path); r.status != 400 {
			t.Errorf("GET %s: status %d, want 400", path, r.status)
		}
	}
}

// requestLines returns the lines of the example haproxy.cfg that turn a
// request into its routes.map key, with the map directory replaced.
func requestLines(t testing.TB, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "examples", "haproxy", "mapsync", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	start := strings.Index(cfg, "    # --- the request as the policy sees it")
	end := strings.Index(cfg, "    # --- who is asking")
	if start < 0 || end < start {
		t.Fatal("example haproxy.cfg lost its section markers")
	}
	return strings.ReplaceAll(cfg[start:end], "/etc/haproxy/scimgate", dir)
}
