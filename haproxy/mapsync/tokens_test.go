package mapsync

import (
	"strings"
	"testing"
	"time"
)

// TestHAProxyTokens drives access tokens through the example haproxy.cfg:
// HAProxy hashes the secret and finds the token in tokens.map.
func TestHAProxyTokens(t *testing.T) {
	st := newStack(t, integrationRoutes, Options{DriftEvery: 300 * time.Millisecond, MaxStale: 5 * time.Second})
	f := st.f
	for _, u := range []string{"alice", "bob", "carol"} {
		f.User(u)
	}
	f.Group("eng", "alice", "carol")
	addr := st.h.Addr()
	alice, _ := f.Token("alice", 0)
	bob, _ := f.Token("bob", 0)
	carol, _ := f.Token("carol", 0)
	_, aliceJWT := st.session(t, "alice")
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	waitFor(t, 5*time.Second, "alice's token in tokens.map", func() bool {
		return do(t, addr, "GET", "app.test", "/app/x", bearer(alice)...).status == 200
	})

	t.Run("decisions", func(t *testing.T) {
		last := "A"
		if strings.HasSuffix(alice, "A") {
			last = "B"
		}
		wrong := alice[:len(alice)-1] + last // the same token, one character off
		tests := []struct {
			name    string
			headers []string
			want    int
			user    string
		}{
			{"alice's token", bearer(alice), 200, "alice"},
			{"scheme in lower case, blanks around", []string{"Authorization", "bearer   " + alice + " "}, 200, "alice"},
			{"bob's token: not in eng", bearer(bob), 403, ""},
			{"a wrong secret", bearer(wrong), 401, ""},
			{"another token's id, alice's secret", bearer("sga_" + tokenID(t, bob) + alice[len("sga_0123456789abcdef"):]), 401, ""},
			{"the secret without the id", bearer(alice[len("sga_0123456789abcdef_"):]), 401, ""},
			{"another scheme", []string{"Authorization", "Basic " + alice}, 401, ""},
			{"a JWT", []string{"Authorization", "Bearer " + aliceJWT}, 401, ""},
			// The first Authorization header counts, as in every adapter.
			{"alice's token, then another header", append(bearer(alice), "Authorization", "Basic eDp5"), 200, "alice"},
			{"another header, then alice's token", append([]string{"Authorization", "Basic eDp5"}, bearer(alice)...), 401, ""},
			// The token wins over the cookie, as in every adapter.
			{"bob's token, alice's cookie", append(bearer(bob), "Cookie", "scimgate_jwt="+aliceJWT), 403, ""},
			{"a bad token, alice's cookie", append(bearer(wrong), "Cookie", "scimgate_jwt="+aliceJWT), 401, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, addr, "GET", "app.test", "/app/x", tc.headers...)
				if r.status != tc.want {
					t.Fatalf("status %d, want %d (%s)", r.status, tc.want, r.body)
				}
				if tc.want != 200 {
					return
				}
				if r.seen["X-Scimgate-User"] != tc.user {
					t.Errorf("X-Scimgate-User %q, want %q", r.seen["X-Scimgate-User"], tc.user)
				}
				if a, ok := r.seen["Authorization"]; ok {
					t.Errorf("the application saw Authorization %q", a)
				}
			})
		}
		// On a public route, another scheme reaches the application
		// unchanged: it is not scimgate's.
		r := do(t, addr, "GET", "app.test", "/public/x", "Authorization", "Basic dXNlcjpwdw==")
		if r.status != 200 || r.seen["Authorization"] != "Basic dXNlcjpwdw==" {
			t.Errorf("public route with Basic: status %d, application saw %v", r.status, r.seen)
		}
		// Beside an access token in any position, no Authorization
		// reaches it (as StripCredentials does in the other adapters).
		r = do(t, addr, "GET", "app.test", "/public/x", "Authorization", "Basic dXNlcjpwdw==", "Authorization", "Bearer "+bob)
		if _, ok := r.seen["Authorization"]; r.status != 200 || ok {
			t.Errorf("public route with Basic and a token: status %d, application saw %v", r.status, r.seen)
		}
	})

	t.Run("revoked, deactivated, expired", func(t *testing.T) {
		// Revoking one token leaves the user's others working.
		second, id := f.Token("alice", 0)
		waitFor(t, 5*time.Second, "alice's second token admitted", func() bool {
			return do(t, addr, "GET", "app.test", "/app/x", bearer(second)...).status == 200
		})
		if err := f.Dir.RevokeAccessToken(f.Ctx, id, "test"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "alice's second token refused", func() bool {
			return do(t, addr, "GET", "app.test", "/app/x", bearer(second)...).status == 401
		})
		if r := do(t, addr, "GET", "app.test", "/app/x", bearer(alice)...); r.status != 200 {
			t.Fatalf("alice's first token after the second was revoked: status %d", r.status)
		}
		start := time.Now()
		if err := f.Dir.RevokeAccessToken(f.Ctx, tokenID(t, alice), "test"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "alice's revoked token refused", func() bool {
			return do(t, addr, "GET", "app.test", "/app/x", bearer(alice)...).status == 401
		})
		t.Logf("revocation reached HAProxy in %v", time.Since(start))

		f.SetActive("carol", false)
		waitFor(t, 5*time.Second, "deactivated carol's token refused", func() bool {
			return do(t, addr, "GET", "app.test", "/app/x", bearer(carol)...).status == 401
		})

		// HAProxy compares expiries in whole seconds, rounded down: a
		// 3 s token lives 2 to 3 s there, time enough to be admitted
		// first on a loaded machine.
		short, _ := f.Token("alice", 3*time.Second)
		if r := do(t, addr, "GET", "app.test", "/app/x", bearer(short)...); r.status != 200 {
			waitFor(t, 5*time.Second, "the short token admitted", func() bool {
				return do(t, addr, "GET", "app.test", "/app/x", bearer(short)...).status == 200
			})
		}
		waitFor(t, 10*time.Second, "the short token refused once expired", func() bool {
			return do(t, addr, "GET", "app.test", "/app/x", bearer(short)...).status == 401
		})
	})
}

// tokenID is the id part of an access token.
func tokenID(t testing.TB, bearer string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(bearer, "sga_")
	id, _, found := strings.Cut(rest, "_")
	if !ok || !found {
		t.Fatalf("%q is not an access token", bearer)
	}
	return id
}

// TestHAProxyWithoutTokensMap: a haproxy.cfg written before tokens.map
// existed keeps working; access tokens are refused.
func TestHAProxyWithoutTokensMap(t *testing.T) {
	withoutTokens := func(cfg string) string {
		var kept []string
		for _, l := range strings.Split(cfg, "\n") {
			if !strings.Contains(l, "tokens.map") {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "\n")
	}
	st := newStack(t, integrationRoutes, Options{DriftEvery: 200 * time.Millisecond, MaxStale: 5 * time.Second}, withoutTokens)
	st.f.User("alice")
	st.f.Group("eng", "alice")
	_, jwt := st.session(t, "alice")
	tok, _ := st.f.Token("alice", 0)
	waitFor(t, 5*time.Second, "alice's cookie admitted", func() bool {
		return do(t, st.h.Addr(), "GET", "app.test", "/app/x", cookie(jwt)...).status == 200
	})
	if r := do(t, st.h.Addr(), "GET", "app.test", "/app/x", "Authorization", "Bearer "+tok); r.status != 401 {
		t.Errorf("a token without tokens.map: status %d, want 401", r.status)
	}
	// Syncs and drift checks go on without errors.
	before := st.s.Status()
	waitFor(t, 5*time.Second, "two more syncs", func() bool { return st.s.Status().OK >= before.OK+2 })
	if err := st.s.Status().LastError; err != nil {
		t.Errorf("last error %v", err)
	}
}
