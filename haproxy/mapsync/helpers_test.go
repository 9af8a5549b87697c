package mapsync

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/directory"
	hxruntime "github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/internal/haproxytest"
)

// exampleConfig returns examples/haproxy/mapsync/haproxy.cfg as a
// haproxytest template: the map directory, listener and servers replaced,
// nothing else.
func exampleConfig(t testing.TB, dir, upstream string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "examples", "haproxy", "mapsync", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for _, r := range []struct{ old, new string }{
		{"/etc/haproxy/scimgate", dir},
		{"    stats socket ipv4@127.0.0.1:9999 level admin\n", ""}, // haproxytest adds its own
		{"bind 127.0.0.1:8088", `bind 127.0.0.1:{{port "fe"}}`},
		{"server app 127.0.0.1:9001", "server app " + upstream},
		// scimgate's own pages (/.scimgate/) reach the application here:
		// a closed port would hold each such request for HAProxy's
		// three 1 s connection retries.
		{"server scimgate 127.0.0.1:8080", "server scimgate " + upstream},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("example haproxy.cfg no longer contains %q", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	return cfg
}

// echo is the application behind HAProxy: it answers with the identity
// headers, cookies and Authorization it received, any method-override
// header, and Upgrade and HTTP2-Settings.
func echo(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := map[string]string{}
		for k, v := range r.Header {
			if l := strings.ToLower(k); strings.HasPrefix(l, "x-scimgate") || strings.HasPrefix(l, "x_scimgate") || strings.Contains(l, "method") || k == "Cookie" || k == "Authorization" || k == "Upgrade" || k == "Http2-Settings" {
				got[k] = strings.Join(v, "\n")
			}
		}
		_ = json.NewEncoder(w).Encode(got)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// stack is a directory, an engine, a syncer and a real HAProxy running the
// example configuration in front of echo.
type stack struct {
	f    *gatetest.Fixture
	dir  string
	h    *haproxytest.HAProxy
	hx   *hxruntime.Client
	s    *Syncer
	stop context.CancelFunc
	done chan error
}

// newStack runs the example haproxy.cfg, changed by edits if any.
func newStack(t testing.TB, routes string, o Options, edits ...func(cfg string) string) *stack {
	t.Helper()
	f := gatetest.New(t, routes)
	// Short: the socket path HAProxy binds must fit sun_path.
	dir, err := os.MkdirTemp("", "mapsync")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := WriteInitialFiles(dir); err != nil {
		t.Fatal(err)
	}
	o.Dir = dir
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	st := &stack{f: f, dir: dir}
	// New writes jwt.pem, which haproxy -c wants to exist; the client's
	// address is only known once HAProxy runs.
	lazy := &lazyMaps{}
	if st.s, err = New(lazy, f.Eng, f.Live, o); err != nil {
		t.Fatal(err)
	}
	cfg := exampleConfig(t, dir, echo(t))
	for _, e := range edits {
		cfg = e(cfg)
	}
	st.h = haproxytest.Start(t, cfg)
	if st.hx, err = hxruntime.New(st.h.Socket()); err != nil {
		t.Fatal(err)
	}
	lazy.Maps = st.hx
	t.Cleanup(st.halt)
	st.run(t)
	return st
}

// run starts the syncer and waits for its first sync; halt stops it.
func (st *stack) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st.stop, st.done = cancel, make(chan error, 1)
	before := st.s.Status().OK
	go func() { st.done <- st.s.Run(ctx) }()
	waitFor(t, 5*time.Second, "first sync", func() bool { return st.s.Status().OK > before })
}

// halt stops the syncer and waits for Run to return.
func (st *stack) halt() {
	if st.stop == nil {
		return
	}
	st.stop()
	<-st.done
	st.stop = nil
}

type lazyMaps struct{ Maps }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// session signs user in: a directory session and its JWT cookie.
func (st *stack) session(t testing.TB, user string) (id, jwt string) {
	t.Helper()
	_, sess, err := st.f.Dir.CreateSession(st.f.Ctx, directory.NewSession{TenantID: st.f.Acme.TenantID, UserID: st.f.ID(user), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err = st.s.MintCookie(st.f.Ctx, sess.ID, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("MintCookie(%s): %v", user, err)
	}
	return sess.ID, jwt
}

// reply is HAProxy's answer.
type reply struct {
	status   int
	seen     map[string]string // what echo received, when HAProxy let it through
	body     string
	route    string // the X-Route header of the answer
	location string
}

// do sends one request over a fresh connection, with the path as is on the
// request line.
func do(t testing.TB, addr, method, host, path string, headers ...string) reply {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
	r := reply{status: resp.StatusCode, body: body.String(), route: resp.Header.Get("X-Route"), location: resp.Header.Get("Location")}
	if resp.StatusCode == 200 && method != "HEAD" {
		_ = json.Unmarshal([]byte(r.body), &r.seen)
	}
	return r
}

func cookie(jwt string) []string { return []string{"Cookie", "scimgate_jwt=" + jwt} }

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// keepAlive is one client connection that carries request after request.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t testing.TB, addr string) *keepAlive {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// get sends a GET on the connection and reads its reply; the connection
// must stay open for the next.
func (k *keepAlive) get(t testing.TB, host, path string, headers ...string) reply {
	t.Helper()
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	if _, err := k.c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		t.Fatalf("GET %s: the connection did not stay open (%v)", path, err)
	}
	r := reply{status: resp.StatusCode, body: string(raw), route: resp.Header.Get("X-Route"), location: resp.Header.Get("Location")}
	if resp.StatusCode == 200 {
		_ = json.Unmarshal(raw, &r.seen)
	}
	return r
}
