package config

import (
	"fmt"
	"time"
)

// Audit configures the audit trail. Directory changes and policy versions
// are always kept; this section says which access decisions are, and how
// they are written.
type Audit struct {
	Decisions AuditDecisions `yaml:"decisions"`
	// Export and Retention: see config/audit_export.go.
	Export    []AuditExport  `yaml:"export"`
	Retention AuditRetention `yaml:"retention"`
}

// AuditDecisions configures the decision stream. Every refusal is
// recorded; Allows says which allowed requests are. Decisions are written
// in the background: a request never waits for the store, and when the
// buffer is full a decision is dropped and counted
// (scimgate_audit_decisions_dropped_total) rather than slowing requests.
type AuditDecisions struct {
	// Allows is "all" (the default), "none", or "sample": a random
	// SampleRate of them.
	Allows string `yaml:"allows"`
	// SampleRate is the fraction of allowed requests recorded with
	// allows: sample, between 0 and 1.
	SampleRate float64 `yaml:"sample_rate"`
	// Buffer is how many decisions wait for the writer at most, default
	// 16384 (under a second of a busy gateway; about 170 bytes each).
	Buffer int `yaml:"buffer"`
	// BatchSize is how many decisions one transaction writes at most,
	// default 4096.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how long a decision waits for others to share its
	// transaction, default 50ms.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Values of AuditDecisions.Allows.
const (
	AuditAllowsAll    = "all"
	AuditAllowsNone   = "none"
	AuditAllowsSample = "sample"
)

func defaultAudit() Audit {
	return Audit{Decisions: AuditDecisions{Allows: AuditAllowsAll, Buffer: 16384, BatchSize: 4096, FlushInterval: 50 * time.Millisecond}}
}

func validateAudit(a Audit, add func(path, msg, hint string)) {
	validateAuditExport(a, add)
	d := a.Decisions
	switch d.Allows {
	case AuditAllowsAll, AuditAllowsNone:
		if d.SampleRate != 0 {
			add("audit.decisions.sample_rate", fmt.Sprintf("is set but allows is %q", d.Allows), `set allows: sample, or remove sample_rate`)
		}
	case AuditAllowsSample:
		if !(d.SampleRate > 0 && d.SampleRate <= 1) {
			add("audit.decisions.sample_rate", fmt.Sprintf("%v is not a fraction", d.SampleRate), "more than 0 and at most 1, e.g. 0.01 for one in a hundred")
		}
	default:
		add("audit.decisions.allows", fmt.Sprintf("%q is not all, none or sample", d.Allows), `the default is "all"; denies are always recorded`)
	}
	if d.Buffer < 1 || d.Buffer > 1<<24 {
		add("audit.decisions.buffer", fmt.Sprintf("%d is out of range", d.Buffer), "between 1 and 16777216; the default is 16384")
	}
	if d.BatchSize < 1 || d.BatchSize > 10000 {
		add("audit.decisions.batch_size", fmt.Sprintf("%d is out of range", d.BatchSize), "between 1 and 10000; the default is 4096")
	}
	if d.FlushInterval < time.Millisecond || d.FlushInterval > time.Minute {
		add("audit.decisions.flush_interval", fmt.Sprintf("%s is out of range", d.FlushInterval), `between "1ms" and "1m"; the default is "50ms"`)
	}
}
