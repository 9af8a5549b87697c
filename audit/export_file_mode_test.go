package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/audit"
)

// TestFileSinkMode: the export file holds who went where; the sink makes
// it readable by its owner only, whether it creates the file or finds it
// (made by an operator, or by a log rotator, with a wider mode).
func TestFileSinkMode(t *testing.T) {
	for _, tt := range []struct {
		name   string
		exists os.FileMode // 0: the sink creates it
	}{
		{"created", 0},
		{"existing 0644", 0o644},
		{"existing 0666", 0o666},
		{"existing 0600", 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			if tt.exists != 0 {
				if err := os.WriteFile(path, []byte("{}\n"), tt.exists); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.exists); err != nil { // past the umask
					t.Fatal(err)
				}
			}
			s, err := audit.OpenFileSink(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("mode %v, want 0600", m)
			}
		})
	}
}
