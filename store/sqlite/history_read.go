package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/scimgate/scimgate/store"
)

// manyIDs: past this many ids a filter reads every span in force and
// keeps the ids asked for, rather than looking each one up.
const manyIDs = 2000

func (t *txn) SeqAt(ctx context.Context, at time.Time) (int64, error) {
	// The first change that took effect after at; the one before it is
	// the last in force.
	var seq int64
	err := t.q.QueryRowContext(ctx, `SELECT seq FROM history_clock WHERE hat > ? ORDER BY hat, seq LIMIT 1`, auditNanos(at)).Scan(&seq)
	if err == nil {
		return seq - 1, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	err = t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history_clock`).Scan(&seq)
	return seq, err
}

func (t *txn) SeqTimes(ctx context.Context, seqs []int64) (map[int64]time.Time, error) {
	out := make(map[int64]time.Time, len(seqs))
	for _, s := range seqs {
		if _, ok := out[s]; ok {
			continue
		}
		// A change missing from the clock (the log was cut) takes the
		// time of the one before it.
		var hat int64
		err := t.q.QueryRowContext(ctx, `SELECT hat FROM history_clock WHERE seq <= ? ORDER BY seq DESC LIMIT 1`, s).Scan(&hat)
		if errors.Is(err, sql.ErrNoRows) {
			out[s] = time.Time{}
			continue
		}
		if err != nil {
			return nil, err
		}
		out[s] = time.Unix(0, hat).UTC()
	}
	return out, nil
}

// spanQuery runs the query of one span table for a filter: base selects
// the columns and ends in a WHERE clause that the filter's conditions
// extend.
func spanQuery[T any](ctx context.Context, t *txn, scan func(rowScanner) (T, error), base, idCol string, f store.SpanFilter, key func(T) (int64, string)) ([]T, error) {
	at, atArgs := " AND 1", []any(nil)
	if f.At != store.AllTime {
		at, atArgs = " AND from_seq <= ? AND to_seq > ?", []any{f.At, f.At}
	}
	var out []T
	run := func(cond string, args ...any) error {
		rows, err := queryAll(ctx, t.q, scan, base+cond+at, append(args, atArgs...)...)
		out = append(out, rows...)
		return err
	}
	switch {
	case len(f.IDs) > manyIDs:
		want := make(map[string]bool, len(f.IDs))
		for _, id := range f.IDs {
			want[id] = true
		}
		if err := run(`tenant_id = ?`, f.TenantID); err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(v T) bool { _, id := key(v); return !want[id] })
	case len(f.IDs) > 0:
		for _, id := range uniq(f.IDs) {
			if err := run(`tenant_id = ? AND `+idCol+` = ?`, f.TenantID, id); err != nil {
				return nil, err
			}
		}
	case len(f.NameKeys) > 0:
		for _, n := range uniq(f.NameKeys) {
			if err := run(`name_key = ?`, n); err != nil {
				return nil, err
			}
		}
	default:
		if err := run(`1`); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func uniq(list []string) []string {
	s := slices.Clone(list)
	slices.Sort(s)
	return slices.Compact(s)
}

func scanUserSpan(row rowScanner) (store.UserSpan, error) {
	var s store.UserSpan
	err := row.Scan(&s.TenantID, &s.ID, &s.From, &s.To, &s.Born, &s.UserName, &s.Active)
	return s, err
}

func (t *txn) UserSpans(ctx context.Context, f store.SpanFilter) ([]store.UserSpan, error) {
	out, err := spanQuery(ctx, t, scanUserSpan, `SELECT tenant_id, id, from_seq, to_seq, born, user_name, active FROM history_users WHERE `,
		"id", f, func(s store.UserSpan) (int64, string) { return s.TenantID, s.ID })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.UserSpan) int {
		return cmpSpan(a.TenantID, b.TenantID, a.ID, b.ID, "", "", a.From, b.From)
	})
	return slices.CompactFunc(out, func(a, b store.UserSpan) bool { return a == b }), nil
}

func scanGroupSpan(row rowScanner) (store.GroupSpan, error) {
	var s store.GroupSpan
	err := row.Scan(&s.TenantID, &s.ID, &s.From, &s.To, &s.Born, &s.DisplayName)
	return s, err
}

func (t *txn) GroupSpans(ctx context.Context, f store.SpanFilter) ([]store.GroupSpan, error) {
	out, err := spanQuery(ctx, t, scanGroupSpan, `SELECT tenant_id, id, from_seq, to_seq, born, display_name FROM history_groups WHERE `,
		"id", f, func(s store.GroupSpan) (int64, string) { return s.TenantID, s.ID })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.GroupSpan) int {
		return cmpSpan(a.TenantID, b.TenantID, a.ID, b.ID, "", "", a.From, b.From)
	})
	return slices.CompactFunc(out, func(a, b store.GroupSpan) bool { return a == b }), nil
}

func scanEdgeSpan(row rowScanner) (store.EdgeSpan, error) {
	var s store.EdgeSpan
	err := row.Scan(&s.TenantID, &s.Group, &s.Member, &s.MemberType, &s.From, &s.To)
	return s, err
}

func (t *txn) EdgeSpans(ctx context.Context, f store.EdgeFilter) ([]store.EdgeSpan, error) {
	sf := store.SpanFilter{At: f.At, TenantID: f.TenantID, IDs: f.Groups}
	from, col := "history_members", "group_id"
	key := func(s store.EdgeSpan) (int64, string) { return s.TenantID, s.Group }
	if len(f.Groups) == 0 {
		// Without statistics SQLite would scan the tenant's edges by
		// primary key rather than use the index on members.
		sf.IDs, from, col = f.Members, "history_members INDEXED BY history_members_member", "member_id"
		key = func(s store.EdgeSpan) (int64, string) { return s.TenantID, s.Member }
	}
	if len(sf.IDs) == 0 {
		return nil, nil
	}
	out, err := spanQuery(ctx, t, scanEdgeSpan, `SELECT tenant_id, group_id, member_id, member_type, from_seq, to_seq FROM `+from+` WHERE `,
		col, sf, key)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.EdgeSpan) int {
		return cmpSpan(a.TenantID, b.TenantID, a.Group, b.Group, a.Member, b.Member, a.From, b.From)
	})
	return slices.CompactFunc(out, func(a, b store.EdgeSpan) bool { return a == b }), nil
}

func cmpSpan(ta, tb int64, ia, ib, ma, mb string, fa, fb int64) int {
	return cmp.Or(cmp.Compare(ta, tb), strings.Compare(ia, ib), strings.Compare(ma, mb), cmp.Compare(fa, fb))
}

func (t *txn) TenantSpans(ctx context.Context) ([]store.TenantSpan, error) {
	return queryAll(ctx, t.q, func(row rowScanner) (store.TenantSpan, error) {
		var s store.TenantSpan
		err := row.Scan(&s.ID, &s.Name, &s.From)
		return s, err
	}, `SELECT tenant_id, name, from_seq FROM history_tenants ORDER BY tenant_id`)
}
