package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/store"
)

// Export to a SIEM. An Exporter copies the audit streams to one sink,
// reading them from the store after a cursor kept there per sink and
// stream — never from the request path, so that a slow or unreachable
// sink only falls behind (its lag is a metric) and catches up later, and
// requests never wait for it. A batch is read, handed to the sink, and
// only once the sink has taken it does the cursor move past it: delivery
// is at least once. A crash between delivery and the cursor write, or a
// webhook answer lost on the way back, sends those records again, so a
// receiver deduplicates by stream and seq. Within a stream, records are
// delivered in sequence order; the streams are not merged.

// ExportRecord is one record handed to a sink: the log entry, and its
// encoding as one line of JSON (without the newline), the shape of
// `scimgate audit log --json`.
type ExportRecord struct {
	Entry Entry
	Line  []byte
}

// Sink delivers batches of records. Send returns nil only once the sink
// has taken every record of the batch (written and synced, sent, or
// acknowledged); on an error the whole batch is sent again later.
type Sink interface {
	Send(ctx context.Context, recs []ExportRecord) error
	io.Closer
}

// ExportStore is the part of the store an Exporter reads and writes.
type ExportStore interface {
	Viewer
	Updater
}

// ExportMetrics counts what an Exporter does; admin.AuditExport is one.
type ExportMetrics interface {
	// Exported counts records delivered to the sink.
	Exported(sink string, n int)
	// Failed counts a failed delivery attempt.
	Failed(sink string)
	// Lag reports how many records the sink has yet to deliver, and the
	// age of the oldest of them (0 when it has caught up).
	Lag(sink string, records int64, age time.Duration)
}

// ExportOptions configures an Exporter.
type ExportOptions struct {
	Name      string // the sink's name: its cursors' key and metrics label
	Sink      Sink
	Streams   []string // default: all three
	StartNow  bool     // a new cursor starts at the end of the stream, not before its first record
	BatchSize int      // default 500
	// PollInterval is how often the streams are read once the sink has
	// caught up; default 1s.
	PollInterval time.Duration
	// RetryMin and RetryMax bound the wait after a failed delivery: it
	// doubles from RetryMin with each failure in a row, up to RetryMax,
	// with jitter. Defaults 1s and 5m.
	RetryMin, RetryMax time.Duration
	Metrics            ExportMetrics // may be nil
	Log                *slog.Logger
	Now                func() time.Time // default time.Now
}

// ExportOptionsFrom returns the options of a configured sink (without its
// Sink, Metrics and Log).
func ExportOptionsFrom(c config.AuditExport) ExportOptions {
	c = c.WithDefaults()
	return ExportOptions{Name: c.Name, Streams: c.Streams, StartNow: c.Start == config.ExportStartNow, BatchSize: c.BatchSize,
		PollInterval: c.PollInterval, RetryMin: c.Retry.Min, RetryMax: c.Retry.Max}
}

// OpenSink opens the sink a configuration describes; stdout is where the
// stdout sink (and a file sink with path "-") writes. Files and secrets
// are opened now, to fail at startup; network sinks connect on their
// first delivery.
func OpenSink(c config.AuditExport, stdout io.Writer, log *slog.Logger) (Sink, error) {
	c = c.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Type == config.ExportStdout || (c.Type == config.ExportFile && c.Path == "-"):
		return NewWriterSink(stdout), nil
	case c.Type == config.ExportFile:
		return OpenFileSink(c.Path)
	case c.Type == config.ExportSyslog:
		return NewSyslogSink(SyslogOptions{Network: c.Network, Address: c.Address, Facility: config.SyslogFacilities[c.Facility],
			Framing: c.Framing, Log: log.With("sink", c.Name)}), nil
	case c.Type == config.ExportWebhook:
		return NewWebhookSink(WebhookOptions{URL: c.URL, SecretFile: c.SecretFile, SecretHeader: c.SecretHeader, Timeout: c.Timeout})
	}
	return nil, fmt.Errorf("audit export %q: unknown sink type %q", c.Name, c.Type)
}

// Exporter copies the audit streams to one sink. Run it in a goroutine
// of its own.
type Exporter struct {
	st      ExportStore
	opts    ExportOptions
	metrics ExportMetrics
	log     *slog.Logger
	// cursors holds, per stream, the last sequence number delivered. It
	// may run ahead of the stored cursor when a cursor write failed: the
	// records are not sent again while the process lives. Written by
	// Step, read by the lag reporter.
	mu      sync.Mutex
	cursors map[string]int64
	saved   map[string]int64 // the cursors as stored; Step's alone
}

// NewExporter returns an exporter of st's streams to opts.Sink.
func NewExporter(st ExportStore, opts ExportOptions) *Exporter {
	if len(opts.Streams) == 0 {
		opts.Streams = Streams
	}
	def := config.AuditExport{}.WithDefaults()
	if opts.BatchSize <= 0 {
		opts.BatchSize = def.BatchSize
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = def.PollInterval
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = def.Retry.Min
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(def.Retry.Max, opts.RetryMin)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	x := &Exporter{st: st, opts: opts, metrics: opts.Metrics, log: opts.Log, cursors: map[string]int64{}, saved: map[string]int64{}}
	if x.metrics == nil {
		x.metrics = noExportMetrics{}
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	x.log = x.log.With("sink", opts.Name)
	return x
}

// Run exports until ctx ends. It never gives up on a record: a failed
// delivery is tried again, after a wait that grows with each failure in
// a row. The lag is reported every PollInterval, also while a delivery
// hangs. Run does not close the sink.
func (x *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		t := time.NewTicker(x.opts.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				x.reportLag(ctx)
			}
		}
	})
	failures := 0
	for {
		more, err := x.Step(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := x.opts.PollInterval
		switch {
		case err != nil:
			failures++
			x.metrics.Failed(x.opts.Name)
			wait = backoff(failures, x.opts.RetryMin, x.opts.RetryMax)
			x.log.Warn("audit export: delivery failed; retrying", "failures", failures, "retry_in", wait.Round(time.Millisecond), "err", err)
		case failures > 0:
			x.log.Info("audit export: delivering again", "after_failures", failures)
			failures = 0
		}
		if err == nil && more {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the wait after the nth failure in a row: lo doubled n-1
// times, capped at hi, of which a random half ("equal jitter"), so that
// sinks failing together do not retry together.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// Step delivers at most one batch of each stream, and reports whether a
// stream has more records waiting.
func (x *Exporter) Step(ctx context.Context) (more bool, err error) {
	x.mu.Lock()
	cursors := maps.Clone(x.cursors)
	x.mu.Unlock()
	for _, stream := range x.opts.Streams {
		if _, ok := cursors[stream]; !ok {
			cursor, err := x.loadCursor(ctx, stream)
			if err != nil {
				return false, err
			}
			x.setCursor(stream, cursor)
			x.saved[stream] = cursor
			cursors[stream] = cursor
		}
	}
	for _, stream := range x.opts.Streams {
		cursor := cursors[stream]
		var es []Entry
		full := false // the batch stopped at its size, not at the stream's end
		err := x.st.View(ctx, func(tx store.ReadTx) error {
			// Page by page, so that a batch of large documents stops near
			// exportBatchBytes rather than holding BatchSize of them.
			after, size := cursor, 0
			for {
				want := min(pageSize(stream), x.opts.BatchSize-len(es))
				page, err := readStream(ctx, tx, stream, after, want)
				if err != nil {
					return err
				}
				for _, e := range page {
					es = append(es, e)
					size += e.approxSize()
				}
				if len(page) < want {
					return nil
				}
				after = page[len(page)-1].Seq
				if len(es) == x.opts.BatchSize || size >= exportBatchBytes {
					full = true
					return nil
				}
			}
		})
		if err != nil {
			return false, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(es) == 0 {
			// Caught up: retry a cursor write that failed.
			if err := x.saveCursor(ctx, stream, cursor); err != nil {
				return false, err
			}
			continue
		}
		recs := make([]ExportRecord, len(es))
		for i, e := range es {
			line, err := json.Marshal(e)
			if err != nil {
				return false, fmt.Errorf("encode %s seq %d: %w", stream, e.Seq, err)
			}
			recs[i] = ExportRecord{Entry: e, Line: line}
		}
		if err := x.opts.Sink.Send(ctx, recs); err != nil {
			return false, fmt.Errorf("send %s seqs %d-%d: %w", stream, es[0].Seq, es[len(es)-1].Seq, err)
		}
		x.metrics.Exported(x.opts.Name, len(es))
		last := es[len(es)-1].Seq
		x.setCursor(stream, last)
		if full {
			more = true
		}
		if err := x.saveCursor(ctx, stream, last); err != nil {
			return more, err
		}
	}
	return more, nil
}

// saveCursor stores the stream's cursor unless it is stored already. A
// write that fails leaves the records after the stored cursor to be sent
// again after a restart: at least once, never lost.
func (x *Exporter) saveCursor(ctx context.Context, stream string, seq int64) error {
	if x.saved[stream] == seq {
		return nil
	}
	// What was delivered is recorded even when Run is being stopped:
	// otherwise every graceful stop right after a delivery sends the
	// batch again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := x.st.Update(ctx, func(tx store.Tx) error { return tx.SetExportCursor(ctx, x.opts.Name, stream, seq) })
	if err != nil {
		return fmt.Errorf("save %s cursor at seq %d: %w", stream, seq, err)
	}
	x.saved[stream] = seq
	return nil
}

func (x *Exporter) setCursor(stream string, seq int64) {
	x.mu.Lock()
	x.cursors[stream] = seq
	x.mu.Unlock()
}

// reportLag reports how far behind the sink is: the records its streams
// hold past its cursors, and the age of the oldest of them.
func (x *Exporter) reportLag(ctx context.Context) {
	x.mu.Lock()
	cursors := maps.Clone(x.cursors)
	x.mu.Unlock()
	var records int64
	var oldest time.Time
	err := x.st.View(ctx, func(tx store.ReadTx) error {
		for _, stream := range x.opts.Streams {
			cursor, ok := cursors[stream]
			if !ok {
				continue
			}
			counter, err := tx.SeqCounter(ctx, stream)
			if err != nil {
				return err
			}
			if counter <= cursor {
				continue
			}
			records += counter - cursor
			es, err := readStream(ctx, tx, stream, cursor, 1)
			if err != nil {
				return err
			}
			if len(es) > 0 && (oldest.IsZero() || es[0].At.Before(oldest)) {
				oldest = es[0].At
			}
		}
		return nil
	})
	if err != nil {
		return // the store is unreadable: the failure is reported elsewhere
	}
	age := time.Duration(0)
	if !oldest.IsZero() {
		age = max(0, x.opts.Now().Sub(oldest))
	}
	x.metrics.Lag(x.opts.Name, records, age)
}

// loadCursor returns the stream's stored cursor; a new sink's starts
// before the first record, or with StartNow at the stream's end, saved
// right away so that a restart does not skip what came in between.
func (x *Exporter) loadCursor(ctx context.Context, stream string) (int64, error) {
	var cursor, counter int64
	found := true
	err := x.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		cursor, err = tx.ExportCursor(ctx, x.opts.Name, stream)
		if errors.Is(err, store.ErrNotFound) {
			found = false
			counter, err = tx.SeqCounter(ctx, stream)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read %s cursor: %w", stream, err)
	}
	if found || !x.opts.StartNow {
		if !found {
			x.log.Info("audit export: new sink starts at the beginning", "stream", stream)
		}
		return cursor, nil
	}
	err = x.st.Update(ctx, func(tx store.Tx) error { return tx.SetExportCursor(ctx, x.opts.Name, stream, counter) })
	if err != nil {
		return 0, fmt.Errorf("save %s cursor: %w", stream, err)
	}
	x.log.Info("audit export: new sink starts now", "stream", stream, "after_seq", counter)
	return counter, nil
}

// readStream returns up to limit entries of stream after seq.
// A batch of changes or policies is read exportPage records at a time,
// and ends once it holds about exportBatchBytes of documents: each record
// is held three times over (the entry, its line, the sink's body), and a
// change may carry two documents of megabytes.
const (
	exportPage       = 8
	exportBatchBytes = 8 << 20
)

// pageSize is how many records of stream one read asks for. Decisions
// are small, and stored in batches of up to a thousand that each read
// decodes whole: they are read a delivery's worth at a time, else a
// delivery would decode each stored batch over a hundred times.
func pageSize(stream string) int {
	if stream == store.StreamDecisions {
		return math.MaxInt
	}
	return exportPage
}

// approxSize is about how many bytes e's documents take.
func (e Entry) approxSize() int {
	n := 256
	if c := e.Change; c != nil {
		n += len(c.Before) + len(c.After) + len(c.Detail)
	}
	if p := e.Policy; p != nil {
		n += len(p.Doc)
	}
	return n
}

func readStream(ctx context.Context, tx store.ReadTx, stream string, after int64, limit int) ([]Entry, error) {
	var out []Entry
	switch stream {
	case store.StreamChanges:
		cs, err := tx.Changes(ctx, after, limit)
		for _, c := range cs {
			out = append(out, changeEntry(c))
		}
		return out, err
	case store.StreamPolicies:
		vs, err := tx.PolicyVersions(ctx, after, limit)
		for _, v := range vs {
			out = append(out, policyEntry(v))
		}
		return out, err
	case store.StreamDecisions:
		ds, err := tx.Decisions(ctx, after, limit)
		for _, d := range ds {
			out = append(out, decisionEntry(d))
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown stream %q", stream)
}

type noExportMetrics struct{}

func (noExportMetrics) Exported(string, int)             {}
func (noExportMetrics) Failed(string)                    {}
func (noExportMetrics) Lag(string, int64, time.Duration) {}
