package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Export cursors and retention (migration 0007).

func checkStream(stream string) error {
	switch stream {
	case store.StreamChanges, store.StreamPolicies, store.StreamDecisions:
		return nil
	}
	return fmt.Errorf("unknown audit stream %q", stream)
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

func (t *txn) PruneDecisions(ctx context.Context, before time.Time, through int64, limit int, now time.Time) (int, error) {
	if err := t.mustWrite(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	// The head is deleted in sequence order and only up to the first
	// record that is too young: what stays is always one unbroken run of
	// the chain, after the anchor. The last decision always stays, for
	// the next one appended to chain to (chainHead reads it).
	rows, err := t.q.QueryContext(ctx, `SELECT seq, at FROM decisions
		WHERE seq <= ? AND seq < (SELECT MAX(seq) FROM decisions) ORDER BY seq LIMIT ?`, through, limit)
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	var cut int64
	for rows.Next() {
		var seq, at int64
		if err := rows.Scan(&seq, &at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("prune decisions: %w", err)
		}
		if at >= nanos(before) {
			break
		}
		cut = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	if cut == 0 {
		return 0, nil
	}
	var hash []byte
	var at int64
	if err := t.q.QueryRowContext(ctx, `SELECT hash, at FROM decisions WHERE seq = ?`, cut).Scan(&hash, &at); err != nil {
		return 0, fmt.Errorf("prune decisions: read anchor: %w", err)
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM decisions WHERE seq <= ?`, cut)
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO audit_anchors (stream, seq, hash, at, pruned) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, pruned = excluded.pruned`,
		store.StreamDecisions, cut, hash, at, nanos(now))
	if err != nil {
		return 0, fmt.Errorf("prune decisions: write anchor: %w", err)
	}
	return int(n), nil
}
