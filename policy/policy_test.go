package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
)

func compile(t testing.TB, yaml string) *Policy {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	p, err := Compile(cfg.Routes, "test", time.Unix(0, 0))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

const routesYAML = `
routes:
  - {name: root,        path: /,            allow: {public: true}}
  - {name: app,         host: app.example.com, path: /,     allow: {groups: [eng]}}
  - {name: app-admin,   host: app.example.com, path: /admin/, allow: {groups: [admins]}}
  - {name: app-api-get, host: app.example.com, path: /api, methods: [GET], allow: {groups: [readers]}}
  - {name: app-api,     host: app.example.com, path: /api, allow: {groups: [writers]}}
  - {name: wild,        host: "*.example.com", path: /, allow: {groups: [eng]}}
  - {name: wild-docs,   host: "*.example.com", path: /docs, allow: {public: true}}
  - {name: first,       host: dup.example.com, path: /x, allow: {users: [a]}}
  - {name: any-metrics, path: /metrics, methods: [GET], allow: {groups: [ops]}}
`

func TestMatch(t *testing.T) {
	p := compile(t, routesYAML)
	tests := []struct {
		host, path, method, want string
	}{
		{"app.example.com", "/", "GET", "app"},
		{"app.example.com", "/admin", "GET", "app-admin"},
		{"app.example.com", "/admin/", "GET", "app-admin"},
		{"app.example.com", "/admin/users/7", "DELETE", "app-admin"},
		{"app.example.com", "/administrator", "GET", "app"}, // segments, not string prefixes
		{"app.example.com", "/api/items", "GET", "app-api-get"},
		{"app.example.com", "/api/items", "HEAD", "app-api-get"}, // GET admits HEAD
		{"app.example.com", "/api/items", "POST", "app-api"},
		{"app.example.com", "/metrics", "GET", "app"}, // the exact host wins over any host
		{"x.example.com", "/", "GET", "wild"},
		{"x.example.com", "/docs/intro", "GET", "wild-docs"},
		{"a.b.example.com", "/", "GET", "root"}, // a wildcard covers one label
		{"example.com", "/", "GET", "root"},
		{"dup.example.com", "/x", "GET", "first"},
		{"other.test", "/metrics", "GET", "any-metrics"},
		// /metrics lists GET: its other methods are refused, not handed to
		// the public root (which would open a POST the route meant to keep
		// to ops).
		{"other.test", "/metrics", "POST", "<nil>"},
		{"other.test", "/metrics/x", "BREW", "<nil>"},
		{"other.test", "/metricsx", "POST", "root"},
		{"other.test", "/", "POST", "root"},
		// Methods in another case are decided as the method many
		// applications read them as: "delete" is refused where DELETE
		// is, not handed to a route admitting every method.
		{"app.example.com", "/api/items", "get", "app-api-get"},
		{"app.example.com", "/api/items", "Head", "app-api-get"},
		{"other.test", "/metrics", "post", "<nil>"},
		{"other.test", "/metrics", "gEt", "any-metrics"},
	}
	for _, tt := range tests {
		r := p.Match(tt.host, tt.path, tt.method)
		got := "<nil>"
		if r != nil {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("Match(%q, %q, %q) = %s, want %s", tt.host, tt.path, tt.method, got, tt.want)
		}
	}
	none := compile(t, "routes:\n  - {name: a, host: a.test, path: /a, methods: [GET], allow: {users: [x]}}\n")
	for _, tc := range [][3]string{{"a.test", "/b", "GET"}, {"b.test", "/a", "GET"}, {"a.test", "/a", "POST"}} {
		if r := none.Match(tc[0], tc[1], tc[2]); r != nil {
			t.Errorf("Match(%v) = %s, want no route", tc, r.Name)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := compile(t, routesYAML)
	if n := testing.AllocsPerRun(100, func() {
		p.Match("app.example.com", "/api/items/42", "GET")
		p.Match("app.example.com", "/api/items/42", "delete")
	}); n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

func TestRefs(t *testing.T) {
	p := compile(t, "routes:\n  - {name: a, allow: {groups: [Engineering, okta/Admins, /x, y/]}, deny: {users: [Eve@X]}}\n")
	r := p.Routes[0]
	got := []Ref{r.AllowGroups[0], r.AllowGroups[1], r.AllowGroups[2], r.AllowGroups[3], r.DenyUsers[0]}
	want := []Ref{
		{Name: "engineering", Raw: "Engineering"},
		{Tenant: "okta", Short: "admins", Name: "okta/admins", Raw: "okta/Admins"},
		{Name: "/x", Raw: "/x"},
		{Name: "y/", Raw: "y/"},
		{Name: "eve@x", Raw: "Eve@X"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ref %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if p.Hash == "" || p.Hash == compile(t, "routes:\n  - {name: b, allow: {public: true}}\n").Hash {
		t.Errorf("policy hash %q does not tell policies apart", p.Hash)
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", "/", false},
		{"/", "/", false},
		{"/app", "/app", false},
		{"/app/", "/app/", false},
		{"/a/./b", "/a/b", false},
		{"/public/../admin", "/admin", false},
		{"/../../etc", "/etc", false},
		{"//admin", "/admin", false},
		{"/a//b/", "/a/b/", false},
		{"/caf%C3%A9", "/café", false},
		{"/%2e%2e/admin", "/admin", false},
		{"/public/%2e%2e/admin", "/admin", false},
		{"/public/..%2fadmin", "", true},
		{"/public%2F..%2Fadmin", "", true},
		{"/a%5c..%5cadmin", "", true},
		{"/a\\..\\admin", "", true},
		{"/a%00", "", true},
		// Control characters: PCRE's $ (HAProxy map-sync) and many
		// servers read a line feed as an end.
		{"/public%0a", "", true},
		{"/public%0A", "", true},
		{"/a%0d%0ab", "", true},
		{"/a%09b", "", true},
		{"/a%1f", "", true},
		{"/a%7F", "", true},
		{"/a\nb", "", true},
		{"/a\x7fb", "", true},
		{"/a%20b", "/a b", false},
		{"/a%7eb", "/a~b", false},
		{"/a%zz", "", true},
		{"/public/..;/admin", "", true},     // Tomcat: /admin
		{"/admin;jsessionid=1/x", "", true}, // Tomcat: /admin/x
		{"/a%3bb", "", true},
		{"/a%3Bb", "", true},
		{"/a%", "", true},
		{"relative", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizePath(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("NormalizePath(%q) error %v is not ErrAmbiguousPath", tt.in, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { NormalizePath("/app/items/42") }); n != 0 {
		t.Errorf("NormalizePath of a clean path allocates %v times, want 0", n)
	}
}

// TestCanonicalPath: for enforcement points that pass the request's own
// path upstream, only paths that normalizing leaves alone are decided.
func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", "/", false},
		{"/", "/", false},
		{"/app/items/42", "/app/items/42", false},
		{"/app/", "/app/", false},
		{"/caf%C3%A9", "/café", false},
		{"/%61pp", "/app", false}, // an escaped letter reads the same everywhere
		{"/a/./b", "", true},
		{"/public/../admin", "", true},
		{"/public/%2e%2e/admin", "", true},
		{"/public/%2E./admin", "", true},
		{"/app/.", "", true},
		{"/app/..", "", true},
		{"//admin", "", true},
		{"/a//b/", "", true},
		{"/public/..%2fadmin", "", true},
		{"/public/..;/admin", "", true},
		{"relative", "", true},
	}
	for _, tt := range tests {
		got, err := CanonicalPath(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("CanonicalPath(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("CanonicalPath(%q) error %v is not ErrAmbiguousPath", tt.in, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalPath("/app/items/42") }); n != 0 {
		t.Errorf("CanonicalPath of a clean path allocates %v times, want 0", n)
	}
}

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"app.example.com": true, "::1": true, "10.0.0.1": true, "my_service": true, "": true, "xn--caf-dma.test": true,
		"admin.test,app.test": false, "app test": false, "app.test/x": false, "app.test\\x": false, "app.test;x": false,
		"App.Test": false, // not normalized
	} {
		if got := ValidHost(h); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"App.Example.COM:8443": "app.example.com",
		"app.example.com.":     "app.example.com",
		"[::1]:80":             "::1",
		"[::1]":                "::1",
		"app":                  "app",
		"App:":                 "app",
		"[app]":                "[app]", // ValidHost refuses it
		"[App.Test.]:443":      "[app.test.]:443",
		"[::FFFF:10.0.0.1]:80": "::ffff:10.0.0.1",
		"[fe80::1%eth0]":       "[fe80::1%eth0]",
		"[10.0.0.1]":           "[10.0.0.1]",
		"":                     "",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/%2e%2e/x", "//a//b/", "/a%2fb", "/caf%C3%A9/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizePath(in)
		if err != nil {
			return
		}
		// The result is clean: normalising it again changes nothing, and no
		// dot segment or empty segment survives.
		again, err := NormalizePath(strings.ReplaceAll(out, "%", "%25"))
		if err != nil || again != out {
			t.Errorf("NormalizePath(%q) = %q, which normalises to %q, %v", in, out, again, err)
		}
		for _, seg := range strings.Split(strings.Trim(out, "/"), "/") {
			if seg == "." || seg == ".." || (seg == "" && out != "/") {
				t.Errorf("NormalizePath(%q) = %q keeps segment %q", in, out, seg)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	p := compile(f, routesYAML)
	f.Add("app.example.com", "/api/x", "GET")
	f.Add("x.example.com", "/docs", "POST")
	f.Fuzz(func(t *testing.T, host, path, method string) {
		r := p.Match(host, path, method)
		if r != nil && r.Host != "" && !strings.HasPrefix(r.Host, "*.") && r.Host != host {
			t.Errorf("Match(%q) chose route %s of host %s", host, r.Name, r.Host)
		}
	})
}

// TestCaseAmbiguous: a path whose letters, folded, fall under another
// route than the path as written is ambiguous: a server that reads paths
// without regard to case (IIS, ASP.NET Core, Express) would serve /ADMIN
// as /admin, while the route of / decided it.
func TestCaseAmbiguous(t *testing.T) {
	p := compile(t, `routes:
  - {name: site, host: app.test, path: /, allow: {public: true}}
  - {name: admin, host: app.test, path: /admin, allow: {groups: [admins]}}
  - {name: reports, host: app.test, path: /Reports, allow: {groups: [finance]}}
  - {name: any-docs, path: /docs, allow: {public: true}}
`)
	tests := []struct {
		path string
		want bool
	}{
		{"/admin/users", false},
		{"/ADMIN/users", true},
		{"/Admin", true},
		{"/administrator", false},
		{"/Site/Page", false}, // / either way
		{"/Reports/q1", false},
		{"/reports/q1", true}, // /Reports on a server that ignores case
		{"/REPORTS", true},
		{"/café/ÉTÉ", false},
		{"/Docs/x", false}, // app.test's routes claim it either way
		// Non-ASCII letters whose case mappings reach ASCII ones.
		{"/\u017Fecret", false},    // ſ: no route under /secret here
		{"/adm\u0131n", true},      // ı upper-cases to I
		{"/ADM\u0130N", true},      // İ lower-cases to i
		{"/report\u017F/q1", true}, // ſ and s: /Reports, folded
		{"/\u212Aey", false},       // Kelvin sign: no /key route
		{"/admin\xff/x", false},    // not UTF-8: kept as it is
	}
	for _, tt := range tests {
		r := p.Match("app.test", tt.path, "GET")
		if got := p.CaseAmbiguous("app.test", tt.path, "GET", r); got != tt.want {
			t.Errorf("CaseAmbiguous(%q) = %v, want %v (route %v)", tt.path, got, tt.want, r)
		}
	}
	// Lower-case routes and paths: no second lookup, no allocation.
	lower := compile(t, routesYAML)
	if n := testing.AllocsPerRun(100, func() {
		lower.CaseAmbiguous("app.example.com", "/api/items/42", "GET", lower.Match("app.example.com", "/api/items/42", "GET"))
	}); n != 0 {
		t.Errorf("CaseAmbiguous of a lower-case path allocates %v times, want 0", n)
	}
	// Nor does one with upper-case letters.
	if n := testing.AllocsPerRun(100, func() {
		p.CaseAmbiguous("app.test", "/Docs/Index.html", "GET", p.Match("app.test", "/Docs/Index.html", "GET"))
	}); n != 0 {
		t.Errorf("CaseAmbiguous of a path with upper case allocates %v times, want 0", n)
	}
}

// TestFoldCase: ASCII letters fold to lower case, and so do the four
// non-ASCII letters case-insensitive servers equate with ASCII ones.
func TestFoldCase(t *testing.T) {
	for in, want := range map[string]string{
		"/Admin":            "/admin",
		"/\u017Fecret":      "/secret",
		"/adm\u0131n":       "/admin",
		"/ADM\u0130N":       "/admin",
		"/\u212Aey":         "/key",
		"/Caf\u00C9":        "/caf\u00e9",
		"/x\xff\xfeY":       "/x\xff\xfey",
		"/already/lower/42": "/already/lower/42",
	} {
		if got := FoldCase(in); got != want {
			t.Errorf("FoldCase(%q) = %q, want %q", in, got, want)
		}
	}
}
