package main

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/haproxy/spop"
	"github.com/scimgate/scimgate/internal/haproxytest"
)

// hungAgent stands where scimgate's SPOE agent would: it accepts HAProxy's
// connections and reads, and answers nothing (silent), or only the
// handshake (helloOnly) and then never an ACK.
type hungAgent struct {
	ln        net.Listener
	helloOnly bool

	mu      sync.Mutex
	conns   []net.Conn
	frames  map[byte]int // frames read, by type (helloOnly)
	readAny int          // bytes read (silent)
}

func startHungAgent(t *testing.T, helloOnly bool) *hungAgent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &hungAgent{ln: ln, helloOnly: helloOnly, frames: map[byte]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		a.mu.Lock()
		for _, c := range a.conns {
			c.Close()
		}
		a.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); a.serve(c) }()
		}
	}()
	return a
}

func (a *hungAgent) serve(c net.Conn) {
	if !a.helloOnly {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			a.mu.Lock()
			a.readAny += n
			a.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		raw := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, raw); err != nil {
			return
		}
		f, err := spop.ParseFrame(raw)
		if err != nil {
			return
		}
		a.mu.Lock()
		a.frames[f.Type]++
		a.mu.Unlock()
		if f.Type == spop.TypeHAProxyHello {
			b, start := spop.AppendFrameHeader(nil, spop.TypeAgentHello, spop.FlagFin, 0, 0)
			b = spop.AppendKVString(b, "version", "2.0")
			b = spop.AppendKVUint32(b, "max-frame-size", 16380)
			b = spop.AppendKVString(b, "capabilities", "")
			if _, err := c.Write(spop.FinishFrame(b, start)); err != nil {
				return
			}
		}
		// NOTIFY frames are never answered.
	}
}

// TestHAProxySPOEHungAgent: an agent that takes HAProxy's connection but
// never answers (not even the handshake), or answers the handshake and
// then never a request, leaves txn.scimgate.status unset: the example
// haproxy.cfg refuses every request with its 503 once spoe.conf's
// "timeout processing 500ms" has passed, and not much later. Nothing
// reaches the application, public routes included.
func TestHAProxySPOEHungAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts HAProxy")
	}
	for _, mode := range []string{"silent", "hello then silent"} {
		t.Run(mode, func(t *testing.T) {
			agent := startHungAgent(t, mode != "silent")
			app := newHAProxyApp(t)
			dir := t.TempDir()
			spoeConf := filepath.Join(dir, "spoe.conf")
			if err := os.WriteFile(spoeConf, []byte(rewrite(t, haproxyExampleSPOE)), 0o600); err != nil {
				t.Fatal(err)
			}
			// scimgate's HTTP backend is never reached here (only
			// /.scimgate/ goes there): a closed port.
			edgePort, runtimePort, closed := freePort(t), freePort(t), freePort(t)
			hp := haproxytest.Start(t, rewrite(t, haproxyExampleCfg,
				"ipv4@127.0.0.1:9999", "ipv4@127.0.0.1:"+runtimePort,
				"bind 127.0.0.1:8088", "bind 127.0.0.1:"+edgePort,
				"config examples/haproxy/spoe.conf", "config "+spoeConf,
				"server app 127.0.0.1:9001", "server app "+strings.TrimPrefix(app.srv.URL, "http://"),
				"server scimgate 127.0.0.1:8080", "server scimgate 127.0.0.1:"+closed,
				"server agent 127.0.0.1:12345", "server agent "+agent.ln.Addr().String()))
			edge := "http://127.0.0.1:" + edgePort
			hc := &http.Client{Timeout: 10 * time.Second}

			requests := []struct {
				path string
				h    http.Header
			}{
				{"/whoami/", http.Header{"Authorization": {"Bearer sga_anything"}}},
				{"/public/x", nil},
				{"/whoami/", http.Header{"Accept": {"text/html"}}},
				{"/elsewhere", nil},
			}
			for i, r := range requests {
				req, _ := http.NewRequest("GET", edge+r.path, nil)
				for k, v := range r.h {
					req.Header[k] = v
				}
				start := time.Now()
				res, err := hc.Do(req)
				took := time.Since(start)
				if err != nil {
					t.Fatalf("GET %s: %v\n%s", r.path, err, hp.Logs())
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				t.Logf("request %d, GET %s: %d after %v", i, r.path, res.StatusCode, took.Round(time.Millisecond))
				if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"reason":"authorization-unavailable"`) {
					t.Errorf("GET %s with a hung agent = %d %s, want the 503 authorization-unavailable", r.path, res.StatusCode, body)
				}
				if took < 450*time.Millisecond || took > 3*time.Second {
					t.Errorf("GET %s refused after %v, want about timeout processing (500ms), under 3s", r.path, took)
				}
			}
			if n := len(appRequests(app)); n != 0 {
				t.Errorf("the application received %d requests with the agent hung", n)
			}
			// The refusals came from a hung agent, not from one HAProxy
			// could not reach.
			agent.mu.Lock()
			conns, read, hellos, notifies := len(agent.conns), agent.readAny, agent.frames[spop.TypeHAProxyHello], agent.frames[spop.TypeNotify]
			agent.mu.Unlock()
			if mode == "silent" {
				t.Logf("agent: %d connections, %d bytes read, none answered", conns, read)
			} else {
				t.Logf("agent: %d connections, %d HAPROXY-HELLO answered, %d NOTIFY not", conns, hellos, notifies)
			}
			if conns == 0 {
				t.Errorf("HAProxy never connected to the agent")
			}
			if mode == "silent" && read == 0 {
				t.Errorf("HAProxy sent the agent nothing")
			}
			if mode != "silent" && (hellos == 0 || notifies == 0) {
				t.Errorf("HAProxy sent %d HAPROXY-HELLO and %d NOTIFY frames, want both: the requests must have reached the agent", hellos, notifies)
			}
		})
	}
}
