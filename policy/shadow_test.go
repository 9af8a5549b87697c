package policy

import (
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
)

// TestRoutesSplitByMethod: routes on one host and path that config
// accepts (each takes methods no earlier one takes) each decide their
// methods; the one config refuses (same host and path, nothing left to
// decide) would decide nothing.
func TestRoutesSplitByMethod(t *testing.T) {
	cfg, err := config.Parse([]byte(`routes:
  - {name: read, path: /api, methods: [GET], allow: {public: true}}
  - {name: write, path: /api/, methods: [POST, PUT], allow: {groups: [g]}}
  - {name: rest, path: /api, allow: {groups: [admins]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(cfg.Routes, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, want string }{
		{"GET", "read"}, {"HEAD", "read"}, {"POST", "write"}, {"PUT", "write"}, {"DELETE", "rest"}, {"PATCH", "rest"},
	} {
		if r := p.Match("", "/api/x", tt.method); r == nil || r.Name != tt.want {
			t.Errorf("%s /api/x -> %v, want route %q", tt.method, r, tt.want)
		}
	}
	shadowed := []config.Route{
		{Name: "admin", Path: "/admin", Allow: config.AllowRule{Groups: []string{"admins"}}},
		{Name: "lockdown", Path: "/admin/", Allow: config.AllowRule{Groups: []string{"admins"}}, Deny: config.DenyRule{Users: []string{"mallory"}}},
	}
	if err := (&config.Config{Routes: shadowed}).Validate(); err == nil {
		t.Error("config accepts a route that an earlier one hides")
	}
	p, err = Compile(shadowed, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST", "DELETE"} {
		if r := p.Match("", "/admin/users", m); r.Name != "admin" {
			t.Errorf("%s /admin/users -> %q; the refused config's first route should decide all", m, r.Name)
		}
	}
}
