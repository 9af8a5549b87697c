package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/scimgate/scimgate/store"
)

// historyTables are the tables of the temporal index, with the columns
// that identify a row first.
var historyTables = []struct{ name, key, cols string }{
	{"history_clock", "seq", "seq, hat"},
	{"history_tenants", "tenant_id", "tenant_id, name, from_seq"},
	{"history_users", "tenant_id, id, from_seq", "tenant_id, id, from_seq, to_seq, born, user_name, name_key, active"},
	{"history_groups", "tenant_id, id, from_seq", "tenant_id, id, from_seq, to_seq, born, display_name, name_key"},
	{"history_members", "tenant_id, group_id, member_id, from_seq", "tenant_id, group_id, member_id, from_seq, to_seq, member_type"},
}

// CheckHistory rebuilds the temporal index from the change log in a
// scratch database and compares it, row by row, with the index the
// point-in-time answers read: the change log is hash-chained, the index
// is not, so an edited index would change the answers unseen. It returns
// at most limit rows of each table that differ.
//
// A database whose index was first built over existing state (one from
// before the index, or a dataset loaded without change events) holds
// rows the log does not explain; they are reported like any others.
func (s *Store) CheckHistory(ctx context.Context, limit int) ([]store.HistoryMismatch, error) {
	dir, err := os.MkdirTemp("", "scimgate-history-check")
	if err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	defer os.RemoveAll(dir)
	// A scratch database: nothing in it must survive a crash.
	db, err := sql.Open("sqlite", "file:"+uriPath(filepath.Join(dir, "check.db"))+
		"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=temp_store(FILE)")
	if err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS src`, "file:"+uriPath(s.path)+"?mode=ro"); err != nil {
		return nil, fmt.Errorf("check history: attach the store: %w", err)
	}
	// One transaction: the stored log and index are read as of one moment
	// (a change writes both at once), and the rebuilt index is dropped.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.changes SELECT * FROM src.changes`); err != nil {
		return nil, fmt.Errorf("check history: copy the change log: %w", err)
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM main.changes`).Scan(&last); err != nil {
		return nil, fmt.Errorf("check history: %w", err)
	}
	t := &txn{q: tx, writable: true}
	if _, err := t.indexChanges(ctx, 0, last, 0); err != nil {
		return nil, fmt.Errorf("check history: rebuild: %w", err)
	}
	var out []store.HistoryMismatch
	for _, tb := range historyTables {
		for _, side := range []struct {
			from, minus string
			missing     bool
		}{{"src", "main", false}, {"main", "src", true}} {
			rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s.%s EXCEPT SELECT %s FROM %s.%s ORDER BY %s LIMIT %d`,
				tb.cols, side.from, tb.name, tb.cols, side.minus, tb.name, tb.key, limit))
			if err != nil {
				return nil, fmt.Errorf("check history: compare %s: %w", tb.name, err)
			}
			names := colNames(tb.cols)
			for rows.Next() {
				vals := make([]any, len(names))
				ptrs := make([]any, len(vals))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return nil, fmt.Errorf("check history: %w", err)
				}
				out = append(out, store.HistoryMismatch{Table: tb.name, Row: rowText(names, vals), Missing: side.missing})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("check history: compare %s: %w", tb.name, err)
			}
		}
	}
	return out, nil
}

// colNames splits "a, b, c" into its names.
func colNames(cols string) []string {
	names := strings.Split(cols, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names
}

// rowText shows a row as name=value pairs.
func rowText(names []string, vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		parts[i] = fmt.Sprintf("%s=%v", names[i], v)
	}
	return strings.Join(parts, " ")
}
