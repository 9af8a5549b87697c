package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scimgate/scimgate/store"
)

// Decisions live in decision_batches, many to a row (store/decision_batch.go
// has the encoding). A batch's row carries its sequence and time range for
// the queries; the decisions' own fields, and the hashes that cover them,
// are in the data.

// maxDecisionBatch is how many decisions one row holds at most.
const maxDecisionBatch = 1024

// decisionHead returns the next decision's seq, the hash it chains to,
// read inside the writing transaction as chainHead does for the others.
func (t *txn) decisionHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var prev []byte
	err := t.q.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'decision_batches'), 0),
		COALESCE((SELECT last_hash FROM decision_batches ORDER BY last_seq DESC LIMIT 1), x'')`).Scan(&seq, &prev)
	if err != nil {
		return 0, nil, fmt.Errorf("read decisions chain head: %w", err)
	}
	if len(prev) == 0 {
		prev = nil
	}
	return seq + 1, prev, nil
}

func (t *txn) AppendDecisions(ctx context.Context, ds []store.Decision) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	seq, prev, err := t.decisionHead(ctx)
	if err != nil {
		return err
	}
	for i := range ds {
		ds[i].Seq = seq + int64(i)
	}
	var data []byte
	for lo := 0; lo < len(ds); lo += maxDecisionBatch {
		b := ds[lo:min(lo+maxDecisionBatch, len(ds))]
		data = store.AppendDecisionBatch(data[:0], prev, b)
		if err := insertBatch(ctx, t.q, b, data); err != nil {
			for j := range ds {
				ds[j].Seq, ds[j].Prev, ds[j].Hash = 0, nil, nil
			}
			return err
		}
		prev = b[len(b)-1].Hash
	}
	return nil
}

// insertBatch writes one row for b, whose data is already encoded.
func insertBatch(ctx context.Context, q querier, b []store.Decision, data []byte) error {
	lo, hi := timeRange(b)
	_, err := q.ExecContext(ctx, `INSERT INTO decision_batches (last_seq, first_seq, min_at, max_at, n, prev, last_hash, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		b[len(b)-1].Seq, b[0].Seq, lo, hi, len(b), nonNil(b[0].Prev), nonNil(b[len(b)-1].Hash), data)
	return mapErr(err)
}

func timeRange(b []store.Decision) (lo, hi int64) {
	lo, hi = auditNanos(b[0].At), auditNanos(b[0].At)
	for i := range b[1:] {
		at := auditNanos(b[i+1].At)
		lo, hi = min(lo, at), max(hi, at)
	}
	return lo, hi
}

// decodeBatch decodes one stored batch. A batch that does not decode
// ends in a record with no hash at the seq where the damage starts:
// verify reports it as edited, and readers go on with the next batch.
func decodeBatch(firstSeq int64, prev, data []byte) []store.Decision {
	if len(prev) == 0 {
		prev = nil
	}
	ds, err := store.DecodeDecisionBatch(prev, data)
	if err != nil {
		bad := store.Decision{Seq: firstSeq, Prev: prev, Reason: "undecodable: " + err.Error()}
		if len(ds) > 0 {
			bad.Seq, bad.Prev = ds[len(ds)-1].Seq+1, ds[len(ds)-1].Hash
		}
		ds = append(ds, bad)
	}
	return ds
}

// batchRow is what a batch's row says of its records besides their data:
// the seqs and times that find the batch, its count and last hash. None of
// it is under the chain's hashes, so Decisions compares it with the
// records, and a row that disagrees (edited to hide its batch from reads
// by time, say) has its last record's hash cleared, which verify reports
// as an edit there.
type batchRow struct {
	first, last, minAt, maxAt, n int64
	lastHash                     []byte
}

// matches reports whether the row agrees with the batch's records.
func (b *batchRow) matches(ds []store.Decision) bool {
	if len(ds) == 0 {
		return false
	}
	lo, hi := timeRange(ds)
	return b.first == ds[0].Seq && b.last == ds[len(ds)-1].Seq && b.n == int64(len(ds)) &&
		b.minAt == lo && b.maxAt == hi && bytes.Equal(b.lastHash, nonNil(ds[len(ds)-1].Hash))
}

func (t *txn) Decisions(ctx context.Context, after int64, limit int) ([]store.Decision, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT first_seq, last_seq, min_at, max_at, n, last_hash, prev, data
		FROM decision_batches WHERE last_seq > ? ORDER BY last_seq`, after)
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	defer rows.Close()
	var out []store.Decision
	for len(out) < limit && rows.Next() {
		var b batchRow
		var prev, data []byte
		if err := rows.Scan(&b.first, &b.last, &b.minAt, &b.maxAt, &b.n, &b.lastHash, &prev, &data); err != nil {
			return nil, fmt.Errorf("read decisions: %w", err)
		}
		ds := decodeBatch(b.first, prev, data)
		if !b.matches(ds) {
			ds[len(ds)-1].Hash = nil
		}
		for _, d := range ds {
			if d.Seq > after && len(out) < limit {
				out = append(out, d)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	return out, nil
}

// DecisionsByTime reads the batches that may hold decisions in range, in
// the order of their earliest time, and stops once no batch still to
// read can hold one that sorts before the page's last: exact in
// (time, seq) order even when the clock stepped back.
func (t *txn) DecisionsByTime(ctx context.Context, after store.TimeCursor, until time.Time, limit int) ([]store.Decision, error) {
	if limit <= 0 {
		return nil, nil
	}
	from, to := auditNanos(after.At), untilNanos(until)
	type cand struct{ lastSeq, minAt int64 }
	cands, err := queryAll(ctx, t.q, func(r rowScanner) (cand, error) {
		var c cand
		return c, r.Scan(&c.lastSeq, &c.minAt)
	}, `SELECT last_seq, min_at FROM decision_batches WHERE min_at < ? AND max_at >= ? ORDER BY min_at, last_seq`, to, from)
	if err != nil {
		return nil, fmt.Errorf("read decisions by time: %w", err)
	}
	var out []store.Decision
	for i, c := range cands {
		var first int64
		var prev, data []byte
		err := t.q.QueryRowContext(ctx, `SELECT first_seq, prev, data FROM decision_batches WHERE last_seq = ?`, c.lastSeq).
			Scan(&first, &prev, &data)
		if err != nil {
			return nil, fmt.Errorf("read decisions by time: %w", err)
		}
		for _, d := range decodeBatch(first, prev, data) {
			at := auditNanos(d.At)
			if (at > from || (at == from && d.Seq > after.Seq)) && at < to {
				out = append(out, d)
			}
		}
		if len(out) < limit {
			continue
		}
		slices.SortFunc(out, byTimeSeq)
		out = out[:limit]
		if i+1 == len(cands) || auditNanos(out[limit-1].At) < cands[i+1].minAt {
			break
		}
	}
	slices.SortFunc(out, byTimeSeq)
	return out, nil
}

func byTimeSeq(a, b store.Decision) int {
	if c := cmp.Compare(auditNanos(a.At), auditNanos(b.At)); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// storedBatch is a batch read for pruning.
type storedBatch struct {
	lastSeq int64
	ds      []store.Decision
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
	// the next one appended to chain to.
	var newest int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM decision_batches`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	batches, cut, n, err := t.pruneScan(ctx, before, min(through, newest-1), limit)
	if err != nil || n == 0 {
		return 0, err
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM decision_batches WHERE last_seq <= ?`, cut.Seq); err != nil {
		return 0, fmt.Errorf("prune decisions: %w", err)
	}
	// The cut inside a batch: the rest of it stays, chained to the anchor.
	if last := batches[len(batches)-1]; last.lastSeq > cut.Seq {
		keep := last.ds[slices.IndexFunc(last.ds, func(d store.Decision) bool { return d.Seq > cut.Seq }):]
		lo, hi := timeRange(keep)
		_, err := t.q.ExecContext(ctx, `UPDATE decision_batches SET first_seq = ?, min_at = ?, max_at = ?, n = ?, prev = ?, data = ?
			WHERE last_seq = ?`, keep[0].Seq, lo, hi, len(keep), nonNil(keep[0].Prev), store.EncodeDecisionBatch(keep), last.lastSeq)
		if err != nil {
			return 0, fmt.Errorf("prune decisions: rewrite batch %d: %w", last.lastSeq, err)
		}
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO audit_anchors (stream, seq, hash, at, pruned) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, pruned = excluded.pruned`,
		store.StreamDecisions, cut.Seq, cut.Hash, auditNanos(cut.At), auditNanos(now))
	if err != nil {
		return 0, fmt.Errorf("prune decisions: write anchor: %w", err)
	}
	return n, nil
}

// pruneScan reads batches from the head and finds the last decision to
// delete: at most limit of them, none after through, none at or after
// before, and none from a batch that does not decode (that is evidence).
// It returns the batches read, that decision and how many go.
func (t *txn) pruneScan(ctx context.Context, before time.Time, through int64, limit int) ([]storedBatch, store.Decision, int, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT last_seq, first_seq, prev, data FROM decision_batches ORDER BY last_seq`)
	if err != nil {
		return nil, store.Decision{}, 0, fmt.Errorf("prune decisions: %w", err)
	}
	defer rows.Close()
	var batches []storedBatch
	var cut store.Decision
	n := 0
scan:
	for rows.Next() {
		var b storedBatch
		var first int64
		var prev, data []byte
		if err := rows.Scan(&b.lastSeq, &first, &prev, &data); err != nil {
			return nil, store.Decision{}, 0, fmt.Errorf("prune decisions: %w", err)
		}
		var derr error
		// A batch whose row disagrees with its content is no less
		// evidence than one that does not decode.
		if b.ds, derr = store.DecodeDecisionBatch(prev, data); derr != nil || len(b.ds) == 0 ||
			b.ds[0].Seq != first || b.ds[len(b.ds)-1].Seq != b.lastSeq {
			break
		}
		batches = append(batches, b)
		for _, d := range b.ds {
			if n == limit || d.Seq > through || !d.At.Before(before) {
				break scan
			}
			cut = d
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, store.Decision{}, 0, fmt.Errorf("prune decisions: %w", err)
	}
	// Only the batches up to the cut matter to the caller.
	for len(batches) > 0 && n > 0 && batches[len(batches)-1].ds[0].Seq > cut.Seq {
		batches = batches[:len(batches)-1]
	}
	return batches, cut, n, nil
}

// convertDecisions is migration 8's Go step: it moves the rows of the
// decisions table, stored hashes as they are, into batches, keeps the
// stream's counter, and drops the table.
func convertDecisions(ctx context.Context, tx *sql.Tx) error {
	const cols = `seq, at, tenant_id, user_id, user_name, route, method, host, path, allow, reason, adapter, remote,
		cred_kind, cred_id, prev, hash`
	var after int64
	for {
		ds, err := queryAll(ctx, tx, func(r rowScanner) (store.Decision, error) {
			var d store.Decision
			var at int64
			err := r.Scan(&d.Seq, &at, &d.TenantID, &d.UserID, &d.UserName, &d.Route, &d.Method, &d.Host, &d.Path, &d.Allow,
				&d.Reason, &d.Adapter, &d.Remote, &d.CredKind, &d.CredID, &d.Prev, &d.Hash)
			d.At = fromNanos(at)
			return d, err
		}, `SELECT `+cols+` FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?`, after, maxDecisionBatch)
		if err != nil {
			return fmt.Errorf("convert decisions: %w", err)
		}
		if len(ds) == 0 {
			break
		}
		if err := insertBatch(ctx, tx, ds, store.EncodeDecisionBatch(ds)); err != nil {
			return fmt.Errorf("convert decisions: %w", err)
		}
		after = ds[len(ds)-1].Seq
	}
	var counter int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'decisions'`).Scan(&counter)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("convert decisions: %w", err)
	}
	if counter > after {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sqlite_sequence WHERE name = 'decision_batches'`); err != nil {
			return fmt.Errorf("convert decisions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES ('decision_batches', ?)`, counter); err != nil {
			return fmt.Errorf("convert decisions: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE decisions`); err != nil {
		return fmt.Errorf("convert decisions: %w", err)
	}
	return nil
}
