package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/scimgate/scimgate/config"
)

// Background is what StartBackground needs besides the configuration.
type Background struct {
	// ExportMetrics returns the metrics of the named sinks; nil: none.
	ExportMetrics func(sinks []string) ExportMetrics
	// RetentionMetrics returns the metrics of retention; nil: none.
	RetentionMetrics func() RetentionMetrics
	Stdout           io.Writer // the stdout sink's
	Log              *slog.Logger
}

// StartBackground starts what audit.export and audit.retention ask for:
// one exporter per sink, and the pruning of old decisions. stop ends
// them and closes the sinks; call it before closing the store.
func StartBackground(ctx context.Context, c config.Audit, st ExportStore, b Background) (stop func(), err error) {
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sinks []Sink
	stop = func() {
		cancel()
		wg.Wait()
		for _, s := range sinks {
			_ = s.Close()
		}
	}
	var names []string
	for _, x := range c.Export {
		names = append(names, x.Name)
	}
	var exportMetrics ExportMetrics
	if len(names) > 0 && b.ExportMetrics != nil {
		exportMetrics = b.ExportMetrics(names)
	}
	for _, x := range c.Export {
		x = x.WithDefaults()
		sink, err := OpenSink(x, b.Stdout, b.Log)
		if err != nil {
			stop()
			return nil, fmt.Errorf("audit export %s: %w", x.Name, err)
		}
		sinks = append(sinks, sink)
		opts := ExportOptionsFrom(x)
		opts.Sink, opts.Metrics, opts.Log = sink, exportMetrics, b.Log
		e := NewExporter(st, opts)
		wg.Go(func() { e.Run(ctx) })
		b.Log.Info("audit export", "sink", x.Name, "type", x.Type, "streams", x.Streams, "start", x.Start)
	}
	ropts, err := RetentionOptionsFrom(c)
	if err != nil {
		stop()
		return nil, err
	}
	if ropts.MaxAge > 0 {
		ropts.Log = b.Log
		if b.RetentionMetrics != nil {
			ropts.Metrics = b.RetentionMetrics()
		}
		r := NewRetention(st, ropts)
		wg.Go(func() { r.Run(ctx) })
		b.Log.Info("audit retention", "decisions", c.Retention.Decisions, "held_back_by", ropts.Sinks)
	}
	return stop, nil
}
