package haproxytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cli runs one command on the stats socket.
func cli(t *testing.T, socket, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", socket, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", cmd)
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimRight(string(b), "\n")
}

func get(t *testing.T, url string, header ...string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

const mapConfig = `
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{{port "fe"}}
    bind 127.0.0.1:{{port "other"}}
    http-request return status 200 content-type text/plain lf-string "%[req.hdr(x-key),map(MAP,none)]"
`

func TestStartRestartStop(t *testing.T) {
	mapFile := filepath.Join(t.TempDir(), "m.map")
	if err := os.WriteFile(mapFile, []byte("alice eng\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := Start(t, strings.ReplaceAll(mapConfig, "MAP", mapFile))

	if h.Addr() != fmt.Sprintf("127.0.0.1:%d", h.Port("fe")) || h.Port("other") == h.Port("fe") {
		t.Fatalf("Addr() = %s, ports fe=%d other=%d", h.Addr(), h.Port("fe"), h.Port("other"))
	}
	if got := cli(t, h.Socket(), "show info"); !strings.Contains(got, "Name: HAProxy") {
		t.Fatalf("show info = %q", got)
	}
	// Level admin: the socket may shut sessions down.
	if got := cli(t, h.Socket(), "shutdown session 0x1"); !strings.Contains(got, "No such session") {
		t.Errorf("shutdown session on the helper's socket = %q, want No such session", got)
	}
	url := "http://" + h.Addr() + "/"
	if got := get(t, url, "X-Key", "alice"); got != "eng" {
		t.Errorf("lookup alice = %q, want eng", got)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/", h.Port("other")), "X-Key", "alice"); got != "eng" {
		t.Errorf("lookup alice on the second bind = %q, want eng", got)
	}
	if got := cli(t, h.Socket(), "add map "+mapFile+" bob ops"); got != "" {
		t.Fatalf("add map = %q", got)
	}
	if got := get(t, url, "X-Key", "bob"); got != "ops" {
		t.Errorf("lookup bob = %q, want ops", got)
	}
	// "log stdout" was added: traffic logs reach Logs.
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(h.Logs(), `"GET / HTTP/1.1"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic log in Logs():\n%s", h.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A restart forgets runtime changes and serves on the same port.
	port := h.Port("fe")
	h.Restart(t)
	http.DefaultClient.CloseIdleConnections()
	if h.Port("fe") != port {
		t.Errorf("port changed across Restart: %d -> %d", port, h.Port("fe"))
	}
	if got := get(t, url, "X-Key", "bob"); got != "none" {
		t.Errorf("lookup bob after Restart = %q, want none", got)
	}
	if got := get(t, url, "X-Key", "alice"); got != "eng" {
		t.Errorf("lookup alice after Restart = %q, want eng", got)
	}
	if !strings.Contains(h.Logs(), "haproxytest: restart") {
		t.Errorf("Logs() lacks the restart marker")
	}

	h.Stop(t)
	http.DefaultClient.CloseIdleConnections()
	if c, err := net.DialTimeout("tcp", h.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Stop", h.Addr())
	}
	if _, err := os.Stat(h.Socket()); err == nil {
		if c, err := net.Dial("unix", h.Socket()); err == nil {
			c.Close()
			t.Errorf("stats socket still accepts after Stop")
		}
	}
	h.Stop(t) // no-op
}

// fakeTB records Fatal and Skip instead of ending the real test.
type fakeTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.record(fmt.Sprint(args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...))
}
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs) > 0
}
func (f *fakeTB) record(msg string) {
	f.mu.Lock()
	f.msgs = append(f.msgs, msg)
	f.mu.Unlock()
	runtime.Goexit()
}

// fatalOf runs Start with cfg and returns its fatal message.
func fatalOf(t *testing.T, cfg string) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, cfg)
	}()
	<-done
	if len(f.msgs) == 0 {
		t.Fatalf("Start(%q) did not fail", cfg)
	}
	return f.msgs[0]
}

func TestStartFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("haproxy integration test skipped under -short")
	}
	tests := []struct {
		name, cfg string
		want      []string
	}{
		{"rejected config", "frontend fe\n    bind 127.0.0.1:{{port \"fe\"}}\n    frobnicate yes\n",
			[]string{"haproxy -c rejected", "frobnicate", "   3  "}},
		{"bad template", "frontend fe\n    bind 127.0.0.1:{{.Nope}}\n",
			[]string{"render config", "Nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := fatalOf(t, tt.cfg)
			t.Logf("Start failed with: %s", msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("fatal message lacks %q:\n%s", w, msg)
				}
			}
		})
	}

	t.Run("not installed", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		saved := searchPaths
		searchPaths = nil
		t.Cleanup(func() { searchPaths = saved })
		msg := fatalOf(t, "")
		if !strings.Contains(msg, "./scripts/test.sh installs it") {
			t.Errorf("fatal message = %q, want the install hint", msg)
		}
	})
}

func TestAddGlobals(t *testing.T) {
	const sock = "/tmp/x/admin.sock"
	tests := []struct {
		name, in, want string
	}{
		{"no global", "defaults\n    mode http\n",
			"global\n    stats socket /tmp/x/admin.sock mode 600 level admin\n    noreuseport\n    log stdout format raw local0\n\ndefaults\n    mode http\n"},
		{"global without log", "# c\nglobal\n    maxconn 100\nfrontend f\n    log global\n",
			"# c\nglobal\n    stats socket /tmp/x/admin.sock mode 600 level admin\n    noreuseport\n    log stdout format raw local0\n    maxconn 100\nfrontend f\n    log global\n"},
		{"global with log", "global\n    log 127.0.0.1:514 local0\n",
			"global\n    stats socket /tmp/x/admin.sock mode 600 level admin\n    noreuseport\n    log 127.0.0.1:514 local0\n"},
		{"global last, no newline", "defaults\nglobal",
			"defaults\nglobal\n    stats socket /tmp/x/admin.sock mode 600 level admin\n    noreuseport\n    log stdout format raw local0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, addGlobals(tt.in, sock)); diff != "" {
				t.Errorf("addGlobals(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseBinds(t *testing.T) {
	cfg := `
frontend a
    bind 127.0.0.1:8080
    bind :8081 ssl crt x.pem
    bind *:8082,127.0.0.2:8083
    bind [::1]:8084
    bind ipv6@::1:8085
    bind ipv4@0.0.0.0:8086
    bind unix@/tmp/fe.sock
    bind /tmp/fe2.sock mode 600
    bind abns@name
    bind quic4@:8443
    bind 127.0.0.1:9000-9010
    # bind 127.0.0.1:1
`
	want := []bindAddr{
		{"tcp", "127.0.0.1:8080"},
		{"tcp", "127.0.0.1:8081"},
		{"tcp", "127.0.0.1:8082"},
		{"tcp", "127.0.0.2:8083"},
		{"tcp", "[::1]:8084"},
		{"tcp", "[::1]:8085"},
		{"tcp", "127.0.0.1:8086"},
		{"unix", "/tmp/fe.sock"},
		{"unix", "/tmp/fe2.sock"},
	}
	if diff := cmp.Diff(want, parseBinds(cfg), cmp.AllowUnexported(bindAddr{})); diff != "" {
		t.Errorf("parseBinds mismatch (-want +got):\n%s", diff)
	}
}
