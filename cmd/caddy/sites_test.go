package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestCaddySitesShareEngine: two sites of one Caddy share the scimgate
// app: users provisioned over SCIM on one are known on the other, and a
// deactivation through one site is in force on the other at once.
func TestCaddySitesShareEngine(t *testing.T) {
	up := newUpstream(t)
	other := "http://" + freePort(t)
	c := startCaddy(t, func(c *caddyProc) {
		c.write("Caddyfile", fmt.Sprintf(`{
	admin %s
	scimgate {
		store sqlite:%s
	}
}
%s {
	handle /scim/v2/* {
		scimgate_scim
	}
	handle /app/* {
		scimgate {
			name app
			allow groups engineering
		}
		reverse_proxy %s
	}
}
%s {
	handle /reports/* {
		scimgate {
			name reports
			allow groups engineering
		}
		reverse_proxy %s
	}
}
`, c.admin, c.db, c.site, up.URL, other, up.URL))
	})
	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	scim.createGroup(t, "engineering", alice)
	tok := c.scimgate(t, "access-token", "create", "--user", "alice@example.com")

	get := func(base, path string) int {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := c.httpClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", base, path, err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if s := get(c.site, "/app/x"); s != http.StatusOK {
		t.Fatalf("alice on the SCIM site = %d, want 200", s)
	}
	if s := get(other, "/reports/x"); s != http.StatusOK {
		t.Fatalf("alice on the other site = %d, want 200 (the user provisioned through the first)", s)
	}
	scim.patch(t, "/Users/"+alice, `[{"op":"replace","value":{"active":false}}]`)
	for _, tc := range []struct{ base, path string }{{c.site, "/app/x"}, {other, "/reports/x"}} {
		if s := get(tc.base, tc.path); s != http.StatusForbidden {
			t.Errorf("deactivated alice on %s%s = %d, want 403 at once", tc.base, tc.path, s)
		}
	}
}
