package forwardauth_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/forwardauth"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/scim/schema"
	"github.com/scimgate/scimgate/snapshot"
)

const faRoutes = `
routes:
  - {name: public, host: app.test, path: /public, allow: {public: true}}
  - {name: app, host: app.test, path: /app, allow: {groups: [engineering]}}
  - {name: console, host: app.test, path: /console, allow: {groups: [console-admins], users: [carol]}}
  - {name: readonly, host: app.test, path: /readonly, methods: [GET], allow: {groups: [engineering]}}
  - {name: other-public, host: public.test, allow: {public: true}}
`

// faEnv is the forward-auth endpoint over a real directory:
//
//	alice  in engineering
//	bob    in sales
//	carol  admitted to console by name
type faEnv struct {
	*gatetest.Fixture
	tokens map[string]string
}

func newFAEnv(t *testing.T) *faEnv {
	t.Helper()
	f := gatetest.New(t, faRoutes)
	for _, u := range []string{"alice", "bob", "carol"} {
		f.User(u)
	}
	f.Group("engineering", "alice")
	f.Group("sales", "bob")
	f.Group("console-admins")
	e := &faEnv{Fixture: f, tokens: map[string]string{}}
	for _, u := range []string{"alice", "bob", "carol"} {
		e.tokens[u], _ = f.Token(u, time.Hour)
	}
	return e
}

// handler returns the endpoint over a copy of the gate with sign-in set or
// not.
func (e *faEnv) handler(signIn func(*http.Request, string) string) http.Handler {
	g := *e.Gate
	g.SignIn = signIn
	return forwardauth.New(&g)
}

func signIn(r *http.Request, returnTo string) string {
	return "https://gate.test/sign-in?rd=" + url.QueryEscape(returnTo)
}

// nginx builds an auth subrequest as the example nginx.conf sends it: the
// original URI and method in X-Original-*, Host the original host. The
// client's own headers come along, as nginx passes them.
func nginx(method, uri string, h http.Header) *http.Request {
	r := httptest.NewRequest("GET", "http://scimgate.internal/.scimgate/auth", nil)
	r.Host = "app.test"
	addHeaders(r, h)
	if uri != "" {
		r.Header.Set("X-Original-URI", uri)
	}
	if method != "" {
		r.Header.Set("X-Original-Method", method)
	}
	return r
}

// traefik builds an auth request as Traefik's forwardAuth and Caddy's
// forward_auth send it: X-Forwarded-Method, -Uri, -Host and -Proto, with
// Host the auth server's own.
func traefik(method, uri string, h http.Header) *http.Request {
	r := httptest.NewRequest("GET", "http://scimgate.internal/.scimgate/auth", nil)
	addHeaders(r, h)
	r.Header.Set("X-Forwarded-Host", "app.test")
	r.Header.Set("X-Forwarded-Proto", "https")
	if uri != "" {
		r.Header.Set("X-Forwarded-Uri", uri)
	}
	if method != "" {
		r.Header.Set("X-Forwarded-Method", method)
	}
	return r
}

// addHeaders adds the client's headers as a Go server reads them: keys in
// canonical form, whatever their spelling on the wire.
func addHeaders(r *http.Request, h http.Header) {
	for k, vs := range h {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
}

func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// identity returns the X-Scimgate-* headers of a response.
func identity(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-scimgate-") {
			out[k] = v
		}
	}
	return out
}

const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestNginx covers the nginx auth_request contract: 200 with identity
// headers, 401 (never a redirect, with the sign-in URL in a header when
// sign-in is configured) or 403 for every other refusal, since nginx
// treats any other status as an error.
func TestNginx(t *testing.T) {
	e := newFAEnv(t)
	revoked, revokedID := e.Token("alice", time.Hour)
	if err := e.Dir.RevokeAccessToken(e.Ctx, revokedID, "test"); err != nil {
		t.Fatal(err)
	}
	bearer := func(user string) http.Header { return http.Header{"Authorization": {"Bearer " + e.tokens[user]}} }
	withAccept := func(h http.Header, accept string) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Accept", accept)
		return h
	}
	tests := []struct {
		name     string
		method   string
		uri      string
		h        http.Header
		signIn   bool
		status   int
		reason   string // for refusals
		user     string // for allowed requests with a user
		signInTo string // X-Scimgate-Sign-In's return address
	}{
		{"allowed", "GET", "/app/x?y=1", bearer("alice"), false, 200, "", "alice", ""},
		{"allowed by name", "POST", "/console", bearer("carol"), false, 200, "", "carol", ""},
		{"public anonymous", "GET", "/public/x", nil, false, 200, "", "", ""},
		{"public with a user", "GET", "/public/x", bearer("bob"), false, 200, "", "bob", ""},
		{"anonymous", "GET", "/app/x", nil, false, 401, engine.ReasonUnauthenticated, "", ""},
		{"anonymous browser, no sign-in", "GET", "/app/x", withAccept(nil, browser), false, 401, engine.ReasonUnauthenticated, "", ""},
		{"anonymous browser, sign-in", "GET", "/app/x?y=1", http.Header{"Accept": {"text/html"}}, true, 401, engine.ReasonUnauthenticated, "", "http://app.test/app/x?y=1"},
		{"anonymous API client, sign-in configured", "GET", "/app/x?y=1", nil, true, 401, engine.ReasonUnauthenticated, "", ""},
		{"anonymous browser, sign-in", "GET", "/app/x?y=1", withAccept(nil, browser), true, 401, engine.ReasonUnauthenticated, "", "http://app.test/app/x?y=1"},
		{"revoked token, sign-in", "GET", "/app/x", withAccept(http.Header{"Authorization": {"Bearer " + revoked}}, browser), true, 401, engine.ReasonTokenRevoked, "", "http://app.test/app/x"},
		{"garbage token", "GET", "/app/x", http.Header{"Authorization": {"Bearer nope"}}, false, 401, engine.ReasonTokenInvalid, "", ""},
		{"not in the groups", "GET", "/console", bearer("bob"), true, 403, engine.ReasonNotAllowed, "", ""},
		{"not in the groups, browser", "GET", "/console", withAccept(bearer("bob"), browser), true, 403, engine.ReasonNotAllowed, "", ""},
		{"no route", "GET", "/nowhere", bearer("alice"), false, 403, engine.ReasonNoRoute, "", ""},
		{"ambiguous path is 403, not 400", "GET", "/public/..%2fconsole", nil, false, 403, engine.ReasonBadPath, "", ""},
		{"encoded backslash is 403, not 400", "GET", "/public/..%5Cconsole", bearer("alice"), false, 403, engine.ReasonBadPath, "", ""},
		{"method outside the route", "DELETE", "/readonly/x", bearer("alice"), false, 403, engine.ReasonNoRoute, "", ""},
		{"HEAD on a GET route", "HEAD", "/readonly/x", bearer("alice"), false, 200, "", "alice", ""},
		// The proxy sends its upstream the path as the client wrote it,
		// which an application may route under /public: not decided.
		{"dot segments out of public", "GET", "/public/../console", bearer("alice"), false, 403, engine.ReasonBadPath, "", ""},
		{"encoded dot segments", "GET", "/public/%2e%2e/console", bearer("alice"), false, 403, engine.ReasonBadPath, "", ""},
		{"repeated slashes", "GET", "/public//x", nil, false, 403, engine.ReasonBadPath, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var si func(*http.Request, string) string
			if tt.signIn {
				si = signIn
			}
			res := serve(e.handler(si), nginx(tt.method, tt.uri, tt.h))
			b := body(res)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.uri, res.StatusCode, b, tt.status)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location = %q: nginx cannot pass a redirect from auth_request", loc)
			}
			wantSignIn := ""
			if tt.signInTo != "" {
				wantSignIn = signIn(nil, tt.signInTo)
			}
			if got := res.Header.Get(forwardauth.HeaderSignIn); got != wantSignIn {
				t.Errorf("%s = %q, want %q", forwardauth.HeaderSignIn, got, wantSignIn)
			}
			if tt.status == 200 {
				checkIdentity(t, e.Fixture, res.Header, tt.user)
				return
			}
			if ids := identity(res.Header); len(ids) > 0 && tt.signInTo == "" {
				t.Errorf("refusal carries identity headers %v", ids)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json (nginx shows its own page)", ct)
			}
			var got struct{ Error, Reason string }
			if err := json.Unmarshal([]byte(b), &got); err != nil || got.Reason != tt.reason {
				t.Errorf("body %q (%v), want reason %q", b, err, tt.reason)
			}
			if tt.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Bearer realm="scimgate"`) {
				t.Errorf("WWW-Authenticate = %q, want the Bearer challenge", res.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(b, "console-admins") || strings.Contains(b, "carol") {
				t.Errorf("refusal names who the route admits: %s", b)
			}
		})
	}
}

// checkIdentity checks the identity headers of an allowed answer: those of
// user, or none for an anonymous request.
func checkIdentity(t *testing.T, f *gatetest.Fixture, h http.Header, user string) {
	t.Helper()
	ids := identity(h)
	if user == "" {
		if len(ids) > 0 {
			t.Errorf("anonymous answer carries identity headers %v", ids)
		}
		return
	}
	if got := h.Values(assertion.HeaderUser); len(got) != 1 || got[0] != user {
		t.Errorf("%s = %q, want [%s]", assertion.HeaderUser, got, user)
	}
	if got := h.Get(assertion.HeaderEmail); got != user {
		t.Errorf("%s = %q, want %s", assertion.HeaderEmail, got, user)
	}
	if _, ok := h[assertion.HeaderGroups]; !ok {
		t.Errorf("%s missing", assertion.HeaderGroups)
	}
	_, claims, err := gatetest.VerifyJWT(f.Signer.JWKS(), h.Get(assertion.HeaderAssertion))
	if err != nil {
		t.Errorf("assertion does not verify: %v", err)
	} else if claims["sub"] != f.ID(user) || claims["preferred_username"] != user {
		t.Errorf("assertion claims %v, want sub %s", claims, f.ID(user))
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// TestNginxStaleSnapshot: a stale directory is a 403 to nginx (503 would
// be an nginx error), and 503 to the other proxies.
func TestNginxStaleSnapshot(t *testing.T) {
	e := newFAEnv(t)
	g := *e.Gate
	g.Engine = engine.New(staleSource{e.Live.Current()}, gatetest.Compile(t, faRoutes), engine.Options{MaxSnapshotAge: time.Minute})
	h := forwardauth.New(&g)
	auth := http.Header{"Authorization": {"Bearer " + e.tokens["alice"]}}
	if res := serve(h, nginx("GET", "/app/x", auth)); res.StatusCode != 403 || !strings.Contains(body(res), engine.ReasonStale) {
		t.Errorf("nginx, stale = %d, want 403 %s", res.StatusCode, engine.ReasonStale)
	}
	if res := serve(h, traefik("GET", "/app/x", auth)); res.StatusCode != 503 {
		t.Errorf("traefik, stale = %d, want 503", res.StatusCode)
	}
}

type staleSource struct{ s *snapshot.Snapshot }

func (s staleSource) Current() *snapshot.Snapshot { return s.s }
func (s staleSource) Age() time.Duration          { return time.Hour }

// TestTraefik covers the X-Forwarded-* style of Traefik and Caddy: allowed
// answers carry identity headers, browsers that are not signed in are
// redirected to sign in and back to the URL the headers name.
func TestTraefik(t *testing.T) {
	e := newFAEnv(t)
	auth := func(user string) http.Header { return http.Header{"Authorization": {"Bearer " + e.tokens[user]}} }

	res := serve(e.handler(signIn), traefik("GET", "/app/x?y=1", auth("alice")))
	if res.StatusCode != 200 {
		t.Fatalf("alice = %d %s", res.StatusCode, body(res))
	}
	checkIdentity(t, e.Fixture, res.Header, "alice")

	res = serve(e.handler(signIn), traefik("GET", "/app/x?y=1", http.Header{"Accept": {browser}}))
	want := signIn(nil, "https://app.test/app/x?y=1")
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
		t.Errorf("anonymous browser = %d Location %q, want 302 to %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	res = serve(e.handler(nil), traefik("GET", "/app/x", http.Header{"Accept": {browser}}))
	if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("anonymous browser without sign-in = %d %q, want a 401 page", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res = serve(e.handler(signIn), traefik("GET", "/app/x", nil))
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Bearer realm="scimgate"` || res.Header.Get("Location") != "" {
		t.Errorf("anonymous API client = %d %v, want 401 with the challenge", res.StatusCode, res.Header)
	}
	if res := serve(e.handler(signIn), traefik("GET", "/console", auth("bob"))); res.StatusCode != 403 {
		t.Errorf("bob /console = %d, want 403", res.StatusCode)
	}
	if res := serve(e.handler(nil), traefik("GET", "/public/..%2fconsole", nil)); res.StatusCode != 400 {
		t.Errorf("ambiguous path = %d, want 400 (Traefik passes it on)", res.StatusCode)
	}
	// The host comes from X-Forwarded-Host: another host, another route.
	r := traefik("GET", "/console", nil)
	r.Header.Set("X-Forwarded-Host", "public.test")
	if res := serve(e.handler(nil), r); res.StatusCode != 200 {
		t.Errorf("public.test/console = %d, want 200 (host public.test is public)", res.StatusCode)
	}
	// A Host that is not a host name is not decided: proxies and
	// applications may read "app.test,public.test" as either host.
	r = traefik("GET", "/console", nil)
	r.Header.Set("X-Forwarded-Host", "app.test,public.test")
	if res := serve(e.handler(nil), r); res.StatusCode != 400 || !strings.Contains(body(res), engine.ReasonBadHost) {
		t.Errorf("X-Forwarded-Host app.test,public.test = %d, want 400 bad-host", res.StatusCode)
	}
}

// TestOriginalRequest covers what the endpoint reads from the auth
// request: a missing URI, a missing method, query strings and fragments.
func TestOriginalRequest(t *testing.T) {
	e := newFAEnv(t)
	h := e.handler(nil)
	alice := http.Header{"Authorization": {"Bearer " + e.tokens["alice"]}}

	for _, r := range []*http.Request{nginx("GET", "", alice), traefik("GET", "", alice)} {
		res := serve(h, r)
		if res.StatusCode != 400 || !strings.Contains(body(res), "X-Original-URI") {
			t.Errorf("no original URI = %d, want 400 naming the headers", res.StatusCode)
		}
	}

	tests := []struct {
		name   string
		method string
		uri    string
		h      http.Header
		want   int
	}{
		// Without the method, only routes open to every method admit.
		{"no method, GET-only route", "", "/readonly/x", alice, 403},
		{"no method, all-methods route", "", "/app/x", alice, 200},
		{"unknown method, GET-only route", "PROPFIND", "/readonly/x", alice, 403},
		{"unknown method, all-methods route", "PROPFIND", "/app/x", alice, 200},
		// The query and fragment are not part of the path decided.
		{"query naming another route", "GET", "/public/x?next=/console", nil, 200},
		{"query with dot segments", "GET", "/console?x=/../public", nil, 401},
		{"query with an encoded slash", "GET", "/public/x?a=%2f..%2fconsole", nil, 200},
		// Clients never send a fragment: one in the request line is path
		// that the proxy forwards as it is and an application may read
		// past. nginx is answered 403, as it understands no 400.
		{"fragment", "GET", "/public/x#/../../console", nil, -1},
		{"fragment without dots", "GET", "/public/x#top", nil, -1},
		// Servers that read paths without regard to case would serve it
		// as /console.
		{"another route's path in upper case", "GET", "/CONSOLE/x", alice, -1},
		{"query on a protected route", "GET", "/console?public", nil, 401},
		// The access token arrives as the proxy forwards the client's
		// Authorization header.
		{"token", "GET", "/app/x", alice, 200},
		{"lower-case bearer", "GET", "/app/x", http.Header{"Authorization": {"bearer " + e.tokens["alice"]}}, 200},
		{"other user's token", "GET", "/app/x", http.Header{"Authorization": {"Bearer " + e.tokens["bob"]}}, 403},
	}
	for _, tt := range tests {
		for _, style := range []struct {
			name string
			req  func(string, string, http.Header) *http.Request
		}{{"nginx", nginx}, {"traefik", traefik}} {
			res := serve(h, style.req(tt.method, tt.uri, tt.h))
			want := tt.want
			if want == -1 { // a bad path
				want = map[string]int{"nginx": 403, "traefik": 400}[style.name]
				if b := body(res); !strings.Contains(b, `"bad-path"`) {
					t.Errorf("%s, %s: body %s, want reason bad-path", tt.name, style.name, b)
				}
			}
			if res.StatusCode != want {
				t.Errorf("%s, %s: %s %s = %d %s, want %d", tt.name, style.name, tt.method, tt.uri, res.StatusCode, body(res), tt.want)
			}
		}
	}
}

// TestForwardAuthHeaderSpoofing: identity headers in the auth request never
// come back in the answer, which the proxy copies upstream; only the
// decision's values do.
func TestForwardAuthHeaderSpoofing(t *testing.T) {
	e := newFAEnv(t)
	spoof := http.Header{
		"X-Scimgate-User": {"root"}, "x-scimgate-groups": {"admins"}, "X-SCIMGATE-ASSERTION": {"forged"},
		"X-Scimgate-Anything": {"x"}, "X-Scimgate-Email": {"root@evil.test"}, "X-Scimgate-Sign-In": {"https://evil.test/"},
	}
	forged := []string{"root", "admins", "forged", "x", "root@evil.test", "https://evil.test/"}
	tests := []struct {
		name, uri, user string
		status          int
	}{
		{"allowed with a user", "/app/x", "alice", 200},
		{"public with a user", "/public/x", "bob", 200},
		{"public anonymous", "/public/x", "", 200},
		{"refused", "/console", "bob", 403},
		{"anonymous on a protected route", "/console", "", 401},
	}
	for _, tt := range tests {
		for _, style := range []struct {
			name string
			req  func(string, string, http.Header) *http.Request
		}{{"nginx", nginx}, {"traefik", traefik}} {
			h := spoof.Clone()
			if tt.user != "" {
				h.Set("Authorization", "Bearer "+e.tokens[tt.user])
			}
			res := serve(e.handler(nil), style.req("GET", tt.uri, h))
			if res.StatusCode != tt.status {
				t.Fatalf("%s, %s: %d, want %d", tt.name, style.name, res.StatusCode, tt.status)
			}
			for k, vs := range identity(res.Header) {
				for _, v := range vs {
					if slices.Contains(forged, v) {
						t.Errorf("%s, %s: answer echoes the client's %s: %q", tt.name, style.name, k, v)
					}
				}
			}
			if tt.status == 200 {
				checkIdentity(t, e.Fixture, res.Header, tt.user)
			} else if ids := identity(res.Header); len(ids) > 0 {
				t.Errorf("%s, %s: refusal carries %v", tt.name, style.name, ids)
			}
		}
	}
}

// TestForwardAuthFollowsTheDirectory: each auth request is decided on the
// directory as it is now.
func TestForwardAuthFollowsTheDirectory(t *testing.T) {
	e := newFAEnv(t)
	h := e.handler(nil)
	auth := http.Header{"Authorization": {"Bearer " + e.tokens["alice"]}}
	check := func(step string, want int) {
		t.Helper()
		if res := serve(h, nginx("GET", "/app/x", auth)); res.StatusCode != want {
			t.Errorf("%s: %d, want %d", step, res.StatusCode, want)
		}
	}
	check("member", 200)
	e.RemoveMember("engineering", "alice")
	check("removed from the group", 403)
	e.Patch(schema.GroupType, "group:engineering", `[{"op":"add","path":"members","value":[{"value":"`+e.ID("alice")+`"}]}]`)
	check("added back", 200)
	e.SetActive("alice", false)
	check("deactivated", 403)
	e.SetActive("alice", true)
	check("reactivated", 200)
}

// TestForwardAuthPublicRouteDeactivatedUser: on a public route a
// deactivated user passes as anonymous, without identity headers that
// would tell the application she is calling.
func TestForwardAuthPublicRouteDeactivatedUser(t *testing.T) {
	e := newFAEnv(t)
	e.SetActive("bob", false)
	res := serve(e.handler(nil), nginx("GET", "/public/x", http.Header{"Authorization": {"Bearer " + e.tokens["bob"]}}))
	if res.StatusCode != 200 {
		t.Fatalf("deactivated bob on a public route = %d, want 200", res.StatusCode)
	}
	if ids := identity(res.Header); len(ids) > 0 {
		t.Errorf("deactivated bob on a public route is identified to the application: %s = %q", assertion.HeaderUser, res.Header.Get(assertion.HeaderUser))
	}
}

// TestForwardAuthSpoofedOriginal: behind Traefik or Caddy, the client's
// own headers reach the auth request; the proxy sets X-Forwarded-Uri and
// -Method but not X-Original-*. A client-sent X-Original-URI must not
// choose the path that is decided.
func TestForwardAuthSpoofedOriginal(t *testing.T) {
	e := newFAEnv(t)
	r := traefik("GET", "/console", http.Header{"X-Original-URI": {"/public/"}})
	if res := serve(e.handler(nil), r); res.StatusCode == 200 {
		t.Errorf("Traefik-style request for /console with a client-sent X-Original-URI: /public/ = 200; "+
			"the gate decided the client's path instead of X-Forwarded-Uri (identity %v)", identity(res.Header))
	}
	r = traefik("DELETE", "/readonly/x", http.Header{"X-Original-Method": {"GET"}, "Authorization": {"Bearer " + e.tokens["alice"]}})
	if res := serve(e.handler(nil), r); res.StatusCode == 200 {
		t.Errorf("Traefik-style DELETE /readonly/x with a client-sent X-Original-Method: GET = 200; the route admits GET only")
	}
}

// TestForwardAuthRepeatedHeaders: a proxy sets each header describing the
// original request once. A second value is the client's, which a proxy
// that appends rather than replaces passed on: which one the proxy acts
// on is unknown, so the request is refused (403: nginx understands no
// 400), with a JSON body naming the reason.
func TestForwardAuthRepeatedHeaders(t *testing.T) {
	e := newFAEnv(t)
	alice := "Bearer " + e.tokens["alice"]
	for _, tc := range []struct {
		name, value string
		r           *http.Request
	}{
		{"X-Forwarded-Uri", "/console", traefik("GET", "/public/x", nil)},
		{"X-Forwarded-Method", "DELETE", traefik("GET", "/readonly/x", http.Header{"Authorization": {alice}})},
		{"X-Forwarded-Host", "other.test", traefik("GET", "/public/x", nil)},
		{"X-Original-Uri", "/console", nginx("GET", "/public/x", nil)},
		{"X-Original-Method", "DELETE", nginx("GET", "/readonly/x", http.Header{"Authorization": {alice}})},
	} {
		// The client's value first, then the one the proxy appended.
		tc.r.Header[tc.name] = append([]string{tc.value}, tc.r.Header[tc.name]...)
		res := serve(e.handler(nil), tc.r)
		b := body(res)
		if res.StatusCode != 403 || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(b, `"reason":"conflicting-headers"`) {
			t.Errorf("%s sent twice: %d %s %s, want 403 JSON with reason conflicting-headers", tc.name, res.StatusCode, res.Header.Get("Content-Type"), b)
		}
	}
}

// TestNginxIgnoresForwardedHost: the nginx contract is that Host is the
// original host (proxy_set_header Host $host). nginx passes the client's
// other headers to the auth subrequest, so a client-sent X-Forwarded-Host
// must not move the decision to another host's routes.
func TestNginxIgnoresForwardedHost(t *testing.T) {
	e := newFAEnv(t)
	r := nginx("GET", "/console", http.Header{"X-Forwarded-Host": {"public.test"}})
	if res := serve(e.handler(nil), r); res.StatusCode == 200 {
		t.Errorf("nginx-style request for app.test/console with a client-sent X-Forwarded-Host: public.test = 200; " +
			"it was decided as public.test/console")
	}
}

// TestForwardAuthUpstreamCredentials: an allowed answer carries the
// request's Cookie and Authorization without scimgate's session cookie and
// access token, for the proxy to send upstream in their place; a refusal
// carries neither.
func TestForwardAuthUpstreamCredentials(t *testing.T) {
	e := newFAEnv(t)
	g := *e.Gate
	g.Auth = authn.New(e.Live, authn.Options{CookieName: "scimgate_session", JWTCookieName: "scimgate_jwt", JWTs: gatetest.JWTs{F: e.Fixture}})
	h := forwardauth.New(&g)
	tests := []struct {
		name, uri           string
		headers             http.Header
		status              int
		cookie, authz       string
		cookieSet, authzSet bool
	}{
		{"access token and cookies", "/app/x", http.Header{"Authorization": {"Bearer " + e.tokens["alice"]},
			"Cookie": {"theme=dark; scimgate_session=0123456789abcdef.forged; lang=en"}}, 200, "theme=dark; lang=en", "", true, false},
		{"the application's own credentials", "/public/x", http.Header{"Authorization": {"Basic dXNlcjpwdw=="}, "Cookie": {"a=1", "b=2"}},
			200, "a=1; b=2", "Basic dXNlcjpwdw==", true, true},
		{"only scimgate's cookie", "/public/x", http.Header{"Cookie": {"scimgate_session=0123456789abcdef.forged"}}, 200, "", "", false, false},
		{"the session's JWT cookie (HAProxy map-sync)", "/public/x", http.Header{"Cookie": {"a=1; scimgate_jwt=e.y.j"}}, 200, "a=1", "", true, false},
		// The identity provider's JWT it was allowed with is scimgate's
		// to keep, as an access token is.
		{"the IdP's bearer JWT", "/app/x", http.Header{"Authorization": {"Bearer jwt.alice.sig"}}, 200, "", "", false, false},
		// Also when it does not let anyone in: a public route's upstream
		// could replay it on protected routes once it verifies again (the
		// provider's keys were unreachable, its user not provisioned yet).
		{"the IdP's JWT, failing verification, to a public route", "/public/x", http.Header{"Authorization": {"Bearer bad.alice.sig"}}, 200, "", "", false, false},
		{"the IdP's JWT of a user not provisioned, to a public route", "/public/x", http.Header{"Authorization": {"Bearer jwt.nobody.sig"}}, 200, "", "", false, false},
		// Another issuer's JWT is the application's own credential.
		{"another issuer's JWT, to a public route", "/public/x", http.Header{"Authorization": {"Bearer other.alice.sig"}}, 200, "", "Bearer other.alice.sig", false, true},
		{"nothing", "/public/x", nil, 200, "", "", false, false},
		{"refused", "/console", http.Header{"Authorization": {"Bearer " + e.tokens["bob"]}, "Cookie": {"a=1"}}, 403, "", "", false, false},
	}
	for _, tt := range tests {
		for _, style := range []struct {
			name string
			req  func(string, string, http.Header) *http.Request
		}{{"nginx", nginx}, {"traefik", traefik}} {
			res := serve(h, style.req("GET", tt.uri, tt.headers))
			if res.StatusCode != tt.status {
				t.Fatalf("%s, %s: %d, want %d", tt.name, style.name, res.StatusCode, tt.status)
			}
			c, cok := res.Header[forwardauth.HeaderUpstreamCookie]
			a, aok := res.Header[forwardauth.HeaderUpstreamAuthorization]
			if cok != tt.cookieSet || strings.Join(c, "") != tt.cookie {
				t.Errorf("%s, %s: upstream Cookie %q (set %v), want %q (set %v)", tt.name, style.name, c, cok, tt.cookie, tt.cookieSet)
			}
			if aok != tt.authzSet || strings.Join(a, "") != tt.authz {
				t.Errorf("%s, %s: upstream Authorization %q (set %v), want %q (set %v)", tt.name, style.name, a, aok, tt.authz, tt.authzSet)
			}
		}
	}
}

// countingAuditor counts the decisions handed to the audit trail.
type countingAuditor struct {
	mu sync.Mutex
	n  map[string]int // by reason
}

func (a *countingAuditor) Record(_, _ string, _ engine.Principal, _ engine.Request, d engine.Decision) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n[d.Reason]++
}

// TestForwardAuthAuditsOnce: every auth request is one decision in the
// audit trail (and the log and metrics), refused paths and hosts too.
func TestForwardAuthAuditsOnce(t *testing.T) {
	e := newFAEnv(t)
	a := &countingAuditor{n: map[string]int{}}
	g := *e.Gate
	g.Audit = a
	h := forwardauth.New(&g)
	alice := http.Header{"Authorization": {"Bearer " + e.tokens["alice"]}}
	for _, r := range []*http.Request{
		nginx("GET", "/app/x", alice),
		nginx("GET", "/public/x#top", nil),
		traefik("GET", "/public/../console", nil),
		traefik("GET", "/CONSOLE", alice),
	} {
		serve(h, r)
	}
	want := map[string]int{engine.ReasonGroupOK: 1, engine.ReasonBadPath: 3}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !maps.Equal(a.n, want) {
		t.Errorf("audited %v, want %v", a.n, want)
	}
}
