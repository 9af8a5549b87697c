package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/internal/freeport"
	"github.com/scimgate/scimgate/store/sqlite/sqlitetest"

	_ "modernc.org/sqlite" // the driver the tamper step writes with
)

// TestAuditEndToEnd runs the real binary: a server provisions a user and a
// group over SCIM, a CLI access token, requests through the built-in
// proxy (allowed and refused), a policy reload by editing the file; then
// `audit log` shows all three streams, `audit verify` passes and prints
// the heads, the admin listener answers the same, and after the database
// is altered behind the store's back verify fails, naming the record.
func TestAuditEndToEnd(t *testing.T) {
	bin := realBinary(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream "+r.URL.Path)
	}))
	defer upstream.Close()
	adminAddr := freeAddr(t)
	// The audit trail on the admin listener takes a token; only its hash
	// goes in the configuration.
	created := mustCLI(t, bin, "admin-token", "create")
	adminSecret := strings.TrimSpace(created.stdout)
	adminHash := regexp.MustCompile(`[0-9a-f]{64}`).FindString(created.stderr)
	if adminHash == "" || strings.Contains(created.stderr, adminSecret) {
		t.Fatalf("admin-token create: stdout %q stderr %q; want the token alone on stdout and its hash on stderr", created.stdout, created.stderr)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "scimgate.db")
	config := filepath.Join(dir, "scimgate.yaml")
	writeConfig := func(routes string) {
		t.Helper()
		cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: %q\nadmin_token_sha256: [%q]\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: warn\n"+
			"audit:\n  decisions:\n    allows: all\n    flush_interval: 10ms\nroutes:\n%s", adminAddr, adminHash, db, routes)
		if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	appRoute := fmt.Sprintf("  - name: app\n    path: /app/\n    upstream: %q\n    allow: { groups: [staff] }\n", upstream.URL)
	writeConfig(appRoute)
	srv := startServer(t, bin, config)
	hc := &http.Client{Timeout: 10 * time.Second}

	st, body := scimReq(t, hc, srv.base, srv.token, "POST", "/Users",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","active":true}`)
	if st != http.StatusCreated {
		t.Fatalf("create user: %d %s", st, body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	if st, body := scimReq(t, hc, srv.base, srv.token, "POST", "/Groups",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"staff","members":[{"value":"`+u.ID+`"}]}`); st != http.StatusCreated {
		t.Fatalf("create group: %d %s", st, body)
	}
	accessToken := strings.TrimSpace(mustCLI(t, bin, "access-token", "create", "--config", config, "--user", "alice@example.com").stdout)

	gate := strings.TrimSuffix(srv.base, "/scim/v2")
	proxied := func(path, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", gate+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The server tails the change log the CLI wrote the token to.
	waitFor(t, "the access token to work", func() bool { return proxied("/app/x", accessToken) == http.StatusOK })
	if st := proxied("/app/y", ""); st != http.StatusUnauthorized {
		t.Fatalf("GET /app/y without a token: %d, want 401", st)
	}

	// A policy edit: the file watcher reloads it, and the new policy is a
	// new version. Then a refusal under it.
	writeConfig(appRoute + "  - name: admin\n    path: /admin/\n    upstream: \"" + upstream.URL + "\"\n    allow: { groups: [admins] }\n")
	logJSON := func(args ...string) []audit.Entry {
		t.Helper()
		res := mustCLI(t, bin, append([]string{"audit", "log", "--config", config, "--json"}, args...)...)
		var es []audit.Entry
		sc := bufio.NewScanner(strings.NewReader(res.stdout))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e audit.Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("audit log --json line %q: %v", sc.Text(), err)
			}
			es = append(es, e)
		}
		return es
	}
	count := func(es []audit.Entry, stream string) int {
		n := 0
		for _, e := range es {
			if e.Stream == stream {
				n++
			}
		}
		return n
	}
	waitFor(t, "the reload's policy version", func() bool { return count(logJSON(), "policies") == 2 })
	waitFor(t, "the admin route", func() bool { return proxied("/admin/", accessToken) == http.StatusForbidden })
	waitFor(t, "the decisions to be written", func() bool { return count(logJSON(), "decisions") >= 3 })

	// The log: every stream, in time order, the user's part, the route's.
	all := logJSON()
	if count(all, "changes") < 4 || count(all, "policies") != 2 {
		t.Errorf("audit log: %d changes, %d policies; want at least 4 and 2", count(all, "changes"), count(all, "policies"))
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.Before(all[i-1].At) {
			t.Errorf("audit log out of time order at %d: %v after %v", i, all[i].At, all[i-1].At)
		}
	}
	var verdicts []string
	for _, e := range logJSON("--user", "alice@example.com") {
		if d := e.Decision; d != nil {
			verdicts = append(verdicts, fmt.Sprintf("%s %s %s %s", d.Route, d.Path, d.Reason, d.CredKind))
		}
	}
	if want := "app /app/x group-ok token|admin /admin/ not-allowed token"; !strings.HasPrefix(strings.Join(verdicts, "|"), "app /app/x group-ok token") ||
		!strings.HasSuffix(strings.Join(verdicts, "|"), "admin /admin/ not-allowed token") {
		t.Errorf("alice's decisions = %q, want them to run from %q", verdicts, want)
	}
	route := logJSON("--route", "admin")
	if len(route) != 2 || route[0].Policy == nil || route[1].Decision == nil || route[1].Decision.Allow {
		t.Errorf("audit log --route admin = %+v, want the reload's policy and the refusal", route)
	}
	text := mustCLI(t, bin, "audit", "log", "--config", config, "--since", "1h").stdout
	for _, want := range []string{"create user alice@example.com", "create group staff", "loaded from " + config, "DENY  unauthenticated anonymous GET",
		"allow group-ok alice@example.com GET", "route app via proxy"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit log does not mention %q:\n%s", want, text)
		}
	}

	// The admin listener answers the same, to the admin token only;
	// metrics stay open to the scraper.
	adminGet := func(path, token string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return hc.Do(req)
	}
	for _, c := range []struct{ path, token string }{
		{"/audit/verify", ""}, {"/audit/log", accessToken}, {"/access/who?route=app&at=1m", adminSecret + "x"},
	} {
		resp, err := adminGet(c.path, c.token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s with token %q: %d %q; want 401 and a Bearer challenge", c.path, c.token, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp, err := adminGet("/metrics", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics without a token: %v %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := adminGet("/audit/verify", adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	var rep audit.Report
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !rep.OK {
		t.Errorf("GET /audit/verify = %d %+v, %v; want 200 and ok", resp.StatusCode, rep, err)
	}
	if resp, err = adminGet("/audit/log?route=admin", adminSecret); err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Count(string(raw), "\n") != 2 {
			t.Errorf("GET /audit/log?route=admin:\n%s\nwant 2 lines", raw)
		}
	}

	// Verify passes and prints each stream's head.
	out := mustCLI(t, bin, "audit", "verify", "--config", config).stdout
	heads := regexp.MustCompile(`(changes|policies|decisions):\d+:[0-9a-f]{64}`).FindAllString(out, -1)
	if len(heads) != 3 || !strings.Contains(out, "OK:") {
		t.Fatalf("audit verify printed:\n%s\nwant OK and three heads", out)
	}
	srv.kill()

	// Altered behind the store's back: the refusal made an allow.
	alter(t, db, `UPDATE decisions SET allow = 1 WHERE reason = 'not-allowed'`)
	res := cli(t, bin, "audit", "verify", "--config", config)
	if res.code != 1 || !regexp.MustCompile(`decisions seq \d+: edited: the stored hash does not match`).MatchString(res.stdout) ||
		!strings.Contains(res.stderr, "audit trail altered: 1 problem(s) found") {
		t.Errorf("audit verify after an edit: exit %d\n%s%s\nwant exit 1 naming the decision", res.code, res.stdout, res.stderr)
	}
	alter(t, db, `UPDATE decisions SET allow = 0 WHERE reason = 'not-allowed'`)
	mustCLI(t, bin, "audit", "verify", "--config", config)

	// The temporal index that access who and access history read is not
	// hash-chained: --index rebuilds it from the log and compares.
	if out := mustCLI(t, bin, "audit", "verify", "--config", config, "--index").stdout; !strings.Contains(out, "The temporal index matches") {
		t.Errorf("audit verify --index on an untouched store:\n%s", out)
	}
	alter(t, db, `UPDATE history_members SET member_type = 'Forged' WHERE member_type = 'User'`)
	res = cli(t, bin, "audit", "verify", "--config", config, "--index")
	if res.code != 1 || !strings.Contains(res.stdout, "history-index: unexplained: history_members: ") ||
		!strings.Contains(res.stdout, "history-index: missing: history_members: ") {
		t.Errorf("audit verify --index after an index edit: exit %d\n%s%s\nwant exit 1 naming both rows", res.code, res.stdout, res.stderr)
	}
	mustCLI(t, bin, "audit", "verify", "--config", config) // the streams themselves are intact
	alter(t, db, `UPDATE history_members SET member_type = 'User' WHERE member_type = 'Forged'`)
	mustCLI(t, bin, "audit", "verify", "--config", config, "--index")

	// The tail of the change log cut, the counter reset: only the kept
	// head tells.
	alter(t, db, `DELETE FROM changes WHERE seq = (SELECT max(seq) FROM changes)`,
		`UPDATE sqlite_sequence SET seq = seq - 1 WHERE name = 'changes'`)
	mustCLI(t, bin, "audit", "verify", "--config", config)
	args := []string{"audit", "verify", "--config", config}
	for _, h := range heads {
		args = append(args, "--head", h)
	}
	res = cli(t, bin, args...)
	if res.code != 1 || !regexp.MustCompile(`changes seq \d+: truncated: the stream ends at seq \d+, before the kept head`).MatchString(res.stdout) {
		t.Errorf("audit verify --head after cutting the tail: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := cli(t, bin, "audit", "verify", "--config", config, "--head", "changes:1:abc"); res.code != 2 || !strings.Contains(res.stderr, "64 hex digits") {
		t.Errorf("audit verify with a malformed --head: exit %d %s, want 2", res.code, res.stderr)
	}
}

func alter(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlitetest.Exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// freeAddr returns a loopback address nothing listens on now (see
// freeport).
func freeAddr(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}
