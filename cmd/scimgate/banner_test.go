package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartBanner: serve on the quickstart configuration prints what
// to do next. The first start prints the token; the routes to the demo
// upstream come with the command that starts it (until it runs they answer
// 502). A restart names the tenants the store has, as the token command
// creates a new one for any other name.
func TestQuickstartBanner(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	raw, err := os.ReadFile("../../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(`"127.0.0.1:8080"`, `"127.0.0.1:0"`, `"127.0.0.1:9090"`, `""`,
		`"sqlite:./data/scimgate.db"`, `"sqlite:`+filepath.Join(dir, "scimgate.db")+`"`).Replace(string(raw))
	if cfg == string(raw) {
		t.Fatal("examples/quickstart.yaml changed: update the replacements")
	}
	config := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	first := startServer(t, bin, config)
	out := first.printed(t, "  scimgate whoami &")
	for _, want := range []string{"SCIM token:", "Routes to 127.0.0.1:9001 need the demo upstream running"} {
		if !strings.Contains(out, want) {
			t.Errorf("first start: stdout lacks %q:\n%s", want, out)
		}
	}
	first.kill()

	again := startServer(t, bin, config)
	out = again.printed(t, "scimgate scim-token create --config "+config+" --tenant NAME")
	for _, want := range []string{"Tenants:       default", "a new NAME sees none of the users above"} {
		if !strings.Contains(out, want) {
			t.Errorf("restart: stdout lacks %q:\n%s", want, out)
		}
	}
}
