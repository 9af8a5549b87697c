package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scimgate/scimgate/store"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// querier is what txn needs of a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and returns every row, read with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString reads a one-column row.
func scanString(row rowScanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// txn implements store.Tx (and store.ReadTx when writable is false).
type txn struct {
	q        querier
	writable bool
	changes  []store.Change
}

var _ store.Tx = (*txn)(nil)

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// mapErr turns driver errors callers branch on into store sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		}
	}
	return err
}

func (t *txn) mustWrite() error {
	if !t.writable {
		return errors.New("write in a read-only transaction")
	}
	return nil
}

// Tenants.

func scanTenant(row interface{ Scan(...any) error }) (store.Tenant, error) {
	var tn store.Tenant
	var created int64
	if err := row.Scan(&tn.ID, &tn.Name, &created); err != nil {
		return store.Tenant{}, mapErr(err)
	}
	tn.Created = fromNanos(created)
	return tn, nil
}

func (t *txn) Tenant(ctx context.Context, id int64) (store.Tenant, error) {
	return scanTenant(t.q.QueryRowContext(ctx, `SELECT id, name, created FROM tenants WHERE id = ?`, id))
}

func (t *txn) TenantByName(ctx context.Context, name string) (store.Tenant, error) {
	return scanTenant(t.q.QueryRowContext(ctx, `SELECT id, name, created FROM tenants WHERE name = ?`, name))
}

func (t *txn) Tenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT id, name, created FROM tenants ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Tenant
	for rows.Next() {
		tn, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tn)
	}
	return out, rows.Err()
}

func (t *txn) CreateTenant(ctx context.Context, name string, at time.Time) (store.Tenant, error) {
	if err := t.mustWrite(); err != nil {
		return store.Tenant{}, err
	}
	res, err := t.q.ExecContext(ctx, `INSERT INTO tenants (name, created) VALUES (?, ?)`, name, nanos(at))
	if err != nil {
		return store.Tenant{}, mapErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.Tenant{}, err
	}
	return store.Tenant{ID: id, Name: name, Created: at}, nil
}

// Tokens.

const tokenCols = `id, tenant_id, hash, description, created, expires, last_used, revoked`

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var tk store.Token
	var created, expires, lastUsed, revoked int64
	if err := row.Scan(&tk.ID, &tk.TenantID, &tk.Hash, &tk.Description, &created, &expires, &lastUsed, &revoked); err != nil {
		return store.Token{}, mapErr(err)
	}
	tk.Created, tk.Expires, tk.LastUsed, tk.Revoked = fromNanos(created), fromNanos(expires), fromNanos(lastUsed), fromNanos(revoked)
	return tk, nil
}

func (t *txn) Token(ctx context.Context, id string) (store.Token, error) {
	return scanToken(t.q.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
}

func (t *txn) Tokens(ctx context.Context, tenantID int64) ([]store.Token, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE tenant_id = ? ORDER BY created, id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, tk)
	}
	return out, rows.Err()
}

func (t *txn) PutToken(ctx context.Context, tk store.Token) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.TenantID, tk.Hash, tk.Description, nanos(tk.Created), nanos(tk.Expires), nanos(tk.LastUsed), nanos(tk.Revoked))
	return mapErr(err)
}

func (t *txn) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(at), id)
}

func (t *txn) TouchToken(ctx context.Context, id string, at time.Time) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	return t.execOne(ctx, `UPDATE tokens SET last_used = ? WHERE id = ?`, nanos(at), id)
}

// execOne runs a statement that must affect exactly one row.
func (t *txn) execOne(ctx context.Context, query string, args ...any) error {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
