package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store"
)

// Retention. Decisions pile up with traffic; directory changes and policy
// versions do not, and the point-in-time answers are computed from them,
// so only decisions are ever deleted. They are deleted from the head of
// the stream, oldest first, stopping at the first decision that is still
// young enough or that a sink exporting decisions has not delivered yet;
// the newest decision always stays, for the next one to chain to. The
// store keeps the last deleted record's sequence number and hash as the
// stream's anchor, and Verify checks the chain from there: what is left
// still proves itself whole. (The anchor is in the database like the
// rest; a SIEM copy holds the deleted records, the anchor's among them.)

// RetentionMetrics counts what a Retention does; admin.AuditRetention is
// one.
type RetentionMetrics interface {
	// Pruned counts decisions deleted.
	Pruned(n int)
	// Overdue reports how far past the retention period the oldest kept
	// decision is: more than zero when sinks hold retention back.
	Overdue(d time.Duration)
}

// RetentionOptions configures a Retention.
type RetentionOptions struct {
	// MaxAge is how long decisions are kept; 0 keeps them forever.
	MaxAge time.Duration
	// Interval is how often Run prunes, default 1h.
	Interval time.Duration
	// Sinks are the names of the sinks that export decisions: a decision
	// is deleted only once every one of them has delivered it.
	Sinks []string
	// Batch is how many decisions one transaction deletes at most,
	// default 5000: the store's writer is shared with SCIM writes.
	Batch   int
	Metrics RetentionMetrics // may be nil
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
}

// RetentionOptionsFrom returns the options of the audit configuration:
// its retention period, and the configured sinks that export decisions.
func RetentionOptionsFrom(c config.Audit) (RetentionOptions, error) {
	age, err := c.Retention.DecisionsMaxAge()
	if err != nil {
		return RetentionOptions{}, fmt.Errorf("audit.retention.decisions: %w", err)
	}
	o := RetentionOptions{MaxAge: age, Interval: c.Retention.IntervalOrDefault()}
	for _, e := range c.Export {
		if e.Exports(store.StreamDecisions) {
			o.Sinks = append(o.Sinks, e.Name)
		}
	}
	return o, nil
}

// Retention deletes old decisions.
type Retention struct {
	st      ExportStore
	opts    RetentionOptions
	metrics RetentionMetrics
	log     *slog.Logger
}

// NewRetention returns a Retention of st's decisions.
func NewRetention(st ExportStore, opts RetentionOptions) *Retention {
	if opts.Interval <= 0 {
		opts.Interval = time.Hour
	}
	if opts.Batch <= 0 {
		opts.Batch = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Retention{st: st, opts: opts, metrics: opts.Metrics, log: opts.Log}
	if r.metrics == nil {
		r.metrics = noRetentionMetrics{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Run prunes now and then every Interval until ctx ends; with no MaxAge
// it returns at once.
func (r *Retention) Run(ctx context.Context) {
	if r.opts.MaxAge <= 0 {
		return
	}
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		if _, err := r.Prune(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("audit retention: decisions not pruned", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes the decisions that are older than MaxAge and that every
// sink has delivered, and returns how many it deleted.
func (r *Retention) Prune(ctx context.Context) (int, error) {
	if r.opts.MaxAge <= 0 {
		return 0, nil
	}
	now := r.opts.Now()
	cutoff := now.Add(-r.opts.MaxAge)
	total := 0
	for {
		through, holders, err := r.exported(ctx)
		if err != nil {
			return total, err
		}
		var n int
		err = r.st.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.PruneDecisions(ctx, cutoff, through, r.opts.Batch, now)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune decisions: %w", err)
		}
		total += n
		r.metrics.Pruned(n)
		if n < r.opts.Batch {
			if total > 0 {
				r.log.Info("audit retention: old decisions deleted", "count", total, "before", cutoff.Format(time.RFC3339))
			}
			return total, r.checkHeldBack(ctx, cutoff, through, holders)
		}
	}
}

// exported returns the sequence number through which every sink has
// delivered the decisions, and the sinks at that position.
func (r *Retention) exported(ctx context.Context) (int64, []string, error) {
	through := int64(math.MaxInt64)
	var holders []string
	err := r.st.View(ctx, func(tx store.ReadTx) error {
		for _, sink := range r.opts.Sinks {
			seq, err := tx.ExportCursor(ctx, sink, store.StreamDecisions)
			switch {
			case errors.Is(err, store.ErrNotFound):
				seq = 0 // a sink that has delivered nothing yet
			case err != nil:
				return fmt.Errorf("read cursor of sink %s: %w", sink, err)
			}
			switch {
			case seq < through:
				through, holders = seq, []string{sink}
			case seq == through:
				holders = append(holders, sink)
			}
		}
		return nil
	})
	return through, holders, err
}

// checkHeldBack reports decisions past the retention period that are
// kept because a sink has not delivered them.
func (r *Retention) checkHeldBack(ctx context.Context, cutoff time.Time, through int64, holders []string) error {
	var first []store.Decision
	err := r.st.View(ctx, func(tx store.ReadTx) (err error) {
		first, err = tx.Decisions(ctx, 0, 1)
		return err
	})
	if err != nil {
		return fmt.Errorf("read oldest decision: %w", err)
	}
	// Past the period but not held back by a sink: the newest decision,
	// which always stays, or one behind a younger one (a clock step).
	if len(first) == 0 || !first[0].At.Before(cutoff) || first[0].Seq <= through {
		r.metrics.Overdue(0)
		return nil
	}
	r.metrics.Overdue(cutoff.Sub(first[0].At))
	r.log.Warn("audit retention held back: decisions past the retention period are kept until every sink has exported them",
		"sinks", holders, "exported_through_seq", through, "oldest_seq", first[0].Seq, "oldest_at", first[0].At.Format(time.RFC3339))
	return nil
}

// startAfterAnchor starts c after its stream's retention anchor, if the
// stream has one: the first record then has the anchor's seq + 1 and
// chains to its hash. Only the decision stream is ever pruned: an anchor
// of another stream is a finding, and the chain starts at 1 regardless,
// so that the records it hides are reported deleted. A kept head at the
// anchor is checked against it; one before it cannot be (chain.finish).
func startAfterAnchor(ctx context.Context, tx store.ReadTx, c *chain) error {
	a, err := tx.AuditAnchor(ctx, c.stream)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read retention anchor: %w", err)
	}
	if c.stream != store.StreamDecisions {
		c.report(a.Seq, ProblemForeignAnchor, "the stream has a retention anchor at seq %d, but retention only prunes decisions: "+
			"it was written to hide records deleted before it, and is ignored", a.Seq)
		return nil
	}
	if a.At.After(a.Pruned.Add(-minRetention)) {
		c.report(a.Seq, ProblemImpossibleAnchor, "the retention anchor says a decision of %s was pruned at %s, "+
			"less than the shortest retention period (%s) later", a.At.UTC().Format(time.RFC3339Nano), a.Pruned.UTC().Format(time.RFC3339Nano), minRetention)
	}
	c.anchor, c.lastSeq, c.lastHash = a.Seq, a.Seq, a.Hash
	if want, ok := c.kept[a.Seq]; ok {
		c.checked[a.Seq] = true
		if !bytes.Equal(want, a.Hash) {
			c.report(a.Seq, ProblemHeadMismatch, "the retention anchor's hash %x differs from the kept head %x: the stream was rewritten", a.Hash, want)
		}
	}
	return nil
}

type noRetentionMetrics struct{}

func (noRetentionMetrics) Pruned(int)            {}
func (noRetentionMetrics) Overdue(time.Duration) {}
