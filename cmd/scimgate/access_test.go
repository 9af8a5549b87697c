package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/audit"
)

// TestAccessEndToEnd provisions over SCIM against the real server, edits
// the policy file (which the server reloads and records), and asks the
// CLI and the admin API who could reach a route at past times and when a
// user could reach it.
func TestAccessEndToEnd(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "scimgate.yaml")
	adminAddr := "127.0.0.1:" + freePort(t)
	writeConfig := func(group string) {
		t.Helper()
		cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: %q\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: warn\n"+
			"routes:\n  - name: app\n    path: /app\n    allow: { groups: [%q] }\n", adminAddr, filepath.Join(dir, "data", "scimgate.db"), group)
		if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("engineering")
	started := time.Now()
	srv := startServer(t, bin, config)
	hc := &http.Client{Timeout: 10 * time.Second}
	scim := func(method, path, body string) map[string]any {
		t.Helper()
		st, raw := scimReq(t, hc, srv.base, srv.token, method, path, body)
		if st/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, st, raw)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	create := func(path, doc string) string {
		t.Helper()
		return scim("POST", path, doc)["id"].(string)
	}
	// pause separates events by more than the clock's resolution and
	// returns a time between them.
	pause := func() time.Time {
		time.Sleep(20 * time.Millisecond)
		at := time.Now()
		time.Sleep(20 * time.Millisecond)
		return at
	}
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

	const userSchema, groupSchema = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]`, `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]`
	alice := create("/Users", `{`+userSchema+`,"userName":"alice@example.com"}`)
	bob := create("/Users", `{`+userSchema+`,"userName":"bob@example.com"}`)
	platform := create("/Groups", `{`+groupSchema+`,"displayName":"platform","members":[{"value":"`+alice+`"}]}`)
	create("/Groups", `{`+groupSchema+`,"displayName":"engineering","members":[{"value":"`+platform+`"}]}`)
	ops := create("/Groups", `{`+groupSchema+`,"displayName":"ops","members":[{"value":"`+bob+`"}]}`)
	t1 := pause() // app admits engineering: alice, through platform

	// The policy now admits ops: the server reloads the file and records
	// the version.
	writeConfig("ops")
	var t2 time.Time
	for deadline := time.Now().Add(15 * time.Second); ; {
		time.Sleep(100 * time.Millisecond)
		res := cli(t, bin, "access", "who", "--config", config, "--route", "app", "--at", rfc(time.Now()))
		if strings.HasPrefix(res.stdout, "bob@example.com\t") {
			t2 = pause()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded policy was not recorded: %+v", res)
		}
	}
	scim("PATCH", "/Users/"+bob, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	t3 := pause() // bob deactivated: nobody
	scim("PATCH", "/Users/"+bob, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`)
	t4 := pause()

	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{t1, "alice@example.com\tplatform -> engineering\tacme\n"},
		{t2, "bob@example.com\tops\tacme\n"},
		{t3, ""},
		{t4, "bob@example.com\tops\tacme\n"},
	} {
		res := mustCLI(t, bin, "access", "who", "--config", config, "--route", "app", "--at", rfc(tt.at))
		if res.stdout != tt.want {
			t.Errorf("access who --at %s printed %q, want %q (stderr %q)", rfc(tt.at), res.stdout, tt.want, res.stderr)
		}
	}
	var who audit.WhoResult
	res := mustCLI(t, bin, "access", "who", "--config", config, "--route", "app", "--at", rfc(t1), "--json")
	if err := json.Unmarshal([]byte(res.stdout), &who); err != nil || len(who.Users) != 1 || who.Users[0].UserID != alice ||
		strings.Join(who.Users[0].GroupPath, ",") != "platform,engineering" || who.Policy.Seq != 1 {
		t.Errorf("access who --json = %+v, %v; want alice via platform, engineering under policy version 1\n%s", who, err, res.stdout)
	}

	// bob's history: ops admitted him from the policy edit, until he was
	// deactivated, and again from his reactivation.
	res = mustCLI(t, bin, "access", "history", "--config", config, "--user", "bob@example.com", "--route", "app")
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("access history printed %q, want 2 intervals", res.stdout)
	}
	first, second := strings.Split(lines[0], "\t"), strings.Split(lines[1], "\t")
	if first[0] != "app" || first[1] != "bob@example.com" || first[4] != "ops" || !strings.HasPrefix(first[5], "policy version 2 from "+config) ||
		!strings.Contains(first[6], "patch user "+bob+" (bob@example.com)") || second[3] != "now" || !strings.Contains(second[5], "patch user "+bob) {
		t.Errorf("access history printed\n%s\nwant the interval opened by policy version 2, closed by the deactivation, and one open since the reactivation", res.stdout)
	}
	for i, when := range []string{first[2], first[3], second[2]} {
		at, err := time.Parse(time.RFC3339Nano, when)
		if err != nil || at.Before(started) || at.After(t4) {
			t.Errorf("interval time %d %q is not between the server start and the last change", i, when)
		}
	}

	// The CLI's errors.
	for _, tt := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"access", "who", "--config", config, "--route", "nope", "--at", rfc(t1)}, 1, `unknown route "nope"`},
		{[]string{"access", "who", "--config", config, "--route", "app", "--at", "yesterday"}, 2, "--at"},
		{[]string{"access", "who", "--config", config, "--route", "app"}, 2, "--at TIME is required"},
		{[]string{"access", "who", "--config", config, "--route", "app", "--at", rfc(started.Add(-time.Hour))}, 1, "no policy in force"},
		{[]string{"access", "history", "--config", config, "--user", "nobody"}, 1, `unknown user "nobody"`},
		{[]string{"access", "history", "--config", config}, 2, "--user USERNAME is required"},
	} {
		res := cli(t, bin, tt.args...)
		if res.code != tt.code || !strings.Contains(res.stderr, tt.say) {
			t.Errorf("scimgate %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(tt.args, " "), res.code, res.stderr, tt.code, tt.say)
		}
	}

	// A userName from the directory cannot forge a line: the IdP
	// provisions one with tabs and a line break into ops.
	forger := create("/Users", `{`+userSchema+`,"userName":"mallory\tops\tacme\nceo@example.com"}`)
	scim("PATCH", "/Groups/"+ops, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"`+forger+`"}]}]}`)
	t5 := pause()
	res = mustCLI(t, bin, "access", "who", "--config", config, "--route", "app", "--at", rfc(t5))
	if want := "bob@example.com\tops\tacme\n" + `"mallory\tops\tacme\nceo@example.com"` + "\tops\tacme\n"; res.stdout != want {
		t.Errorf("access who with a forger printed %q, want %q", res.stdout, want)
	}
	res = mustCLI(t, bin, "access", "history", "--config", config, "--user", "mallory\tops\tacme\nceo@example.com")
	if lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n"); len(lines) != 1 || len(strings.Split(lines[0], "\t")) != 7 {
		t.Errorf("access history of the forger printed %q, want one line of 7 fields", res.stdout)
	}

	// The same answers on the admin listener.
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := hc.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	st, raw := get("/access/who?route=app&at=" + url.QueryEscape(rfc(t1)))
	var apiWho audit.WhoResult
	if err := json.Unmarshal(raw, &apiWho); st != 200 || err != nil || len(apiWho.Users) != 1 || apiWho.Users[0].UserName != "alice@example.com" {
		t.Errorf("GET /access/who = %d %s, want alice", st, raw)
	}
	st, raw = get("/access/history?user=bob@example.com&route=app")
	var apiHistory audit.HistoryResult
	if err := json.Unmarshal(raw, &apiHistory); st != 200 || err != nil || len(apiHistory.Intervals) != 2 || apiHistory.Intervals[0].From.Policy == nil {
		t.Errorf("GET /access/history = %d %s, want bob's 2 intervals", st, raw)
	}
	for path, want := range map[string]int{
		"/access/who?route=nope&at=" + url.QueryEscape(rfc(t1)):  404,
		"/access/who?route=app&at=bad":                           400,
		"/access/history?user=nobody":                            404,
		"/access/history":                                        400,
		"/access/history?user=+":                                 400,
		"/access/who?route=+app+&at=" + url.QueryEscape(rfc(t1)): 200, // trimmed, as on the command line
	} {
		if st, raw := get(path); st != want {
			t.Errorf("GET %s = %d %s, want %d", path, st, raw, want)
		}
	}
}
