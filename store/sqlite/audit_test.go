package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

func appendChanges(t testing.TB, s store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			c := &store.Change{TenantID: 1, At: time.Unix(int64(i), 0), Actor: "t", ResourceType: store.TypeGroup,
				ResourceID: fmt.Sprint(i), Op: store.OpPatch, After: []byte(`{}`),
				Edges: []store.EdgeChange{{Group: fmt.Sprint(i), Member: "u", MemberType: store.TypeUser, Added: true}}}
			if err := tx.AppendChange(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readChanges(t testing.TB, s store.Store) []store.Change {
	t.Helper()
	var cs []store.Change
	err := s.View(context.Background(), func(tx store.ReadTx) (err error) {
		cs, err = tx.Changes(context.Background(), 0, 1<<20)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestBackfill opens a store whose change log predates the hash chain
// (rows without prev and hash) and checks that opening chains it, also
// when the rows span several backfill chunks.
func TestBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.SetBackfillChunk(100)()
	appendChanges(t, s, 250)
	want := readChanges(t, s)
	s.Close()

	// As the migration leaves a log written before it.
	if _, err := rawDB(t, path).Exec(`UPDATE changes SET prev = NULL, hash = NULL; INSERT INTO audit_backfill VALUES ('changes')`); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	appendChanges(t, s, 1)
	got := readChanges(t, s)
	s.Close()
	// Once done, the backfill does not chain rows that lose their hash:
	// they were altered.
	if _, err := rawDB(t, path).Exec(`UPDATE changes SET hash = NULL WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again := readChanges(t, s); again[2].Hash != nil {
		t.Errorf("reopening chained an altered row again: hash %x", again[2].Hash)
	}
	if len(got) != len(want)+1 {
		t.Fatalf("%d changes after backfill, want %d", len(got), len(want)+1)
	}
	for i, c := range got {
		if i < len(want) && !bytes.Equal(c.Hash, want[i].Hash) {
			t.Fatalf("change %d: backfilled hash %x, want %x as appended", c.Seq, c.Hash, want[i].Hash)
		}
		if i > 0 && !bytes.Equal(c.Prev, got[i-1].Hash) {
			t.Fatalf("change %d: Prev %x, want %x", c.Seq, c.Prev, got[i-1].Hash)
		}
	}
}

// TestAppendAfterDeletedTail: a change appended after the tail of the log
// was deleted keeps its sequence number, leaving the gap that verify
// reports, and chains to the row that is now last.
func TestAppendAfterDeletedTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "scimgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendChanges(t, s, 3)
	if _, err := rawDB(t, path).Exec(`DELETE FROM changes WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	appendChanges(t, s, 1)
	got := readChanges(t, s)
	if len(got) != 3 || got[2].Seq != 4 || !bytes.Equal(got[2].Prev, got[1].Hash) {
		t.Fatalf("after deleting seq 3 and appending: seqs %d, %d, %d; want 1, 2, 4 chained to 2", got[0].Seq, got[1].Seq, got[2].Seq)
	}
}

// TestPruneMismatchedBatch: a batch whose row names other decisions than
// it holds is evidence, as one that does not decode: pruning stops before
// it, without an error.
func TestPruneMismatchedBatch(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	for _, tamper := range []string{
		`UPDATE decision_batches SET last_seq = 20 WHERE last_seq = 10`,
		`UPDATE decision_batches SET first_seq = 2 WHERE last_seq = 10`,
	} {
		path := filepath.Join(t.TempDir(), "scimgate.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var ds []store.Decision
		for i := range 10 {
			ds = append(ds, store.Decision{At: t0.Add(time.Duration(i) * time.Second), Method: "GET", Host: "h", Path: "/", Reason: "no-route", Adapter: "proxy"})
		}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) }); err != nil {
			t.Fatal(err)
		}
		if _, err := rawDB(t, path).Exec(tamper); err != nil {
			t.Fatal(err)
		}
		var n int
		err = s.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.PruneDecisions(ctx, t0.Add(time.Hour), 1<<40, 100, t0.Add(time.Hour))
			return err
		})
		if err != nil || n != 0 {
			t.Errorf("%s: PruneDecisions = %d, %v; want 0, nil", tamper, n, err)
		}
		s.Close()
	}
}

// BenchmarkAppendDecisions: the cost, per decision, of writing the
// decision stream in the recorder's batches of 512.
func BenchmarkAppendDecisions(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "scimgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]store.Decision, 512)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		for j := range batch {
			batch[j] = store.Decision{At: time.Now(), TenantID: 1, UserID: "00000000-0000-4000-8000-000000000001", UserName: "alice@example.com",
				Route: "app", Method: "GET", Host: "app.test", Path: "/app/x", Allow: true, Reason: "group-ok", Adapter: "proxy",
				Remote: "127.0.0.1:54321", CredKind: store.CredToken, CredID: "0123456789abcdef"}
		}
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
}
