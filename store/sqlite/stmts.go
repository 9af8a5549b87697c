package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/scimgate/scimgate/store"
)

// stmtCache keeps one prepared statement per query text. The driver does
// not cache statements, and re-parsing SQL on every call was the largest
// cost of a SCIM lookup; database/sql prepares each cached statement once
// per connection and reuses it inside transactions (Tx.StmtContext).
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	s := c.m[query]
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[query]; s != nil {
		return s, nil
	}
	if c.m == nil {
		// Closed while a transaction begun before was still running.
		return nil, store.ErrClosed
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = s
	return s, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, s := range c.m {
		errs = append(errs, s.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// cachedTx runs queries of one transaction through the cache.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
	// detached runs every statement to its end whatever its caller's
	// context says: the writer's. SQLite answers a write statement
	// interrupted by a cancelled context by rolling back the whole
	// transaction, and with it the other requests of the batch.
	detached bool
}

func (q cachedTx) context(ctx context.Context) context.Context {
	if q.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (q cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = q.context(ctx)
	s, err := q.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return q.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
}

func (q cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = q.context(ctx)
	s, err := q.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return q.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = q.context(ctx)
	s, err := q.cache.get(ctx, query)
	if err != nil {
		// A Row cannot carry an error of our own; run it unprepared so
		// that the driver reports the problem on Scan.
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return q.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
}
