package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AuditExport counts what the audit trail's SIEM exporters do, by sink.
// Its methods satisfy audit.ExportMetrics.
type AuditExport struct {
	exported *prometheus.CounterVec
	failures *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	lagAge   *prometheus.GaugeVec
}

// AuditExport registers the exporters' metrics, with a zero series for
// each sink named, so that alerts see them before the first delivery.
func (m *Metrics) AuditExport(sinks []string) *AuditExport {
	a := &AuditExport{
		exported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_audit_export_exported_total", Help: "Audit records delivered to a SIEM sink."}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_audit_export_failures_total", Help: "Failed delivery attempts to a SIEM sink (each is retried)."}, []string{"sink"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimgate_audit_export_lag_records", Help: "Audit records a SIEM sink has yet to deliver."}, []string{"sink"}),
		lagAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimgate_audit_export_lag_seconds", Help: "Age of the oldest audit record a SIEM sink has yet to deliver; 0 when caught up."}, []string{"sink"}),
	}
	for _, s := range sinks {
		a.exported.WithLabelValues(s)
		a.failures.WithLabelValues(s)
		a.lag.WithLabelValues(s)
		a.lagAge.WithLabelValues(s)
	}
	m.reg.MustRegister(a.exported, a.failures, a.lag, a.lagAge)
	return a
}

// Exported implements audit.ExportMetrics.
func (a *AuditExport) Exported(sink string, n int) { a.exported.WithLabelValues(sink).Add(float64(n)) }

// Failed implements audit.ExportMetrics.
func (a *AuditExport) Failed(sink string) { a.failures.WithLabelValues(sink).Inc() }

// Lag implements audit.ExportMetrics.
func (a *AuditExport) Lag(sink string, records int64, age time.Duration) {
	a.lag.WithLabelValues(sink).Set(float64(records))
	a.lagAge.WithLabelValues(sink).Set(age.Seconds())
}

// AuditRetention counts what decision retention does. Its methods satisfy
// audit.RetentionMetrics.
type AuditRetention struct {
	pruned  prometheus.Counter
	overdue prometheus.Gauge
}

// AuditRetention registers the retention metrics.
func (m *Metrics) AuditRetention() *AuditRetention {
	a := &AuditRetention{
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_audit_retention_pruned_total", Help: "Decisions deleted by audit.retention."}),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scimgate_audit_retention_overdue_seconds",
			Help: "How far past audit.retention.decisions the oldest kept decision is, when a sink that has not exported it holds retention back."}),
	}
	m.reg.MustRegister(a.pruned, a.overdue)
	return a
}

// Pruned implements audit.RetentionMetrics.
func (a *AuditRetention) Pruned(n int) { a.pruned.Add(float64(n)) }

// Overdue implements audit.RetentionMetrics.
func (a *AuditRetention) Overdue(d time.Duration) { a.overdue.Set(d.Seconds()) }
