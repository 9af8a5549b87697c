// Package haproxytest starts a real HAProxy on 127.0.0.1 for tests.
//
// The configuration is a text/template rendered once per Start, with an
// admin-level stats socket (a unix socket in a temporary directory) added to
// its global section. HAProxy runs in the foreground (-db) as a child of the
// test binary; its output is kept and written to the test log when the test
// fails. Missing haproxy is a test failure, never a silent skip: the project's
// ./scripts/test.sh installs it.
package haproxytest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/scimgate/scimgate/internal/freeport"
)

// startTimeout bounds how long Start waits for the stats socket and the
// listeners; stopTimeout how long Stop waits after SIGTERM before SIGKILL.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
)

// HAProxy is one HAProxy process started by Start.
type HAProxy struct {
	bin    string
	dir    string
	config string // path of the rendered configuration
	socket string // admin stats socket (unix)
	ports  map[string]int
	binds  []bindAddr // listeners to wait for, in config order
	logs   *logBuffer

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returns
	err  error         // Wait's result, valid after done
}

// bindAddr is a listener address the helper can dial.
type bindAddr struct{ network, address string }

// Data is what the configuration template sees.
type Data struct {
	// Dir is the directory holding the rendered configuration; HAProxy runs
	// with it as working directory. Files the configuration names (map files,
	// certificates) must exist before Start, so tests put them in their own
	// t.TempDir and write absolute paths into the template.
	Dir string
	// Socket is the path of the admin stats socket the helper adds.
	Socket string
}

// Start renders cfg, checks it with "haproxy -c", starts HAProxy and waits
// until its stats socket answers and every TCP or unix listener of a "bind"
// line accepts connections. HAProxy is stopped when the test ends.
//
// cfg is a text/template over Data with one function, port NAME, which
// returns a free TCP port on 127.0.0.1, the same one for the same name:
//
//	frontend fe
//	    bind 127.0.0.1:{{port "fe"}}
//
// The helper adds "stats socket <Socket> mode 600 level admin" and
// "noreuseport" to the global section (creating the section if cfg has
// none) and "log stdout format raw local0" when the global section has no
// log line, so a "log global" in defaults sends traffic logs to Logs.
//
// Under -short, Start skips the test: it is an integration test.
func Start(t testing.TB, cfg string) *HAProxy {
	t.Helper()
	if testing.Short() {
		t.Skip("haproxy integration test skipped under -short")
	}
	bin := findHAProxy(t)
	h := &HAProxy{bin: bin, ports: map[string]int{}, logs: &logBuffer{}}
	h.dir = t.TempDir()
	h.socket = filepath.Join(h.dir, "admin.sock")
	// sun_path holds 108 bytes and HAProxy binds "<path>.<pid>.tmp" before
	// renaming it, so long test names need a shorter directory.
	if len(h.socket) > 80 {
		short, err := os.MkdirTemp("", "hx")
		if err != nil {
			t.Fatalf("haproxytest: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		h.socket = filepath.Join(short, "admin.sock")
	}

	rendered, err := h.render(t, cfg)
	if err != nil {
		t.Fatalf("haproxytest: render config: %v", err)
	}
	rendered = addGlobals(rendered, h.socket)
	h.binds = parseBinds(rendered)
	h.config = filepath.Join(h.dir, "haproxy.cfg")
	if err := os.WriteFile(h.config, []byte(rendered), 0o600); err != nil {
		t.Fatalf("haproxytest: %v", err)
	}

	check := exec.Command(bin, "-c", "-f", h.config)
	check.Dir = h.dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxytest: haproxy -c rejected the configuration: %v\n%s\nconfiguration:\n%s",
			err, out, numbered(rendered))
	}

	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			t.Logf("haproxy output:\n%s", h.Logs())
		}
	})
	h.start(t)
	return h
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on right
// now, outside the range outgoing connections take theirs from (see
// freeport).
func FreePort(t testing.TB) int {
	t.Helper()
	return freeport.Get(t)
}

// Addr returns the address of the first listener of the configuration
// ("127.0.0.1:PORT" for "bind 127.0.0.1:PORT", "*:PORT" becomes 127.0.0.1),
// or "" when no bind line could be parsed.
func (h *HAProxy) Addr() string {
	for _, b := range h.binds {
		if b.network == "tcp" {
			return b.address
		}
	}
	return ""
}

// Port returns the port the template function port gave name, or 0.
func (h *HAProxy) Port(name string) int { return h.ports[name] }

// Socket returns the path of the admin stats socket.
func (h *HAProxy) Socket() string { return h.socket }

// Dir returns the directory holding the rendered configuration.
func (h *HAProxy) Dir() string { return h.dir }

// Logs returns everything HAProxy wrote to stdout and stderr so far, across
// restarts.
func (h *HAProxy) Logs() string { return h.logs.String() }

// Stop terminates HAProxy: SIGTERM, then SIGKILL after 5s. Stopping a
// stopped HAProxy does nothing.
func (h *HAProxy) Stop(t testing.TB) {
	t.Helper()
	h.stop(t)
}

// Restart stops HAProxy and starts it again with the same configuration and
// ports. Maps and other runtime state return to what the files say, which is
// what tests of resynchronisation after an HAProxy restart need.
func (h *HAProxy) Restart(t testing.TB) {
	t.Helper()
	h.stop(t)
	fmt.Fprintf(h.logs, "--- haproxytest: restart at %s ---\n", time.Now().Format(time.RFC3339Nano))
	h.start(t)
}

func (h *HAProxy) render(t testing.TB, cfg string) (string, error) {
	tmpl, err := template.New("haproxy.cfg").Option("missingkey=error").Funcs(template.FuncMap{
		"port": func(name string) int {
			if p, ok := h.ports[name]; ok {
				return p
			}
			p := FreePort(t)
			h.ports[name] = p
			return p
		},
	}).Parse(cfg)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, Data{Dir: h.dir, Socket: h.socket}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (h *HAProxy) start(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil {
		t.Fatalf("haproxytest: haproxy already running")
	}
	cmd := exec.Command(h.bin, "-f", h.config, "-db")
	cmd.Dir = h.dir
	cmd.Stdout = h.logs
	cmd.Stderr = h.logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxytest: start haproxy: %v", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.proc = p

	if err := h.waitReady(p); err != nil {
		t.Fatalf("haproxytest: %v\nhaproxy output:\n%s", err, h.Logs())
	}
}

// waitReady polls until the stats socket answers and every listener accepts.
func (h *HAProxy) waitReady(p *process) error {
	deadline := time.Now().Add(startTimeout)
	pending := append([]bindAddr{{"unix", h.socket}}, h.binds...)
	for len(pending) > 0 {
		select {
		case <-p.done:
			return fmt.Errorf("haproxy exited during startup: %v", p.err)
		default:
		}
		var err error
		if pending[0].address == h.socket {
			err = probeSocket(h.socket)
		} else {
			err = probeListener(pending[0])
		}
		if err == nil {
			pending = pending[1:]
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy not ready after %v: %s %s: %v",
				startTimeout, pending[0].network, pending[0].address, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (h *HAProxy) stop(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.proc
	if p == nil {
		return
	}
	h.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("haproxytest: haproxy pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// probeSocket runs "show info" on the stats socket and wants an answer.
func probeSocket(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("show info\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n == 0 {
		return fmt.Errorf("stats socket gave no answer: %v", err)
	}
	return nil
}

func probeListener(b bindAddr) error {
	c, err := net.DialTimeout(b.network, b.address, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// searchPaths are tried when haproxy is not on PATH (Debian installs it in
// /usr/sbin, which is not on every user's PATH).
var searchPaths = []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"}

func findHAProxy(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	for _, p := range searchPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("haproxytest: haproxy is not installed (not on PATH, not in /usr/sbin or /usr/local/sbin); " +
		"./scripts/test.sh installs it (Debian package haproxy)")
	return ""
}

// sectionKeywords start a configuration section; the global section ends at
// the first of them.
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true,
	"listen": true, "peers": true, "resolvers": true, "userlist": true,
	"cache": true, "program": true, "http-errors": true, "ring": true,
	"mailers": true, "fcgi-app": true, "crt-store": true, "traces": true,
}

// addGlobals adds the admin stats socket (and a stdout log target when the
// global section has none) to the global section, creating it when absent.
func addGlobals(cfg, socket string) string {
	lines := strings.SplitAfter(cfg, "\n")
	globalAt, hasLog := -1, false
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if sectionKeywords[f[0]] {
			if globalAt >= 0 {
				break
			}
			if f[0] == "global" {
				globalAt = i
			}
			continue
		}
		if globalAt >= 0 && f[0] == "log" {
			hasLog = true
		}
	}
	// noreuseport: HAProxy binds with SO_REUSEPORT by default, so a port
	// picked free by two tests running at once would be shared in
	// silence, each HAProxy answering some of the other's requests. This
	// way the second bind fails, loudly.
	add := "    stats socket " + socket + " mode 600 level admin\n    noreuseport\n"
	if !hasLog {
		add += "    log stdout format raw local0\n"
	}
	if globalAt < 0 {
		return "global\n" + add + "\n" + cfg
	}
	if !strings.HasSuffix(lines[globalAt], "\n") {
		lines[globalAt] += "\n"
	}
	lines[globalAt] += add
	return strings.Join(lines, "")
}

// parseBinds returns the dialable addresses of the configuration's bind
// lines. Forms it cannot dial (port ranges, abns@, fd@, sockpair@, quic and
// udp) are left out.
func parseBinds(cfg string) []bindAddr {
	var out []bindAddr
	for _, l := range strings.Split(cfg, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "bind" {
			continue
		}
		for _, spec := range strings.Split(f[1], ",") {
			if b, ok := dialable(spec); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

func dialable(spec string) (bindAddr, bool) {
	if scheme, rest, ok := strings.Cut(spec, "@"); ok {
		switch scheme {
		case "ipv4", "ipv6", "tcp", "tcp4", "tcp6":
			spec = rest
		case "unix":
			return bindAddr{"unix", rest}, rest != ""
		default:
			return bindAddr{}, false
		}
	}
	if strings.HasPrefix(spec, "/") {
		return bindAddr{"unix", spec}, true
	}
	var host, port string
	if strings.HasPrefix(spec, "[") {
		var err error
		if host, port, err = net.SplitHostPort(spec); err != nil {
			return bindAddr{}, false
		}
	} else {
		i := strings.LastIndexByte(spec, ':')
		if i < 0 {
			return bindAddr{}, false
		}
		host, port = spec[:i], spec[i+1:]
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return bindAddr{}, false
	}
	switch host {
	case "", "*", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return bindAddr{"tcp", net.JoinHostPort(host, port)}, true
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// logBuffer is HAProxy's stdout and stderr, written by os/exec's copying
// goroutines and read by the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
