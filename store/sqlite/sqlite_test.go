package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
	"github.com/scimgate/scimgate/store/storetest"
)

func open(t testing.TB) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// TestReopen checks that migrations run once and data persists across opens.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db", "scimgate.db")
	for i := range 2 {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		if i == 0 {
			err = s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.CreateTenant(ctx, "default", time.Unix(1, 0))
				return err
			})
		} else {
			err = s.View(ctx, func(tx store.ReadTx) error {
				_, err := tx.TenantByName(ctx, "default")
				return err
			})
		}
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenOddPath: a directory name with URI characters in it is a
// directory name, not a query or a fragment.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#b?c=d%20e")
	path := filepath.Join(dir, "scimgate.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
}

// TestFilesPrivate: the database and its -wal and -shm files are readable
// by their owner only, in a directory that others may read (the database
// holds the assertions' signing keys); an existing database readable by
// anyone is made private.
func TestFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "scimgate.db")
	check := func(when string, want os.FileMode) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s: %s has mode %o, want %o", when, filepath.Base(p), got, want)
			}
		}
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { _, err := tx.CreateTenant(ctx, "acme", time.Now()); return err }); err != nil {
		t.Fatal(err)
	}
	check("new", 0o600)
	st.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(ctx, func(tx store.Tx) error { _, err := tx.CreateTenant(ctx, "globex", time.Now()); return err }); err != nil {
		t.Fatal(err)
	}
	check("reopened after chmod 644", 0o640)
}

// TestCloseDuringView: a read that began before Close and prepares a
// statement after it gets ErrClosed (it wrote into the closed statement
// cache, a panic: seen when a server stopped while its snapshot tailed
// the change log).
func TestCloseDuringView(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	err = s.View(ctx, func(tx store.ReadTx) error {
		go func() { closed <- s.Close() }()
		if err := <-closed; err != nil {
			t.Errorf("Close: %v", err)
		}
		_, err := tx.Changes(ctx, 0, 10) // not prepared before: the cache is asked
		return err
	})
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("a read after Close = %v, want ErrClosed", err)
	}
}
