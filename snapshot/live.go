package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/store"
)

// DefaultPoll is how often a Live reads the change log for what other
// processes commit. An empty read costs tens of microseconds.
const DefaultPoll = 20 * time.Millisecond

// Live holds the current snapshot and keeps it current.
type Live struct {
	st   store.Store
	log  *slog.Logger
	now  func() time.Time
	poll time.Duration

	cur atomic.Pointer[Snapshot]
	// fresh is when the snapshot was last known to be current (after an
	// apply, or a poll of the change log that found nothing newer), as
	// nanoseconds since base, read on the monotonic clock: a wall clock
	// stepped back must not make an old snapshot look fresh.
	// math.MinInt64: stale, whatever the time.
	fresh atomic.Int64
	base  time.Time

	mu   sync.Mutex // serialises applying changes
	subs []chan<- struct{}

	syncMu    sync.Mutex // serialises Sync; held while it waits and reads
	syncStart time.Time  // when the last read by Sync began
	syncErr   error      // and how it ended
}

// Options configures a Live.
type Options struct {
	// Poll is how often the change log is read for changes made by other
	// processes; default DefaultPoll.
	Poll   time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Start loads the snapshot, subscribes to the store's commits and tails the
// change log until ctx ends.
func Start(ctx context.Context, st store.Store, o Options) (*Live, error) {
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s, err := Load(ctx, st)
	if err != nil {
		return nil, err
	}
	l := &Live{st: st, log: o.Logger, now: o.Now, poll: o.Poll, base: o.Now()}
	l.cur.Store(s)
	l.markFresh(l.base)
	// Commits between Load and this registration are caught up from the
	// change log by the first hook call or poll.
	st.OnCommit(l.onCommit)
	go l.tail(ctx)
	return l, nil
}

// markFresh records that the snapshot was current at t.
func (l *Live) markFresh(t time.Time) { l.fresh.Store(int64(t.Sub(l.base))) }

// Current returns the current snapshot.
func (l *Live) Current() *Snapshot { return l.cur.Load() }

// Age is how long ago the snapshot was last known to be current.
func (l *Live) Age() time.Duration {
	f := l.fresh.Load()
	if f == math.MinInt64 {
		return time.Duration(math.MaxInt64)
	}
	return l.now().Sub(l.base) - time.Duration(f)
}

// Subscribe returns a channel that receives a value (without blocking the
// publisher; values coalesce) after every new snapshot.
func (l *Live) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	l.subs = append(l.subs, ch)
	l.mu.Unlock()
	return ch
}

// Sync reads the change log, so that what another process committed a
// moment ago (a token created from the command line) is known before a
// request carrying it is refused. It returns once a read that began after
// the call has ended. Reads are at least syncEvery apart, and callers in
// between share the next one: an unknown credential cannot make every
// request read the store, nor a burst of them hide a new token.
func (l *Live) Sync(ctx context.Context) error {
	asked := time.Now()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncStart.After(asked) {
		return l.syncErr // a read that began after the call: it has ended
	}
	if wait := syncEvery - time.Since(l.syncStart); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	l.syncStart = time.Now()
	l.syncErr = l.apply(ctx, nil)
	return l.syncErr
}

// syncEvery is the least time between two reads of the change log by Sync.
const syncEvery = 10 * time.Millisecond

// onCommit runs in the store's writer after each commit and before the
// writes are acknowledged: what it publishes is what the SCIM response
// promises.
func (l *Live) onCommit(changes []store.Change) {
	if err := l.apply(context.Background(), changes); err != nil {
		// The writes are acknowledged next, promising what the snapshot
		// does not show (a deactivation): mark it stale, so that every
		// decision is refused until the poller, which retries from the
		// change log, has caught up.
		l.fresh.Store(math.MinInt64)
		l.log.Error("apply committed changes to the snapshot; refusing every request until it catches up", "err", err)
	}
}

// tail reads changes other processes commit.
func (l *Live) tail(ctx context.Context) {
	t := time.NewTicker(l.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.apply(ctx, nil)
		switch {
		case errors.Is(err, store.ErrClosed):
			return // shut down (a Caddy config being validated, then cleaned up)
		case err != nil && !errors.Is(err, context.Canceled):
			l.log.Warn("read the change log", "err", err)
		}
	}
}

// apply brings the snapshot up to date with changes, first reading from the
// change log whatever was committed after the current snapshot and before
// changes (by other processes). With no changes it only reads the log.
func (l *Live) apply(ctx context.Context, changes []store.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.cur.Load()
	checked := l.now()
	// Drop what is applied already (the poller may have been first).
	for len(changes) > 0 && changes[0].Seq <= cur.Seq {
		changes = changes[1:]
	}
	var gap []store.Change
	if len(changes) == 0 || changes[0].Seq > cur.Seq+1 {
		limit := int64(-1)
		if len(changes) > 0 {
			limit = changes[0].Seq
		}
		var err error
		if gap, err = l.readSince(ctx, cur.Seq, limit); err != nil {
			return err
		}
	}
	if len(gap) == 0 && len(changes) == 0 {
		l.markFresh(checked)
		return nil
	}
	e := cur.edit()
	for _, batch := range [][]store.Change{gap, changes} {
		for _, c := range batch {
			if err := e.apply(c); err != nil {
				return err
			}
		}
	}
	if err := l.reloadTokens(ctx, e); err != nil {
		return err
	}
	l.cur.Store(e.done())
	l.markFresh(checked)
	for _, ch := range l.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// readSince reads committed changes after seq and before limit (-1: all).
func (l *Live) readSince(ctx context.Context, seq, limit int64) ([]store.Change, error) {
	var out []store.Change
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		for {
			cs, err := tx.Changes(ctx, seq, 1000)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if limit >= 0 && c.Seq >= limit {
					return nil
				}
				out = append(out, c)
				seq = c.Seq
			}
			if len(cs) < 1000 {
				return nil
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return out, nil
}

// reloadTokens reads the access tokens and sessions created by the applied
// changes: the change log does not carry their hashes.
func (l *Live) reloadTokens(ctx context.Context, e *editor) error {
	if len(e.reload) == 0 && len(e.reloadSess) == 0 {
		return nil
	}
	return l.st.View(ctx, func(tx store.ReadTx) error {
		for _, id := range e.reloadSess {
			s, err := tx.Session(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read session %s: %w", id, err)
			}
			e.sessions.set(id, sessionOf(s))
		}
		for _, id := range e.reload {
			t, err := tx.AccessToken(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue // created and deleted since
			}
			if err != nil {
				return fmt.Errorf("read access token %s: %w", id, err)
			}
			e.tokens.set(id, tokenOf(t))
		}
		return nil
	})
}
