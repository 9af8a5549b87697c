package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
)

// startLoggedServer is startServer with the server's log (its stderr)
// kept for the test to read.
func startLoggedServer(t *testing.T, bin, config string) (*server, *lockedBuffer) {
	t.Helper()
	s, logs, ready := launchLogged(t, bin, config)
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("server exited before it was ready:\n%s", logs.tail(4000))
	case <-time.After(20 * time.Second):
		t.Fatalf("server printed no SCIM token within 20s:\n%s", logs.tail(4000))
	}
	return s, logs
}

// launchLogged starts the server with its log kept, and returns at once:
// ready closes when it has printed its SCIM token.
func launchLogged(t *testing.T, bin, config string) (*server, *lockedBuffer, <-chan struct{}) {
	t.Helper()
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(line, "SCIM base URL:"); ok {
				s.base = strings.TrimSuffix(strings.TrimSpace(v), "/")
			}
			if v, ok := strings.CutPrefix(line, "SCIM token:"); ok {
				s.token = strings.TrimSpace(v)
				close(ready)
			}
		}
	}()
	return s, logs, ready
}

// size is how many bytes the buffer holds: a mark to read the log from.
func (l *lockedBuffer) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// logEntry is one line of the server's JSON log.
type logEntry map[string]any

func (e logEntry) str(k string) string { s, _ := e[k].(string); return s }

// entries parses the JSON log lines written after mark; other lines are
// skipped.
func (l *lockedBuffer) entries(mark int) []logEntry {
	l.mu.Lock()
	text := string(l.b.Bytes()[mark:])
	l.mu.Unlock()
	var out []logEntry
	for line := range strings.SplitSeq(text, "\n") {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// awaitLog waits (the log is written in batches, up to 100 ms late) for
// an entry after mark that match accepts.
func awaitLog(t *testing.T, logs *lockedBuffer, mark int, what string, match func(logEntry) bool) logEntry {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, e := range logs.entries(mark) {
			if match(e) {
				return e
			}
		}
		if time.Now().After(end) {
			t.Fatalf("no log entry %s within 10s; log since the mark:\n%s", what, logs.tail(3000))
		}
	}
}

// writeFileAtomic replaces path in one step, so that a reload never reads
// a half-written file.
func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

const (
	reloadOK     = "policy reloaded"
	reloadFailed = "policy reload failed; keeping the running policy"
)

// TestPolicyReload drives the running binary's policy through SIGHUP and
// file edits: a good file is put in force (the route change decides the
// next request, and the log names the trigger and the new policy's hash);
// a bad one (invalid YAML, route errors, the file gone) leaves the running
// policy deciding exactly as before, and the log says why; the reload
// counter on /metrics agrees with the log.
func TestPolicyReload(t *testing.T) {
	bin := realBinary(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream\n") }))
	defer up.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "scimgate.yaml")
	adminAddr := freeAddr(t)
	head := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: %q\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: info\n  format: json\nroutes:\n",
		adminAddr, filepath.Join(dir, "scimgate.db"))
	app := func(group string) string {
		return fmt.Sprintf("  - {name: app, path: /app, upstream: %q, allow: {groups: [%s]}}\n", up.URL, group)
	}
	current := head + app("staff")
	writeFileAtomic(t, cfgPath, current)
	srv, logs := startLoggedServer(t, bin, cfgPath)
	hc := &http.Client{Timeout: 10 * time.Second}
	alice := scimCreate(t, hc, srv, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com"}`)
	bob := scimCreate(t, hc, srv, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@example.com"}`)
	scimCreate(t, hc, srv, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"staff","members":[{"value":"`+alice+`"}]}`)
	scimCreate(t, hc, srv, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"ops","members":[{"value":"`+bob+`"}]}`)
	aliceTok := newAccessToken(t, bin, cfgPath, "alice@example.com")
	bobTok := newAccessToken(t, bin, cfgPath, "bob@example.com")
	appURL := gatewayURL(srv) + "/app/x"
	statuses := func() [2]int {
		a, _ := gateGet(t, appURL, aliceTok)
		b, _ := gateGet(t, appURL, bobTok)
		return [2]int{a, b}
	}
	waitFor(t, "alice's token to work", func() bool { return statuses() == [2]int{200, 403} })

	tests := []struct {
		name   string
		routes string // the routes: section; with remove, the file is deleted instead
		remove bool
		sighup bool     // send SIGHUP; the file watcher reloads on its own when the content changed
		ok     bool     // the new policy is put in force
		errHas []string // what the failure's log entry says
		want   [2]int   // alice's and bob's status on /app afterwards
	}{
		{name: "SIGHUP puts a route change in force", routes: app("ops"), sighup: true, ok: true, want: [2]int{403, 200}},
		{name: "SIGHUP with the file unchanged reloads it", routes: app("ops"), sighup: true, ok: true, want: [2]int{403, 200}},
		{name: "SIGHUP with invalid YAML keeps the running policy", routes: "  - {name: app, path: /app, allow: {groups: [staff]}\n",
			sighup: true, errHas: []string{"invalid YAML", "line "}, want: [2]int{403, 200}},
		{name: "SIGHUP with route errors keeps the running policy",
			routes: fmt.Sprintf("  - {name: app, path: /app, methods: [get], upstream: %q, allow: {groups: [staff]}}\n  - {name: two, path: /two}\n", up.URL),
			sighup: true, errHas: []string{`routes[0].methods[0]: "get" is not an HTTP method`, "routes[1].allow: admits nobody"}, want: [2]int{403, 200}},
		{name: "SIGHUP with the file gone keeps the running policy", remove: true, sighup: true,
			errHas: []string{"read config", cfgPath}, want: [2]int{403, 200}},
		{name: "a bad edit keeps the running policy", routes: "  - {name: app, path: /app, upstream: \"ftp://files\", allow: {groups: [staff]}}\n",
			errHas: []string{`routes[0].upstream: "ftp://files" is not an http(s) URL`}, want: [2]int{403, 200}},
		{name: "a good edit puts a route change in force", routes: app("staff"), ok: true, want: [2]int{200, 403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := statuses()
			mark := logs.size()
			next := ""
			if tt.remove {
				if err := os.Remove(cfgPath); err != nil {
					t.Fatal(err)
				}
			} else {
				next = head + tt.routes
				writeFileAtomic(t, cfgPath, next)
			}
			changed := next != current
			current = next
			if tt.sighup {
				if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			var wantHash string
			if tt.ok {
				c, err := config.Load(cfgPath)
				if err != nil {
					t.Fatal(err)
				}
				p, err := policy.Compile(c.Routes, cfgPath, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				wantHash = p.Hash
			}
			var triggers []string
			if tt.sighup {
				triggers = append(triggers, "SIGHUP")
			}
			if changed {
				triggers = append(triggers, "file changed")
			}
			for _, trigger := range triggers {
				msg := reloadFailed
				if tt.ok {
					msg = reloadOK
				}
				e := awaitLog(t, logs, mark, fmt.Sprintf("%q with trigger %q", msg, trigger), func(e logEntry) bool {
					return e.str("msg") == msg && e.str("trigger") == trigger
				})
				if tt.ok {
					if e.str("hash") != wantHash || e["routes"] != float64(1) || e.str("level") != "INFO" {
						t.Errorf("reload by %s logged %v; want level INFO, routes 1, hash %s", trigger, e, wantHash)
					}
					continue
				}
				if e.str("level") != "ERROR" {
					t.Errorf("failed reload by %s logged at %q, want ERROR", trigger, e.str("level"))
				}
				for _, w := range tt.errHas {
					if !strings.Contains(e.str("err"), w) {
						t.Errorf("failed reload by %s: err %q does not say %q", trigger, e.str("err"), w)
					}
				}
			}
			for _, e := range logs.entries(mark) {
				if !tt.ok && e.str("msg") == reloadOK {
					t.Errorf("a bad file was put in force: %v", e)
				}
			}
			if got := statuses(); got != tt.want {
				t.Errorf("after the reload alice and bob get %v on /app, want %v (before: %v)", got, tt.want, before)
			}
			if !tt.ok && before != tt.want {
				t.Errorf("test setup: before the bad reload the statuses were %v, want them unchanged at %v", before, tt.want)
			}
		})
	}

	// The reload counter counts what the log says, success and failure.
	count := func(msg string) (n float64) {
		for _, e := range logs.entries(0) {
			if e.str("msg") == msg {
				n++
			}
		}
		return n
	}
	var ok, failed float64
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m := scrape(t, adminAddr)
		ok, failed = m[`scimgate_policy_reloads_total{result="ok"}`], m[`scimgate_policy_reloads_total{result="error"}`]
		if ok == count(reloadOK) && failed == count(reloadFailed) || time.Now().After(end) {
			break
		}
	}
	if ok != count(reloadOK) || failed != count(reloadFailed) || ok < 4 || failed < 7 {
		t.Errorf("scimgate_policy_reloads_total: ok %v, error %v; the log has %v and %v (want at least 4 and 7)", ok, failed, count(reloadOK), count(reloadFailed))
	}
}
