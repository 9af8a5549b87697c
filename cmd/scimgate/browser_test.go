package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/scimgate/scimgate/internal/rundir"
)

// The OpenID provider of the browser tests: zitadel/oidc's example server,
// a real provider with a login page. It is built outside our module so
// that its dependencies stay out of go.mod.
const (
	providerPkg = "github.com/zitadel/oidc/v3/example/server@v3.51.17"
	// Its users (example/server/storage/user.go): the first is provisioned,
	// the second never is.
	providerUser     = "test-user@localhost"
	providerUserSub  = "id1"
	providerUser2    = "test-user2"
	providerPassword = "verysecure"
	// browserUserClaim names the user in the provider's answer; the
	// directory matches it against userName.
	browserUserClaim = "preferred_username"
)

// buildProvider builds the provider once per test binary run.
var buildProvider = sync.OnceValues(func() (string, error) {
	dir, err := rundir.Make("zitadel-oidc-example")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", providerPkg)
	cmd.Dir = dir // outside our module: `go install pkg@version` ignores go.mod anyway
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", providerPkg, err, out)
	}
	return filepath.Join(dir, "server"), nil
})

// findChromium returns Debian's chromium, installing it when it is missing
// and the test runs as root (as scripts/test.sh does).
var findChromium = sync.OnceValues(func() (string, error) {
	look := func() (string, error) {
		for _, p := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
			if path, err := exec.LookPath(p); err == nil {
				return path, nil
			}
		}
		return "", errors.New("chromium is not on PATH")
	}
	if p, err := look(); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("chromium is not installed, and installing it needs root (apt-get install chromium, or run scripts/test.sh as root)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("chromium is not installed and there is no apt-get to install it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log bytes.Buffer
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		log.Write(out)
		if err != nil {
			return "", fmt.Errorf("apt-get %s: %v\n%s", args[0], err, log.Bytes())
		}
	}
	return look()
})

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// startProvider runs the provider on port, accepting redirectURI for its
// "web" client, and waits until its discovery document is served.
func startProvider(t *testing.T, bin, port, redirectURI string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "REDIRECT_URI="+redirectURI)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("provider output (tail):\n%s", out.tail(4000))
		}
	})
	issuer := "http://localhost:" + port + "/"
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("the provider exited:\n%s", out.tail(4000))
		default:
		}
		resp, err := c.Get(issuer + ".well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return issuer
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider did not serve its discovery document within 20s: %v\n%s", err, out.tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startChromium launches one headless browser for the test; each tab gets
// its own browser context (cookie jar).
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		t.Skipf("browser tests need Debian's chromium: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profileDir(t)),
		chromedp.WindowSize(1024, 768),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first Run starts the browser, which lives as long as the context
	// given to it: no timeout here.
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab is one browser tab in a fresh browser context (its own cookies); it
// records the URL of every document request (redirect hops included).
type tab struct {
	ctx context.Context

	mu   sync.Mutex
	docs []string
}

// newTab opens a tab, in a browser context of its own, that lives as long
// as t.
func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	// chromedp.WithNewBrowserContext asks for a tab without a window, which
	// headless Chromium refuses ("no browser is open"): make the context
	// and a window for it here.
	var bid cdp.BrowserContextID
	var tid target.ID
	onBrowser := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		return chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			return f(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
		}))
	}
	err := onBrowser(func(ctx context.Context) error {
		var err error
		if bid, err = target.CreateBrowserContext().WithDisposeOnDetach(true).Do(ctx); err != nil {
			return err
		}
		tid, err = target.CreateTarget("about:blank").WithBrowserContextID(bid).WithNewWindow(true).Do(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(func() {
		_ = onBrowser(func(ctx context.Context) error { return target.DisposeBrowserContext(bid).Do(ctx) })
	})
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithTargetID(tid))
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument {
			tb.mu.Lock()
			tb.docs = append(tb.docs, e.Request.URL)
			tb.mu.Unlock()
		}
	})
	// The first Run attaches to the tab for as long as the context given
	// to it lives: tb.ctx itself, not one with a timeout.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("attach to the tab: %v", err)
	}
	tb.watch(t)
	return tb
}

// watch takes a screenshot of the tab if t fails. Registered after the
// tab's cancel, it runs before it, while the tab is open.
func (tb *tab) watch(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		defer cancel()
		var png []byte
		var loc string
		if err := chromedp.Run(ctx, chromedp.Location(&loc), chromedp.FullScreenshot(&png, 100)); err != nil {
			t.Logf("no screenshot: %v", err)
			return
		}
		dir := os.Getenv("SCIMGATE_SCREENSHOT_DIR") // t.TempDir() is removed when the test ends
		if dir == "" {
			dir = t.TempDir()
		}
		name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".png")
		if err := os.WriteFile(name, png, 0o644); err != nil {
			t.Logf("write screenshot: %v", err)
			return
		}
		t.Logf("screenshot of %s at failure: %s (set SCIMGATE_SCREENSHOT_DIR to keep it)", loc, name)
	})
}

// run runs actions with a bounded time.
func (tb *tab) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// page is where a navigation ended.
type page struct {
	status int // of the last document response
	url    string
	text   string // the body's visible text
}

func (p page) String() string {
	return fmt.Sprintf("%d at %s: %q", p.status, p.url, p.text)
}

// navigate runs actions that navigate (a Navigate, a click on a submit
// button) and reports the page the browser ends on, after redirects.
func (tb *tab) navigate(t *testing.T, actions ...chromedp.Action) page {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("browser navigation: %v", err)
	}
	var p page
	if resp != nil {
		p.status = int(resp.Status)
	}
	if err := chromedp.Run(ctx, chromedp.Location(&p.url), chromedp.Text("body", &p.text, chromedp.ByQuery)); err != nil {
		t.Fatalf("read the page: %v", err)
	}
	p.text = strings.TrimSpace(p.text)
	return p
}

func (tb *tab) open(t *testing.T, u string) page {
	t.Helper()
	return tb.navigate(t, chromedp.Navigate(u))
}

// login fills in and submits the provider's login form
// (example/server/exampleop/templates/login.html).
func (tb *tab) login(t *testing.T, user, password string) page {
	t.Helper()
	tb.run(t,
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, user, chromedp.ByID),
		chromedp.SendKeys(`#password`, password, chromedp.ByID),
	)
	return tb.navigate(t, chromedp.Click(`button[type="submit"]`, chromedp.ByQuery))
}

// requests returns the document URLs requested since the last call.
func (tb *tab) requests() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	d := tb.docs
	tb.docs = nil
	return d
}

// cookie returns the browser's cookie name for u, or nil.
func (tb *tab) cookie(t *testing.T, u, name string) *network.Cookie {
	t.Helper()
	var cs []*network.Cookie
	tb.run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cs, err = network.GetCookies().WithURLs([]string{u}).Do(ctx)
		return err
	}))
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie overwrites a cookie of the gateway as the gateway sets it:
// host-only, HttpOnly, SameSite=Lax, Path=/.
func (tb *tab) setCookie(t *testing.T, gw, name, value string) {
	t.Helper()
	tb.run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie(name, value).WithURL(gw + "/").WithPath("/").
			WithHTTPOnly(true).WithSameSite(network.CookieSameSiteLax).Do(ctx)
	}))
}

// browserGate is the real scimgate binary with sign-in against the
// provider, on http://localhost:PORT, in front of an upstream that says
// whom it was sent.
type browserGate struct {
	url    string // public URL, http://localhost:PORT
	issuer string
	scim   *client
}

func startBrowserGate(t *testing.T) *browserGate {
	t.Helper()
	bin := realBinary(t)
	op, err := buildProvider()
	if err != nil {
		t.Fatal(err)
	}
	port, opPort := freePort(t), freePort(t)
	gw := "http://localhost:" + port
	issuer := startProvider(t, op, opPort, gw+"/oauth2/callback")

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.Header.Get("X-Scimgate-User"))
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%s"
admin_listen: ""
store: "sqlite:%s"
scim:
  bootstrap_tenant: browser
gateway:
  public_url: %q
routes:
  - {name: app, path: /app, upstream: %q, allow: {groups: [eng]}}
  - {name: admin, path: /admin, upstream: %q, allow: {groups: [admins]}}
oidc:
  issuer: %q
  client_id: web
  client_secret: secret
  redirect_url: %q
  user_claim: %s
log:
  level: warn
`, port, filepath.Join(dir, "data", "scimgate.db"), gw, up.URL, up.URL, issuer, gw+"/oauth2/callback", browserUserClaim)
	config := filepath.Join(dir, "scimgate.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	if srv.token == "" {
		t.Fatal("the gateway printed no SCIM token")
	}
	return &browserGate{url: gw, issuer: issuer,
		scim: &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}}
}

// mustSCIM sends a SCIM request and fails the test on another status.
func (g *browserGate) mustSCIM(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	st, m, err := g.scim.do(method, path, body)
	if err != nil || st != want {
		t.Fatalf("SCIM %s %s = %d %v %v, want %d", method, path, st, m, err, want)
	}
	return m
}

func (g *browserGate) setActive(t *testing.T, id string, active bool) {
	t.Helper()
	g.mustSCIM(t, http.StatusOK, "PATCH", "/Users/"+id, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": active}}},
	})
}

// apiStatus requests u as an API client with the session cookie value and
// returns the status and the refusal reason.
func apiStatus(t *testing.T, u, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "scimgate_session", Value: cookie})
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.Reason
}

// TestBrowserSignIn signs in with headless Chromium through a real OpenID
// provider's login page, against the real binary: the whole browser flow
// from the first redirect to sign-out, and what the directory does to it.
func TestBrowserSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("drives headless Chromium against the real binary and a real OpenID provider")
	}
	browser := startChromium(t)
	g := startBrowserGate(t)

	// What the identity provider would provision: the user (by the name the
	// provider's preferred_username claim carries), in eng; admins exists
	// without them.
	user := g.mustSCIM(t, http.StatusCreated, "POST", "/Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": providerUser, "externalId": providerUserSub, "active": true,
		"emails": []any{map[string]any{"value": "test-user@zitadel.ch", "primary": true}},
	})["id"].(string)
	for name, members := range map[string][]any{"eng": {map[string]any{"value": user}}, "admins": {}} {
		g.mustSCIM(t, http.StatusCreated, "POST", "/Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": name, "members": members,
		})
	}

	app := g.url + "/app/page?x=1"
	loginPage := g.issuer + "login/username"
	const cookieName = "scimgate_session"

	// signIn runs a whole sign-in in tb, starting at target.
	signIn := func(t *testing.T, tb *tab, target, user string) page {
		t.Helper()
		if p := tb.open(t, target); !strings.HasPrefix(p.url, loginPage) {
			t.Fatalf("opening %s ended %v, want the provider's login page %s", target, p, loginPage)
		}
		return tb.login(t, user, providerPassword)
	}
	sessionValue := func(t *testing.T, tb *tab) string {
		t.Helper()
		c := tb.cookie(t, g.url+"/", cookieName)
		if c == nil {
			t.Fatalf("no %s cookie", cookieName)
		}
		return c.Value
	}

	// One browser keeps its session across the first three subtests.
	kept := newTab(t, browser)
	signedIn := t.Run("sign in", func(t *testing.T) {
		kept.watch(t)
		p := signIn(t, kept, app, providerUser)
		if p.status != http.StatusOK || p.url != app || !strings.Contains(p.text, "hello "+providerUser) {
			t.Fatalf("after signing in: %v; want 200 back at %s showing %q", p, app, "hello "+providerUser)
		}
		c := kept.cookie(t, g.url+"/", cookieName)
		if c == nil {
			t.Fatal("no session cookie after sign-in")
		}
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
			t.Errorf("session cookie HttpOnly=%v SameSite=%q Path=%q, want HttpOnly, Lax, /", c.HTTPOnly, c.SameSite, c.Path)
		}
	})
	signedInTab := func(t *testing.T) *tab {
		if !signedIn {
			t.Skip("sign-in failed")
		}
		kept.watch(t)
		return kept
	}

	t.Run("route not admitted", func(t *testing.T) {
		tb := signedInTab(t)
		p := tb.open(t, g.url+"/admin/")
		if p.status != http.StatusForbidden || !strings.Contains(p.text, "Route admin") || !strings.Contains(p.text, "not-allowed") {
			t.Errorf("a route the user's groups do not admit: %v; want 403 naming route admin and reason not-allowed", p)
		}
	})

	t.Run("deactivated", func(t *testing.T) {
		tb := signedInTab(t)
		g.setActive(t, user, false)
		defer g.setActive(t, user, true) // the next subtests sign in as this user
		// The deactivation ended the session: the next navigation goes to
		// sign in, and signing in again is refused while deactivated.
		if p := tb.open(t, app); !strings.HasPrefix(p.url, loginPage) {
			t.Errorf("the navigation after deactivation: %v; want the provider's login page (the session ended)", p)
		}
		p := tb.login(t, providerUser, providerPassword)
		if p.status != http.StatusForbidden || !strings.Contains(p.text, "deactivated") {
			t.Errorf("signing in again while deactivated: %v; want 403 saying the account is deactivated", p)
		}
	})

	t.Run("never provisioned", func(t *testing.T) {
		tb := newTab(t, browser)
		p := signIn(t, tb, app, providerUser2)
		if p.status != http.StatusForbidden || !strings.Contains(p.text, "not been provisioned") || !strings.Contains(p.text, providerUser2) {
			t.Errorf("signing in as a never-provisioned identity: %v; want 403 saying %s is not provisioned", p, providerUser2)
		}
		if c := tb.cookie(t, g.url+"/", cookieName); c != nil {
			t.Errorf("a session cookie was set for a never-provisioned identity: %+v", c)
		}
	})

	t.Run("tampered cookie", func(t *testing.T) {
		tb := newTab(t, browser)
		if p := signIn(t, tb, app, providerUser); p.status != http.StatusOK || p.url != app {
			t.Fatalf("sign-in: %v", p)
		}
		v := sessionValue(t, tb)
		forged := v[:len(v)-1] + "A"
		if strings.HasSuffix(v, "A") {
			forged = v[:len(v)-1] + "B"
		}
		tb.setCookie(t, g.url, cookieName, forged)
		if c := tb.cookie(t, g.url+"/", cookieName); c == nil || c.Value != forged {
			t.Fatalf("the browser did not take the tampered cookie: %+v", c)
		}
		tb.requests()
		p := tb.open(t, app)
		if !strings.HasPrefix(p.url, loginPage) || strings.Contains(p.text, "hello") {
			t.Errorf("navigating with a tampered session cookie: %v; want the provider's login page", p)
		}
		if !containsPrefix(tb.requests(), g.url+"/.scimgate/signin?") {
			t.Errorf("the navigation did not go through %s/.scimgate/signin", g.url)
		}
	})

	t.Run("replayed state", func(t *testing.T) {
		tb := newTab(t, browser)
		tb.requests()
		if p := signIn(t, tb, app, providerUser); p.status != http.StatusOK || p.url != app {
			t.Fatalf("sign-in: %v", p)
		}
		var callback string
		for _, u := range tb.requests() {
			if strings.HasPrefix(u, g.url+"/oauth2/callback?") {
				callback = u
			}
		}
		if callback == "" || !strings.Contains(callback, "state=") || !strings.Contains(callback, "code=") {
			t.Fatalf("no callback with code and state among the sign-in's requests (got %q)", callback)
		}
		p := tb.open(t, callback)
		if p.status != http.StatusBadRequest || !strings.Contains(p.text, "Sign-in expired") || !strings.Contains(p.text, "already used or has expired") {
			t.Errorf("replaying %s: %v; want the 400 'Sign-in expired' page", callback, p)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tb := newTab(t, browser)
		if p := signIn(t, tb, app, providerUser); p.status != http.StatusOK || p.url != app {
			t.Fatalf("sign-in: %v", p)
		}
		old := sessionValue(t, tb)
		tb.requests()
		p := tb.open(t, g.url+"/.scimgate/signout")
		var endSession *url.URL
		for _, u := range tb.requests() {
			if strings.HasPrefix(u, g.issuer+"end_session?") {
				endSession, _ = url.Parse(u)
			}
		}
		if endSession == nil {
			t.Errorf("sign-out ended %v without going through the provider's end_session endpoint", p)
		} else {
			q := endSession.Query()
			if q.Get("id_token_hint") == "" || q.Get("client_id") != "web" || q.Get("post_logout_redirect_uri") != g.url+"/" {
				t.Errorf("end_session parameters %v, want id_token_hint, client_id=web, post_logout_redirect_uri=%s/", q, g.url)
			}
		}
		if c := tb.cookie(t, g.url+"/", cookieName); c != nil {
			t.Errorf("the session cookie is still in the browser after sign-out: %q", c.Value)
		}
		if st, reason := apiStatus(t, app, old); st != http.StatusUnauthorized || reason != "session-revoked" {
			t.Errorf("the signed-out session's cookie sent again = %d %q, want 401 session-revoked", st, reason)
		}
		if p := tb.open(t, app); !strings.HasPrefix(p.url, loginPage) {
			t.Errorf("navigating after sign-out: %v; want the provider's login page", p)
		}
	})
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// profileDir is Chromium's profile directory. Not t.TempDir: Chromium's
// helper processes may still write there for a moment after the browser
// is gone, and t.TempDir fails the test when its removal does not empty
// it. This one is removed with retries, after the browser's cleanups.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "scimgate-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if i == 50 {
				t.Logf("chromium profile %s not removed: %v", dir, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}
