package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateAudit(t *testing.T) {
	tests := []struct {
		name   string
		change func(*AuditDecisions)
		paths  []string
	}{
		{"default", func(*AuditDecisions) {}, nil},
		{"no allows", func(d *AuditDecisions) { d.Allows = AuditAllowsNone }, nil},
		{"sampled", func(d *AuditDecisions) { d.Allows, d.SampleRate = AuditAllowsSample, 0.01 }, nil},
		{"sampled, all", func(d *AuditDecisions) { d.Allows, d.SampleRate = AuditAllowsSample, 1 }, nil},
		{"sampled without rate", func(d *AuditDecisions) { d.Allows = AuditAllowsSample }, []string{"audit.decisions.sample_rate"}},
		{"rate above one", func(d *AuditDecisions) { d.Allows, d.SampleRate = AuditAllowsSample, 1.5 }, []string{"audit.decisions.sample_rate"}},
		{"rate without sampling", func(d *AuditDecisions) { d.SampleRate = 0.5 }, []string{"audit.decisions.sample_rate"}},
		{"unknown allows", func(d *AuditDecisions) { d.Allows = "some" }, []string{"audit.decisions.allows"}},
		{"zero buffer", func(d *AuditDecisions) { d.Buffer = 0 }, []string{"audit.decisions.buffer"}},
		{"huge batch", func(d *AuditDecisions) { d.BatchSize = 100000 }, []string{"audit.decisions.batch_size"}},
		{"flush too fast", func(d *AuditDecisions) { d.FlushInterval = time.Microsecond }, []string{"audit.decisions.flush_interval"}},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c.Audit.Decisions)
		var got []string
		if err := c.Validate(); err != nil {
			for _, fe := range fieldErrors(t, err) {
				got = append(got, fe.Path)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.paths, " ") {
			t.Errorf("%s: Validate() problems at %q, want %q", tt.name, got, tt.paths)
		}
	}
}

func TestParseAudit(t *testing.T) {
	c, err := Parse([]byte("audit:\n  decisions:\n    allows: sample\n    sample_rate: 0.25\n    flush_interval: 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := AuditDecisions{Allows: "sample", SampleRate: 0.25, Buffer: 16384, BatchSize: 4096, FlushInterval: 10 * time.Millisecond}
	if c.Audit.Decisions != want {
		t.Errorf("Parse(audit) = %+v, want %+v", c.Audit.Decisions, want)
	}
	_, err = Parse([]byte("audit:\n  decisions:\n    allow: all\n"))
	if err == nil || !strings.Contains(err.Error(), "audit.decisions") || !strings.Contains(err.Error(), "allows") {
		t.Errorf("Parse(unknown key allow) = %v, want an error naming audit.decisions and suggesting allows", err)
	}
}
