package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/proxy"
)

// recorder is an upstream that keeps the last request it got.
type recorder struct {
	mu   sync.Mutex
	n    int
	last *http.Request
}

func (u *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.n++
	u.last = r.Clone(r.Context())
	u.mu.Unlock()
}

func (u *recorder) get() (int, *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n, u.last
}

// validToken reports whether s is an HTTP token (a method, a header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// FuzzProxy sends the built-in proxy arbitrary methods, hosts, targets
// and one extra header, as alice (engineering), bob (no group) or nobody,
// and checks what reaches the upstream: only /public and /app of app.test,
// /app only for alice, never under another route's reading of the path,
// with identity headers that are the gate's own, and never a
// method-override header or an upgrade but to WebSocket. Nothing the
// client sends makes the proxy fail (5xx).
func FuzzProxy(f *testing.F) {
	f.Add("GET", "app.test", "/app/x", "X-Scimgate-User", "root", uint8(0))
	f.Add("POST", "APP.test.:80", "/public/../app/x?y=1", "X-Http-Method-Override", "DELETE", uint8(1))
	f.Add("GET", "app.test", "/public/%2e%2e/app/x", "Connection", "X-Scimgate-User", uint8(2))
	f.Add("GET", "app.test,evil.test", "//app/x", "Upgrade", "h2c", uint8(2))
	f.Add("DELETE", "app.test", "/app;x=1/y", "X_Scimgate_Groups", "admins", uint8(0))
	f.Add("GET", "app.test", "/%61pp/x", "Cookie", "scimgate_session=x", uint8(1))
	f.Add("POST", "app.test", "/public/x", "X-Http-Method-Override", "DELETE", uint8(2))
	f.Add("POST", "app.test", "/public/x", "X_HTTP_METHOD_OVERRIDE", "DELETE", uint8(2))
	f.Add("POST", "app.test", "/public/x", "Method0", "0", uint8(2))
	f.Add("GET", "app.test", "/app/x", "X-Scimgate-User", "root", uint8(1))

	up := &recorder{}
	srv := httptest.NewServer(up)
	f.Cleanup(srv.Close)
	fx := gatetest.New(f, `
routes:
  - {name: public, host: app.test, path: /public, upstream: "`+srv.URL+`", allow: {public: true}}
  - {name: app, host: app.test, path: /app, upstream: "`+srv.URL+`", allow: {groups: [engineering]}}
  - {name: ro, host: app.test, path: /app/ro, methods: [GET], upstream: "`+srv.URL+`", allow: {groups: [engineering]}}
`)
	fx.User("alice")
	fx.User("bob")
	fx.Group("engineering", "alice")
	alice, _ := fx.Token("alice", time.Hour)
	bob, _ := fx.Token("bob", time.Hour)
	px := proxy.New(fx.Gate, nil)

	f.Fuzz(func(t *testing.T, method, host, target, hk, hv string, who uint8) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !validToken(method) || !validToken(hk) || strings.ContainsAny(hv, "\r\n\x00") ||
			strings.ContainsAny(host, " \t\r\n\x00/\\@") || u.Host != "" || u.Scheme != "" {
			return // not a request the HTTP server would hand over
		}
		r := &http.Request{Method: method, URL: u, RequestURI: target, Host: host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, RemoteAddr: "192.0.2.7:4000"}
		r.Header.Add(hk, hv)
		user := ""
		switch who % 3 {
		case 0:
			r.Header.Set("Authorization", "Bearer "+alice)
			user = "alice"
		case 1:
			r.Header.Set("Authorization", "Bearer "+bob)
			user = "bob"
		}
		r = r.WithContext(fx.Ctx)
		before, _ := up.get()
		w := httptest.NewRecorder()
		px.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusBadGateway {
			t.Fatalf("%s %s%s = %d %s", method, host, target, w.Code, w.Body)
		}
		n, got := up.get()
		if n == before {
			return
		}
		p := got.URL.Path
		inApp := p == "/app" || strings.HasPrefix(p, "/app/")
		if !inApp && p != "/public" && !strings.HasPrefix(p, "/public/") {
			t.Fatalf("%s %s%s reached the upstream as %q", method, host, target, p)
		}
		if inApp && user != "alice" {
			t.Fatalf("%s %s%s as %q reached /app as %q", method, host, target, user, p)
		}
		if (p == "/app/ro" || strings.HasPrefix(p, "/app/ro/")) && method != "GET" && method != "HEAD" {
			t.Fatalf("%s %s%s reached the GET-only route as %q", method, host, target, p)
		}
		if gu := got.Header.Values("X-Scimgate-User"); len(gu) > 1 || (len(gu) == 1 && gu[0] != user) || (len(gu) == 0 && user == "alice") {
			t.Fatalf("%s %s%s as %q: upstream X-Scimgate-User %q", method, host, target, user, gu)
		}
		for k, v := range got.Header {
			l := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
			// The identity namespace is X-Scimgate and X-Scimgate-*, in any
			// spelling; X-Scimgate0 is another header.
			identity := l == "x-scimgate" || strings.HasPrefix(l, "x-scimgate-")
			if gateway.IsMethodOverride(k) || (identity && k != "X-Scimgate-User" && k != "X-Scimgate-Email" &&
				k != "X-Scimgate-Groups" && k != "X-Scimgate-Assertion") {
				t.Fatalf("%s %s%s: the upstream got %s: %q", method, host, target, k, v)
			}
		}
		if upg := got.Header.Get("Upgrade"); upg != "" && !strings.EqualFold(upg, "websocket") {
			t.Fatalf("%s %s%s: the upstream got Upgrade %q", method, host, target, upg)
		}
	})
}
