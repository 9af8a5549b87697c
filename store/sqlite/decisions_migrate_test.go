package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scimgate/scimgate/store"
)

// TestConvertDecisions: a database from before migration 8 keeps its
// decisions, their stored hashes and the stream's counter (here past the
// last row: its tail had been deleted, which verify must still see).
func TestConvertDecisions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 7; v++ {
		names, _ := fs.Glob(migrations, fmt.Sprintf("migrations/%04d_*.sql", v))
		if len(names) != 1 {
			t.Fatalf("migration %d: %v", v, names)
		}
		body, err := migrations.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := applyMigration(ctx, db, v, string(body)); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
	}
	// 1,500 decisions: more than one batch.
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var want []store.Decision
	var prev []byte
	for i := 1; i <= 1500; i++ {
		d := store.Decision{Seq: int64(i), At: t0.Add(time.Duration(i) * time.Second), TenantID: 1, UserID: "u", UserName: "alice",
			Route: "app", Method: "GET", Host: "h", Path: "/", Allow: i%7 != 0, Reason: "r", Adapter: "proxy", Remote: "r",
			CredKind: store.CredToken, CredID: "t"}
		d.Prev, d.Hash = prev, store.HashDecision(prev, &d)
		prev = d.Hash
		if _, err := db.ExecContext(ctx, `INSERT INTO decisions (seq, at, tenant_id, user_id, user_name, route, method, host, path,
			allow, reason, adapter, remote, cred_kind, cred_id, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Seq, d.At.UnixNano(), d.TenantID, d.UserID, d.UserName, d.Route, d.Method, d.Host, d.Path, d.Allow, d.Reason,
			d.Adapter, d.Remote, d.CredKind, d.CredID, nonNil(d.Prev), d.Hash); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	if _, err := db.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = 1502 WHERE name = 'decisions'`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.Decisions(ctx, 0, 10_000)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("decisions after the migration (-want +got):\n%s", diff)
		}
		if n, err := tx.SeqCounter(ctx, store.StreamDecisions); err != nil || n != 1502 {
			t.Errorf("SeqCounter = %d, %v; want 1502", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'decisions'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("decisions table left: %d, %v", n, err)
	}
	// The next decision continues the chain after the counter.
	ds := []store.Decision{{At: t0.Add(time.Hour), Reason: "x"}}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	if ds[0].Seq != 1503 || string(ds[0].Prev) != string(prev) {
		t.Errorf("next decision: seq %d prev %x; want 1503 after %x", ds[0].Seq, ds[0].Prev, prev)
	}
}
