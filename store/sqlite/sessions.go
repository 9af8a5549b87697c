package sqlite

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/store"
)

const sessionCols = `id, tenant_id, user_id, hash, created, last_seen, expires, revoked, id_token, user_agent, remote`

func scanSession(row rowScanner) (store.Session, error) {
	var s store.Session
	var created, seen, expires, revoked int64
	if err := row.Scan(&s.ID, &s.TenantID, &s.UserID, &s.Hash, &created, &seen, &expires, &revoked, &s.IDToken, &s.UserAgent, &s.Remote); err != nil {
		return store.Session{}, mapErr(err)
	}
	s.Created, s.LastSeen, s.Expires, s.Revoked = fromNanos(created), fromNanos(seen), fromNanos(expires), fromNanos(revoked)
	return s, nil
}

func (t *txn) Session(ctx context.Context, id string) (store.Session, error) {
	return scanSession(t.q.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
}

func (t *txn) Sessions(ctx context.Context, tenantID int64, userID string) ([]store.Session, error) {
	if userID == "" {
		return queryAll(ctx, t.q, scanSession, `SELECT `+sessionCols+` FROM sessions WHERE tenant_id = ? ORDER BY created, id`, tenantID)
	}
	return queryAll(ctx, t.q, scanSession, `SELECT `+sessionCols+` FROM sessions WHERE tenant_id = ? AND user_id = ? ORDER BY created, id`, tenantID, userID)
}

func (t *txn) PutSession(ctx context.Context, s store.Session) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TenantID, s.UserID, s.Hash, nanos(s.Created), nanos(s.LastSeen), nanos(s.Expires), nanos(s.Revoked), s.IDToken, s.UserAgent, s.Remote)
	return mapErr(err)
}

func (t *txn) RevokeSession(ctx context.Context, id string, at time.Time) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE sessions SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(at), id)
}

func (t *txn) TouchSession(ctx context.Context, id string, at time.Time) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE sessions SET last_seen = max(last_seen, ?) WHERE id = ?`, nanos(at), id)
}

func (t *txn) PurgeSessions(ctx context.Context, before time.Time, limit int) ([]store.Session, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	b := nanos(before)
	return queryAll(ctx, t.q, scanSession, `DELETE FROM sessions WHERE id IN
		(SELECT id FROM sessions WHERE expires < ? OR (revoked != 0 AND revoked < ?) ORDER BY id LIMIT ?)
		RETURNING `+sessionCols, b, b, limit)
}

func (t *txn) DeleteSessions(ctx context.Context, tenantID int64, userID string) ([]string, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	return queryAll(ctx, t.q, scanString, `DELETE FROM sessions WHERE tenant_id = ? AND user_id = ? RETURNING id`, tenantID, userID)
}
