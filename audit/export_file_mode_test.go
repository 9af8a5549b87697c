package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/scimgate/scimgate/audit"
)

// TestFileSinkMode: the export file holds who went where; the sink
// creates it readable by its owner only, and takes other users' access
// away from a file it finds (made by an operator, or by a log rotator),
// leaving its group's to the operator.
func TestFileSinkMode(t *testing.T) {
	for _, tt := range []struct {
		name   string
		exists os.FileMode // 0: the sink creates it
		want   os.FileMode
	}{
		{"created", 0, 0o600},
		{"existing 0644", 0o644, 0o640},
		{"existing 0666", 0o666, 0o660},
		{"existing 0600", 0o600, 0o600},
		// A log shipper reading through its group keeps its access.
		{"existing 0640 (logrotate's create 0640)", 0o640, 0o640},
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
			if m := fi.Mode().Perm(); m != tt.want {
				t.Errorf("mode %v, want %v", m, tt.want)
			}
		})
	}
}
