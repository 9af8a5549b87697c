package mapsync

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scimgate/scimgate/haproxy/runtime"
)

// WriteInitialFiles writes every map file with content that denies every
// request (no routes, no access, a status deadline in the past), for an
// HAProxy that must start before the first sync. Files that exist are kept.
func WriteInitialFiles(dir string) error {
	for _, m := range append([]string{RoutesMap}, mapFiles...) {
		p := filepath.Join(dir, m)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		content := ""
		if m == StatusMap {
			content = "until 0\n"
		}
		if err := writeAtomic(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFiles rewrites the map files whose content changed since the last
// write, each atomically (write, then rename), so that an HAProxy starting
// at any moment reads whole files.
func (s *Syncer) writeFiles(st *state) error {
	var errs []error
	for _, m := range append([]string{RoutesMap}, mapFiles...) {
		var b strings.Builder
		b.WriteString("# written by scimgate; replaced on every change, edits are lost\n")
		for _, e := range st.entries(m) {
			b.WriteString(e.Key)
			b.WriteByte(' ')
			b.WriteString(e.Value)
			b.WriteByte('\n')
		}
		sum := sha256.Sum256([]byte(b.String()))
		h := string(sum[:])
		if s.files[m] == h {
			continue
		}
		if err := writeAtomic(s.Path(m), []byte(b.String()), 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		s.files[m] = h
	}
	return errors.Join(errs...)
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readMapFile reads a map file as HAProxy does: one entry per line, key up
// to the first blank, value the rest; blank lines and '#' comments skipped.
// A missing file has no entries.
func readMapFile(path string) ([]runtime.Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	var out []runtime.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		out = append(out, runtime.Entry{Key: k, Value: strings.TrimLeft(v, " \t")})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
