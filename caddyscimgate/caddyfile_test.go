package caddyscimgate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files of testdata/adapt")

func adapt(src string) ([]byte, error) {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile"})
	return out, err
}

// TestAdaptGolden adapts each testdata/adapt/*.caddyfile to Caddy's JSON
// and compares it with the .json next to it (go test -update rewrites
// them).
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Caddyfiles in testdata/adapt: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := adapt(string(src))
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("adapted JSON differs from %s (go test -update rewrites it):\n%s", golden, pretty.String())
			}
		})
	}
}

// TestAdaptErrors: a Caddyfile mistake is refused with its line and a
// hint, never adapted into a configuration that admits more than meant.
func TestAdaptErrors(t *testing.T) {
	site := func(body string) string { return ":8080 {\n" + body + "\n}\n" }
	for _, tc := range []struct {
		name, src, want string
	}{
		{"no rules", site("scimgate"), "no allow rule"},
		{"empty block", site("scimgate {\n}"), "no allow rule"},
		{"only deny", site("scimgate {\ndeny users bob\n}"), "no allow rule"},
		{"unknown argument", site("scimgate everyone"), `unknown argument "everyone"`},
		{"unknown subdirective", site("scimgate {\nallow_groups eng\n}"), `unknown subdirective "allow_groups"`},
		{"allow what", site("scimgate {\nallow teams eng\n}"), `want groups, users or public`},
		{"allow groups without names", site("scimgate {\nallow groups\n}"), "needs at least one name"},
		{"deny public", site("scimgate {\nallow public\ndeny public\n}"), "deny public is not a rule"},
		{"public with arguments", site("scimgate {\nallow public yes\n}"), "wrong argument count"},
		{"policy and rules", site("scimgate policy {\nallow groups eng\n}"), "either policy or allow/deny"},
		{"name without value", site("scimgate {\nname\nallow public\n}"), "wrong argument count"},
		{"scim arguments", site("scimgate_scim v2"), "takes no arguments"},
		{"signin block", site("scimgate_signin {\n}"), ""},
		{"global unknown", "{\nscimgate {\ndatabase x\n}\n}\n" + site("respond ok"), `unknown option "database"`},
		{"global twice", "{\nscimgate {\nstore sqlite:a\nstore sqlite:b\n}\n}\n" + site("respond ok"), "store is set twice"},
		{"global argument", "{\nscimgate sqlite:a\n}\n" + site("respond ok"), "wrong argument count"},
		{"global without value", "{\nscimgate {\nconfig\n}\n}\n" + site("respond ok"), "wrong argument count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := adapt(tc.src)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("adapt: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("adapted without error:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("error %q, want %q with the file and line", err, tc.want)
			}
		})
	}
}
