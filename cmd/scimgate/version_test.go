package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// versionLine matches what "scimgate version" prints: the program, its
// version, the Go version it was built with and its platform, on one line.
var versionLine = regexp.MustCompile(`^scimgate (\S+) ` + regexp.QuoteMeta(runtime.Version()) + ` ` +
	regexp.QuoteMeta(runtime.GOOS+"/"+runtime.GOARCH) + `\n$`)

// TestVersionCommand: "version" and its flag spellings print the version
// line on stdout, nothing on stderr, and succeed.
func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		t.Run(arg, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := run(context.Background(), []string{arg}, &out, &errb); err != nil {
				t.Fatalf("scimgate %s = %v, want success", arg, err)
			}
			if !versionLine.MatchString(out.String()) {
				t.Errorf("scimgate %s printed %q, want a line matching %s", arg, out.String(), versionLine)
			}
			if out.String() != versionString()+"\n" {
				t.Errorf("scimgate %s printed %q, want versionString() %q", arg, out.String(), versionString())
			}
			if errb.Len() != 0 {
				t.Errorf("scimgate %s wrote to stderr: %q", arg, errb.String())
			}
		})
	}
}

// TestVersionBinary: the built binary prints the version line and exits
// 0; a version set at build time with -ldflags "-X main.version=..." is
// the one it prints.
func TestVersionBinary(t *testing.T) {
	bin := realBinary(t)
	res := mustCLI(t, bin, "version")
	m := versionLine.FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("scimgate version printed %q, want a line matching %s", res.stdout, versionLine)
	}
	if m[1] == "" {
		t.Errorf("scimgate version printed no version: %q", res.stdout)
	}
	if res.stderr != "" {
		t.Errorf("scimgate version wrote to stderr: %q", res.stderr)
	}

	const stamped = "v9.8.7-test"
	tagged := filepath.Join(t.TempDir(), "scimgate")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+stamped, "-o", tagged, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags -X main.version: %v\n%s", err, out)
	}
	res = mustCLI(t, tagged, "version")
	if want := "scimgate " + stamped + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"; res.stdout != want {
		t.Errorf("scimgate version built with -X main.version=%s printed %q, want %q", stamped, res.stdout, want)
	}
}
