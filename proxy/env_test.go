package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/proxy"
)

const proxyRoutes = `
routes:
  - {name: public, host: app.test, path: /public, upstream: "%[1]s", allow: {public: true}}
  - {name: app, host: app.test, path: /app, upstream: "%[1]s", allow: {groups: [engineering]}}
  - {name: console, host: app.test, path: /console, upstream: "%[1]s", allow: {groups: [console-admins], users: [carol]}}
  - {name: noup, host: app.test, path: /noup, allow: {groups: [engineering]}}
  - {name: down, host: app.test, path: /down, upstream: "%[2]s", allow: {groups: [engineering]}}
`

// seen is a request as the upstream received it.
type seen struct {
	Method     string
	RequestURI string
	Path       string
	RawQuery   string
	Header     http.Header
}

// upstream echoes what it receives, streams server-sent events one by one
// on /…/events, an endless download on /…/download, and a WebSocket-like
// echo after an Upgrade.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seen
	events chan struct{} // each value releases the next server-sent event
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{events: make(chan struct{})}
	u.Server = httptest.NewServer(u)
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, seen{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
	u.mu.Unlock()
	switch {
	case r.Header.Get("Upgrade") == "websocket":
		u.upgrade(w)
	case strings.HasSuffix(r.URL.Path, "/events"):
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			w.(http.Flusher).Flush()
			select {
			case <-u.events:
			case <-r.Context().Done():
				return
			}
		}
	case strings.HasSuffix(r.URL.Path, "/download"):
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := make([]byte, 16<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(2 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header})
	}
}

// upgrade switches protocols and echoes lines until the connection ends.
func (u *upstream) upgrade(w http.ResponseWriter) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(conn, "echo "+line); err != nil {
			return
		}
	}
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last(t testing.TB) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// closedAddr returns the URL of a port nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// env is the built-in proxy in front of an echoing upstream, over a real
// directory:
//
//	alice  in platform (nested in engineering) and "R&D, Europe"
//	bob    in sales
//	carol  admitted to console by name
//	dave, erin, frank  in engineering
type env struct {
	*gatetest.Fixture
	up      *upstream
	proxy   *httptest.Server
	streams *gateway.Streams
	client  *http.Client
	tokens  map[string]string // userName -> access token secret
}

func newEnv(t *testing.T, signIn func(*http.Request, string) string) *env {
	t.Helper()
	up := newUpstream(t)
	f := gatetest.New(t, fmt.Sprintf(proxyRoutes, up.URL, closedAddr(t)))
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		f.User(u)
	}
	f.Group("platform", "alice")
	f.Group("engineering", "group:platform", "dave", "erin", "frank")
	f.Group("R&D, Europe", "alice")
	f.Group("sales", "bob")
	f.Group("console-admins")
	e := &env{Fixture: f, up: up, tokens: map[string]string{}}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		e.tokens[u], _ = f.Token(u, time.Hour)
	}
	f.Gate.SignIn = signIn
	e.streams = gateway.NewStreams(nil)
	f.Gate.Streams = e.streams
	go e.streams.Watch(f.Ctx, f.Live.Subscribe())
	e.proxy = httptest.NewServer(proxy.New(f.Gate, nil))
	t.Cleanup(e.proxy.Close)
	e.client = &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// request builds a request to the proxy for host app.test; target is the
// raw path and query, sent as written. Header keys are sent as spelled.
func (e *env) request(method, target string, h http.Header) *http.Request {
	e.T.Helper()
	req, err := http.NewRequest(method, e.proxy.URL+target, nil)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Host = "app.test"
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

// do sends a request and reads the whole answer.
func (e *env) do(method, target string, h http.Header) (*http.Response, string) {
	e.T.Helper()
	res, err := e.client.Do(e.request(method, target, h))
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.T.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return res, string(b)
}

// bearer is the Authorization header of a user's access token.
func (e *env) bearer(user string) http.Header {
	return http.Header{"Authorization": {"Bearer " + e.tokens[user]}}
}

// readEvent reads one server-sent event (up to its blank line).
func readEvent(br *bufio.Reader) (string, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
	}
}
