package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
)

// startAuditExport starts what audit.export and audit.retention ask for:
// one exporter per sink, and the pruning of old decisions. stop ends them
// and closes the sinks; call it before closing the store. The stdout sink
// writes to stdout.
func startAuditExport(ctx context.Context, cfg *config.Config, st audit.ExportStore, metrics *admin.Metrics, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sinks []audit.Sink
	stop = func() {
		cancel()
		wg.Wait()
		for _, s := range sinks {
			_ = s.Close()
		}
	}
	var names []string
	for _, c := range cfg.Audit.Export {
		names = append(names, c.Name)
	}
	var exportMetrics audit.ExportMetrics
	if len(names) > 0 {
		exportMetrics = metrics.AuditExport(names)
	}
	for _, c := range cfg.Audit.Export {
		c = c.WithDefaults()
		sink, err := audit.OpenSink(c, stdout, log)
		if err != nil {
			stop()
			return nil, fmt.Errorf("audit export %s: %w", c.Name, err)
		}
		sinks = append(sinks, sink)
		opts := audit.ExportOptionsFrom(c)
		opts.Sink, opts.Metrics, opts.Log = sink, exportMetrics, log
		x := audit.NewExporter(st, opts)
		wg.Go(func() { x.Run(ctx) })
		log.Info("audit export", "sink", c.Name, "type", c.Type, "streams", c.Streams, "start", c.Start)
	}
	ropts, err := audit.RetentionOptionsFrom(cfg.Audit)
	if err != nil {
		stop()
		return nil, err
	}
	if ropts.MaxAge > 0 {
		ropts.Metrics, ropts.Log = metrics.AuditRetention(), log
		r := audit.NewRetention(st, ropts)
		wg.Go(func() { r.Run(ctx) })
		log.Info("audit retention", "decisions", cfg.Audit.Retention.Decisions, "held_back_by", ropts.Sinks)
	}
	return stop, nil
}
