package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/scimgate/scimgate/store"
)

// The audit streams: the change log, policy versions and decisions, each
// hash-chained. A record's sequence number and the previous hash are read
// inside the writing transaction, never cached: the writer commits several
// Updates in one transaction with a savepoint each, and a savepoint rolled
// back takes its rows, and its sqlite_sequence bump, with it.

// chainHead returns the sequence number the next row of table gets and
// the hash of its last row. The number comes from sqlite_sequence, as
// AUTOINCREMENT would assign it: after the tail of a stream has been
// deleted, the next record leaves a gap that verify reports.
func (t *txn) chainHead(ctx context.Context, table string) (int64, []byte, error) {
	var seq int64
	var prev []byte
	// table is one of three constants: the query texts stay cacheable.
	err := t.q.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '`+table+`'), 0),
		COALESCE((SELECT hash FROM `+table+` ORDER BY seq DESC LIMIT 1), x'')`).Scan(&seq, &prev)
	if err != nil {
		return 0, nil, fmt.Errorf("read %s chain head: %w", table, err)
	}
	if len(prev) == 0 {
		prev = nil // the first record; stored as an empty blob
	}
	return seq + 1, prev, nil
}

// streamTables maps stream names to their tables.
var streamTables = map[string]string{
	store.StreamChanges:   "changes",
	store.StreamPolicies:  "policy_versions",
	store.StreamDecisions: "decision_batches",
}

func (t *txn) SeqCounter(ctx context.Context, stream string) (int64, error) {
	table, ok := streamTables[stream]
	if !ok {
		return 0, fmt.Errorf("unknown audit stream %q", stream)
	}
	var n int64
	err := t.q.QueryRowContext(ctx, `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)`, table).Scan(&n)
	return n, err
}

// Changes.

func (t *txn) AppendChange(ctx context.Context, c *store.Change) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	var edges []byte
	if len(c.Edges) > 0 {
		var err error
		if edges, err = json.Marshal(c.Edges); err != nil {
			return err
		}
	}
	seq, prev, err := t.chainHead(ctx, "changes")
	if err != nil {
		return err
	}
	c.Seq, c.Prev = seq, prev
	c.Hash = store.HashChangeRaw(prev, c, edges)
	_, err = t.q.ExecContext(ctx, `INSERT INTO changes (seq, tenant_id, at, actor, resource_type, resource_id, op, before, after, edges, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Seq, c.TenantID, auditNanos(c.At), c.Actor, c.ResourceType, c.ResourceID, c.Op, c.Before, c.After, edges, c.Detail, c.Prev, c.Hash)
	if err != nil {
		c.Seq, c.Prev, c.Hash = 0, nil, nil
		return mapErr(err)
	}
	if err := t.indexChange(ctx, c); err != nil {
		c.Seq, c.Prev, c.Hash = 0, nil, nil
		return err
	}
	t.changes = append(t.changes, *c)
	return nil
}

const changeCols = `seq, tenant_id, at, actor, resource_type, resource_id, op, before, after, edges, detail, prev, hash`

func scanChange(row rowScanner) (store.Change, error) {
	var c store.Change
	var at int64
	var edges []byte
	if err := row.Scan(&c.Seq, &c.TenantID, &at, &c.Actor, &c.ResourceType, &c.ResourceID, &c.Op,
		&c.Before, &c.After, &edges, &c.Detail, &c.Prev, &c.Hash); err != nil {
		return store.Change{}, err
	}
	c.At = fromNanos(at)
	if len(edges) > 0 {
		if err := json.Unmarshal(edges, &c.Edges); err != nil {
			return store.Change{}, fmt.Errorf("change %d edges: %w", c.Seq, err)
		}
	}
	return c, nil
}

func (t *txn) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	return queryAll(ctx, t.q, scanChange, `SELECT `+changeCols+` FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

func (t *txn) ChangesByTime(ctx context.Context, after store.TimeCursor, until time.Time, limit int) ([]store.Change, error) {
	return queryAll(ctx, t.q, scanChange, `SELECT `+changeCols+` FROM changes
		WHERE (at > ? OR (at = ? AND seq > ?)) AND at < ? ORDER BY at, seq LIMIT ?`,
		auditNanos(after.At), auditNanos(after.At), after.Seq, untilNanos(until), limit)
}

// auditNanos is how the audit streams and the temporal index store and
// compare times: store.UnixNanos, the value the hashes cover, which
// clamps a time beyond what int64 nanoseconds hold instead of letting it
// overflow (a bound in the year 9999 is the end of time).
func auditNanos(t time.Time) int64 { return store.UnixNanos(t) }

// untilNanos is the exclusive upper bound of a time range; the zero time
// means none.
func untilNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return auditNanos(t)
}

// backfillChunk is how many rows one backfill transaction chains.
var backfillChunk = 10_000

// backfillChanges chains the changes written before the audit migration.
// It runs when the store opens, before the writer starts, in chunks of
// one transaction each, until it has chained them all once: a row that
// loses its hash later was altered, and is left for verify to report.
func backfillChanges(ctx context.Context, db *sql.DB) error {
	chunk := backfillChunk
	for {
		done, err := func() (bool, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return false, err
			}
			defer tx.Rollback()
			var pending int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_backfill WHERE stream = 'changes'`).Scan(&pending); err != nil || pending == 0 {
				return true, err
			}
			cs, err := queryAll(ctx, tx, scanChange, `SELECT `+changeCols+` FROM changes WHERE hash IS NULL ORDER BY seq LIMIT ?`, chunk)
			if err != nil {
				return false, err
			}
			if len(cs) < chunk {
				if _, err := tx.ExecContext(ctx, `DELETE FROM audit_backfill WHERE stream = 'changes'`); err != nil {
					return false, err
				}
			}
			if len(cs) == 0 {
				return true, tx.Commit()
			}
			var prev []byte
			err = tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT hash FROM changes WHERE seq < ? ORDER BY seq DESC LIMIT 1), x'')`, cs[0].Seq).Scan(&prev)
			if err != nil {
				return false, err
			}
			for i := range cs {
				c := &cs[i]
				c.Prev = prev
				c.Hash = store.HashChange(prev, c)
				if _, err := tx.ExecContext(ctx, `UPDATE changes SET prev = ?, hash = ? WHERE seq = ?`, c.Prev, c.Hash, c.Seq); err != nil {
					return false, err
				}
				prev = c.Hash
			}
			return len(cs) < chunk, tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("chain existing changes: %w", err)
		}
		if done {
			return nil
		}
	}
}

// Policy versions.

func (t *txn) AppendPolicyVersion(ctx context.Context, v *store.PolicyVersion) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	seq, prev, err := t.chainHead(ctx, "policy_versions")
	if err != nil {
		return err
	}
	v.Seq, v.Prev = seq, prev
	v.Hash = store.HashPolicyVersion(prev, v)
	_, err = t.q.ExecContext(ctx, `INSERT INTO policy_versions (seq, at, source, digest, doc, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.Seq, auditNanos(v.At), v.Source, v.Digest, nonNil(v.Doc), nonNil(v.Prev), v.Hash)
	if err != nil {
		v.Seq, v.Prev, v.Hash = 0, nil, nil
		return mapErr(err)
	}
	return nil
}

// nonNil keeps NOT NULL blob columns satisfied by an empty value.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const policyCols = `seq, at, source, digest, doc, prev, hash`

func scanPolicyVersion(row rowScanner) (store.PolicyVersion, error) {
	var v store.PolicyVersion
	var at int64
	if err := row.Scan(&v.Seq, &at, &v.Source, &v.Digest, &v.Doc, &v.Prev, &v.Hash); err != nil {
		return store.PolicyVersion{}, mapErr(err)
	}
	v.At = fromNanos(at)
	return v, nil
}

func (t *txn) PolicyVersions(ctx context.Context, after int64, limit int) ([]store.PolicyVersion, error) {
	return queryAll(ctx, t.q, scanPolicyVersion, `SELECT `+policyCols+` FROM policy_versions WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

func (t *txn) PolicyVersionAt(ctx context.Context, at time.Time) (store.PolicyVersion, error) {
	// A version takes effect at the latest load time of it and the
	// versions before it (a clock stepped back does not let an older
	// version win); equal times: the one appended last was loaded last.
	// Policy versions are few: the running maximum is computed on read.
	return scanPolicyVersion(t.q.QueryRowContext(ctx, `SELECT `+policyCols+` FROM (
			SELECT `+policyCols+`, MAX(at) OVER (ORDER BY seq) AS eff FROM policy_versions)
		WHERE eff <= ? ORDER BY seq DESC LIMIT 1`, auditNanos(at)))
}
