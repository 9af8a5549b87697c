package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
)

// startAuditExport starts the audit exporters and retention with their
// metrics on the admin listener; the stdout sink writes to stdout.
func startAuditExport(ctx context.Context, cfg *config.Config, st audit.ExportStore, metrics *admin.Metrics, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	return audit.StartBackground(ctx, cfg.Audit, st, audit.Background{
		ExportMetrics:    func(sinks []string) audit.ExportMetrics { return metrics.AuditExport(sinks) },
		RetentionMetrics: func() audit.RetentionMetrics { return metrics.AuditRetention() },
		Stdout:           stdout,
		Log:              log,
	})
}
