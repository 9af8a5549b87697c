package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/scimgate/scimgate/store"
)

const accessTokenCols = `id, tenant_id, user_id, hash, description, created, expires, revoked`

func scanAccessToken(row rowScanner) (store.AccessToken, error) {
	var tk store.AccessToken
	var created, expires, revoked int64
	if err := row.Scan(&tk.ID, &tk.TenantID, &tk.UserID, &tk.Hash, &tk.Description, &created, &expires, &revoked); err != nil {
		return store.AccessToken{}, mapErr(err)
	}
	tk.Created, tk.Expires, tk.Revoked = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return tk, nil
}

func (t *txn) AccessToken(ctx context.Context, id string) (store.AccessToken, error) {
	return scanAccessToken(t.q.QueryRowContext(ctx, `SELECT `+accessTokenCols+` FROM access_tokens WHERE id = ?`, id))
}

func (t *txn) AccessTokens(ctx context.Context, tenantID int64, userID string) ([]store.AccessToken, error) {
	if userID == "" {
		return queryAll(ctx, t.q, scanAccessToken, `SELECT `+accessTokenCols+` FROM access_tokens WHERE tenant_id = ? ORDER BY created, id`, tenantID)
	}
	return queryAll(ctx, t.q, scanAccessToken, `SELECT `+accessTokenCols+` FROM access_tokens WHERE tenant_id = ? AND user_id = ? ORDER BY created, id`, tenantID, userID)
}

func (t *txn) PutAccessToken(ctx context.Context, tk store.AccessToken) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO access_tokens (`+accessTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.TenantID, tk.UserID, tk.Hash, tk.Description, nanos(tk.Created), nanos(tk.Expires), nanos(tk.Revoked))
	return mapErr(err)
}

func (t *txn) RevokeAccessToken(ctx context.Context, id string, at time.Time) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE access_tokens SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(at), id)
}

func (t *txn) DeleteAccessTokens(ctx context.Context, tenantID int64, userID string) ([]string, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	return queryAll(ctx, t.q, scanString, `DELETE FROM access_tokens WHERE tenant_id = ? AND user_id = ? RETURNING id`, tenantID, userID)
}

func (t *txn) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryAll(ctx, t.q, func(row rowScanner) (store.SigningKey, error) {
		var k store.SigningKey
		var created int64
		err := row.Scan(&k.ID, &k.Alg, &k.Private, &created)
		k.Created = fromNanos(created)
		return k, err
	}, `SELECT id, alg, private, created FROM signing_keys ORDER BY created, id`)
}

func (t *txn) PutSigningKey(ctx context.Context, k store.SigningKey) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO signing_keys (id, alg, private, created) VALUES (?, ?, ?, ?)`,
		k.ID, k.Alg, k.Private, nanos(k.Created))
	return mapErr(err)
}

// Memberships reads edges in chunks, keyed on the internal row ids, so that
// fn may query the same transaction.
func (t *txn) Memberships(ctx context.Context, tenantID int64, fn func(groupID, memberID, memberType string) error) error {
	var lastG, lastM int64
	type edge struct{ g, m, typ string }
	for {
		// CROSS JOIN keeps members first, so that the page starts with a seek
		// on its primary key; otherwise SQLite walks every edge of the tenant
		// and sorts them, for every page.
		rows, err := t.q.QueryContext(ctx, `SELECT e.group_rid, e.member_rid, g.id, m.id, m.type FROM members e
			CROSS JOIN resources g ON g.rid = e.group_rid CROSS JOIN resources m ON m.rid = e.member_rid
			WHERE g.tenant_id = ? AND (e.group_rid, e.member_rid) > (?, ?)
			ORDER BY e.group_rid, e.member_rid LIMIT ?`, tenantID, lastG, lastM, scanChunk*8)
		if err != nil {
			return err
		}
		var chunk []edge
		for rows.Next() {
			var e edge
			if err := rows.Scan(&lastG, &lastM, &e.g, &e.m, &e.typ); err != nil {
				rows.Close()
				return err
			}
			chunk = append(chunk, e)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, e := range chunk {
			if err := fn(e.g, e.m, e.typ); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk*8 {
			return nil
		}
	}
}

func (t *txn) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := t.q.QueryRowContext(ctx, `SELECT max(seq) FROM changes`).Scan(&seq)
	return seq.Int64, err
}
