package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/oauth2-proxy/mockoidc"
)

// noFollow returns a client that stops at the first redirect, sharing c's
// cookie jar (nil: none).
func noFollow(c *http.Client) *http.Client {
	nc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if c != nil {
		nc.Jar = c.Jar
	}
	return nc
}

// fetch GETs u with c (which should not follow redirects), with cookies
// added by hand, and returns the response with its body read.
func fetch(t *testing.T, c *http.Client, u string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// cookieNamed returns the cookie name a response sets, or nil.
func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// startSignIn asks the gateway at base to start a sign-in returning to rd
// and returns the authorization URL it redirects to and the sign-in cookie
// it sets (the one whose name starts with scimgate_login_).
func startSignIn(t *testing.T, base, rd string) (*url.URL, *http.Cookie) {
	t.Helper()
	resp, body := fetch(t, noFollow(nil), base+"/.scimgate/signin?rd="+url.QueryEscape(rd))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start sign-in = %d %q, want 302", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "scimgate_login_") {
			if login != nil {
				t.Fatalf("start sign-in set two sign-in cookies: %v", resp.Header["Set-Cookie"])
			}
			login = c
		}
	}
	if login == nil {
		t.Fatalf("start sign-in set no scimgate_login_ cookie: %v", resp.Header["Set-Cookie"])
	}
	return loc, login
}

// authorize has the provider sign in the next queued user on an
// authorization URL and returns the callback URL it sends the browser to.
func authorize(t *testing.T, authURL *url.URL) *url.URL {
	t.Helper()
	resp, body := fetch(t, noFollow(nil), authURL.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider authorization = %d %q, want 302", resp.StatusCode, body)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("provider sent the browser to %q, want a callback with a code", resp.Header.Get("Location"))
	}
	return cb
}

// signInAs signs email in at the provider in a fresh cookie-keeping browser
// sending userAgent, starting at target; it fails unless the browser ends
// on target, and returns the browser and its session cookie value.
func signInAs(t *testing.T, idp *mockoidc.MockOIDC, target, email, userAgent string) (*http.Client, string) {
	t.Helper()
	b := browser(t)
	idp.QueueUser(&mockoidc.MockUser{Subject: "sub-" + email, Email: email})
	req, _ := http.NewRequest("GET", target, nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", userAgent) // kept on every redirect hop, the callback included
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != target || !strings.Contains(string(body), "hello "+email) {
		t.Fatalf("sign-in of %s = %d at %s %q; want 200 back at %s", email, resp.StatusCode, resp.Request.URL, body, target)
	}
	u, _ := url.Parse(target)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "scimgate_session" {
			return b, c.Value
		}
	}
	t.Fatalf("no session cookie after %s signed in", email)
	return nil, ""
}

// parseTable parses a tabwriter table by the positions of its header's
// columns (values may hold spaces only in the last column).
func parseTable(t *testing.T, out string, cols ...string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var at []int
	for i, c := range cols {
		p := strings.Index(lines[0], c)
		if p < 0 || (i > 0 && p <= at[i-1]) {
			t.Fatalf("table header %q lacks column %q in order\n%s", lines[0], c, out)
		}
		at = append(at, p)
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, c := range cols {
			end := len(l)
			if i+1 < len(at) {
				end = min(at[i+1], len(l))
			}
			if at[i] < end {
				row[c] = strings.TrimSpace(l[at[i]:end])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestSessionsCLIAfterSignIn: against the real binary serving sign-in with
// the mock provider, `scimgate sessions list` shows a browser's session
// with its columns, `scimgate sessions revoke` ends it so that the very
// next request with its cookie is refused (401 session-revoked), leaves
// other users' sessions alone, and the list then shows it revoked.
func TestSessionsCLIAfterSignIn(t *testing.T) {
	bin := realBinary(t)
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Shutdown() })
	up := newHelloUpstream(t)
	port := freePort(t)
	gw := "http://127.0.0.1:" + port
	dir := t.TempDir()
	config := filepath.Join(dir, "scimgate.yaml")
	// A lifetime other than the default, to see sign-in use it.
	const lifetime = 3 * time.Hour
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%s"
admin_listen: ""
store: "sqlite:%s"
scim:
  bootstrap_tenant: acme
gateway:
  public_url: %q
routes:
  - {name: app, path: /app, upstream: %q, allow: {groups: [eng]}}
oidc:
  issuer: %q
  client_id: %q
  client_secret: %q
  redirect_url: %q
sessions:
  lifetime: 3h
log:
  level: warn
`, port, filepath.Join(dir, "data", "scimgate.db"), gw, up, idp.Issuer(), idp.ClientID, idp.ClientSecret, gw+"/oauth2/callback")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	if srv.token == "" {
		t.Fatal("the server printed no SCIM token")
	}
	scim := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}
	var members []any
	for _, name := range []string{"alice@example.com", "bob@example.com"} {
		st, m, err := scim.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name})
		if err != nil || st != http.StatusCreated {
			t.Fatalf("create %s: %d %v %v", name, st, m, err)
		}
		members = append(members, map[string]any{"value": m["id"]})
	}
	if st, m, err := scim.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "eng", "members": members}); err != nil || st != http.StatusCreated {
		t.Fatalf("create group eng: %d %v %v", st, m, err)
	}

	app := gw + "/app/page"
	before := time.Now()
	_, alice := signInAs(t, idp, app, "alice@example.com", "scimgate-test-browser/1.0")
	signedIn := time.Now()
	_, bob := signInAs(t, idp, app, "bob@example.com", "scimgate-test-browser/2.0")

	cols := []string{"ID", "TENANT", "STATUS", "CREATED", "LAST SEEN", "EXPIRES", "FROM", "USER AGENT"}
	list := func(user string) []map[string]string {
		t.Helper()
		res := mustCLI(t, bin, "sessions", "list", "--config", config, "--user", user)
		return parseTable(t, res.stdout, cols...)
	}
	aliceID, _, _ := strings.Cut(alice, ".")

	rows := list("alice@example.com")
	if len(rows) != 1 {
		t.Fatalf("sessions list --user alice@example.com shows %d sessions, want 1: %v", len(rows), rows)
	}
	r := rows[0]
	if r["ID"] != aliceID || r["TENANT"] != "acme" || r["STATUS"] != "active" || r["USER AGENT"] != "scimgate-test-browser/1.0" {
		t.Errorf("alice's session row = %v; want ID %s (the cookie's), tenant acme, active, the browser's user agent", r, aliceID)
	}
	if !strings.HasPrefix(r["FROM"], "127.0.0.1:") {
		t.Errorf("alice's session FROM = %q, want the browser's address 127.0.0.1:PORT", r["FROM"])
	}
	stampNear(t, "CREATED", r["CREATED"], before, signedIn)
	stampNear(t, "LAST SEEN", r["LAST SEEN"], before, signedIn)
	stampNear(t, "EXPIRES (sessions.lifetime 3h)", r["EXPIRES"], before.Add(lifetime), signedIn.Add(lifetime))

	// Both sessions work before the revocation.
	for who, c := range map[string]string{"alice": alice, "bob": bob} {
		if st, reason := apiStatus(t, app, c); st != http.StatusOK {
			t.Fatalf("%s's session before revocation = %d %q, want 200", who, st, reason)
		}
	}

	res := mustCLI(t, bin, "sessions", "revoke", "--config", config, "--user", "alice@example.com")
	if !strings.Contains(res.stdout, "revoked 1 sessions of alice@example.com") {
		t.Errorf("sessions revoke printed %q, want it to say it revoked 1 session of alice@example.com", res.stdout)
	}
	// The very next request, no wait: refused as revoked.
	if st, reason := apiStatus(t, app, alice); st != http.StatusUnauthorized || reason != "session-revoked" {
		t.Errorf("alice's cookie right after sessions revoke = %d %q, want 401 session-revoked", st, reason)
	}
	// A browser navigating with it is sent to sign in again.
	resp, _ := fetch(t, noFollow(nil), app, &http.Cookie{Name: "scimgate_session", Value: alice})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, gw+"/.scimgate/signin?") {
		t.Errorf("navigating with the revoked cookie = %d to %q, want 302 to sign in", resp.StatusCode, loc)
	}
	if st, reason := apiStatus(t, app, bob); st != http.StatusOK {
		t.Errorf("bob's session after alice's were revoked = %d %q, want 200", st, reason)
	}

	rows = list("alice@example.com")
	if len(rows) != 1 || rows[0]["ID"] != aliceID || rows[0]["STATUS"] != "revoked" {
		t.Errorf("sessions list after revoke = %v, want alice's one session, revoked", rows)
	}
	if rows := list("bob@example.com"); len(rows) != 1 || rows[0]["STATUS"] != "active" {
		t.Errorf("bob's sessions after alice's revocation = %v, want one, active", rows)
	}
	// Nothing live is left to revoke.
	if res := mustCLI(t, bin, "sessions", "revoke", "--config", config, "--user", "alice@example.com"); !strings.Contains(res.stdout, "revoked 0 sessions") {
		t.Errorf("a second sessions revoke printed %q, want revoked 0 sessions", res.stdout)
	}
	if res := cli(t, bin, "sessions", "list", "--config", config, "--user", "nobody@example.com"); res.code == 0 {
		t.Errorf("sessions list of an unknown user exited 0: %q", res.stdout)
	}
}

// newHelloUpstream is an application that greets the user scimgate names,
// as newOIDCStack's does.
func newHelloUpstream(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.Header.Get("X-Scimgate-User"))
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// TestSignInAuthorizationRequest: the redirect that starts a sign-in asks
// the provider for the authorization code flow with PKCE (S256), a nonce
// and a state, fresh for every sign-in; the cookie that carries the
// sign-in is HttpOnly, SameSite=Lax, scoped to the callback path, and
// short-lived; and it does complete the sign-in (the provider checks the
// PKCE verifier against the challenge).
func TestSignInAuthorizationRequest(t *testing.T) {
	s := newOIDCStack(t, "")
	s.provision("alice@example.com", "eng")
	app := s.srv.URL + "/app/x?y=1"
	b64url := regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)

	seen := map[string]bool{}
	for i := range 2 {
		loc, login := startSignIn(t, s.srv.URL, app)
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != s.idp.AuthorizationEndpoint() {
			t.Errorf("sign-in %d redirects to %s, want the provider's authorization endpoint %s", i, got, s.idp.AuthorizationEndpoint())
		}
		q := loc.Query()
		want := map[string]string{
			"response_type":         "code",
			"code_challenge_method": "S256",
			"client_id":             s.idp.ClientID,
			"redirect_uri":          s.srv.URL + "/oauth2/callback",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("sign-in %d: %s=%q, want %q (%s)", i, k, q.Get(k), v, loc)
			}
		}
		// S256 challenges are 43 base64url characters; state and nonce
		// are 32 random bytes, base64url.
		for _, k := range []string{"code_challenge", "state", "nonce"} {
			v := q.Get(k)
			if !b64url.MatchString(v) {
				t.Errorf("sign-in %d: %s=%q, want a random base64url value", i, k, v)
			}
			if seen[v] {
				t.Errorf("sign-in %d: %s=%q was already used by another sign-in", i, k, v)
			}
			seen[v] = true
		}
		if len(q.Get("code_challenge")) != 43 {
			t.Errorf("sign-in %d: code_challenge %q is not a SHA-256 (43 base64url characters)", i, q.Get("code_challenge"))
		}
		if scopes := strings.Fields(q.Get("scope")); !contains(scopes, "openid") {
			t.Errorf("sign-in %d: scope %q lacks openid", i, q.Get("scope"))
		}

		state := q.Get("state")
		if want := "scimgate_login_" + state[:16]; login.Name != want {
			t.Errorf("sign-in %d: cookie %q, want %q (named by the state)", i, login.Name, want)
		}
		if !login.HttpOnly || login.SameSite != http.SameSiteLaxMode || login.Path != "/oauth2/callback" {
			t.Errorf("sign-in %d: cookie HttpOnly=%v SameSite=%v Path=%q; want HttpOnly, Lax, Path=/oauth2/callback", i, login.HttpOnly, login.SameSite, login.Path)
		}
		if login.MaxAge != 600 || login.Secure || login.Domain != "" {
			t.Errorf("sign-in %d: cookie MaxAge=%d Secure=%v Domain=%q; want 600 (10 minutes), not Secure on http, host-only", i, login.MaxAge, login.Secure, login.Domain)
		}
		if strings.Contains(login.Value, state) || strings.Contains(login.Value, q.Get("nonce")) || strings.Contains(login.Value, "app") {
			t.Errorf("sign-in %d: cookie %q shows what it carries", i, login.Value)
		}

		if i == 1 {
			// This request completes: the provider accepts the verifier
			// the cookie carries for the challenge above.
			s.idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
			cb := authorize(t, loc)
			if cb.Query().Get("state") != state {
				t.Fatalf("the provider returned state %q, want %q", cb.Query().Get("state"), state)
			}
			resp, body := fetch(t, noFollow(nil), cb.String(), login)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != app || cookieNamed(resp, "scimgate_session") == nil {
				t.Errorf("completing the sign-in = %d to %q %q, want 302 back to %s with a session", resp.StatusCode, resp.Header.Get("Location"), body, app)
			}
			if del := cookieNamed(resp, login.Name); del == nil || del.MaxAge >= 0 || del.Path != "/oauth2/callback" {
				t.Errorf("the callback did not delete the sign-in cookie: %v", resp.Header["Set-Cookie"])
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSignInStateBinding: the cookie of one sign-in does not complete
// another. Two sign-ins X and Y are started and both authorized at the
// provider; their callbacks are then presented with states, codes and
// cookies mixed up. Only the matching combination signs in.
func TestSignInStateBinding(t *testing.T) {
	s := newOIDCStack(t, "")
	s.provision("alice@example.com", "eng")
	app := s.srv.URL + "/app/x"
	type signIn struct {
		state, code string
		cookie      *http.Cookie
	}
	begin := func(t *testing.T) signIn {
		t.Helper()
		loc, ck := startSignIn(t, s.srv.URL, app)
		s.idp.QueueUser(&mockoidc.MockUser{Subject: "a1", Email: "alice@example.com"})
		cb := authorize(t, loc)
		return signIn{state: cb.Query().Get("state"), code: cb.Query().Get("code"), cookie: ck}
	}
	callback := func(state, code string) string {
		return s.srv.URL + "/oauth2/callback?" + url.Values{"state": {state}, "code": {code}}.Encode()
	}
	renamed := func(c *http.Cookie, state string) *http.Cookie {
		return &http.Cookie{Name: "scimgate_login_" + state[:16], Value: c.Value}
	}
	tests := []struct {
		name string
		// request builds the callback URL and its cookies from X and Y.
		request func(x, y signIn) (string, []*http.Cookie)
		status  int    // 0: refused with 400 or 502
		page    string // text the page shows
	}{
		{"matching: Y's state, code and cookie", func(x, y signIn) (string, []*http.Cookie) {
			return callback(y.state, y.code), []*http.Cookie{y.cookie}
		}, http.StatusFound, ""},
		{"X's sealed cookie under Y's name, for Y's state and code", func(x, y signIn) (string, []*http.Cookie) {
			return callback(y.state, y.code), []*http.Cookie{renamed(x.cookie, y.state)}
		}, http.StatusBadRequest, "does not belong to this browser"},
		{"Y's sealed cookie under X's name, for X's state and code", func(x, y signIn) (string, []*http.Cookie) {
			return callback(x.state, x.code), []*http.Cookie{renamed(y.cookie, x.state)}
		}, http.StatusBadRequest, "does not belong to this browser"},
		{"X's code with Y's state, both cookies present (two tabs)", func(x, y signIn) (string, []*http.Cookie) {
			return callback(y.state, x.code), []*http.Cookie{x.cookie, y.cookie}
		}, 0, "Sign-in failed"},
		{"Y's state, with only X's cookie", func(x, y signIn) (string, []*http.Cookie) {
			return callback(y.state, y.code), []*http.Cookie{x.cookie}
		}, http.StatusBadRequest, "Sign-in expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := begin(t), begin(t)
			if x.state == y.state {
				t.Fatal("two sign-ins share a state")
			}
			u, cookies := tt.request(x, y)
			resp, body := fetch(t, noFollow(nil), u, cookies...)
			switch tt.status {
			case http.StatusFound:
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != app || cookieNamed(resp, "scimgate_session") == nil {
					t.Errorf("= %d to %q %q; want 302 to %s with a session cookie", resp.StatusCode, resp.Header.Get("Location"), body, app)
				}
				return
			case 0:
				if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusBadGateway {
					t.Errorf("= %d, want 400 or 502", resp.StatusCode)
				}
			default:
				if resp.StatusCode != tt.status {
					t.Errorf("= %d, want %d", resp.StatusCode, tt.status)
				}
			}
			if !strings.Contains(body, tt.page) {
				t.Errorf("page %q does not say %q", body, tt.page)
			}
			if c := cookieNamed(resp, "scimgate_session"); c != nil {
				t.Errorf("a mixed-up callback set a session cookie %q", c.Value)
			}
		})
	}
	if n, err := s.a.dir.Sessions(context.Background(), "", "alice@example.com"); err != nil || len(n) != 1 {
		t.Errorf("alice has %d sessions (%v), want exactly the one of the matching callback", len(n), err)
	}
}

// providerKid is the key id mockoidc gives its key (the base64url SHA-256
// of the public key's PKIX DER), computed here rather than with
// Keypair.KeyID, which caches into the struct the provider reads.
func providerKid(t *testing.T, idp *mockoidc.MockOIDC) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(idp.Keypair.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mintJWT signs claims with the provider's own key, as the provider would
// sign an access token: RS256, its kid, typ JWT.
func mintJWT(t *testing.T, idp *mockoidc.MockOIDC, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: idp.Keypair.PrivateKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", providerKid(t, idp)))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// bearer requests u as an API client with a bearer token and returns the
// status and the refusal reason.
func bearer(t *testing.T, u, token string) (int, string) {
	t.Helper()
	return gateGet(t, u, token)
}

// jwtClaims are the claims of a valid bearer JWT of the provider for email,
// issued now, good for 5 minutes, with set applied (a nil value deletes).
func jwtClaims(idp *mockoidc.MockOIDC, email string, now time.Time, set map[string]any) map[string]any {
	c := map[string]any{
		"iss": idp.Issuer(), "aud": idp.ClientID, "sub": "sub-" + email, "email": email,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range set {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// TestBearerJWTClaims: bearer JWTs signed with the provider's key are
// accepted only for the provider's issuer and an accepted audience, within
// their validity; times are judged with oidc.clock_skew (here 2m) of
// tolerance: a token expired for less than the skew passes, one expired
// for longer does not.
//
// nbf: go-oidc checks it, with a fixed leeway of 5 minutes of its own,
// against the clock scimgate gives it, which is now minus clock_skew (the
// skew is applied by turning the verifier's clock back, which helps exp
// and works against nbf). A token whose nbf is further ahead than
// 5m - clock_skew is therefore refused; see TestBearerJWTNotBeforeSkew for
// tokens between clock_skew and that.
func TestBearerJWTClaims(t *testing.T) {
	s := newOIDCStack(t, "  clock_skew: 2m\n")
	s.provision("svc@example.com", "eng")
	u := s.srv.URL + "/app/x"
	const skew = 2 * time.Minute
	tests := []struct {
		name   string
		set    func(now time.Time) map[string]any
		status int
		reason string
	}{
		{"valid", func(time.Time) map[string]any { return nil }, http.StatusOK, ""},
		{"audience list holding the client id", func(time.Time) map[string]any {
			return map[string]any{"aud": []string{"https://other.example", s.idp.ClientID}}
		}, http.StatusOK, ""},
		{"wrong audience", func(time.Time) map[string]any { return map[string]any{"aud": "https://other.example"} }, http.StatusUnauthorized, "token-invalid"},
		{"no audience", func(time.Time) map[string]any { return map[string]any{"aud": nil} }, http.StatusUnauthorized, "token-invalid"},
		{"wrong issuer", func(time.Time) map[string]any { return map[string]any{"iss": "https://evil.example/oidc"} }, http.StatusUnauthorized, "token-invalid"},
		{"issuer with a trailing slash added", func(time.Time) map[string]any { return map[string]any{"iss": s.idp.Issuer() + "/"} }, http.StatusUnauthorized, "token-invalid"},
		{"expired long ago", func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-30 * time.Minute).Unix()}
		}, http.StatusUnauthorized, "token-invalid"},
		{"expired 10s beyond clock_skew", func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-skew - 10*time.Second).Unix()}
		}, http.StatusUnauthorized, "token-invalid"},
		{"expired 15s within clock_skew", func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(-skew + 15*time.Second).Unix()}
		}, http.StatusOK, ""},
		{"no expiry", func(time.Time) map[string]any { return map[string]any{"exp": nil} }, http.StatusUnauthorized, "token-invalid"},
		{"nbf in the past", func(now time.Time) map[string]any { return map[string]any{"nbf": now.Add(-time.Minute).Unix()} }, http.StatusOK, ""},
		{"nbf within clock_skew ahead", func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(skew - 30*time.Second).Unix()}
		}, http.StatusOK, ""},
		{"nbf beyond go-oidc's 5m leeway less clock_skew", func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(5*time.Minute - skew + 30*time.Second).Unix()}
		}, http.StatusUnauthorized, "token-invalid"},
		{"nbf far ahead", func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}
		}, http.StatusUnauthorized, "token-invalid"},
		{"no user claim", func(time.Time) map[string]any { return map[string]any{"email": nil} }, http.StatusUnauthorized, "token-invalid"},
		{"a user not provisioned", func(time.Time) map[string]any { return map[string]any{"email": "mallory@example.com"} }, http.StatusForbidden, "user-unknown"},
		{"a nonce: an ID token", func(time.Time) map[string]any { return map[string]any{"nonce": "n"} }, http.StatusUnauthorized, "token-invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			tok := mintJWT(t, s.idp, jwtClaims(s.idp, "svc@example.com", now, tt.set(now)))
			if st, reason := bearer(t, u, tok); st != tt.status || reason != tt.reason {
				t.Errorf("= %d %q, want %d %q", st, reason, tt.status, tt.reason)
			}
		})
	}
}

// TestBearerJWTNotBeforeSkew: a token whose nbf is further ahead than
// oidc.clock_skew is refused, whatever go-oidc's own leeway.
func TestBearerJWTNotBeforeSkew(t *testing.T) {
	s := newOIDCStack(t, "  clock_skew: 1m\n")
	s.provision("svc@example.com", "eng")
	now := time.Now()
	tok := mintJWT(t, s.idp, jwtClaims(s.idp, "svc@example.com", now, map[string]any{"nbf": now.Add(3 * time.Minute).Unix()}))
	if st, reason := bearer(t, s.srv.URL+"/app/x", tok); st != http.StatusUnauthorized || reason != "token-invalid" {
		t.Errorf("a JWT not valid for another 3m, clock_skew 1m = %d %q, want 401 token-invalid", st, reason)
	}
}

// TestLargeClockSkew: clock_skew may be set up to 10m; a token issued now
// (nbf = iat = now, as mockoidc and most providers issue them) is valid
// with any of those values, as a bearer JWT and as the ID token of a
// browser sign-in.
func TestLargeClockSkew(t *testing.T) {
	s := newOIDCStack(t, "  clock_skew: 6m\n")
	s.provision("svc@example.com", "eng")
	now := time.Now()
	tok := mintJWT(t, s.idp, jwtClaims(s.idp, "svc@example.com", now, nil))
	if st, reason := bearer(t, s.srv.URL+"/app/x", tok); st != http.StatusOK {
		t.Errorf("a fresh JWT with clock_skew 6m = %d %q, want 200", st, reason)
	}
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "s1", Email: "svc@example.com"})
	if st, _, body := navigate(t, browser(t), s.srv.URL+"/app/x"); st != http.StatusOK || !strings.Contains(body, "hello svc@example.com") {
		t.Errorf("a sign-in with clock_skew 6m = %d %q, want 200", st, body)
	}
}

// TestSignInDeactivatedUser: a user deactivated in the directory who then
// signs in at the provider gets the 403 "Account deactivated" page, no
// session cookie and no session; reactivated, the same sign-in works.
func TestSignInDeactivatedUser(t *testing.T) {
	s := newOIDCStack(t, "")
	id := s.provision("dave@example.com", "eng")
	s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+id, patchOps(`[{"op":"replace","value":{"active":false}}]`))
	app := s.srv.URL + "/app/x"
	gw, _ := url.Parse(s.srv.URL)

	b := browser(t)
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "d1", Email: "dave@example.com"})
	st, final, body := navigate(t, b, app)
	if st != http.StatusForbidden || !strings.Contains(body, "Account deactivated") || !strings.Contains(body, "dave@example.com") {
		t.Errorf("sign-in of a deactivated user = %d at %s %q, want the 403 Account deactivated page", st, final, body)
	}
	if !strings.HasPrefix(final, s.srv.URL+"/oauth2/callback?") {
		t.Errorf("the deactivated page is at %s, want the callback", final)
	}
	for _, c := range b.Jar.Cookies(gw) {
		if c.Name == "scimgate_session" {
			t.Errorf("a deactivated user got a session cookie %q", c.Value)
		}
	}
	if list, err := s.a.dir.Sessions(context.Background(), "", "dave@example.com"); err != nil || len(list) != 0 {
		t.Errorf("a deactivated user's sign-in left %d sessions (%v), want none", len(list), err)
	}

	// The refusal is the deactivation: reactivated, the same sign-in works.
	s.mustSCIM(http.StatusOK, "PATCH", "/Users/"+id, patchOps(`[{"op":"replace","value":{"active":true}}]`))
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "d1", Email: "dave@example.com"})
	if st, final, body := navigate(t, b, app); st != http.StatusOK || final != app || !strings.Contains(body, "hello dave@example.com") {
		t.Errorf("sign-in after reactivation = %d at %s %q, want 200 back at %s", st, final, body, app)
	}
}
