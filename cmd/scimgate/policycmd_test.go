package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
)

// policyFixture is a store provisioned over SCIM by the real server, and
// the configuration header that names it.
type policyFixture struct {
	bin, dir, head string
}

// newPolicyFixture provisions, in tenant acme: alice in platform, itself
// in staff; carol (inactive) and mallory in platform; bob in ops; an
// empty admins group. Tenant other has a group ops too.
func newPolicyFixture(t *testing.T) *policyFixture {
	t.Helper()
	bin := realBinary(t)
	dir := t.TempDir()
	head := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: warn\n",
		filepath.Join(dir, "scimgate.db"))
	f := &policyFixture{bin: bin, dir: dir, head: head}
	cfg := f.write(t, "serve.yaml", "")
	srv := startServer(t, bin, cfg)
	hc := &http.Client{Timeout: 10 * time.Second}
	user := func(s *server, name string, active bool) string {
		return scimCreate(t, hc, s, "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":%v}`, name, active))
	}
	group := func(s *server, name string, members ...string) string {
		var ms []string
		for _, m := range members {
			ms = append(ms, fmt.Sprintf(`{"value":%q}`, m))
		}
		return scimCreate(t, hc, s, "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[%s]}`,
			name, strings.Join(ms, ",")))
	}
	platform := group(srv, "platform", user(srv, "alice@example.com", true), user(srv, "carol@example.com", false), user(srv, "mallory@example.com", true))
	group(srv, "staff", platform)
	group(srv, "ops", user(srv, "bob@example.com", true))
	group(srv, "admins")
	otherTok, _, _ := createToken(t, bin, cfg, "--tenant", "other")
	group(&server{base: srv.base, token: otherTok}, "ops")
	srv.kill()
	return f
}

// write writes a configuration file of the fixture's store with routes.
func (f *policyFixture) write(t *testing.T, name, routes string) string {
	t.Helper()
	path := filepath.Join(f.dir, name)
	content := f.head
	if routes != "" {
		content += "routes:\n" + routes
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// policyHash is the short hash policy check prints for a file.
func policyHash(t *testing.T, path string) string {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(c.Routes, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p.Hash[:12]
}

const explainRoutes = `  - {name: app, path: /app, allow: {groups: [staff]}, deny: {users: [mallory@example.com]}}
  - {name: ro, path: /ro, methods: [GET], allow: {groups: [staff]}}
  - {name: pub, path: /pub, allow: {public: true}}
  - {name: adm, host: admin.example.com, path: /, allow: {groups: [admins]}}
`

// TestPolicyCheck: `policy check` exits 0 on a good file, printing the
// route count and the policy's hash, and names every group that matches
// no directory group or is ambiguous across tenants; on a bad file it
// exits 1 with every problem and its field path, and prints nothing on
// stdout.
func TestPolicyCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	f := newPolicyFixture(t)
	good := []struct {
		name, routes string
		want         []string // lines after the summary, in order
	}{
		{name: "every name resolves", routes: explainRoutes,
			want: []string{"every group and user name resolves in the directory"}},
		{name: "unknown and ambiguous groups", routes: `  - {name: app, path: /app, allow: {groups: [staff, ghosts]}}
  - {name: ops, path: /ops, allow: {groups: [ops]}, deny: {groups: [ops]}}
  - {name: other-ops, path: /other, allow: {groups: [other/ops, other/admins]}}
`, want: []string{
			`warning: route app: allow group "ghosts": no such group (yet)`,
			`warning: route ops: allow group "ops": several tenants have a group of that name, so it admits nobody; qualify it as tenant/ops`,
			`warning: route ops: deny group "ops": several tenants have a group of that name, so it refuses the members of all of them; qualify it as tenant/ops`,
			`warning: route other-ops: allow group "other/admins": no such group in tenant other`,
		}},
		{name: "a user name in no tenant", routes: "  - {name: app, path: /app, allow: {groups: [staff], users: [ghost@example.com]}}\n",
			want: []string{`warning: route app: allow user "ghost@example.com": no such user (yet)`}},
	}
	for i, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			path := f.write(t, fmt.Sprintf("good%d.yaml", i), tt.routes)
			res := cli(t, f.bin, "policy", "check", "--config", path)
			n := strings.Count(tt.routes, "- {name:")
			want := fmt.Sprintf("%s: %d routes, policy %s\n%s\n", path, n, policyHash(t, path), strings.Join(tt.want, "\n"))
			if res.code != 0 || res.stdout != want {
				t.Errorf("policy check: exit %d\nstdout:\n%s\nstderr: %s\nwant exit 0 and:\n%s", res.code, res.stdout, res.stderr, want)
			}
		})
	}

	// Before the first start there is no store: the routes are checked,
	// the names cannot be, and no store is created.
	t.Run("no store yet", func(t *testing.T) {
		store := filepath.Join(f.dir, "later.db")
		path := filepath.Join(f.dir, "later.yaml")
		if err := os.WriteFile(path, []byte("store: sqlite:"+store+"\nroutes:\n"+explainRoutes), 0o600); err != nil {
			t.Fatal(err)
		}
		res := cli(t, f.bin, "policy", "check", "--config", path)
		want := fmt.Sprintf("%s: %d routes, policy %s\nnote: store sqlite:%s does not exist yet: group and user names were not checked against the directory\n",
			path, strings.Count(explainRoutes, "- {name:"), policyHash(t, path), store)
		if res.code != 0 || res.stdout != want {
			t.Errorf("policy check: exit %d\nstdout:\n%s\nstderr: %s\nwant exit 0 and:\n%s", res.code, res.stdout, res.stderr, want)
		}
		if _, err := os.Stat(store); err == nil {
			t.Errorf("policy check created the store %s", store)
		}
	})

	bad := []struct {
		name, routes string
		want         []string
	}{
		{name: "route errors", routes: `  - {name: app, path: /app, methods: [get], allow: {groups: [staff]}}
  - {name: two, path: /two, allow: {}}
  - {name: app, host: "http://x.example.com", path: three, upstream: "ftp://x", allow: {public: true}, deny: {users: [bob@example.com]}}
  - {name: "", path: /four, allow: {groups: [" "], users: [alice@example.com]}}
`, want: []string{
			`routes[0].methods[0]: "get" is not an HTTP method`,
			`routes[1].allow: admits nobody`,
			`routes[2].name: "app" is also the name of routes[0]`,
			`routes[2].host: "http://x.example.com" is not a host name`,
			`routes[2].path: "three" must start with /`,
			`routes[2].upstream: "ftp://x" is not an http(s) URL`,
			`routes[2].deny: a public route admits everyone`,
			`routes[3].name: is required`,
			`routes[3].allow.groups[0]: is empty`,
		}},
		{name: "invalid YAML", routes: "  - {name: app, path: /app\n", want: []string{"invalid YAML", "line "}},
		{name: "unknown key", routes: "  - name: app\n    alow: {groups: [staff]}\n",
			want: []string{`routes[0].alow: unknown key (did you mean "allow"?`}},
		{name: "wrong type", routes: "  - {name: app, methods: GET, allow: {public: true}}\n", want: []string{"routes[0].methods"}},
	}
	for i, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := f.write(t, fmt.Sprintf("bad%d.yaml", i), tt.routes)
			res := cli(t, f.bin, "policy", "check", "--config", path)
			if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "config "+path) {
				t.Errorf("policy check: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, the file named", res.code, res.stdout, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("policy check does not report %q:\n%s", w, res.stderr)
				}
			}
		})
	}
}

// TestPolicyExplain: `policy explain` prints, for one user and request,
// the decision and its reason, the route (or that none matches), the user
// with their state and groups, and the group chain that admitted them;
// for a user the directory does not have it exits 1 saying so.
func TestPolicyExplain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	f := newPolicyFixture(t)
	path := f.write(t, "explain.yaml", explainRoutes)
	const (
		appRoute = "route:    app (host *, path /app)\n"
		noRoute  = "route:    none matches; unmatched requests are denied\n"
		alice    = "user:     alice@example.com (tenant acme, active)\ngroups:   platform, staff\n"
	)
	tests := []struct {
		name   string
		user   string
		method string // empty: the default, GET
		url    string
		want   string
	}{
		{"allowed through a nested group", "alice@example.com", "", "https://app.example.com/app/x",
			"decision: allow (group-ok)\n" + appRoute + alice + "via:      platform -> staff\n"},
		{"not in the route's group", "bob@example.com", "", "https://app.example.com/app/x",
			"decision: deny (not-allowed)\n" + appRoute + "user:     bob@example.com (tenant acme, active)\ngroups:   ops\n"},
		{"no route", "alice@example.com", "", "https://app.example.com/nowhere", "decision: deny (no-route)\n" + noRoute},
		{"a method the route leaves out", "alice@example.com", "POST", "https://app.example.com/ro/x", "decision: deny (no-route)\n" + noRoute},
		{"HEAD on a GET route, lower case", "alice@example.com", "head", "https://app.example.com/ro/x",
			"decision: allow (group-ok)\nroute:    ro (host *, path /ro)\n" + alice + "via:      platform -> staff\n"},
		{"inactive user", "carol@example.com", "", "https://app.example.com/app/",
			"decision: deny (user-inactive)\n" + appRoute + "user:     carol@example.com (tenant acme, inactive)\ngroups:   platform, staff\n"},
		{"denied user", "mallory@example.com", "", "https://app.example.com/app/",
			"decision: deny (denied-user)\n" + appRoute + "user:     mallory@example.com (tenant acme, active)\ngroups:   platform, staff\n"},
		{"anonymous", "", "", "https://app.example.com/app/", "decision: deny (unauthenticated)\n" + appRoute},
		{"anonymous on a public route", "", "", "https://app.example.com/pub/x", "decision: allow (public)\nroute:    pub (host *, path /pub)\n"},
		{"exact host, case and port ignored", "alice@example.com", "", "https://ADMIN.example.com:8443/x",
			"decision: deny (not-allowed)\nroute:    adm (host admin.example.com, path /)\n" + alice},
		{"ambiguous path", "alice@example.com", "", "https://app.example.com/app/a%2Fb", "decision: deny (bad-path)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"policy", "explain", "--config", path, "--url", tt.url}
			if tt.user != "" {
				args = append(args, "--user", tt.user)
			}
			if tt.method != "" {
				args = append(args, "--method", tt.method)
			}
			res := cli(t, f.bin, args...)
			if res.code != 0 || res.stdout != tt.want {
				t.Errorf("policy explain: exit %d\nstdout:\n%s\nstderr: %s\nwant exit 0 and:\n%s", res.code, res.stdout, res.stderr, tt.want)
			}
		})
	}
	t.Run("a user not in the directory", func(t *testing.T) {
		res := cli(t, f.bin, "policy", "explain", "--config", path, "--user", "nobody@example.com", "--url", "https://app.example.com/app/")
		if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, `no user "nobody@example.com" in the directory`) {
			t.Errorf("policy explain for an unknown user: exit %d, stdout %q, stderr %q; want exit 1 naming the user", res.code, res.stdout, res.stderr)
		}
	})
}
