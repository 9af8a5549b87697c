// Package sqlite is scimgate's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode with synchronous=FULL so that a
// committed transaction survives a crash of the process or the machine.
//
// Writes go through one writer goroutine that commits queued transactions
// together (group commit): each caller's function runs inside its own
// SAVEPOINT of a shared transaction, so a failing function rolls back only
// its own writes, and one fsync acknowledges the whole batch. That is what
// lets a 2-core machine sustain thousands of durable SCIM writes per second.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/scimgate/scimgate/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds how many queued transactions share one commit.
const maxBatch = 256

// Store is the SQLite implementation of store.Store.
type Store struct {
	path   string
	wdb    *sql.DB // written only by the writer goroutine
	rdb    *sql.DB // read-only pool for View
	wstmts *stmtCache
	rstmts *stmtCache

	writes   chan *writeReq
	closing  chan struct{}
	stopped  chan struct{}
	once     sync.Once
	closeErr error

	hooksMu sync.RWMutex
	hooks   []func([]store.Change)
}

type writeReq struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan error
	err  error
}

// private creates the database file readable by its owner only (SQLite
// gives its -wal and -shm files the database's mode), and takes away what
// other users may do with existing files: the database holds the signing
// keys of the assertions. The directory may be shared (/var/lib, a
// volume), so it is not enough.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store file: %w", err)
		}
		if m := fi.Mode().Perm(); m&0o007 != 0 {
			if err := os.Chmod(p, m&^0o007); err != nil {
				return fmt.Errorf("store file %s is readable by other users, and cannot be made private: %w", p, err)
			}
		}
	}
	return nil
}

// Open opens (creating if needed) the database at path, applies pending
// migrations and starts the writer.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	if err := private(path); err != nil {
		return nil, err
	}
	pragmas := []string{
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"busy_timeout(10000)",
		"foreign_keys(1)",
		"cache_size(-32768)",
		"temp_store(MEMORY)",
	}
	dsn := func(extra ...string) string {
		v := url.Values{}
		for _, p := range append(pragmas, extra...) {
			v.Add("_pragma", p)
		}
		return "file:" + uriPath(path) + "?" + v.Encode()
	}
	wdb, err := sql.Open("sqlite", dsn()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// The writer uses one connection at a time; the second lets statements
	// be prepared while the writer holds a transaction open.
	wdb.SetMaxOpenConns(2)
	wdb.SetMaxIdleConns(2)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := backfillChanges(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := catchUpHistory(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	s := &Store{
		path:    path,
		wdb:     wdb,
		rdb:     rdb,
		wstmts:  newStmtCache(wdb),
		rstmts:  newStmtCache(rdb),
		writes:  make(chan *writeReq, maxBatch),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// uriPath escapes what a SQLite URI filename would take for its query,
// its fragment or an escape: a store path may hold any of them.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// migrate applies the embedded migrations that the database has not seen,
// each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: bad migration name %q", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := applyMigration(ctx, db, n, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

// migrationSteps are the migrations that need Go after their SQL, in the
// same transaction.
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{
	8: convertDecisions,
	9: func(ctx context.Context, tx *sql.Tx) error { return rekeyHistoryNames(ctx, tx) },
}

func applyMigration(ctx context.Context, db *sql.DB, version int, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var seen int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&seen); err != nil {
		return err
	}
	if seen > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if step := migrationSteps[version]; step != nil {
		if err := step(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version); err != nil {
		return err
	}
	return tx.Commit()
}

// OnCommit implements store.Store.
func (s *Store) OnCommit(hook func([]store.Change)) {
	s.hooksMu.Lock()
	s.hooks = append(s.hooks, hook)
	s.hooksMu.Unlock()
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.ReadTx) error) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&txn{q: cachedTx{tx: tx, cache: s.rstmts}})
}

// Update implements store.Store. Once the request is queued Update waits
// for its outcome even if ctx ends: returning early could report failure for
// a write that then commits. A request whose ctx has ended before the writer
// reaches it is skipped.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	select {
	case s.writes <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return store.ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-s.stopped:
		// Queued as Close drained the queue: the writer answered r on
		// its way out, or never saw it.
		select {
		case err := <-r.done:
			return err
		default:
			return store.ErrClosed
		}
	}
}

// Close stops the writer after it has finished the queued writes and
// closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closing)
		<-s.stopped
		s.closeErr = errors.Join(s.wstmts.close(), s.rstmts.close(), s.wdb.Close(), s.rdb.Close())
	})
	return s.closeErr
}

func (s *Store) writer() {
	defer close(s.stopped)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.closing:
			// Requests may still sit in the channel; finish them.
			for {
				select {
				case r := <-s.writes:
					s.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs one batch in one transaction and answers every request.
func (s *Store) commit(batch []*writeReq) {
	ctx := context.Background()
	var changes []store.Change
	err := func() error {
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback()
		ok := 0
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.err = err
				continue
			}
			t := &txn{q: cachedTx{tx: tx, cache: s.wstmts, detached: true}, writable: true}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			r.err = call(r.fn, t)
			if r.err != nil {
				// If SQLite already rolled the whole transaction back (I/O
				// error, disk full), ROLLBACK TO fails and the batch must not
				// go on in autocommit mode.
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
					return fmt.Errorf("rollback savepoint after %v: %w", r.err, err)
				}
				if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
					return fmt.Errorf("release savepoint: %w", err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
			changes = append(changes, t.changes...)
			ok++
		}
		if ok == 0 {
			return nil
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	if err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	} else if len(changes) > 0 {
		s.hooksMu.RLock()
		for _, h := range s.hooks {
			h(changes)
		}
		s.hooksMu.RUnlock()
	}
	for _, r := range batch {
		r.done <- r.err
	}
}

// call runs fn and turns a panic into an error so that one bad request
// cannot take the writer down with the other requests of its batch.
func call(fn func(store.Tx) error, t *txn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in transaction: %v", p)
		}
	}()
	return fn(t)
}
