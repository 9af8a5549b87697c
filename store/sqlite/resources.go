package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scimgate/scimgate/store"
)

const resourceCols = `tenant_id, type, id, name_key, external_id, display, active, version, created, modified, doc`

// scanChunk bounds how many rows ScanResources holds at once. Rows are
// buffered rather than streamed so that fn may query the same transaction.
const scanChunk = 512

func scanResource(row interface{ Scan(...any) error }, rid *int64) (*store.Resource, error) {
	r := new(store.Resource)
	var created, modified int64
	dest := []any{&r.TenantID, &r.Type, &r.ID, &r.NameKey, &r.ExternalID, &r.Display, &r.Active, &r.Version, &created, &modified, &r.Doc}
	if rid != nil {
		dest = append(dest, rid)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, mapErr(err)
	}
	r.Created, r.Modified = fromNanos(created), fromNanos(modified)
	return r, nil
}

func (t *txn) queryResources(ctx context.Context, query string, args ...any) ([]*store.Resource, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Resource
	for rows.Next() {
		r, err := scanResource(rows, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *txn) Resource(ctx context.Context, tenantID int64, typ, id string) (*store.Resource, error) {
	return scanResource(t.q.QueryRowContext(ctx,
		`SELECT `+resourceCols+` FROM resources WHERE tenant_id = ? AND id = ? AND type = ?`, tenantID, id, typ), nil)
}

func (t *txn) ResourceByName(ctx context.Context, tenantID int64, typ, nameKey string) (*store.Resource, error) {
	return scanResource(t.q.QueryRowContext(ctx,
		`SELECT `+resourceCols+` FROM resources WHERE tenant_id = ? AND type = ? AND name_key = ?`, tenantID, typ, nameKey), nil)
}

func (t *txn) ResourcesByExternalID(ctx context.Context, tenantID int64, typ, externalID string) ([]*store.Resource, error) {
	if externalID == "" {
		return nil, nil
	}
	return t.queryResources(ctx, `SELECT `+resourceCols+` FROM resources
		WHERE tenant_id = ? AND type = ? AND external_id = ? ORDER BY rid`, tenantID, typ, externalID)
}

func (t *txn) Resources(ctx context.Context, tenantID int64, typ string, page store.Page) ([]*store.Resource, error) {
	limit := page.Limit
	if limit < 0 {
		limit = -1 // SQLite: no limit
	}
	return t.queryResources(ctx, `SELECT `+resourceCols+` FROM resources
		WHERE tenant_id = ? AND type = ? ORDER BY rid LIMIT ? OFFSET ?`, tenantID, typ, limit, max(page.Offset, 0))
}

func (t *txn) CountResources(ctx context.Context, tenantID int64, typ string) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT n FROM resource_counts WHERE tenant_id = ? AND type = ?`, tenantID, typ).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

func (t *txn) ScanResources(ctx context.Context, tenantID int64, typ string, fn func(*store.Resource) error) error {
	var after int64
	for {
		rows, err := t.q.QueryContext(ctx, `SELECT `+resourceCols+`, rid FROM resources
			WHERE tenant_id = ? AND type = ? AND rid > ? ORDER BY rid LIMIT ?`, tenantID, typ, after, scanChunk)
		if err != nil {
			return err
		}
		chunk := make([]*store.Resource, 0, scanChunk)
		for rows.Next() {
			r, err := scanResource(rows, &after)
			if err != nil {
				rows.Close()
				return err
			}
			chunk = append(chunk, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
	}
}

func (t *txn) InsertResource(ctx context.Context, r *store.Resource) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO resources (`+resourceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.TenantID, r.Type, r.ID, r.NameKey, r.ExternalID, r.Display, r.Active, r.Version, nanos(r.Created), nanos(r.Modified), r.Doc)
	return mapErr(err)
}

func (t *txn) UpdateResource(ctx context.Context, r *store.Resource) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE resources SET name_key = ?, external_id = ?, display = ?, active = ?, version = ?,
		created = ?, modified = ?, doc = ? WHERE tenant_id = ? AND type = ? AND id = ?`,
		r.NameKey, r.ExternalID, r.Display, r.Active, r.Version, nanos(r.Created), nanos(r.Modified), r.Doc, r.TenantID, r.Type, r.ID)
}

// rid resolves a resource id to its internal row id and type.
func (t *txn) rid(ctx context.Context, tenantID int64, id string) (int64, string, error) {
	var rid int64
	var typ string
	err := t.q.QueryRowContext(ctx, `SELECT rid, type FROM resources WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&rid, &typ)
	return rid, typ, mapErr(err)
}

const edgeSelect = `SELECT g.id, m.id, m.type FROM members e
	JOIN resources g ON g.rid = e.group_rid JOIN resources m ON m.rid = e.member_rid `

func (t *txn) edges(ctx context.Context, where string, args ...any) ([]store.EdgeChange, error) {
	rows, err := t.q.QueryContext(ctx, edgeSelect+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EdgeChange
	for rows.Next() {
		var e store.EdgeChange
		if err := rows.Scan(&e.Group, &e.Member, &e.MemberType); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *txn) DeleteResource(ctx context.Context, tenantID int64, typ, id string) ([]store.EdgeChange, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	rid, got, err := t.rid(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if got != typ {
		return nil, store.ErrNotFound
	}
	edges, err := t.edges(ctx, `WHERE e.group_rid = ? ORDER BY e.member_rid`, rid)
	if err != nil {
		return nil, err
	}
	parents, err := t.edges(ctx, `WHERE e.member_rid = ? ORDER BY e.group_rid`, rid)
	if err != nil {
		return nil, err
	}
	edges = append(edges, parents...)
	for _, q := range []string{
		`DELETE FROM members WHERE group_rid = ?`,
		`DELETE FROM members WHERE member_rid = ?`,
		`DELETE FROM resources WHERE rid = ?`,
	} {
		if _, err := t.q.ExecContext(ctx, q, rid); err != nil {
			return nil, err
		}
	}
	return edges, nil
}

// Memberships.

func (t *txn) Members(ctx context.Context, tenantID int64, groupID string) ([]store.Member, error) {
	return t.memberList(ctx, `SELECT m.id, m.type, m.display FROM resources g
		JOIN members e ON e.group_rid = g.rid JOIN resources m ON m.rid = e.member_rid
		WHERE g.tenant_id = ? AND g.id = ? ORDER BY e.member_rid`, tenantID, groupID)
}

func (t *txn) ParentGroups(ctx context.Context, tenantID int64, memberID string) ([]store.Member, error) {
	return t.memberList(ctx, `SELECT g.id, g.type, g.display FROM resources m
		JOIN members e ON e.member_rid = m.rid JOIN resources g ON g.rid = e.group_rid
		WHERE m.tenant_id = ? AND m.id = ? ORDER BY e.group_rid`, tenantID, memberID)
}

func (t *txn) MemberGroups(ctx context.Context, tenantID int64, groupID string) ([]string, error) {
	return queryAll(ctx, t.q, scanString, `SELECT m.id FROM resources g
		JOIN members e ON e.group_rid = g.rid JOIN resources m ON m.rid = e.member_rid
		WHERE g.tenant_id = ? AND g.type = ? AND g.id = ? AND m.type = ? ORDER BY e.member_rid`,
		tenantID, store.TypeGroup, groupID, store.TypeGroup)
}

func (t *txn) memberList(ctx context.Context, query string, args ...any) ([]store.Member, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Member
	for rows.Next() {
		var m store.Member
		if err := rows.Scan(&m.ID, &m.Type, &m.Display); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *txn) MemberCount(ctx context.Context, tenantID int64, groupID string) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM members e JOIN resources g ON g.rid = e.group_rid
		WHERE g.tenant_id = ? AND g.id = ?`, tenantID, groupID).Scan(&n)
	return n, err
}

func (t *txn) HasMember(ctx context.Context, tenantID int64, groupID, memberID string) (bool, error) {
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT count(*) FROM members e
		JOIN resources g ON g.rid = e.group_rid JOIN resources m ON m.rid = e.member_rid
		WHERE g.tenant_id = ? AND g.id = ? AND m.tenant_id = ? AND m.id = ?`, tenantID, groupID, tenantID, memberID).Scan(&n)
	return n > 0, err
}

func (t *txn) group(ctx context.Context, tenantID int64, groupID string) (int64, error) {
	rid, typ, err := t.rid(ctx, tenantID, groupID)
	if err != nil {
		return 0, fmt.Errorf("group %s: %w", groupID, err)
	}
	if typ != store.TypeGroup {
		return 0, fmt.Errorf("group %s: %w", groupID, store.ErrNotFound)
	}
	return rid, nil
}

func (t *txn) AddMembers(ctx context.Context, tenantID int64, groupID string, members []store.Member) ([]store.EdgeChange, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	grid, err := t.group(ctx, tenantID, groupID)
	if err != nil {
		return nil, err
	}
	var added []store.EdgeChange
	for _, m := range members {
		mrid, typ, err := t.rid(ctx, tenantID, m.ID)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.ID, err)
		}
		res, err := t.q.ExecContext(ctx, `INSERT OR IGNORE INTO members (group_rid, member_rid) VALUES (?, ?)`, grid, mrid)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, store.EdgeChange{Group: groupID, Member: m.ID, MemberType: typ, Added: true})
		}
	}
	return added, nil
}

func (t *txn) RemoveMembers(ctx context.Context, tenantID int64, groupID string, memberIDs []string) ([]store.EdgeChange, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	grid, err := t.group(ctx, tenantID, groupID)
	if err != nil {
		return nil, err
	}
	var removed []store.EdgeChange
	for _, id := range memberIDs {
		mrid, typ, err := t.rid(ctx, tenantID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		res, err := t.q.ExecContext(ctx, `DELETE FROM members WHERE group_rid = ? AND member_rid = ?`, grid, mrid)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = append(removed, store.EdgeChange{Group: groupID, Member: id, MemberType: typ})
		}
	}
	return removed, nil
}

func (t *txn) ClearMembers(ctx context.Context, tenantID int64, groupID string) ([]store.EdgeChange, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	grid, err := t.group(ctx, tenantID, groupID)
	if err != nil {
		return nil, err
	}
	edges, err := t.edges(ctx, `WHERE e.group_rid = ? ORDER BY e.member_rid`, grid)
	if err != nil {
		return nil, err
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM members WHERE group_rid = ?`, grid); err != nil {
		return nil, err
	}
	return edges, nil
}
