package config

import (
	"slices"
	"testing"
)

// TestValidateRoutesShadowed: a route that an earlier one on the same
// host and path hides (matching takes the first that admits the method)
// is an error at routes[i].path naming the earlier route; routes that
// split the methods between them are not.
func TestValidateRoutesShadowed(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"same path, deny rule never applies", `routes:
  - {name: admin, path: /admin, allow: {groups: [admins]}}
  - {name: admin-lockdown, path: /admin/, allow: {groups: [admins]}, deny: {users: [mallory@example.com]}}`,
			[]string{`routes[1].path: "/admin/" on any host is decided by the earlier routes[0] ("admin"): this route never applies (merge it into routes[0] ("admin"), or give it another host or path)`}},
		{"same host in another case, * and empty host", `routes:
  - {name: a, host: App.example.com, allow: {public: true}}
  - {name: b, host: app.example.com, path: /, allow: {public: true}}
  - {name: c, host: "*", allow: {public: true}}
  - {name: d, allow: {public: true}}`,
			[]string{
				`routes[1].path: "/" on host app.example.com is decided by the earlier routes[0] ("a"): this route never applies (merge it into routes[0] ("a"), or give it another host or path)`,
				`routes[3].path: "" on any host is decided by the earlier routes[2] ("c"): this route never applies (merge it into routes[2] ("c"), or give it another host or path)`}},
		{"methods taken by an earlier route", `routes:
  - {name: read, path: /api, methods: [GET], allow: {public: true}}
  - {name: head, path: /api, methods: [HEAD], allow: {groups: [g]}}
  - {name: write, path: /api, methods: [GET, POST], allow: {groups: [g]}}
  - {name: all, path: /api, allow: {groups: [g]}}
  - {name: late, path: /api, methods: [DELETE], allow: {groups: [g]}}`,
			[]string{
				`routes[1].path: "/api" on any host: HEAD is decided by the earlier routes[0] ("read"): this route never applies (merge it into routes[0] ("read"), remove the methods it takes, or give it another host or path)`,
				`routes[2].path: "/api" on any host: GET is decided by the earlier routes[0] ("read"): those methods never reach this route (merge it into routes[0] ("read"), remove the methods it takes, or give it another host or path)`,
				`routes[4].path: "/api" on any host: DELETE is decided by the earlier routes[3] ("all"): this route never applies (merge it into routes[3] ("all"), remove the methods it takes, or give it another host or path)`}},
		{"methods split between routes, then the rest", `routes:
  - {name: read, path: /api, methods: [GET], allow: {public: true}}
  - {name: write, path: /api, methods: [POST, PUT], allow: {groups: [g]}}
  - {name: rest, path: /api, allow: {groups: [admins]}}
  - {name: other-host, host: b.example.com, path: /api, allow: {groups: [g]}}
  - {name: deeper, path: /api/v2, allow: {groups: [g]}}`, nil},
		{"a path that differs only in letter case", `routes:
  - {name: read, path: /api, methods: [GET], allow: {public: true}}
  - {name: write, path: /API, methods: [POST], allow: {groups: [g]}}
  - {name: case, path: /Api/, allow: {groups: [g]}}
  - {name: other-host, host: b.example.com, path: /API, allow: {groups: [g]}}`, []string{
			`routes[2].path: "/Api/" differs from the path of the earlier routes[0] ("read", "/api") and routes[1] ("write", "/API") only in letter case: its requests for GET, POST are refused as ambiguous (many servers read paths without regard to case: give the routes paths that differ in more than case, or merge them)`}},
		{"a path that differs only in case, for some methods", `routes:
  - {name: read, path: /admin, methods: [GET], allow: {public: true}}
  - {name: rest, path: /Admin, allow: {groups: [g]}}
  - {name: both, path: /ADMIN, allow: {groups: [g]}}`, []string{
			`routes[1].path: "/Admin" differs from the path of the earlier routes[0] ("read", "/admin") only in letter case: its requests for GET are refused as ambiguous (many servers read paths without regard to case: give the routes paths that differ in more than case, or merge them)`,
			`routes[2].path: "/ADMIN" differs from the path of the earlier routes[0] ("read", "/admin") and routes[1] ("rest", "/Admin") only in letter case: its requests for every method are refused as ambiguous (many servers read paths without regard to case: give the routes paths that differ in more than case, or merge them)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if got := problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}
