package sqlite

import (
	"context"
	"fmt"

	"github.com/scimgate/scimgate/store"
)

// Export cursors and retention (migration 0007).

func checkStream(stream string) error {
	if _, ok := streamTables[stream]; !ok {
		return fmt.Errorf("unknown audit stream %q", stream)
	}
	return nil
}

func (t *txn) ExportCursor(ctx context.Context, sink, stream string) (int64, error) {
	var seq int64
	err := t.q.QueryRowContext(ctx, `SELECT seq FROM audit_export_cursors WHERE sink = ? AND stream = ?`, sink, stream).Scan(&seq)
	return seq, mapErr(err)
}

func (t *txn) SetExportCursor(ctx context.Context, sink, stream string, seq int64) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	if err := checkStream(stream); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO audit_export_cursors (sink, stream, seq) VALUES (?, ?, ?)
		ON CONFLICT (sink, stream) DO UPDATE SET seq = excluded.seq`, sink, stream, seq)
	return mapErr(err)
}

func (t *txn) AuditAnchor(ctx context.Context, stream string) (store.AuditAnchor, error) {
	a := store.AuditAnchor{Stream: stream}
	var at, pruned int64
	err := t.q.QueryRowContext(ctx, `SELECT seq, hash, at, pruned FROM audit_anchors WHERE stream = ?`, stream).Scan(&a.Seq, &a.Hash, &at, &pruned)
	if err != nil {
		return store.AuditAnchor{}, mapErr(err)
	}
	a.At, a.Pruned = fromNanos(at), fromNanos(pruned)
	return a, nil
}
