package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cliResult is what one run of the scimgate binary printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the built binary with args and waits at most 30 s.
func cli(t *testing.T, bin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("scimgate %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI runs the binary and fails the test unless it exits 0.
func mustCLI(t *testing.T, bin string, args ...string) cliResult {
	t.Helper()
	res := cli(t, bin, args...)
	if res.code != 0 {
		t.Fatalf("scimgate %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// createToken runs scim-token create and returns the secret it printed
// alone on stdout, its id and the command's stderr.
func createToken(t *testing.T, bin, config string, args ...string) (secret, id, stderr string) {
	t.Helper()
	res := mustCLI(t, bin, append([]string{"scim-token", "create", "--config", config}, args...)...)
	secret = strings.TrimSuffix(res.stdout, "\n")
	if secret == "" || strings.ContainsAny(secret, " \t\n") || !strings.HasPrefix(secret, "sgs_") {
		t.Fatalf("scim-token create printed %q on stdout, want the secret alone", res.stdout)
	}
	id = tokenID(t, secret)
	if !strings.Contains(res.stderr, "created SCIM token "+id) {
		t.Errorf("scim-token create: stderr %q does not name the token id %s", res.stderr, id)
	}
	return secret, id, res.stderr
}

// tokenID is the id part of a secret "sgs_<16 hex id>_<secret>".
func tokenID(t *testing.T, secret string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(secret, "sgs_")
	id, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 {
		t.Fatalf("token %q does not look like sgs_<16 hex id>_<secret>", secret)
	}
	return id
}

// tokenRow is one row of scim-token list.
type tokenRow struct {
	ID, Tenant, Status, Created, Expires, LastUsed, Description string
}

// listTokens runs scim-token list and parses its table: the columns are
// found by the header's positions, since LAST USED and descriptions hold
// spaces.
func listTokens(t *testing.T, bin, config string, args ...string) map[string]tokenRow {
	t.Helper()
	res := mustCLI(t, bin, append([]string{"scim-token", "list", "--config", config}, args...)...)
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	cols := []string{"ID", "TENANT", "STATUS", "CREATED", "EXPIRES", "LAST USED", "DESCRIPTION"}
	var at []int
	for i, c := range cols {
		p := strings.Index(lines[0], c)
		if p < 0 || (i > 0 && p <= at[i-1]) {
			t.Fatalf("scim-token list: header %q lacks column %q in order\n%s", lines[0], c, res.stdout)
		}
		at = append(at, p)
	}
	rows := map[string]tokenRow{}
	for _, l := range lines[1:] {
		field := func(i int) string {
			if at[i] >= len(l) {
				return ""
			}
			end := len(l)
			if i+1 < len(at) {
				end = min(at[i+1], len(l))
			}
			return strings.TrimSpace(l[at[i]:end])
		}
		r := tokenRow{field(0), field(1), field(2), field(3), field(4), field(5), field(6)}
		if _, dup := rows[r.ID]; dup || len(r.ID) != 16 {
			t.Fatalf("scim-token list: bad or repeated row %q\n%s", l, res.stdout)
		}
		rows[r.ID] = r
	}
	return rows
}

// stampNear parses a list timestamp (RFC 3339, UTC, seconds) and checks
// that it lies within [lo-1s, hi+1s]: the table truncates to seconds.
func stampNear(t *testing.T, what, s string, lo, hi time.Time) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Errorf("%s: %q is not an RFC 3339 time: %v", what, s, err)
		return
	}
	if at.Before(lo.Add(-time.Second)) || at.After(hi.Add(time.Second)) {
		t.Errorf("%s = %s, want between %s and %s", what, s, lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339))
	}
}

// scimReq sends one SCIM request with a bearer token and returns the
// status and body.
func scimReq(t *testing.T, c *http.Client, base, token, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("%s %s: 401 with WWW-Authenticate %q, want error=\"invalid_token\"", method, path, resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, raw
}

// TestTokenLifecycle drives SCIM tokens end to end through the CLI while
// the real server runs on the same store: create, list, use, revoke,
// expiry, a second tenant's isolation, and the CLI's error cases.
func TestTokenLifecycle(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "scimgate.yaml")
	cfg := fmt.Sprintf("listen: \"127.0.0.1:0\"\nadmin_listen: \"\"\nstore: \"sqlite:%s\"\nscim:\n  bootstrap_tenant: acme\nlog:\n  level: warn\n",
		filepath.Join(dir, "data", "scimgate.db"))
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, config)
	if srv.token == "" {
		t.Fatal("first start printed no SCIM token")
	}
	boot, bootID := srv.token, tokenID(t, srv.token)
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(token, path string) int {
		t.Helper()
		st, _ := scimReq(t, hc, srv.base, token, "GET", path, "")
		return st
	}

	// The bootstrap token, unused so far, is listed without a last use.
	start := time.Now()
	rows := listTokens(t, bin, config)
	if r, ok := rows[bootID]; !ok || r.Tenant != "acme" || r.Status != "active" || r.LastUsed != "-" || r.Expires != "-" {
		t.Fatalf("before any request, bootstrap token row = %+v (found %v), want acme, active, never used, no expiry", r, ok)
	}

	// Two more tokens for the same tenant, created while the server runs.
	secA, idA, _ := createToken(t, bin, config, "--tenant", "acme", "--description", "rotation A")
	secB, idB, _ := createToken(t, bin, config, "--tenant", "acme", "--description", "rotation B", "--ttl", "1h")
	afterCreate := time.Now()
	for name, tok := range map[string]string{"bootstrap": boot, "A": secA, "B": secB} {
		if st := get(tok, "/Users"); st != http.StatusOK {
			t.Fatalf("GET /Users with token %s: %d, want 200", name, st)
		}
	}
	usedBy := time.Now()

	rows = listTokens(t, bin, config)
	if len(rows) != 3 {
		t.Errorf("scim-token list shows %d tokens, want 3: %+v", len(rows), rows)
	}
	for id, desc := range map[string]string{bootID: "bootstrap token", idA: "rotation A", idB: "rotation B"} {
		r, ok := rows[id]
		if !ok {
			t.Errorf("scim-token list lacks token %s", id)
			continue
		}
		if r.Tenant != "acme" || r.Status != "active" || r.Description != desc {
			t.Errorf("token %s row = %+v, want tenant acme, status active, description %q", id, r, desc)
		}
		stampNear(t, "LAST USED of "+id, r.LastUsed, start, usedBy)
	}
	stampNear(t, "CREATED of A", rows[idA].Created, start, afterCreate)
	if rows[idA].Expires != "-" {
		t.Errorf("token A was created without --ttl but expires %s", rows[idA].Expires)
	}
	stampNear(t, "EXPIRES of B (--ttl 1h)", rows[idB].Expires, start.Add(time.Hour), afterCreate.Add(time.Hour))

	// Revocation applies to the very next request: no sleep between.
	res := mustCLI(t, bin, "scim-token", "revoke", "--config", config, idA)
	if st := get(secA, "/Users"); st != http.StatusUnauthorized {
		t.Errorf("first request with revoked token A: %d, want 401", st)
	}
	if !strings.Contains(res.stdout, idA) {
		t.Errorf("scim-token revoke printed %q, want it to name %s", res.stdout, idA)
	}
	if st := get(secB, "/Users"); st != http.StatusOK {
		t.Errorf("token B after A was revoked: %d, want 200", st)
	}
	if st := get(boot, "/Users"); st != http.StatusOK {
		t.Errorf("bootstrap token after A was revoked: %d, want 200", st)
	}
	if r := listTokens(t, bin, config)[idA]; r.Status != "revoked" {
		t.Errorf("revoked token A is listed as %q", r.Status)
	}

	// A token with a 6 s lifetime works, then stops working.
	created := time.Now()
	secC, idC, _ := createToken(t, bin, config, "--tenant", "acme", "--description", "short-lived", "--ttl", "6s")
	issued := time.Now()
	if issued.Sub(created) > 3*time.Second {
		t.Fatalf("creating a token took %v: too slow to check a 6 s lifetime", issued.Sub(created))
	}
	if st := get(secC, "/Users"); st != http.StatusOK {
		t.Errorf("short-lived token C right after creation: %d, want 200", st)
	}
	if r := listTokens(t, bin, config)[idC]; r.Status != "active" {
		t.Errorf("short-lived token C before expiry is listed as %q", r.Status)
	} else {
		stampNear(t, "EXPIRES of C (--ttl 6s)", r.Expires, created.Add(6*time.Second), issued.Add(6*time.Second))
	}
	// It expired at most 6 s after the create command returned.
	time.Sleep(time.Until(issued.Add(6*time.Second + 100*time.Millisecond)))
	if st := get(secC, "/Users"); st != http.StatusUnauthorized {
		t.Errorf("short-lived token C after its 6 s: %d, want 401", st)
	}
	if r := listTokens(t, bin, config)[idC]; r.Status != "expired" {
		t.Errorf("short-lived token C after expiry is listed as %q, want expired", r.Status)
	}
	if st := get(secB, "/Users"); st != http.StatusOK {
		t.Errorf("token B after C expired: %d, want 200", st)
	}

	// A token for a new tenant creates the tenant, and that tenant sees
	// nothing of acme's.
	secO, idO, stderr := createToken(t, bin, config, "--tenant", "other")
	if !strings.Contains(stderr, `created tenant "other"`) {
		t.Errorf("scim-token create --tenant other: stderr %q does not say the tenant was created", stderr)
	}
	_, _, stderr = createToken(t, bin, config, "--tenant", "other", "--description", "second")
	if strings.Contains(stderr, "created tenant") {
		t.Errorf("a second token for tenant other says it created the tenant again: %q", stderr)
	}
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com","active":true}`
	st, raw := scimReq(t, hc, srv.base, boot, "POST", "/Users", user)
	if st != http.StatusCreated {
		t.Fatalf("create user as acme: %d %s", st, raw)
	}
	var alice struct{ ID string }
	if err := json.Unmarshal(raw, &alice); err != nil || alice.ID == "" {
		t.Fatalf("create user as acme: no id in %s", raw)
	}
	total := func(token, path string) int {
		t.Helper()
		st, raw := scimReq(t, hc, srv.base, token, "GET", path, "")
		var lr struct{ TotalResults int }
		if st != http.StatusOK || json.Unmarshal(raw, &lr) != nil {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
		return lr.TotalResults
	}
	if n := total(secO, "/Users"); n != 0 {
		t.Errorf("tenant other lists %d users, want 0 (acme's user must not show)", n)
	}
	if n := total(secO, `/Users?filter=userName%20eq%20%22alice@example.com%22`); n != 0 {
		t.Errorf("tenant other finds acme's user by userName (%d results)", n)
	}
	if st := get(secO, "/Users/"+alice.ID); st != http.StatusNotFound {
		t.Errorf("tenant other reads acme's user by id: %d, want 404", st)
	}
	if n := total(boot, "/Users"); n != 1 {
		t.Errorf("acme lists %d users, want 1", n)
	}
	// userName is unique per tenant: the other tenant may use the same one.
	if st, raw := scimReq(t, hc, srv.base, secO, "POST", "/Users", user); st != http.StatusCreated {
		t.Errorf("tenant other creating its own alice@example.com: %d %s, want 201", st, raw)
	}
	rows = listTokens(t, bin, config, "--tenant", "other")
	if len(rows) != 2 || rows[idO].Tenant != "other" || rows[idO].Status != "active" {
		t.Errorf("scim-token list --tenant other = %+v, want its two tokens", rows)
	}
	if len(listTokens(t, bin, config)) != 6 {
		t.Errorf("scim-token list shows %d tokens, want 6", len(listTokens(t, bin, config)))
	}

	// Error cases: non-zero exit and a message naming the problem, on
	// stderr, with nothing on stdout.
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"create without --tenant", []string{"scim-token", "create", "--config", config}, 2, []string{"--tenant"}},
		{"unknown subcommand", []string{"scim-token", "rotate", "--config", config}, 2, []string{`unknown scim-token subcommand "rotate"`}},
		{"no subcommand", []string{"scim-token"}, 2, []string{"create, list or revoke"}},
		{"revoke an unknown id", []string{"scim-token", "revoke", "--config", config, "0123456789abcdef"}, 1, []string{"0123456789abcdef", "does not exist"}},
		{"revoke twice", []string{"scim-token", "revoke", "--config", config, idA}, 1, []string{idA, "already revoked"}},
		{"revoke without an id", []string{"scim-token", "revoke", "--config", config}, 2, []string{"ID"}},
		{"list without --config", []string{"scim-token", "list"}, 2, []string{"--config"}},
		{"create without --config", []string{"scim-token", "create", "--tenant", "acme"}, 2, []string{"--config"}},
		{"revoke without --config", []string{"scim-token", "revoke", idB}, 2, []string{"--config"}},
		{"--config names a missing file", []string{"scim-token", "list", "--config", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml"}},
		{"negative --ttl", []string{"scim-token", "create", "--config", config, "--tenant", "acme", "--ttl", "-1h"}, 2, []string{"--ttl"}},
		{"list of an unknown tenant", []string{"scim-token", "list", "--config", config, "--tenant", "nobody"}, 1, []string{`"nobody"`, "does not exist"}},
	} {
		res := cli(t, bin, tc.args...)
		if res.code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, res.code, tc.code, res.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: stderr %q does not mention %q", tc.name, res.stderr, w)
			}
		}
		if res.stdout != "" {
			t.Errorf("%s: printed %q on stdout, want nothing", tc.name, res.stdout)
		}
	}
	// Failed commands changed nothing: B still works, A stays revoked.
	if st := get(secB, "/Users"); st != http.StatusOK {
		t.Errorf("token B after the failed commands: %d, want 200", st)
	}
	if st := get(secA, "/Users"); st != http.StatusUnauthorized {
		t.Errorf("revoked token A after the failed commands: %d, want 401", st)
	}
}
