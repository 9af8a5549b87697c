package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

	cmd := exec.Command(bin, "serve", "--config", config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() { cmd.Process.Kill(); <-done }
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	timeout := time.After(20 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			out = append(out, l)
			if strings.TrimSpace(l) == "scimgate whoami &" {
				break read
			}
		case <-timeout:
			break read
		}
	}
	stop()
	go func() {
		for range lines {
		}
	}()
	text := strings.Join(out, "\n")
	for _, want := range []string{"SCIM token:", "Routes to 127.0.0.1:9001 need the demo upstream running", "  scimgate whoami &"} {
		if !strings.Contains(text, want) {
			t.Errorf("first start: stdout lacks %q:\n%s", want, text)
		}
	}

	srv := startServer(t, bin, config)
	text = strings.Join(srv.banner, "\n")
	for _, want := range []string{"Tenants:       default", "Create a SCIM token for an identity provider"} {
		if !strings.Contains(text, want) {
			t.Errorf("restart: banner lacks %q:\n%s", want, text)
		}
	}
}
