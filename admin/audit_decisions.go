package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/audit"
)

// AuditDecisions counts what the audit trail's decision recorder does.
// Its methods satisfy audit.Metrics.
type AuditDecisions struct {
	recorded prometheus.Counter
	written  prometheus.Counter
	dropped  *prometheus.CounterVec
	// byReason caches the dropped series of the known reasons: a full
	// buffer drops on the request path.
	byReason map[string]prometheus.Counter
}

// AuditDecisions registers the decision recorder's metrics.
func (m *Metrics) AuditDecisions() *AuditDecisions {
	a := &AuditDecisions{
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_audit_decisions_recorded_total", Help: "Access decisions queued for the audit trail."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimgate_audit_decisions_written_total", Help: "Access decisions committed to the audit trail."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_audit_decisions_dropped_total",
			Help: "Access decisions lost to the audit trail, by reason (buffer_full, write_error, closed)."}, []string{"reason"}),
		byReason: map[string]prometheus.Counter{},
	}
	// Created up front so that alerts see zeros.
	for _, r := range []string{audit.DropBufferFull, audit.DropWriteError, audit.DropClosed} {
		a.byReason[r] = a.dropped.WithLabelValues(r)
	}
	m.reg.MustRegister(a.recorded, a.written, a.dropped)
	return a
}

// Recorded implements audit.Metrics.
func (a *AuditDecisions) Recorded() { a.recorded.Inc() }

// Written implements audit.Metrics.
func (a *AuditDecisions) Written(n int) { a.written.Add(float64(n)) }

// Dropped implements audit.Metrics.
func (a *AuditDecisions) Dropped(reason string, n int) {
	c, ok := a.byReason[reason]
	if !ok {
		c = a.dropped.WithLabelValues(reason)
	}
	c.Add(float64(n))
}
