package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCaddyRewriteDecidesBothPaths: a rewrite before the gate (try_files
// to a PHP front controller) leaves two paths that later handlers read:
// the rewritten one, which file_server and reverse_proxy use, and the one
// that arrived, which FastCGI hands the application as REQUEST_URI and
// PHP routers route on. Both are decided: /admin/users, rewritten to
// /index.php, is not let through as a request for the public /.
func TestCaddyRewriteDecidesBothPaths(t *testing.T) {
	fcgiApp := newFastCGI(t)
	c := startCaddy(t, func(c *caddyProc) {
		c.write("scimgate.yaml", "routes:\n"+
			"  - {name: site, path: /, allow: {public: true}}\n"+
			"  - {name: admin, path: /admin, allow: {groups: [admins]}}\n")
		c.write("index.php", "<?php // answered by the FastCGI application\n")
		site := c.scimSite(fmt.Sprintf(`	handle {
		root * %s
		scimgate policy
		try_files {path} /index.php
		reverse_proxy %s {
			transport fastcgi
		}
	}
`, c.dir, fcgiApp))
		c.write("Caddyfile", strings.Replace(site, "\tscimgate {\n", "\tscimgate {\n\t\tconfig scimgate.yaml\n", 1))
	})
	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	scim.createUser(t, "bob@example.com")
	scim.createGroup(t, "admins", alice)
	aliceTok := c.scimgate(t, "access-token", "create", "--user", "alice@example.com")
	bobTok := c.scimgate(t, "access-token", "create", "--user", "bob@example.com")

	for _, tc := range []struct {
		name, path string
		h          http.Header
		want       int
		body       string // REQUEST_URI, when allowed
	}{
		{"anonymous, a public page", "/about?x=1", nil, http.StatusOK, "/about?x=1"},
		{"anonymous, the front controller itself", "/index.php", nil, http.StatusOK, "/index.php"},
		{"anonymous, under /admin", "/admin/users?id=1", nil, http.StatusUnauthorized, ""},
		{"not an admin, under /admin", "/admin/users?id=1", bearer(bobTok), http.StatusForbidden, ""},
		{"an admin, under /admin", "/admin/users?id=1", bearer(aliceTok), http.StatusOK, "/admin/users?id=1"},
		{"anonymous, /admin spelled another way", "/x/../admin/users", nil, http.StatusUnauthorized, ""},
	} {
		code, _, body := c.do(t, "GET", tc.path, tc.h, "")
		if code != tc.want || (tc.want == http.StatusOK && body != tc.body) {
			t.Errorf("%s: GET %s = %d %q, want %d %q", tc.name, tc.path, code, body, tc.want, tc.body)
		}
	}
}
