// Package sqlitetest lets tests alter a SQLite store's decision stream
// with SQL, as an attacker with write access to the file could: the
// decisions are stored in encoded batches, which WithDecisionRows lays
// out as one row per decision for the duration of a function.
package sqlitetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/store"
)

// rowsTable is the table WithDecisionRows creates: the layout decisions
// had before they were batched.
const rowsTable = `CREATE TABLE decisions (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, tenant_id INTEGER NOT NULL, user_id TEXT NOT NULL,
	user_name TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL,
	allow INTEGER NOT NULL, reason TEXT NOT NULL, adapter TEXT NOT NULL, remote TEXT NOT NULL, cred_kind TEXT NOT NULL,
	cred_id TEXT NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL)`

const rowCols = `seq, at, tenant_id, user_id, user_name, route, method, host, path, allow, reason, adapter, remote, cred_kind,
	cred_id, prev, hash`

// batchSize is how many decisions a batch written back holds at most:
// small, so that tests cross batch boundaries.
const batchSize = 4

// WithDecisionRows copies the decision stream of the database into a
// table "decisions" with a row per decision (and the stream's counter
// into sqlite_sequence under that name), runs fn, and writes the rows,
// as fn left them, back as batches. A row whose prev is not the hash of
// the row before it starts a new batch, so every alteration survives.
func WithDecisionRows(db *sql.DB, fn func() error) error {
	ctx := context.Background()
	if err := explode(ctx, db); err != nil {
		return fmt.Errorf("decisions to rows: %w", err)
	}
	if err := fn(); err != nil {
		// Leave the file as it was laid out: the next call starts anew.
		_, _ = db.ExecContext(ctx, `DROP TABLE IF EXISTS decisions`)
		return err
	}
	if err := implode(ctx, db); err != nil {
		return fmt.Errorf("rows to decisions: %w", err)
	}
	return nil
}

func explode(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, rowsTable); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT prev, data FROM decision_batches ORDER BY last_seq`)
	if err != nil {
		return err
	}
	var all []store.Decision
	for rows.Next() {
		var prev, data []byte
		if err := rows.Scan(&prev, &data); err != nil {
			rows.Close()
			return err
		}
		ds, err := store.DecodeDecisionBatch(prev, data)
		if err != nil {
			rows.Close()
			return err
		}
		all = append(all, ds...)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range all {
		_, err := db.ExecContext(ctx, `INSERT INTO decisions (`+rowCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Seq, nanos(d.At), d.TenantID, d.UserID, d.UserName, d.Route, d.Method, d.Host, d.Path, d.Allow, d.Reason, d.Adapter,
			d.Remote, d.CredKind, d.CredID, append([]byte{}, d.Prev...), d.Hash)
		if err != nil {
			return err
		}
	}
	c, err := counter(ctx, db, "decision_batches")
	if err != nil {
		return err
	}
	return setCounter(ctx, db, "decisions", c)
}

func implode(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT `+rowCols+` FROM decisions ORDER BY seq`)
	if err != nil {
		return err
	}
	var batches [][]store.Decision
	for rows.Next() {
		var d store.Decision
		var at int64
		if err := rows.Scan(&d.Seq, &at, &d.TenantID, &d.UserID, &d.UserName, &d.Route, &d.Method, &d.Host, &d.Path, &d.Allow,
			&d.Reason, &d.Adapter, &d.Remote, &d.CredKind, &d.CredID, &d.Prev, &d.Hash); err != nil {
			rows.Close()
			return err
		}
		if at != 0 {
			d.At = timeFromNanos(at)
		}
		n := len(batches)
		if n == 0 || len(batches[n-1]) == batchSize || !bytes.Equal(batches[n-1][len(batches[n-1])-1].Hash, d.Prev) {
			batches = append(batches, nil)
			n++
		}
		batches[n-1] = append(batches[n-1], d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	c, err := counter(ctx, db, "decisions")
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM decision_batches`); err != nil {
		return err
	}
	for _, b := range batches {
		lo, hi := nanos(b[0].At), nanos(b[0].At)
		for _, d := range b {
			lo, hi = min(lo, nanos(d.At)), max(hi, nanos(d.At))
		}
		_, err := db.ExecContext(ctx, `INSERT INTO decision_batches (last_seq, first_seq, min_at, max_at, n, prev, last_hash, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b[len(b)-1].Seq, b[0].Seq, lo, hi, len(b), append([]byte{}, b[0].Prev...),
			b[len(b)-1].Hash, store.EncodeDecisionBatch(b))
		if err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE decisions`); err != nil {
		return err
	}
	return setCounter(ctx, db, "decision_batches", c)
}

// counter reads a table's AUTOINCREMENT counter, 0 when it has none.
func counter(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, table).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

func setCounter(ctx context.Context, db *sql.DB, table string, n int64) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM sqlite_sequence WHERE name = ?`, table); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, table, n)
	return err
}

func timeFromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Exec runs stmts on db with the decisions laid out as rows
// (WithDecisionRows): what a test that tampers with the file runs.
func Exec(db *sql.DB, stmts ...string) error {
	return WithDecisionRows(db, func() error {
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
}
