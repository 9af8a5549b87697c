package spoe

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/internal/gatetest"
	"github.com/scimgate/scimgate/internal/haproxytest"
)

// exampleHAProxy runs examples/haproxy/haproxy.cfg and spoe.conf as
// shipped, on the real HAProxy, with only the addresses replaced: the
// agent's, and app's for the application.
func exampleHAProxy(t *testing.T, agent, app string) *haproxytest.HAProxy {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	ex := filepath.Join(filepath.Dir(file), "..", "..", "examples", "haproxy")
	spoeRaw, err := os.ReadFile(filepath.Join(ex, "spoe.conf"))
	if err != nil {
		t.Fatal(err)
	}
	spoeConf := filepath.Join(t.TempDir(), "spoe.conf")
	if err := os.WriteFile(spoeConf, spoeRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgRaw, err := os.ReadFile(filepath.Join(ex, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	replace := [][2]string{
		{"    stats socket ipv4@127.0.0.1:9999 level admin\n", ""},
		{"bind 127.0.0.1:8088", `bind 127.0.0.1:{{port "fe"}}`},
		{"config examples/haproxy/spoe.conf", "config " + spoeConf},
		{"server app 127.0.0.1:9001", "server app " + app},
		{"server agent 127.0.0.1:12345", "server agent " + agent},
	}
	cfg := string(cfgRaw)
	for _, r := range replace {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("examples/haproxy/haproxy.cfg lost %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return haproxytest.Start(t, cfg)
}

// TestOversizeIdentityHAProxy: through the example configuration on the
// real HAProxy, a user in so many groups that the identity does not fit
// HAProxy's max-frame-size is refused cleanly (403, identity-too-large),
// every time, and another user's requests, sharing the agent's
// connections meanwhile, all pass: the agent never sends HAProxy a frame
// it would take for a protocol error and drop the connection.
func TestOversizeIdentityHAProxy(t *testing.T) {
	f := gatetest.New(t, `
routes:
  - {name: app, path: /app, allow: {groups: [engineering]}}
`)
	f.User("alice")
	f.User("bob")
	f.Group("engineering", "alice", "bob")
	for i := range 220 {
		f.Group(fmt.Sprintf("engineering-platform-subteam-%03d", i), "alice")
	}
	f.Gate.Auth = authn.New(f.Live, authn.Options{CookieName: "sg"})
	aliceTok, _ := f.Token("alice", time.Hour)
	bobTok, _ := f.Token("bob", time.Hour)
	log := &recorder{}
	agent := serveAgent(t, f, Options{Log: slog.New(log)})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.Header.Get("X-Scimgate-User"))
	}))
	t.Cleanup(app.Close)
	h := exampleHAProxy(t, agent, strings.TrimPrefix(app.URL, "http://"))

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+h.Addr()+"/app/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			return -1, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if status, body := get(bobTok); status != 200 || body != "ok bob" {
		t.Fatalf("bob alone: %d %s", status, body)
	}

	var bobFail, bobTotal atomic.Int64
	var bobErr atomic.Value
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				bobTotal.Add(1)
				if status, body := get(bobTok); status != 200 {
					bobFail.Add(1)
					bobErr.Store(fmt.Sprintf("%d %s", status, body))
				}
			}
		})
	}
	const aliceRequests = 50
	aliceWrong, aliceLast := 0, ""
	for range aliceRequests {
		status, body := get(aliceTok)
		var refusal struct{ Error, Reason, Route string }
		if err := json.Unmarshal([]byte(body), &refusal); status != 403 || err != nil ||
			refusal.Reason != ReasonIdentityTooLarge || refusal.Route != "app" {
			aliceWrong, aliceLast = aliceWrong+1, fmt.Sprintf("%d %s", status, body)
		}
	}
	close(stop)
	wg.Wait()
	if aliceWrong > 0 {
		t.Errorf("%d of alice's %d requests not refused as %s, the last: %s", aliceWrong, aliceRequests, ReasonIdentityTooLarge, aliceLast)
	}
	t.Logf("bob: %d requests while alice made %d", bobTotal.Load(), aliceRequests)
	if n := bobFail.Load(); n > 0 {
		t.Errorf("%d of bob's %d requests failed while alice was refused, the last: %v", n, bobTotal.Load(), bobErr.Load())
	}
	warned := 0
	for _, w := range log.warnings() {
		if w["msg"] == "spoe: answer too large for the frame size" && w["user"] == "alice" {
			warned++
		}
	}
	if warned != aliceRequests {
		t.Errorf("%d warnings naming alice, want one per request (%d)", warned, aliceRequests)
	}
	for _, w := range log.warnings() {
		if w["msg"] == "spoe connection ended" {
			t.Errorf("an agent connection ended: %v", w)
		}
	}
}
