package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store"
)

// TestAuditExportRequestPath: with a webhook sink that never answers, the
// gateway answers as fast as ever, records every decision, and the
// metrics show the sink falling behind; a file sink beside it is not
// held up either.
func TestAuditExportRequestPath(t *testing.T) {
	hang := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hook.Close()
	defer close(hang)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "upstream\n") }))
	defer up.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	cfg, err := config.Parse(fmt.Appendf(nil, `store: "sqlite:%s"
admin_listen: ""
routes:
  - {name: open, path: /open/, upstream: %q, allow: {public: true}}
audit:
  export:
    - {name: stuck, type: webhook, url: %q, timeout: 5m, poll_interval: 10ms}
    - {name: local, type: file, path: %q, streams: [decisions], poll_interval: 10ms}
  retention: {decisions: 90d}
`, filepath.Join(dir, "db"), up.URL, hook.URL, file))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	a, err := newApp(ctx, cfg, filepath.Join(dir, "cfg.yaml"), "http://gate.test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.st.Close()
	defer a.rec.Close()
	stop, err := startAuditExport(ctx, cfg, a.st, a.metrics, io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()

	const n = 300
	var slowest time.Duration
	for i := range n {
		path := "/open/x"
		if i%2 == 1 {
			path = "/closed/x" // no route: a deny
		}
		start := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		slowest = max(slowest, time.Since(start))
	}
	// A request that waited for the stuck sink would take minutes.
	if slowest > 2*time.Second {
		t.Errorf("slowest request took %s with a webhook sink hanging", slowest)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("every decision in the file", func() bool { b, _ := os.ReadFile(file); return bytes.Count(b, []byte("\n")) == n })
	var stored int
	if err := a.st.View(ctx, func(tx store.ReadTx) error {
		ds, err := tx.Decisions(ctx, 0, 10*n)
		stored = len(ds)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if stored != n {
		t.Errorf("%d decisions recorded, want %d", stored, n)
	}
	metrics := func() string {
		rec := httptest.NewRecorder()
		a.metrics.Handler(func() error { return nil }).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	var total int64
	if err := a.st.View(ctx, func(tx store.ReadTx) error {
		for _, s := range audit.Streams {
			c, err := tx.SeqCounter(ctx, s)
			total += c
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor("the stuck sink's lag", func() bool {
		return strings.Contains(metrics(), fmt.Sprintf(`scimgate_audit_export_lag_records{sink="stuck"} %d`, total))
	})
	// The sink reports its lag after it saves its cursor, a moment after
	// the file has the lines.
	waitFor("the local sink's lag back to 0", func() bool {
		return strings.Contains(metrics(), `scimgate_audit_export_lag_records{sink="local"} 0`)
	})
	m := metrics()
	for _, want := range []string{
		fmt.Sprintf(`scimgate_audit_export_exported_total{sink="local"} %d`, n),
		`scimgate_audit_export_exported_total{sink="stuck"} 0`,
		`scimgate_audit_export_failures_total{sink="stuck"} 0`, // still waiting on its first attempt
		`scimgate_audit_retention_pruned_total 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestAuditExportEndToEnd runs the real binary with a webhook and a file
// sink, makes SCIM changes and gateway requests, and finds every record
// of `audit log --json` at both, with the webhook's bearer secret.
func TestAuditExportEndToEnd(t *testing.T) {
	bin := realBinary(t)
	var mu sync.Mutex
	got := map[string]audit.Entry{}
	var auth []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		mu.Lock()
		defer mu.Unlock()
		auth = append(auth, r.Header.Get("Authorization"))
		for sc.Scan() {
			var e audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("webhook line %q: %v", sc.Text(), err)
			}
			got[fmt.Sprintf("%s:%d:%s", e.Stream, e.Seq, e.Hash)] = e
		}
	}))
	defer hook.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "upstream\n") }))
	defer up.Close()

	dir := t.TempDir()
	secret := filepath.Join(dir, "siem.token")
	if err := os.WriteFile(secret, []byte("hook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "audit.jsonl")
	cfgPath := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: ""
store: "sqlite:%s"
scim: {bootstrap_tenant: acme}
log: {level: warn}
routes:
  - {name: app, path: /app/, upstream: %q, allow: {groups: [eng]}}
audit:
  export:
    - name: siem
      type: webhook
      url: %q
      secret_file: %q
      batch_size: 2
      poll_interval: 50ms
    - name: local
      type: file
      path: %q
      poll_interval: 50ms
  retention:
    decisions: 90d
`, filepath.Join(dir, "db"), up.URL, hook.URL, secret, file)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, cfgPath)
	c := &client{http: &http.Client{Timeout: 10 * time.Second}, base: srv.base, token: srv.token}
	st, body, err := c.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "alice"})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("create user: %d %v %v", st, body, err)
	}
	alice := body["id"].(string)
	st, body, err = c.do("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "eng", "members": []map[string]string{{"value": alice}}})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("create group: %d %v %v", st, body, err)
	}
	out, err := exec.Command(bin, "access-token", "create", "--config", cfgPath, "--user", "alice").Output()
	if err != nil {
		t.Fatalf("access-token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	gw := strings.TrimSuffix(srv.base, "/scim/v2")
	for _, req := range []struct{ path, token string }{{"/app/a", token}, {"/app/b", ""}, {"/elsewhere", token}} {
		r, _ := http.NewRequest("GET", gw+req.path, nil)
		if req.token != "" {
			r.Header.Set("Authorization", "Bearer "+req.token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// What the trail holds, as `audit log --json` prints it: a policy
	// version, the changes (tenant, user, group, token) and the three
	// decisions.
	var want []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(bin, "audit", "log", "--config", cfgPath, "--json").Output()
		if err != nil {
			t.Fatalf("audit log: %v", err)
		}
		want = want[:0]
		decisions := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var e audit.Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("audit log line %q: %v", line, err)
			}
			want = append(want, fmt.Sprintf("%s:%d:%s", e.Stream, e.Seq, e.Hash))
			if e.Stream == store.StreamDecisions {
				decisions++
			}
		}
		if decisions >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log shows %d decisions after 20s, want 3:\n%s", decisions, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	missing := func(have func(string) bool) []string {
		var out []string
		for _, k := range want {
			if !have(k) {
				out = append(out, k)
			}
		}
		return out
	}
	inFile := func() map[string]bool {
		m := map[string]bool{}
		b, _ := os.ReadFile(file)
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e audit.Entry
			if json.Unmarshal(line, &e) == nil {
				m[fmt.Sprintf("%s:%d:%s", e.Stream, e.Seq, e.Hash)] = true
			}
		}
		return m
	}
	for {
		mu.Lock()
		hookMissing := missing(func(k string) bool { _, ok := got[k]; return ok })
		mu.Unlock()
		fileMissing := missing(func(k string) bool { return inFile()[k] })
		if len(hookMissing) == 0 && len(fileMissing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, missing at the webhook: %v; in the file: %v", hookMissing, fileMissing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	for _, a := range auth {
		if a != "Bearer hook-secret" {
			t.Errorf("webhook request with Authorization %q", a)
			break
		}
	}
	mu.Unlock()
	if len(want) < 8 {
		t.Errorf("only %d records in the trail: %v", len(want), want)
	}
	if out, err := exec.Command(bin, "audit", "verify", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
