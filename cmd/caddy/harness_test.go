package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/scimgate/scimgate/internal/freeport"
	"github.com/scimgate/scimgate/internal/rundir"
)

// binaries builds this Caddy and the scimgate command line once per test
// run (TestMain removes them): the tests drive the real processes.
var binaries = sync.OnceValues(func() ([2]string, error) {
	var bins [2]string
	dir, err := rundir.Make("scimgate-caddy-bin")
	if err != nil {
		return bins, err
	}
	for i, pkg := range []string{".", "../scimgate"} {
		bins[i] = filepath.Join(dir, []string{"caddy", "scimgate"}[i])
		out, err := exec.Command("go", "build", "-o", bins[i], pkg).CombinedOutput()
		if err != nil {
			return bins, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return bins, nil
})

func TestMain(m *testing.M) { rundir.Main(m) }

func freePort(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}

// caddyProc is a running Caddy with scimgate in a directory of its own.
type caddyProc struct {
	t          *testing.T
	bin, cli   string
	dir        string
	site       string // http://127.0.0.1:PORT
	admin      string // 127.0.0.1:PORT
	db         string // the scimgate store
	cmd        *exec.Cmd
	log        *syncBuffer
	exited     chan struct{}
	httpClient *http.Client
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCaddy runs Caddy on the Caddyfile that setup writes (with
// c.write) in Caddy's directory, given the addresses and the store.
func startCaddy(t *testing.T, setup func(c *caddyProc)) *caddyProc {
	t.Helper()
	bins, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &caddyProc{t: t, bin: bins[0], cli: bins[1], dir: dir, site: "http://" + freePort(t), admin: freePort(t),
		db: filepath.Join(dir, "scimgate.db"), log: &syncBuffer{}, exited: make(chan struct{}),
		httpClient: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	setup(c)
	c.cmd = exec.Command(c.bin, "run", "--config", "Caddyfile")
	c.cmd.Dir = dir
	// Caddy keeps state under $HOME / XDG directories: keep it in the test's.
	c.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir+"/config", "XDG_DATA_HOME="+dir+"/data")
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("caddy output:\n%s", c.log.String())
		}
	})
	c.waitUp()
	return c
}

func (c *caddyProc) write(name, content string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// waitUp waits until Caddy serves its site.
func (c *caddyProc) waitUp() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			c.t.Fatalf("caddy exited: %s", c.log.String())
		default:
		}
		if conn, err := net.Dial("tcp", strings.TrimPrefix(c.site, "http://")); err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("caddy did not listen on %s: %s", c.site, c.log.String())
}

// scimSite is a Caddyfile with scimgate on c's store and one site that
// serves SCIM and then handles, a Caddyfile fragment inside the site.
func (c *caddyProc) scimSite(handles string) string {
	return fmt.Sprintf(`{
	admin %s
	scimgate {
		store sqlite:%s
	}
}
%s {
	handle /scim/v2/* {
		scimgate_scim
	}
%s}
`, c.admin, c.db, c.site, handles)
}

// reload runs `caddy reload` with the named configuration file of Caddy's
// directory.
func (c *caddyProc) reload(file string) {
	c.t.Helper()
	args := []string{"reload", "--config", file, "--address", c.admin}
	if strings.HasSuffix(file, ".json") {
		args = append(args, "--adapter", "")
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = c.cmd.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("caddy reload: %v\n%s", err, out)
	}
}

// scimgate runs the scimgate command line on Caddy's store and returns
// its stdout.
func (c *caddyProc) scimgate(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args[:2:2], append([]string{"--store", "sqlite:" + c.db}, args[2:]...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.cli, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scimgate %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// do sends a request to the site.
func (c *caddyProc) do(t *testing.T, method, path string, h http.Header, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.site+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// bearer is the header of a request with an access token.
func bearer(tok string, more ...string) http.Header {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(more); i += 2 {
		h.Add(more[i], more[i+1])
	}
	return h
}

// scimClient provisions through Caddy's scimgate_scim handler, as an IdP.
type scimClient struct {
	c     *caddyProc
	token string
}

func (s scimClient) call(t *testing.T, want int, method, path, body string) map[string]any {
	t.Helper()
	h := bearer(s.token, "Content-Type", "application/scim+json")
	code, _, out := s.c.do(t, method, "/scim/v2"+path, h, body)
	if code != want && !(want == http.StatusNoContent && code == http.StatusOK) {
		t.Fatalf("SCIM %s %s = %d, want %d: %s", method, path, code, want, out)
	}
	var m map[string]any
	if out != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("SCIM %s %s: %v: %s", method, path, err, out)
		}
	}
	return m
}

func (s scimClient) createUser(t *testing.T, name string) string {
	m := s.call(t, http.StatusCreated, "POST", "/Users",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+name+`","active":true,"emails":[{"value":"`+name+`","primary":true}]}`)
	return m["id"].(string)
}

func (s scimClient) createGroup(t *testing.T, name string, members ...string) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, `{"value":"`+m+`"}`)
	}
	m := s.call(t, http.StatusCreated, "POST", "/Groups",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"`+name+`","members":[`+strings.Join(ms, ",")+`]}`)
	return m["id"].(string)
}

// patch applies PATCH operations; the answer is 200 or 204.
func (s scimClient) patch(t *testing.T, path, ops string) {
	s.call(t, http.StatusNoContent, "PATCH", path, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`)
}

// seen is what the upstream received.
type seen struct {
	Path     string              `json:"path"`
	Headers  map[string][]string `json:"headers"`
	Trailers map[string][]string `json:"trailers,omitempty"`
}

// newUpstream answers with what it received, and echoes WebSocket
// messages under /ws/.
// newFastCGI runs a FastCGI application that answers with the
// REQUEST_URI it was given, and returns its address.
func newFastCGI(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RequestURI()) // from REQUEST_URI
	}))
	return l.Addr().String()
}

func newUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/ws/") {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				if err := c.Write(r.Context(), typ, msg); err != nil {
					return
				}
			}
		}
		io.Copy(io.Discard, r.Body) // to the trailers
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Path: r.URL.Path, Headers: r.Header, Trailers: r.Trailer})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func decodeSeen(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return s
}

// echoSocket opens a WebSocket to the upstream's echo through the site
// with an access token, checks pings echoes, and returns a channel that
// receives when the socket is closed, and a function that closes it.
func (c *caddyProc) echoSocket(t *testing.T, path, token string, pings int) (<-chan time.Time, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.site, "http")+path, &websocket.DialOptions{HTTPHeader: bearer(token)})
	if err != nil {
		cancel()
		t.Fatalf("dial %s through Caddy: %v", path, err)
	}
	for i := range pings {
		if err := ws.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("echo %d = %q, %v", i, msg, err)
		}
	}
	closed := make(chan time.Time, 1)
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				closed <- time.Now()
				return
			}
		}
	}()
	return closed, func() { ws.CloseNow(); cancel() }
}
