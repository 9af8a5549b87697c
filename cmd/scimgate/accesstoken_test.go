package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scimCreate POSTs a resource to the server and returns its id.
func scimCreate(t *testing.T, hc *http.Client, srv *server, path, body string) string {
	t.Helper()
	st, raw := scimReq(t, hc, srv.base, srv.token, "POST", path, body)
	var r struct{ ID string }
	if st != http.StatusCreated || json.Unmarshal(raw, &r) != nil || r.ID == "" {
		t.Fatalf("POST %s: %d %s", path, st, raw)
	}
	return r.ID
}

// gatewayURL is the main listener's URL, where the gateway answers.
func gatewayURL(srv *server) string { return strings.TrimSuffix(srv.base, "/scim/v2") }

// gateGet requests u as an API client, with a bearer token unless token
// is empty, and returns the status and the refusal reason.
func gateGet(t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	if resp.StatusCode == http.StatusUnauthorized && token != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("GET %s: 401 with WWW-Authenticate %q, want error=\"invalid_token\"", u, resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, body.Reason
}

// newAccessToken runs access-token create and returns the secret it
// printed alone on stdout.
func newAccessToken(t *testing.T, bin, config, user string, args ...string) string {
	t.Helper()
	res := mustCLI(t, bin, append([]string{"access-token", "create", "--config", config, "--user", user}, args...)...)
	secret := strings.TrimSuffix(res.stdout, "\n")
	if !strings.HasPrefix(secret, "sga_") || strings.ContainsAny(secret, " \t\n") {
		t.Fatalf("access-token create printed %q on stdout, want the secret alone", res.stdout)
	}
	return secret
}

// accessTokenParts splits "sga_<16 hex id>_<secret>".
func accessTokenParts(t *testing.T, token string) (id, secret string) {
	t.Helper()
	id, secret, ok := strings.Cut(strings.TrimPrefix(token, "sga_"), "_")
	if !ok || len(id) != 16 || secret == "" {
		t.Fatalf("access token %q does not look like sga_<16 hex id>_<secret>", token)
	}
	return id, secret
}

// TestAccessTokenCLI drives access tokens through the CLI while the real
// binary serves a protected route on the same store: create (stored as a
// hash only), list with its columns, revoke (the next request is 401
// token-revoked), refusal for an inactive user, judgement on the owner's
// current state, and --ttl expiry.
func TestAccessTokenCLI(t *testing.T) {
	bin := realBinary(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Header.Get("X-Scimgate-User"))
	}))
	defer up.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "scimgate.db")
	config := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: warn\n"+
		"routes:\n  - {name: app, path: /app, upstream: %q, allow: {groups: [staff]}}\n", db, up.URL)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	hc := &http.Client{Timeout: 10 * time.Second}
	user := func(name string, active bool) string {
		return scimCreate(t, hc, srv, "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":%v}`, name, active))
	}
	alice, bob, carol := user("alice@example.com", true), user("bob@example.com", true), user("carol@example.com", false)
	scimCreate(t, hc, srv, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"staff","members":[{"value":"`+
		alice+`"},{"value":"`+bob+`"},{"value":"`+carol+`"}]}`)
	appURL := gatewayURL(srv) + "/app/x"
	list := func(args ...string) []map[string]string {
		t.Helper()
		res := mustCLI(t, bin, append([]string{"access-token", "list", "--config", config}, args...)...)
		return parseTable(t, res.stdout, "ID", "TENANT", "USER", "STATUS", "CREATED", "EXPIRES", "DESCRIPTION")
	}

	// Create: the secret alone on stdout, the id and expiry on stderr.
	start := time.Now()
	res := mustCLI(t, bin, "access-token", "create", "--config", config, "--user", "alice@example.com", "--description", "ci job")
	aliceTok := strings.TrimSuffix(res.stdout, "\n")
	idA, secretA := accessTokenParts(t, aliceTok)
	if want := "created access token " + idA + " for alice@example.com (tenant acme), expires never; it is shown once"; !strings.Contains(res.stderr, want) {
		t.Errorf("access-token create: stderr %q, want %q", res.stderr, want)
	}
	bobTok := newAccessToken(t, bin, config, "bob@example.com")
	idB, _ := accessTokenParts(t, bobTok)
	created := time.Now()

	// Only a hash is stored: the store's files hold SHA-256(secret), never
	// the secret.
	var stored []byte
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		stored = append(stored, b...)
	}
	sum := sha256.Sum256([]byte(secretA))
	if bytes.Contains(stored, []byte(secretA)) || !bytes.Contains(stored, sum[:]) {
		t.Errorf("store files: secret present %v, its SHA-256 present %v; want only the hash",
			bytes.Contains(stored, []byte(secretA)), bytes.Contains(stored, sum[:]))
	}

	// List: one row per token, with its columns; --user narrows.
	rows := list("--user", "alice@example.com")
	if len(rows) != 1 {
		t.Fatalf("access-token list --user alice: %d rows %v, want 1", len(rows), rows)
	}
	if r := rows[0]; r["ID"] != idA || r["TENANT"] != "acme" || r["USER"] != "alice@example.com" || r["STATUS"] != "active" ||
		r["EXPIRES"] != "-" || r["DESCRIPTION"] != "ci job" {
		t.Errorf("alice's token row = %v; want id %s, acme, alice@example.com, active, no expiry, \"ci job\"", r, idA)
	}
	stampNear(t, "CREATED of alice's token", rows[0]["CREATED"], start, created)
	if rows := list(); len(rows) != 2 || rows[0]["ID"] == rows[1]["ID"] {
		t.Errorf("access-token list: %v, want the two tokens", rows)
	}
	if rows := list("--user", "bob@example.com"); len(rows) != 1 || rows[0]["ID"] != idB || rows[0]["USER"] != "bob@example.com" {
		t.Errorf("access-token list --user bob: %v, want bob's token %s alone", rows, idB)
	}

	// Both tokens reach the route.
	waitFor(t, "alice's token to work", func() bool { st, _ := gateGet(t, appURL, aliceTok); return st == http.StatusOK })
	if st, reason := gateGet(t, appURL, bobTok); st != http.StatusOK {
		t.Fatalf("bob's token: %d %s, want 200", st, reason)
	}

	// Revoke: the command returns once running servers have read it, so
	// the very next request is refused; bob's token is untouched.
	res = mustCLI(t, bin, "access-token", "revoke", "--config", config, idA)
	if st, reason := gateGet(t, appURL, aliceTok); st != http.StatusUnauthorized || reason != "token-revoked" {
		t.Errorf("first request after access-token revoke: %d %q, want 401 token-revoked", st, reason)
	}
	if res.stdout != "revoked access token "+idA+"\n" {
		t.Errorf("access-token revoke printed %q", res.stdout)
	}
	if st, reason := gateGet(t, appURL, bobTok); st != http.StatusOK {
		t.Errorf("bob's token after alice's was revoked: %d %s, want 200", st, reason)
	}
	if rows := list("--user", "alice@example.com"); len(rows) != 1 || rows[0]["STATUS"] != "revoked" {
		t.Errorf("alice's token after revoke is listed as %v, want revoked", rows)
	}

	// A token is judged on its owner as they are now.
	setActive := func(id string, active bool) {
		t.Helper()
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":%v}}]}`, active)
		if st, raw := scimReq(t, hc, srv.base, srv.token, "PATCH", "/Users/"+id, body); st != http.StatusOK {
			t.Fatalf("PATCH active=%v: %d %s", active, st, raw)
		}
	}
	setActive(bob, false)
	if st, reason := gateGet(t, appURL, bobTok); st != http.StatusForbidden || reason != "user-inactive" {
		t.Errorf("bob's token once bob is deactivated: %d %q, want 403 user-inactive", st, reason)
	}
	setActive(bob, true)
	if st, reason := gateGet(t, appURL, bobTok); st != http.StatusOK {
		t.Errorf("bob's token once bob is reactivated: %d %q, want 200", st, reason)
	}

	// --ttl: a token that works, then expires.
	before := time.Now()
	shortTok := newAccessToken(t, bin, config, "alice@example.com", "--ttl", "6s", "--description", "short")
	issued := time.Now()
	if issued.Sub(before) > 3*time.Second {
		t.Fatalf("access-token create took %v: too slow to check a 6 s lifetime", issued.Sub(before))
	}
	idS, _ := accessTokenParts(t, shortTok)
	if st, reason := gateGet(t, appURL, shortTok); st != http.StatusOK {
		t.Errorf("--ttl 6s token right after creation: %d %q, want 200", st, reason)
	}
	var short map[string]string
	for _, r := range list("--user", "alice@example.com") {
		if r["ID"] == idS {
			short = r
		}
	}
	if short == nil || short["STATUS"] != "active" || short["DESCRIPTION"] != "short" {
		t.Errorf("--ttl 6s token before expiry is listed as %v, want active", short)
	} else {
		stampNear(t, "EXPIRES of the --ttl 6s token", short["EXPIRES"], before.Add(6*time.Second), issued.Add(6*time.Second))
	}
	time.Sleep(time.Until(issued.Add(6*time.Second + 100*time.Millisecond)))
	if st, reason := gateGet(t, appURL, shortTok); st != http.StatusUnauthorized || reason != "token-expired" {
		t.Errorf("--ttl 6s token after 6 s: %d %q, want 401 token-expired", st, reason)
	}
	for _, r := range list("--user", "alice@example.com") {
		if r["ID"] == idS && r["STATUS"] != "expired" {
			t.Errorf("--ttl 6s token after expiry is listed as %q, want expired", r["STATUS"])
		}
	}

	// --ttl in days, as audit.retention takes them.
	before = time.Now()
	dayTok := newAccessToken(t, bin, config, "alice@example.com", "--ttl", "30d", "--description", "days")
	idD, _ := accessTokenParts(t, dayTok)
	for _, r := range list("--user", "alice@example.com") {
		if r["ID"] == idD {
			stampNear(t, "EXPIRES of the --ttl 30d token", r["EXPIRES"], before.Add(30*24*time.Hour), time.Now().Add(30*24*time.Hour))
		}
	}

	// Refusals: non-zero exit, a message on stderr, nothing on stdout,
	// nothing created.
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an inactive user", []string{"create", "--user", "carol@example.com"}, 1, `create access token: user "carol@example.com" is not active`},
		{"a user not in the directory", []string{"create", "--user", "nobody@example.com"}, 1, `no user "nobody@example.com" in the directory`},
		{"a negative --ttl", []string{"create", "--user", "alice@example.com", "--ttl", "-2s"}, 2, `invalid value "-2s" for flag -ttl`},
		{"a --ttl in weeks", []string{"create", "--user", "alice@example.com", "--ttl", "2w"}, 2, "--ttl takes whole days such as 30d"},
		{"a --ttl without a unit", []string{"create", "--user", "alice@example.com", "--ttl", "2"}, 2, `invalid value "2" for flag -ttl`},
		{"revoking twice", []string{"revoke", idA}, 1, fmt.Sprintf("access token %q was already revoked", idA)},
		{"revoking an unknown id", []string{"revoke", "0123456789abcdef"}, 1, `access token "0123456789abcdef" does not exist`},
		{"listing an unknown user", []string{"list", "--user", "nobody@example.com"}, 1, `no user "nobody@example.com"`},
	} {
		args := append([]string{"access-token", tc.args[0], "--config", config}, tc.args[1:]...)
		res := cli(t, bin, args...)
		if res.code != tc.code || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.name, res.code, res.stdout, res.stderr, tc.code, tc.want)
		}
	}
	if rows := list("--user", "carol@example.com"); len(rows) != 0 {
		t.Errorf("carol, inactive, has tokens: %v", rows)
	}
	if rows := list(); len(rows) != 4 {
		t.Errorf("access-token list after the refusals: %d rows, want 4 (alice's three, bob's)", len(rows))
	}
}
