package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// denyBody is the JSON body of a refusal.
type denyBody struct {
	Error   string `json:"error"`
	Reason  string `json:"reason"`
	Route   string `json:"route"`
	Message string `json:"message"`
}

// TestProxyRefusals: every refusal is answered by the gate, with the
// status, challenge and body an API client needs, and never reaches the
// upstream.
func TestProxyRefusals(t *testing.T) {
	e := newEnv(t, nil)
	expired, _ := e.Token("alice", time.Millisecond)
	revoked, revokedID := e.Token("alice", time.Hour)
	if err := e.Dir.RevokeAccessToken(e.Ctx, revokedID, "test"); err != nil {
		t.Fatal(err)
	}
	e.SetActive("dave", false)
	e.DeleteUser("frank")
	aliceID, _, _ := directory.SplitAccessToken(e.tokens["alice"])
	time.Sleep(5 * time.Millisecond) // expire the 1ms token

	bearer := func(v string) http.Header { return http.Header{"Authorization": {"Bearer " + v}} }
	const anon, bad = `Bearer realm="scimgate"`, `Bearer realm="scimgate", error="invalid_token"`
	tests := []struct {
		name      string
		target    string
		h         http.Header
		status    int
		reason    string
		route     string
		challenge string
	}{
		{"anonymous", "/app/x", nil, 401, engine.ReasonUnauthenticated, "app", anon},
		{"anonymous asking for JSON", "/app/x", http.Header{"Accept": {"application/json"}}, 401, engine.ReasonUnauthenticated, "app", anon},
		{"anonymous, dot segments out of a public route", "/public/../app/x", nil, 401, engine.ReasonUnauthenticated, "app", anon},
		{"empty bearer", "/app/x", http.Header{"Authorization": {"Bearer "}}, 401, engine.ReasonTokenInvalid, "app", bad},
		{"garbage bearer", "/app/x", bearer("garbage"), 401, engine.ReasonTokenInvalid, "app", bad},
		{"basic auth", "/app/x", http.Header{"Authorization": {"Basic YWxpY2U6cHc="}}, 401, engine.ReasonTokenInvalid, "app", bad},
		{"wrong secret", "/app/x", bearer(directory.AccessTokenPrefix + aliceID + "_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, engine.ReasonTokenInvalid, "app", bad},
		{"unknown token id", "/app/x", bearer(directory.AccessTokenPrefix + "0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, engine.ReasonTokenInvalid, "app", bad},
		{"revoked token", "/app/x", bearer(revoked), 401, engine.ReasonTokenRevoked, "app", bad},
		{"expired token", "/app/x", bearer(expired), 401, engine.ReasonTokenExpired, "app", bad},
		{"not in the route's groups", "/console", e.bearer("bob"), 403, engine.ReasonNotAllowed, "console", ""},
		{"in other groups only", "/console/x", e.bearer("alice"), 403, engine.ReasonNotAllowed, "console", ""},
		{"deactivated", "/app/x", e.bearer("dave"), 403, engine.ReasonUserInactive, "app", ""},
		{"deleted user's token", "/app/x", e.bearer("frank"), 401, engine.ReasonTokenInvalid, "app", bad}, // its tokens go with it
		{"no route for the path", "/nowhere", e.bearer("alice"), 403, engine.ReasonNoRoute, "", ""},
		{"no route, anonymous", "/", nil, 403, engine.ReasonNoRoute, "", ""},
		{"route prefix is per segment", "/applesauce", e.bearer("alice"), 403, engine.ReasonNoRoute, "", ""},
		{"encoded slash", "/public/..%2fapp", nil, 400, engine.ReasonBadPath, "", ""},
		{"encoded slash, upper case", "/public/..%2Fconsole", e.bearer("alice"), 400, engine.ReasonBadPath, "", ""},
		{"encoded backslash", "/public/..%5capp", nil, 400, engine.ReasonBadPath, "", ""},
		{"encoded backslash, upper case", "/public/..%5Capp", nil, 400, engine.ReasonBadPath, "", ""},
		{"encoded NUL", "/app/x%00", e.bearer("alice"), 400, engine.ReasonBadPath, "", ""},
		{"encoded slash on an allowed route", "/app/a%2fb", e.bearer("alice"), 400, engine.ReasonBadPath, "", ""},
		// A server that reads paths without regard to case would serve
		// these as /console and /public: they are not decided as no route.
		{"another route's path in upper case", "/CONSOLE/x", e.bearer("alice"), 400, engine.ReasonBadPath, "", ""},
		{"a public route's path in another case", "/Public/x", nil, 400, engine.ReasonBadPath, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.up.count()
			res, body := e.do("GET", tt.target, tt.h)
			if res.StatusCode != tt.status {
				t.Fatalf("GET %s = %d %s, want %d", tt.target, res.StatusCode, body, tt.status)
			}
			if n := e.up.count() - before; n != 0 {
				t.Errorf("GET %s reached the upstream %d times", tt.target, n)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var b denyBody
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			wantErr := map[int]string{400: "bad_request", 401: "unauthorized", 403: "forbidden"}[tt.status]
			if b.Error != wantErr || b.Reason != tt.reason || b.Route != tt.route || b.Message == "" {
				t.Errorf("body = %+v, want error %q reason %q route %q and a message", b, wantErr, tt.reason, tt.route)
			}
			// A refusal says why, never who would be admitted.
			for _, secret := range []string{"console-admins", "carol", "engineering", "platform"} {
				if strings.Contains(body, secret) {
					t.Errorf("refusal names %q: %s", secret, body)
				}
			}
		})
	}
}

// TestProxyBrowser: browsers get an HTML page, or a redirect to sign in
// that returns to the URL they asked for.
func TestProxyBrowser(t *testing.T) {
	const html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	accept := http.Header{"Accept": {html}}
	t.Run("without sign-in", func(t *testing.T) {
		e := newEnv(t, nil)
		res, body := e.do("GET", "/app/x?y=1", accept)
		if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html") {
			t.Fatalf("anonymous browser = %d %s %q, want a 401 HTML page", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if !strings.Contains(body, engine.ReasonUnauthenticated) || !strings.Contains(body, "<code>app</code>") {
			t.Errorf("page does not name the route and reason:\n%s", body)
		}
	})
	t.Run("with sign-in", func(t *testing.T) {
		var returns []string
		signIn := func(r *http.Request, returnTo string) string {
			returns = append(returns, returnTo)
			return "https://gate.test/sign-in?rd=" + url.QueryEscape(returnTo)
		}
		e := newEnv(t, signIn)
		before := e.up.count()
		res, _ := e.do("GET", "/app/x?y=1&z=%2F", accept)
		want := "https://gate.test/sign-in?rd=" + url.QueryEscape("http://app.test/app/x?y=1&z=%2F")
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Errorf("anonymous browser = %d Location %q, want 302 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		// An API client still gets a 401 it can act on.
		res, _ = e.do("GET", "/app/x", nil)
		if res.StatusCode != 401 || res.Header.Get("Location") != "" {
			t.Errorf("anonymous API client = %d Location %q, want 401 without redirect", res.StatusCode, res.Header.Get("Location"))
		}
		// A signed-in browser refused by policy sees why, not a sign-in loop.
		h := e.bearer("bob")
		h.Set("Accept", html)
		res, body := e.do("GET", "/console", h)
		if res.StatusCode != 403 || !strings.Contains(body, engine.ReasonNotAllowed) || strings.Contains(body, "console-admins") {
			t.Errorf("refused browser = %d %s, want a 403 page with the reason and no group names", res.StatusCode, body)
		}
		if e.up.count() != before {
			t.Error("a refused browser request reached the upstream")
		}
		if len(returns) != 1 {
			t.Errorf("SignIn called %d times (%q), want once", len(returns), returns)
		}
	})
}

// TestProxyAllowed: an allowed request reaches the upstream with identity
// headers and an assertion the upstream can verify with the JWKS.
func TestProxyAllowed(t *testing.T) {
	e := newEnv(t, nil)
	res, body := e.do("GET", "/app/x?y=1", e.bearer("alice"))
	if res.StatusCode != 200 {
		t.Fatalf("alice GET /app/x = %d %s", res.StatusCode, body)
	}
	got := e.up.last(t)
	if u := got.Header.Get(assertion.HeaderUser); u != "alice" {
		t.Errorf("%s = %q, want alice", assertion.HeaderUser, u)
	}
	if m := got.Header.Get(assertion.HeaderEmail); m != "alice" {
		t.Errorf("%s = %q, want alice (the primary email)", assertion.HeaderEmail, m)
	}
	var groups []string
	for _, g := range strings.Split(got.Header.Get(assertion.HeaderGroups), ",") {
		name, err := url.PathUnescape(g)
		if err != nil {
			t.Errorf("group %q is not path-escaped: %v", g, err)
		}
		groups = append(groups, name)
	}
	wantGroups := []string{"R&D, Europe", "engineering", "platform"}
	if !slices.Equal(groups, wantGroups) {
		t.Errorf("%s = %q, decoded %q; want %q (direct and nested)", assertion.HeaderGroups, got.Header.Get(assertion.HeaderGroups), groups, wantGroups)
	}
	if xf := got.Header.Get("X-Forwarded-Host"); xf != "app.test" {
		t.Errorf("X-Forwarded-Host = %q, want app.test", xf)
	}

	header, claims, err := gatetest.VerifyJWT(e.Signer.JWKS(), got.Header.Get(assertion.HeaderAssertion))
	if err != nil {
		t.Fatalf("assertion %q does not verify with the JWKS: %v", got.Header.Get(assertion.HeaderAssertion), err)
	}
	if header["kid"] != e.Signer.KeyID() || header["typ"] != "JWT" {
		t.Errorf("assertion header = %v, want kid %s", header, e.Signer.KeyID())
	}
	now := float64(time.Now().Unix())
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	var claimGroups []string
	for _, g := range claims["groups"].([]any) {
		claimGroups = append(claimGroups, g.(string))
	}
	switch {
	case claims["iss"] != "https://gate.test":
		t.Errorf("iss = %v, want https://gate.test", claims["iss"])
	case claims["aud"] != "app":
		t.Errorf("aud = %v, want the route name app", claims["aud"])
	case claims["sub"] != e.ID("alice"):
		t.Errorf("sub = %v, want alice's SCIM id %s", claims["sub"], e.ID("alice"))
	case claims["preferred_username"] != "alice" || claims["email"] != "alice":
		t.Errorf("preferred_username, email = %v, %v", claims["preferred_username"], claims["email"])
	case claims["tenant"] != float64(e.Acme.TenantID):
		t.Errorf("tenant = %v, want %d", claims["tenant"], e.Acme.TenantID)
	case !slices.Equal(claimGroups, wantGroups):
		t.Errorf("groups = %q, want %q", claimGroups, wantGroups)
	case exp-iat != e.Signer.TTL().Seconds():
		t.Errorf("exp - iat = %v, want the TTL %v", exp-iat, e.Signer.TTL())
	case exp < now+e.Signer.TTL().Seconds()-5 || exp > now+e.Signer.TTL().Seconds()+1:
		t.Errorf("exp = %v, want about now+TTL = %v", exp, now+e.Signer.TTL().Seconds())
	}

	// Another route gets an assertion for its own audience.
	if res, _ := e.do("GET", "/public/x", e.bearer("alice")); res.StatusCode != 200 {
		t.Fatalf("alice GET /public/x = %d", res.StatusCode)
	}
	_, claims, err = gatetest.VerifyJWT(e.Signer.JWKS(), e.up.last(t).Header.Get(assertion.HeaderAssertion))
	if err != nil || claims["aud"] != "public" {
		t.Errorf("assertion on the public route: aud %v, err %v; want aud public", claims["aud"], err)
	}

	// carol is admitted by name; a HEAD and a POST pass too.
	for _, m := range []string{"GET", "HEAD", "POST", "DELETE"} {
		if res, body := e.do(m, "/console/x", e.bearer("carol")); res.StatusCode != 200 {
			t.Errorf("carol %s /console/x = %d %s", m, res.StatusCode, body)
		} else if s := e.up.last(t); s.Method != m || s.Header.Get(assertion.HeaderUser) != "carol" {
			t.Errorf("upstream saw %s as %q, want %s as carol", s.Method, s.Header.Get(assertion.HeaderUser), m)
		}
	}
}

// TestProxyForwardsNormalisedPath: the upstream receives the path that was
// decided on, not another spelling of it, with the query as sent.
func TestProxyForwardsNormalisedPath(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		target, path, requestURI string
	}{
		{"/app/./x//y?q=1&r=%2F", "/app/x/y", "/app/x/y?q=1&r=%2F"},
		{"/app/a/../b", "/app/b", "/app/b"},
		{"/app//x/", "/app/x/", "/app/x/"},
		{"/public/../app/z?a=b", "/app/z", "/app/z?a=b"},
		{"/app/%7Euser", "/app/~user", "/app/~user"},
		{"/app/a%20b", "/app/a b", "/app/a%20b"},
		{"/app/a%3Fb?c", "/app/a?b", "/app/a%3Fb?c"},
		{"/app/%2e%2e/app/q", "/app/q", "/app/q"},
		{"/app", "/app", "/app"},
	}
	for _, tt := range tests {
		res, body := e.do("GET", tt.target, e.bearer("alice"))
		if res.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", tt.target, res.StatusCode, body)
			continue
		}
		if s := e.up.last(t); s.Path != tt.path || s.RequestURI != tt.requestURI {
			t.Errorf("GET %s reached the upstream as %q (path %q), want %q (path %q)", tt.target, s.RequestURI, s.Path, tt.requestURI, tt.path)
		}
	}
	// Dot segments cannot climb out of a route into one the user may not
	// reach.
	if res, _ := e.do("GET", "/app/../console/x", e.bearer("alice")); res.StatusCode != 403 {
		t.Errorf("alice GET /app/../console/x = %d, want 403", res.StatusCode)
	}
}

// TestProxyHeaderSpoofing is the regression test for identity headers sent
// by the client: whatever its spelling, an X-Scimgate-* header the client
// sends never reaches the upstream. Allowed requests carry the gate's
// values only; anonymous requests on public routes carry none.
func TestProxyHeaderSpoofing(t *testing.T) {
	e := newEnv(t, nil)
	forged := []string{"root", "admins", "forged", "x", "root@evil.test"}
	spellings := []http.Header{
		{"X-Scimgate-User": {"root"}, "X-Scimgate-Groups": {"admins"}, "X-Scimgate-Assertion": {"forged"}, "X-Scimgate-Anything": {"x"}, "X-Scimgate-Email": {"root@evil.test"}},
		{"x-scimgate-user": {"root"}, "x-scimgate-groups": {"admins"}, "x-scimgate-assertion": {"forged"}, "x-scimgate-anything": {"x"}},
		{"X-SCIMGATE-USER": {"root"}, "X-SCIMGATE-GROUPS": {"admins"}, "X-SCIMGATE-ASSERTION": {"forged"}, "X-SCIMGATE-ANYTHING": {"x"}},
		{"X-Scimgate-User": {"root"}, "x-scimgate-groups": {"admins"}, "X-SCIMGATE-ASSERTION": {"forged"}, "X-Scimgate-Anything": {"x"}, "x-ScImGaTe-EmAiL": {"root@evil.test"}},
		{"X-Scimgate-User": {"root", "root"}, "X-Scimgate-Sign-In": {"root"}, "X-Scimgate-Tenant": {"root"}},
		// Hop-by-hop by the client's say: the proxy drops what Connection
		// names, which must not take the gate's own headers with it.
		{"X-Scimgate-User": {"root"}, "Connection": {"X-Scimgate-User, X-Scimgate-Assertion, X-Scimgate-Groups, X-Scimgate-Email"}},
	}
	tests := []struct {
		name   string
		target string
		user   string // "" for anonymous
		route  string
	}{
		{"allowed with a user", "/app/x", "alice", "app"},
		{"admitted by name", "/console", "carol", "console"},
		{"public with a user", "/public/x", "alice", "public"},
		{"public anonymous", "/public/x", "", ""},
	}
	for _, tt := range tests {
		for i, spoof := range spellings {
			h := spoof.Clone()
			if tt.user != "" {
				h.Set("Authorization", "Bearer "+e.tokens[tt.user])
			}
			res, body := e.do("GET", tt.target, h)
			if res.StatusCode != 200 {
				t.Fatalf("%s, spelling %d: %d %s", tt.name, i, res.StatusCode, body)
			}
			got := e.up.last(t).Header
			var ours []string
			for k, vs := range got {
				if !strings.HasPrefix(strings.ToLower(k), "x-scimgate-") {
					continue
				}
				ours = append(ours, k)
				for _, v := range vs {
					if slices.Contains(forged, v) {
						t.Errorf("%s, spelling %d: the upstream received the client's %s: %q", tt.name, i, k, v)
					}
				}
			}
			slices.Sort(ours)
			var want []string
			if tt.user != "" {
				want = []string{assertion.HeaderAssertion, assertion.HeaderEmail, assertion.HeaderGroups, assertion.HeaderUser}
			}
			if !slices.Equal(ours, want) {
				t.Errorf("%s, spelling %d: upstream got identity headers %q, want %q", tt.name, i, ours, want)
			}
			if tt.user != "" {
				if u := got.Values(assertion.HeaderUser); len(u) != 1 || u[0] != tt.user {
					t.Errorf("%s, spelling %d: %s = %q, want [%s]", tt.name, i, assertion.HeaderUser, u, tt.user)
				}
				if _, claims, err := gatetest.VerifyJWT(e.Signer.JWKS(), got.Get(assertion.HeaderAssertion)); err != nil || claims["aud"] != tt.route {
					t.Errorf("%s, spelling %d: assertion aud %v err %v", tt.name, i, claims["aud"], err)
				}
			}
		}
	}
}

// TestProxyPublicRouteLostAccess: on a public route, a request whose
// credentials no longer hold passes as anonymous: the upstream is not told,
// with a signed assertion, that a deactivated user or a revoked token's
// owner is calling.
func TestProxyPublicRouteLostAccess(t *testing.T) {
	e := newEnv(t, nil)
	e.SetActive("dave", false)
	id, _, _ := directory.SplitAccessToken(e.tokens["erin"])
	if err := e.Dir.RevokeAccessToken(e.Ctx, id, "test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, user string }{
		{"deactivated user", "dave"},
		{"revoked token", "erin"},
	}
	for _, tt := range tests {
		res, body := e.do("GET", "/public/x", e.bearer(tt.user))
		if res.StatusCode != 200 {
			t.Fatalf("%s: GET /public/x = %d %s, want 200 (public)", tt.name, res.StatusCode, body)
		}
		for k, v := range e.up.last(t).Header {
			if strings.HasPrefix(strings.ToLower(k), "x-scimgate-") {
				t.Errorf("%s: the upstream of a public route received %s: %.40q, as if %s still had access", tt.name, k, v, tt.user)
			}
		}
	}
}

// TestProxyStripsUnderscoreLookalikes: CGI-style servers (Rack/Puma before
// 6.4.3, WSGI and PHP setups) read X_Scimgate_User and X-Scimgate-User as
// the same variable, HTTP_X_SCIMGATE_USER, so a lookalike with
// underscores must not reach the upstream either (compare Puma's
// CVE-2024-45614 for X-Forwarded-For).
func TestProxyStripsUnderscoreLookalikes(t *testing.T) {
	e := newEnv(t, nil)
	for _, user := range []string{"", "alice"} {
		h := http.Header{"X_Scimgate_User": {"root"}, "X-Scimgate_Groups": {"admins"}, "X_SCIMGATE_ASSERTION": {"forged"}}
		target := "/public/x"
		if user != "" {
			h.Set("Authorization", "Bearer "+e.tokens[user])
			target = "/app/x"
		}
		if res, body := e.do("GET", target, h); res.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", target, res.StatusCode, body)
		}
		for k, v := range e.up.last(t).Header {
			if cgi := strings.ReplaceAll(strings.ToLower(k), "_", "-"); strings.HasPrefix(cgi, "x-scimgate-") && k != http.CanonicalHeaderKey(cgi) {
				t.Errorf("user %q: the upstream received %s: %q, which CGI-style servers read as %s", user, k, v, http.CanonicalHeaderKey(cgi))
			}
		}
	}
}

// TestProxyStripsAccessTokens: scimgate's own access tokens never reach an
// upstream, which could replay them on other routes, in whichever value of
// Authorization they come; the application's own credentials pass.
func TestProxyStripsAccessTokens(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tokens["alice"]
	tests := []struct {
		name   string
		target string
		auth   []string
		want   []string // Authorization as the upstream receives it
	}{
		{"token", "/app/x", []string{"Bearer " + alice}, nil},
		{"token, lower-case scheme", "/app/x", []string{"bearer " + alice}, nil},
		{"token, on a public route", "/public/x", []string{"Bearer " + alice}, nil},
		{"token in a second value", "/public/x", []string{"Basic YWxpY2U6cHc=", "Bearer " + alice}, nil},
		{"the application's credentials", "/public/x", []string{"Basic YWxpY2U6cHc="}, []string{"Basic YWxpY2U6cHc="}},
		{"the application's bearer token", "/public/x", []string{"Bearer app-token"}, []string{"Bearer app-token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := e.do("GET", tt.target, http.Header{"Authorization": tt.auth})
			if res.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s", tt.target, res.StatusCode, body)
			}
			if got := e.up.last(t).Header.Values("Authorization"); !slices.Equal(got, tt.want) {
				t.Errorf("the upstream received Authorization %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProxyUpstreamErrors: a route without upstream and an upstream that is
// down are answered 502 in plain text, after the decision.
func TestProxyUpstreamErrors(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		target, contains string
	}{
		{"/noup/x", "has no upstream"},
		{"/down/x", "upstream unavailable"},
	}
	for _, tt := range tests {
		res, body := e.do("GET", tt.target, e.bearer("alice"))
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %q, want 502 saying %q", tt.target, res.StatusCode, body, tt.contains)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || json.Valid([]byte(body)) {
			t.Errorf("GET %s: Content-Type %q body %q, want a plain-text error", tt.target, ct, body)
		}
		// The decision still comes first.
		if res, _ := e.do("GET", tt.target, e.bearer("bob")); res.StatusCode != 403 {
			t.Errorf("bob GET %s = %d, want 403 before any upstream trouble", tt.target, res.StatusCode)
		}
		if res, _ := e.do("GET", tt.target, nil); res.StatusCode != 401 {
			t.Errorf("anonymous GET %s = %d, want 401", tt.target, res.StatusCode)
		}
	}
	// The proxy keeps serving.
	if res, _ := e.do("GET", "/app/x", e.bearer("alice")); res.StatusCode != 200 {
		t.Errorf("after upstream errors: GET /app/x = %d", res.StatusCode)
	}
}

// TestProxyStripsBearerJWT: the identity provider's JWT that a request was
// authenticated with stays with scimgate, as access tokens do: the
// upstream could replay it on every other route. The application's own
// Authorization, on a public route, passes.
func TestProxyStripsBearerJWT(t *testing.T) {
	e := newEnv(t, nil)
	e.Gate.Auth = authn.New(e.Live, authn.Options{JWTs: gatetest.JWTs{F: e.Fixture}})
	for _, tt := range []struct {
		name, target, authz, wantUser, wantAuthz string
	}{
		{"protected route", "/app/x", "Bearer jwt.alice.sig", "alice", ""},
		{"public route", "/public/x", "Bearer jwt.alice.sig", "alice", ""},
		{"the application's token (another issuer's JWT) on a public route", "/public/x", "Bearer other.token.x", "", "Bearer other.token.x"},
		{"the IdP's JWT that fails verification, on a public route", "/public/x", "Bearer bad.alice.sig", "", ""},
		{"the application's basic auth on a public route", "/public/x", "Basic YTpi", "", "Basic YTpi"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := e.do("GET", tt.target, http.Header{"Authorization": {tt.authz}})
			if res.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s", tt.target, res.StatusCode, body)
			}
			got := e.up.last(t).Header
			if got.Get("X-Scimgate-User") != tt.wantUser || got.Get("Authorization") != tt.wantAuthz {
				t.Errorf("the upstream received user %q, Authorization %q; want %q, %q",
					got.Get("X-Scimgate-User"), got.Get("Authorization"), tt.wantUser, tt.wantAuthz)
			}
		})
	}
}

// TestProxyStripsSessionCookie: the session cookie signs the request in and
// then goes no further, nor does the session's JWT cookie that sign-in
// sets for HAProxy's map-sync mode; the application's own cookies pass.
func TestProxyStripsSessionCookie(t *testing.T) {
	e := newEnv(t, nil)
	e.Gate.Auth = authn.New(e.Live, authn.Options{CookieName: "sg", JWTCookieName: "scimgate_jwt"})
	cookie, _, err := e.Dir.CreateSession(e.Ctx, directory.NewSession{TenantID: e.Acme.TenantID, UserID: e.ID("alice"), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
		cookie []string
		want   []string // Cookie as the upstream receives it
	}{
		{"alone", "/app/x", []string{"sg=" + cookie}, nil},
		{"among others", "/app/x", []string{"a=1; sg=" + cookie + "; b=2"}, []string{"a=1; b=2"}},
		{"in a second line", "/app/x", []string{"a=1", "sg=" + cookie}, []string{"a=1"}},
		{"on a public route", "/public/x", []string{"sg=" + cookie + "; b=2"}, []string{"b=2"}},
		{"the application's cookies", "/public/x", []string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{"with the session's JWT cookie", "/app/x", []string{"a=1; scimgate_jwt=e.y.j; sg=" + cookie}, []string{"a=1"}},
		{"the session's JWT cookie alone", "/public/x", []string{"scimgate_jwt=e.y.j", "b=2"}, []string{"b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := e.do("GET", tt.target, http.Header{"Cookie": tt.cookie})
			if res.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s", tt.target, res.StatusCode, body)
			}
			if got := e.up.last(t).Header.Values("Cookie"); !slices.Equal(got, tt.want) {
				t.Errorf("the upstream received Cookie %q, want %q", got, tt.want)
			}
		})
	}
}
