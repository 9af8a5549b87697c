package audit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// Updater is the part of the store the recorders write through.
type Updater interface {
	Update(ctx context.Context, fn func(store.Tx) error) error
}

// Metrics counts what a Recorder does; admin.AuditMetrics is one.
type Metrics interface {
	// Recorded counts a decision accepted into the buffer.
	Recorded()
	// Written counts decisions committed to the store.
	Written(n int)
	// Dropped counts decisions lost, by reason (DropBufferFull,
	// DropWriteError, DropClosed).
	Dropped(reason string, n int)
}

// Reasons a decision is dropped.
const (
	DropBufferFull = "buffer_full"
	DropWriteError = "write_error"
	DropClosed     = "closed"
)

// Which allowed decisions a Recorder keeps (refusals are always kept):
// the values of the configuration's audit.decisions.allows.
const (
	AllowsAll    = config.AuditAllowsAll
	AllowsNone   = config.AuditAllowsNone
	AllowsSample = config.AuditAllowsSample
)

// RecorderOptions configures a Recorder; zero values take the defaults
// of config.AuditDecisions.
type RecorderOptions struct {
	Allows        string  // AllowsAll (default), AllowsNone or AllowsSample
	SampleRate    float64 // with AllowsSample: the fraction of allows kept
	Buffer        int     // decisions waiting for the writer, at most
	BatchSize     int     // decisions per transaction, at most
	FlushInterval time.Duration
	Metrics       Metrics // may be nil
	Log           *slog.Logger
	Now           func() time.Time // default time.Now
	Rand          func() float64   // in [0, 1); default math/rand/v2
}

// Recorder writes access decisions to the decision stream. Record, on
// the request path, only makes a non-blocking send into a bounded buffer;
// one goroutine takes decisions from it in batches and appends each batch
// in one transaction. When the buffer is full the decision is dropped and
// counted: the audit trail must never slow down or stop requests.
type Recorder struct {
	st      Updater
	opts    RecorderOptions
	ch      chan entry
	kick    chan struct{} // a batch is waiting: write before the interval ends
	kickAt  int           // how many waiting decisions make a batch worth a kick
	closed  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	metrics Metrics
	log     *slog.Logger

	// full counts the decisions dropped on a full buffer since the
	// writer last logged them: the metric may not be scraped (Caddy has
	// none), the log line is always there.
	full     atomic.Int64
	lastWarn time.Time // writer only
}

// entry is a decision waiting to be written. It holds what Record was
// given, unconverted: the user and route are immutable snapshot and
// policy values, so the conversion can wait for the writer.
type entry struct {
	at        int64
	user      *snapshot.User
	route     *policy.Route
	req       engine.Request
	reason    string
	adapter   string
	remote    string
	tokenID   string
	sessionID string
	allow     bool
}

// OptionsFrom returns the options of the configuration's
// audit.decisions section.
func OptionsFrom(c config.AuditDecisions) RecorderOptions {
	return RecorderOptions{Allows: c.Allows, SampleRate: c.SampleRate, Buffer: c.Buffer, BatchSize: c.BatchSize,
		FlushInterval: c.FlushInterval}
}

// NewRecorder starts a recorder writing to st. Close it before st.
func NewRecorder(st Updater, opts RecorderOptions) *Recorder {
	if opts.Allows == "" {
		opts.Allows = AllowsAll
	}
	def := config.Default().Audit.Decisions
	if opts.Buffer <= 0 {
		opts.Buffer = def.Buffer
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = def.BatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = def.FlushInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	r := &Recorder{st: st, opts: opts, ch: make(chan entry, opts.Buffer), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		metrics: opts.Metrics, log: opts.Log}
	// A whole batch, or half the buffer when that is smaller: a buffer
	// smaller than a batch must not fill while the writer sleeps.
	r.kickAt = max(1, min(opts.BatchSize, opts.Buffer/2))
	if r.metrics == nil {
		r.metrics = noMetrics{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	go r.run()
	return r
}

// Record queues one decision for the audit trail, unless it is an allow
// that the sampling leaves out. It never blocks.
func (r *Recorder) Record(adapter, remote string, p engine.Principal, req engine.Request, d engine.Decision) {
	if d.Allow {
		switch r.opts.Allows {
		case AllowsNone:
			return
		case AllowsSample:
			if r.opts.Rand() >= r.opts.SampleRate {
				return
			}
		}
	}
	if r.closed.Load() {
		r.metrics.Dropped(DropClosed, 1)
		return
	}
	u := d.User
	if u == nil && !p.Anonymous() && d.Snap != nil {
		// A credential refused for its state (a revoked or expired token,
		// an ended session) or its owner's (inactive) is still the
		// owner's: the trail names who it was, so that a search by user
		// finds it.
		u, _ = d.Snap.User(p.User)
	}
	e := entry{at: r.opts.Now().UnixNano(), user: u, route: d.Route, req: req, reason: d.Reason, adapter: adapter,
		remote: remote, tokenID: p.TokenID, sessionID: p.SessionID, allow: d.Allow}
	select {
	case r.ch <- e:
		r.metrics.Recorded()
		if len(r.ch) >= r.kickAt {
			// A full batch waits: wake the writer, once per batch, so that
			// a long flush interval does not fill the buffer.
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	default:
		r.metrics.Dropped(DropBufferFull, 1)
		r.full.Add(1)
	}
}

// Close writes the decisions still buffered and stops the writer.
// Decisions recorded after Close are dropped.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		close(r.stop)
	})
	<-r.done
	// A Record that passed its closed check as Close began may have
	// queued after the writer's last drain: count it as dropped, not
	// leave it counted as recorded. (One that queues after this point
	// stays uncounted; it is lost either way.)
	if n := len(r.ch); n > 0 {
		for range n {
			<-r.ch
		}
		r.metrics.Dropped(DropClosed, n)
	}
	return nil
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]store.Decision, 0, r.opts.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case e := <-r.ch:
			batch = append(batch, e.decision())
		case <-r.stop:
			r.drain(batch)
			r.warnDropped(true)
			return
		}
		// Let others gather in the buffer to share the transaction: one
		// commit (and fsync) per decision would not keep up with a busy
		// gateway. The writer sleeps meanwhile rather than wait on the
		// channel, where every Record would wake it (a context switch per
		// request); Record kicks it when a whole batch is waiting.
		timer.Reset(r.opts.FlushInterval)
		stopping := false
		select {
		case <-timer.C:
		case <-r.kick:
			timer.Stop()
		case <-r.stop:
			timer.Stop()
			stopping = true
		}
		batch = r.drain(batch)
		r.warnDropped(stopping)
		if stopping {
			return
		}
	}
}

// warnDropped logs the decisions dropped on a full buffer, at most every
// 10 seconds unless final.
func (r *Recorder) warnDropped(final bool) {
	if !final && time.Since(r.lastWarn) < 10*time.Second {
		return
	}
	if n := r.full.Swap(0); n > 0 {
		r.lastWarn = time.Now()
		r.log.Warn("audit: decisions dropped, the buffer was full (audit.decisions.buffer); the store is too slow for the decision rate",
			"dropped", n)
	}
}

// drain writes batch and what is buffered, in batches of at most
// BatchSize, and returns batch emptied.
func (r *Recorder) drain(batch []store.Decision) []store.Decision {
	for {
		select {
		case e := <-r.ch:
			batch = append(batch, e.decision())
			if len(batch) < r.opts.BatchSize {
				continue
			}
		default:
			r.write(batch)
			return batch[:0]
		}
		r.write(batch)
		batch = batch[:0]
	}
}

func (r *Recorder) write(batch []store.Decision) {
	if len(batch) == 0 {
		return
	}
	ctx := context.Background()
	err := r.st.Update(ctx, func(tx store.Tx) error { return tx.AppendDecisions(ctx, batch) })
	if err != nil {
		r.metrics.Dropped(DropWriteError, len(batch))
		r.log.Error("audit: decisions not written", "count", len(batch), "err", fmt.Errorf("append decisions: %w", err))
		return
	}
	r.metrics.Written(len(batch))
}

func (e *entry) decision() store.Decision {
	d := store.Decision{At: time.Unix(0, e.at).UTC(), Method: e.req.Method, Host: e.req.Host, Path: e.req.Path,
		Allow: e.allow, Reason: e.reason, Adapter: e.adapter, Remote: e.remote}
	if e.user != nil {
		d.TenantID, d.UserID, d.UserName = e.user.Tenant, e.user.ID, e.user.UserName
	}
	if e.route != nil {
		d.Route = e.route.Name
	}
	switch {
	case e.tokenID != "":
		d.CredKind, d.CredID = store.CredToken, e.tokenID
	case e.sessionID != "":
		d.CredKind, d.CredID = store.CredSession, e.sessionID
	}
	return d
}

type noMetrics struct{}

func (noMetrics) Recorded()           {}
func (noMetrics) Written(int)         {}
func (noMetrics) Dropped(string, int) {}
