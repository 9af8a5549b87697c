package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCaddyAudit: Caddy records the policy it loads — the handlers' own
// rules included — once, and every decision its handlers make; the chain
// verifies with the scimgate command line on Caddy's store.
func TestCaddyAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Caddy")
	}
	up := newUpstream(t)
	c := startCaddy(t, gateCaddyfile(up.URL))
	scim := scimClient{c: c, token: c.scimgate(t, "scim-token", "create", "--tenant", "acme")}
	alice := scim.createUser(t, "alice@example.com")
	scim.createGroup(t, "engineering", alice)
	tok := c.scimgate(t, "access-token", "create", "--user", "alice@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for code, _, _ := c.do(t, "GET", "/app/x", bearer(tok), ""); code != http.StatusOK; code, _, _ = c.do(t, "GET", "/app/x", bearer(tok), "") {
		if time.Now().After(deadline) {
			t.Fatalf("alice GET /app/x = %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, _ := c.do(t, "GET", "/ops/x", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /ops/x = %d, want 401", code)
	}

	type entry struct {
		Stream string
		Policy *struct {
			Source string
			Routes []string
		}
		Decision *struct {
			Allow   bool
			Route   string
			Adapter string
			Reason  string
		}
	}
	read := func() (policies, decisions []entry) {
		for _, line := range strings.Split(c.scimgate(t, "audit", "log", "--json"), "\n") {
			var e entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("audit log line %q: %v", line, err)
			}
			switch e.Stream {
			case "policies":
				policies = append(policies, e)
			case "decisions":
				decisions = append(decisions, e)
			}
		}
		return policies, decisions
	}
	policies, decisions := read()
	for deadline := time.Now().Add(5 * time.Second); len(decisions) < 2 && time.Now().Before(deadline); policies, decisions = read() {
		time.Sleep(50 * time.Millisecond)
	}
	// Caddy provisions the handlers in the order of its routes.
	if len(policies) != 1 || policies[0].Policy.Source != "caddy" || strings.Join(slices.Sorted(slices.Values(policies[0].Policy.Routes)), ",") != "app,caddy,fcgi,open,ops,ws" {
		t.Errorf("policy versions = %+v, want one from caddy with the handlers' routes app, ws, ops, caddy, open and fcgi", policies)
	}
	var got []string
	for _, d := range decisions {
		got = append(got, d.Decision.Adapter+" "+d.Decision.Route+" "+d.Decision.Reason)
	}
	if s := strings.Join(got, "|"); !strings.HasSuffix(s, "caddy app group-ok|caddy ops unauthenticated") {
		t.Errorf("decisions = %q, want them to end with alice's allow on app and the refusal on ops", got)
	}
	// A reload that leaves the rules alone is not a new policy version;
	// one that changes a rule is.
	orig, err := os.ReadFile(filepath.Join(c.dir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	c.write("Caddyfile.quiet", strings.Replace(string(orig), "level DEBUG", "level INFO", 1))
	c.reload("Caddyfile.quiet")
	if policies, _ := read(); len(policies) != 1 {
		t.Errorf("after a reload that changed no rule: %d policy versions, want 1", len(policies))
	}
	c.write("Caddyfile.ops", strings.Replace(string(orig), "deny users bob@example.com", "deny users carol@example.com", 1))
	c.reload("Caddyfile.ops")
	if policies, _ := read(); len(policies) != 2 {
		t.Errorf("after a reload that changed a rule: %d policy versions, want 2", len(policies))
	}
	if out := c.scimgate(t, "audit", "verify"); !strings.Contains(out, "OK:") {
		t.Errorf("audit verify on Caddy's store:\n%s", out)
	}
}

// TestCaddyAuditExport: the audit exporters of the scimgate configuration
// run inside Caddy, which has no `scimgate serve`: decisions reach the
// file sink, and go on reaching it across a reload.
func TestCaddyAuditExport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Caddy")
	}
	up := newUpstream(t)
	var sink string
	c := startCaddy(t, func(c *caddyProc) {
		gateCaddyfile(up.URL)(c)
		sink = filepath.Join(c.dir, "audit.jsonl")
		c.write("scimgate.yaml", "audit:\n  export:\n    - name: local\n      type: file\n      path: "+sink+"\n      streams: [decisions]\n")
		b, err := os.ReadFile(filepath.Join(c.dir, "Caddyfile"))
		if err != nil {
			t.Fatal(err)
		}
		c.write("Caddyfile", strings.Replace(string(b), "\tscimgate {\n", "\tscimgate {\n\t\tconfig scimgate.yaml\n", 1))
	})
	exported := func(path string) bool {
		b, _ := os.ReadFile(sink)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct {
				Stream   string
				Decision struct{ Path, Reason string }
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Stream == "decisions" && e.Decision.Path == path {
				return true
			}
		}
		return false
	}
	waitExported := func(path string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !exported(path) {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(sink)
				t.Fatalf("no decision on %s in the export file:\n%s", path, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code, _, _ := c.do(t, "GET", "/ops/before-reload", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /ops/before-reload = %d, want 401", code)
	}
	waitExported("/ops/before-reload")
	orig, err := os.ReadFile(filepath.Join(c.dir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	c.write("Caddyfile.quiet", strings.Replace(string(orig), "level DEBUG", "level INFO", 1))
	c.reload("Caddyfile.quiet")
	if code, _, _ := c.do(t, "GET", "/ops/after-reload", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("anonymous GET /ops/after-reload = %d, want 401", code)
	}
	waitExported("/ops/after-reload")
}
