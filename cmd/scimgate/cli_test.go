package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIArguments: usage mistakes are caught, with exit status 2 (errUsage)
// and a message that says what to do; tenant names stay unambiguous.
func TestCLIArguments(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("store: \"sqlite:"+filepath.Join(dir, "db")+"\"\nadmin_listen: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		return out.String() + errb.String(), err
	}
	if _, err := cli("scim-token", "create", "--config", cfg, "--tenant", "acme"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"scim-token", "create", "--config", cfg, "--tenant", "acme", "--description", "Okta", "production"}, true, `unexpected argument "production"`},
		{[]string{"scim-token", "create", "--config", cfg, "--tenant", "  "}, true, "--tenant NAME is required"},
		{[]string{"scim-token", "create", "--config", cfg, "--tenant", "ACME"}, false, `tenant "acme" exists`},
		{[]string{"scim-token", "create", "--config", cfg, "--tenant", "okta/prod"}, false, `must not contain "/"`},
		{[]string{"scim-token", "revoke", "--config", cfg}, true, "needs 1 argument"},
		{[]string{"scim-token", "revoke", "--config", cfg, "a", "b"}, true, `unexpected argument "b"`},
		{[]string{"access-token", "create", "--config", cfg}, true, "--user USERNAME is required"},
		{[]string{"access-token", "create", "--config", cfg, "--user", "nobody"}, false, `no user "nobody"`},
		{[]string{"policy"}, true, "check or explain"},
		{[]string{"policy", "explain", "--config", cfg, "--url", "not a url"}, true, "absolute URL"},
		{[]string{"policy", "explain", "--config", cfg}, true, "--url is required"},
		{[]string{"scim-token", "revoke", "--config", cfg, "sgs_0123456789abcdef_secret"}, true, "the token's ID"},
		{[]string{"access-token", "revoke", "--config", cfg, "sga_0123456789abcdef_secret"}, true, "the token's ID"},
		{[]string{"scim-token", "-h"}, false, "scim-token subcommands: create, list or revoke"},
		{[]string{"access-token", "list", "--config", cfg, "--tenant", "nobody"}, false, `tenant "nobody" does not exist`},
		{[]string{"sessions", "list", "--config", cfg}, true, "--user USERNAME is required"},
		{[]string{"serve"}, true, "--config FILE is required"},
		{[]string{"scim-token", "list"}, true, "--config FILE or --store sqlite:PATH is required"},
		{[]string{"scim-token", "list", "--store", "postgres://x"}, false, "--store: store"},
		{[]string{"access-token", "create", "--store", "sqlite:" + filepath.Join(dir, "db"), "--user", "nobody"}, false, `no user "nobody"`},
		{[]string{"frobnicate"}, true, `unknown command "frobnicate"`},
		// Commands that only read refuse a store that is not there rather
		// than create an empty one and answer from it.
		{[]string{"audit", "verify", "--store", "sqlite:" + filepath.Join(dir, "typo.db")}, false, "typo.db does not exist"},
		{[]string{"access", "who", "--store", "sqlite:" + filepath.Join(dir, "typo.db"), "--route", "app", "--at", "1h"}, false, "does not exist"},
		{[]string{"scim-token", "list", "--store", "sqlite:" + filepath.Join(dir, "typo.db")}, false, "typo.db does not exist"},
		{[]string{"scim-token", "revoke", "--store", "sqlite:" + filepath.Join(dir, "typo.db"), "0123456789abcdef"}, false, "typo.db does not exist"},
		{[]string{"access-token", "list", "--store", "sqlite:" + filepath.Join(dir, "typo.db")}, false, "typo.db does not exist"},
		{[]string{"access-token", "create", "--store", "sqlite:" + filepath.Join(dir, "typo.db"), "--user", "alice"}, false, "typo.db does not exist"},
		{[]string{"sessions", "list", "--store", "sqlite:" + filepath.Join(dir, "typo.db"), "--user", "alice"}, false, "typo.db does not exist"},
	}
	for _, tt := range tests {
		out, err := cli(tt.args...)
		if err == nil {
			t.Errorf("%s: no error", strings.Join(tt.args, " "))
			continue
		}
		if got := errors.Is(err, errUsage); got != tt.usage {
			t.Errorf("%s: usage error %v, want %v (%v)", strings.Join(tt.args, " "), got, tt.usage, err)
		}
		if msg := out + err.Error(); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %q does not mention %q", strings.Join(tt.args, " "), msg, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Error("a read-only command created the store it was given")
	}
	if out, err := cli("scim-token", "list", "--config", cfg, "--tenant", " acme "); err != nil || !strings.Contains(out, "acme") {
		t.Errorf("list --tenant with spaces = %q, %v", out, err)
	}
	// --store alone reaches the same store (Caddy without a config file).
	if out, err := cli("scim-token", "list", "--store", "sqlite:"+filepath.Join(dir, "db")); err != nil || !strings.Contains(out, "acme") {
		t.Errorf("list --store = %q, %v", out, err)
	}
}
