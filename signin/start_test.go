package signin

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/config"
)

func newStartService(t *testing.T, cookieDomain string) *Service {
	t.Helper()
	pub, _ := url.Parse("https://gate.example.test")
	s, err := New(Options{
		OIDC:      &config.OIDC{Issuer: "https://idp.test", ClientID: "c", RedirectURL: "https://gate.example.test/.scimgate/callback"},
		Sessions:  config.Sessions{CookieName: "scimgate_session", CookieDomain: cookieDomain},
		PublicURL: pub,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSafeReturn: sign-in returns to a path on the host it was asked on,
// or to a URL on a host the session cookie reaches; nowhere else.
func TestSafeReturn(t *testing.T) {
	tests := []struct {
		name, cookieDomain, host, proto, rd string
		want                                string
		err                                 error
	}{
		{"nothing: the gateway's root", "", "gate.example.test", "", "", "https://gate.example.test/", nil},
		{"a path on the gateway", "", "gate.example.test", "", "/app/x?y=1", "https://gate.example.test/app/x?y=1", nil},
		{"a path on an application's host (HAProxy map-sync)", ".example.test", "app.example.test:8443", "", "/x", "https://app.example.test:8443/x", nil},
		{"the proxy says http", ".example.test", "app.example.test", "http", "/x", "http://app.example.test/x", nil},
		{"the proxy's X-Forwarded-Proto is not a scheme", ".example.test", "app.example.test", "javascript", "/x", "https://app.example.test/x", nil},
		{"a URL on the callback's host, another port", "", "gate.example.test", "", "http://gate.example.test:8080/x", "http://gate.example.test:8080/x", nil},
		{"a URL under the cookie domain", ".example.test", "gate.example.test", "", "https://app.example.test/x", "https://app.example.test/x", nil},
		{"the cookie domain itself", ".example.test", "gate.example.test", "", "https://example.test/x", "https://example.test/x", nil},
		{"no cookie domain: another host never gets the cookie", "", "gate.example.test", "", "https://app.example.test/x", "", errCookieHost},
		{"a path on a host the cookie does not reach", "", "app.example.test", "", "/x", "", errCookieHost},
		{"another domain", ".example.test", "gate.example.test", "", "https://evil.test/", "", errCookieHost},
		{"a look-alike suffix", ".example.test", "gate.example.test", "", "https://evilexample.test/", "", errCookieHost},
		{"scheme-relative", ".example.test", "gate.example.test", "", "//evil.test/", "", errOpenRedirect},
		{"backslash", ".example.test", "gate.example.test", "", "/\\evil.test/", "", errOpenRedirect},
		{"javascript", ".example.test", "gate.example.test", "", "javascript:alert(1)", "", errOpenRedirect},
		{"opaque http", ".example.test", "gate.example.test", "", "https:evil.test", "", errOpenRedirect},
		{"user info", ".example.test", "gate.example.test", "", "https://app.example.test@evil.test/", "", errOpenRedirect},
		{"a user-info Host header", ".example.test", "evil.test@app.example.test", "", "/x", "", errOpenRedirect},
		{"a CRLF", ".example.test", "gate.example.test", "", "/x\r\nSet-Cookie: a=b", "", errOpenRedirect},
		{"too long", ".example.test", "gate.example.test", "", "/" + strings.Repeat("a", maxReturnLen), "", errReturnTooLong},
		{"long enough", ".example.test", "gate.example.test", "", "/" + strings.Repeat("a", maxReturnLen-1), "https://gate.example.test/" + strings.Repeat("a", maxReturnLen-1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStartService(t, tt.cookieDomain)
			r := httptest.NewRequest("GET", "http://x"+StartPath, nil)
			r.Host = tt.host
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			got, err := s.safeReturn(r, tt.rd)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("safeReturn(%q) on %s = %q, %v; want %q, %v", tt.rd, tt.host, got, err, tt.want, tt.err)
			}
		})
	}
	t.Run("TLS means https", func(t *testing.T) {
		s := newStartService(t, ".example.test")
		r := httptest.NewRequest("GET", "http://x"+StartPath, nil)
		r.Host, r.TLS = "app.example.test", &tls.ConnectionState{}
		r.Header.Set("X-Forwarded-Proto", "http")
		if got, err := s.safeReturn(r, "/x"); got != "https://app.example.test/x" || err != nil {
			t.Errorf("got %q, %v", got, err)
		}
	})
}

// TestStartOnAnotherHost: a sign-in asked for on an application's host
// starts again on the callback's host, where the cookie that binds it to
// the browser must be set, with the whole address to return to.
func TestStartOnAnotherHost(t *testing.T) {
	s := newStartService(t, ".example.test")
	r := httptest.NewRequest("GET", "http://app.example.test"+StartPath+"?rd="+url.QueryEscape("/page?x=1"), nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	want := "https://gate.example.test" + StartPath + "?rd=" + url.QueryEscape("https://app.example.test/page?x=1")
	if w.Code != http.StatusFound || w.Header().Get("Location") != want {
		t.Errorf("%d to %q; want 302 to %q", w.Code, w.Header().Get("Location"), want)
	}
	if sc := w.Header().Get("Set-Cookie"); sc != "" {
		t.Errorf("Set-Cookie %q on the application's host", sc)
	}

	// A host the cookie would not reach is refused with a reason, rather
	// than sent round the identity provider again and again.
	s = newStartService(t, "")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "http://app.example.test"+StartPath+"?rd=%2Fpage", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "cookie_domain") {
		t.Errorf("%d %s; want 400 naming sessions.cookie_domain", w.Code, w.Body)
	}
}

// TestSignOutFromAnotherSite: a link or form on another site does not sign
// anyone out; it asks, with a form that posts back on the gateway.
func TestSignOutFromAnotherSite(t *testing.T) {
	s := newStartService(t, "")
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "https://gate.example.test"+SignOutPath, nil)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.AddCookie(&http.Cookie{Name: "scimgate_session", Value: "0123456789abcdef.x"})
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<form method="post" action="/.scimgate/signout">`) {
			t.Errorf("%s from another site: %d %s; want a page asking", method, w.Code, w.Body)
		}
		if sc := w.Header().Get("Set-Cookie"); sc != "" {
			t.Errorf("%s from another site cleared a cookie: %q", method, sc)
		}
	}
}

// TestSignOutAsked: sign-out happens at once only when the browser says
// the request comes from this origin or from nobody (a typed address), or,
// for a browser without fetch metadata, on a POST from this origin;
// anything else gets the page that asks.
func TestSignOutAsked(t *testing.T) {
	s := idpService(t, newFakeIdP(t))
	tests := []struct {
		name, method, site, origin string
		signsOut                   bool
	}{
		{"a link on the same origin", "GET", "same-origin", "", true},
		{"a typed address or bookmark", "GET", "none", "", true},
		{"the confirmation form", "POST", "same-origin", "https://gate.example.test", true},
		{"a link on another subdomain", "GET", "same-site", "", false},
		{"a link on another site", "GET", "cross-site", "", false},
		{"no fetch metadata, GET", "GET", "", "", false},
		{"no fetch metadata, POST from this origin", "POST", "", "https://gate.example.test", true},
		{"no fetch metadata, POST from another origin", "POST", "", "https://evil.test", false},
		{"no fetch metadata, POST over http claiming https", "POST", "", "http://gate.example.test", false},
		{"no fetch metadata, POST without Origin", "POST", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://gate.example.test"+SignOutPath, nil)
			if tt.site != "" {
				r.Header.Set("Sec-Fetch-Site", tt.site)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			r.AddCookie(&http.Cookie{Name: s.CookieName(), Value: "0123456789abcdef.x"})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			asked := strings.Contains(w.Body.String(), `<form method="post" action="/.scimgate/signout">`)
			cleared := strings.Contains(w.Header().Get("Set-Cookie"), s.CookieName()+"=;")
			if asked == tt.signsOut || cleared != tt.signsOut {
				t.Errorf("%s %s (Sec-Fetch-Site %q, Origin %q): asked %v, cookie cleared %v; want sign-out %v", tt.method, SignOutPath, tt.site, tt.origin, asked, cleared, tt.signsOut)
			}
		})
	}
}

// TestCallbackErrorText: the provider's error description, which anyone
// can put in a link, is not shown on the gateway's page.
func TestCallbackErrorText(t *testing.T) {
	s := newStartService(t, "")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "https://gate.example.test/.scimgate/callback?error=access_denied&error_description=Call+0800-SCAM+now", nil))
	if w.Code != http.StatusForbidden || strings.Contains(w.Body.String(), "SCAM") || !strings.Contains(w.Body.String(), "assigned") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// TestSignInCookiesBounded: however many sign-ins a browser starts and
// does not finish, it holds at most maxSignInsInFlight sign-in cookies,
// and its Cookie header for the gateway stays under the 8 KiB a line that
// nginx accepts, even with the longest return addresses.
func TestSignInCookiesBounded(t *testing.T) {
	p := newFakeIdP(t)
	s := idpService(t, p)
	jar, _ := cookiejar.New(nil)
	gate, _ := url.Parse("https://gate.example.test/")
	rd := "/" + strings.Repeat("a", maxReturnLen-1)
	var lastState string
	var lastCookies []*http.Cookie
	for i := 0; i < 6; i++ {
		r := httptest.NewRequest("GET", "https://gate.example.test"+StartPath+"?rd="+url.QueryEscape(rd), nil)
		for _, c := range jar.Cookies(gate) {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusFound {
			t.Fatalf("start %d = %d", i, w.Code)
		}
		jar.SetCookies(gate, w.Result().Cookies())
		loc, _ := url.Parse(w.Header().Get("Location"))
		lastState, lastCookies = loc.Query().Get("state"), jar.Cookies(gate)
		p.set(func(p *fakeIdP) { p.nonce = loc.Query().Get("nonce") })
		held := jar.Cookies(gate)
		var header []string
		for _, c := range held {
			header = append(header, c.Name+"="+c.Value)
		}
		if len(held) > maxSignInsInFlight || len(strings.Join(header, "; ")) > 8192 {
			t.Fatalf("after %d starts: %d sign-in cookies, Cookie header %d bytes", i+1, len(held), len(strings.Join(header, "; ")))
		}
	}
	// The last sign-in started still completes.
	p.set(func(p *fakeIdP) { p.idClaims = map[string]any{"email": "victim@example.test"} })
	if w := callbackWith(s, lastState, "code", lastCookies); w.Code != http.StatusFound {
		t.Errorf("the last sign-in's callback = %d, want 302", w.Code)
	}
}

// TestSignInURLScheme: the built-in proxy behind a TLS terminator sees
// plain HTTP; the sign-in it starts returns to the scheme the browser
// used: X-Forwarded-Proto's, else public_url's, never a downgrade to http
// by default.
func TestSignInURLScheme(t *testing.T) {
	s := newStartService(t, ".example.test")
	for _, tt := range []struct {
		name, proto, returnTo, want string
		tls                         bool
	}{
		{"behind TLS, no header: public_url's https", "", "http://app.example.test/r?id=42", "https://app.example.test/r?id=42", false},
		{"the proxy says https", "https", "http://app.example.test/r", "https://app.example.test/r", false},
		{"the proxy says http", "http", "http://app.example.test/r", "http://app.example.test/r", false},
		{"TLS here", "", "https://app.example.test/r", "https://app.example.test/r", true},
		{"another host is left alone", "", "http://other.example.test/r", "http://other.example.test/r", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://app.example.test/r", nil)
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			got, err := url.Parse(s.SignInURL(r, tt.returnTo))
			if err != nil || got.Query().Get("rd") != tt.want {
				t.Errorf("SignInURL(%q) = %v (%v), want rd %q", tt.returnTo, got, err, tt.want)
			}
		})
	}
}
