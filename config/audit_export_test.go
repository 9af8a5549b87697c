package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateAuditExport(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string // under audit:
		paths []string
	}{
		{"none", "", nil},
		{"file", "export: [{name: local, type: file, path: /var/log/scimgate/audit.jsonl}]", nil},
		{"file on stdout", "export: [{name: out, type: file, path: \"-\"}]", nil},
		{"stdout", "export: [{name: out, type: stdout, streams: [decisions]}]", nil},
		{"syslog udp", "export: [{name: s, type: syslog, address: \"siem:514\"}]", nil},
		{"syslog tcp newline", "export: [{name: s, type: syslog, network: tcp, address: \"10.0.0.1:6514\", framing: newline, facility: authpriv}]", nil},
		{"syslog unix", "export: [{name: s, type: syslog, network: unix, address: /dev/log}]", nil},
		{"webhook", `export: [{name: siem, type: webhook, url: "https://siem.example.com/in", secret_file: /etc/s, secret_header: X-Api-Key,
			timeout: 30s, batch_size: 1000, start: now, poll_interval: 250ms, retry: {min: 100ms, max: 1m}}]`, nil},
		{"all kinds", `export:
  - {name: a, type: file, path: /tmp/a}
  - {name: b, type: stdout}
  - {name: c, type: syslog, address: "h:514"}
  - {name: d, type: webhook, url: "http://h/x"}`, nil},
		{"retention", "retention: {decisions: 90d}", nil},
		{"retention as a duration", "retention: {decisions: 2160h, interval: 10m}", nil},
		{"retention zero", "retention: {decisions: \"0\"}", nil},

		{"no name", "export: [{type: stdout}]", []string{"audit.export[0].name"}},
		{"bad name", "export: [{name: My Sink, type: stdout}]", []string{"audit.export[0].name"}},
		{"duplicate name", "export: [{name: a, type: stdout}, {name: a, type: file, path: /x}]", []string{"audit.export[1].name"}},
		{"no type", "export: [{name: a}]", []string{"audit.export[0].type"}},
		{"unknown type", "export: [{name: a, type: kafka}]", []string{"audit.export[0].type"}},
		{"bad stream", "export: [{name: a, type: stdout, streams: [decisions, logins]}]", []string{"audit.export[0].streams[1]"}},
		{"stream twice", "export: [{name: a, type: stdout, streams: [changes, changes]}]", []string{"audit.export[0].streams[1]"}},
		{"bad start", "export: [{name: a, type: stdout, start: end}]", []string{"audit.export[0].start"}},
		{"batch too large", "export: [{name: a, type: stdout, batch_size: 100000}]", []string{"audit.export[0].batch_size"}},
		{"negative batch", "export: [{name: a, type: stdout, batch_size: -1}]", []string{"audit.export[0].batch_size"}},
		{"poll too fast", "export: [{name: a, type: stdout, poll_interval: 1ms}]", []string{"audit.export[0].poll_interval"}},
		{"retry max below min", "export: [{name: a, type: stdout, retry: {min: 10s, max: 1s}}]", []string{"audit.export[0].retry.max"}},
		{"retry max over a day", "export: [{name: a, type: stdout, retry: {max: 25h}}]", []string{"audit.export[0].retry.max"}},
		{"retry min only", "export: [{name: a, type: stdout, retry: {min: 10m}}]", nil},
		{"file without path", "export: [{name: a, type: file}]", []string{"audit.export[0].path"}},
		{"two sinks on one file", "export: [{name: a, type: file, path: /x/y}, {name: b, type: file, path: /x/../x/y}]", []string{"audit.export[1].path"}},
		{"two sinks on stdout", "export: [{name: a, type: stdout}, {name: b, type: file, path: \"-\"}]", []string{"audit.export[1].path"}},
		{"stdout with path", "export: [{name: a, type: stdout, path: /x}]", []string{"audit.export[0].path"}},
		{"syslog without address", "export: [{name: a, type: syslog}]", []string{"audit.export[0].address"}},
		{"syslog bad network", "export: [{name: a, type: syslog, network: tls, address: \"h:1\"}]", []string{"audit.export[0].network"}},
		{"syslog relative socket", "export: [{name: a, type: syslog, network: unix, address: dev/log}]", []string{"audit.export[0].address"}},
		{"syslog bad facility", "export: [{name: a, type: syslog, address: \"h:1\", facility: local9}]", []string{"audit.export[0].facility"}},
		{"syslog udp framing", "export: [{name: a, type: syslog, address: \"h:1\", framing: newline}]", []string{"audit.export[0].framing"}},
		{"syslog bad framing", "export: [{name: a, type: syslog, network: tcp, address: \"h:1\", framing: nul}]", []string{"audit.export[0].framing"}},
		{"webhook without url", "export: [{name: a, type: webhook}]", []string{"audit.export[0].url"}},
		{"webhook ftp url", "export: [{name: a, type: webhook, url: \"ftp://h/x\"}]", []string{"audit.export[0].url"}},
		{"webhook credentials in url", "export: [{name: a, type: webhook, url: \"https://u:p@h/x\"}]", []string{"audit.export[0].url"}},
		{"webhook bad header", "export: [{name: a, type: webhook, url: \"https://h/x\", secret_file: /s, secret_header: \"X Key\"}]", []string{"audit.export[0].secret_header"}},
		{"webhook header without secret", "export: [{name: a, type: webhook, url: \"https://h/x\", secret_header: X-Key}]", []string{"audit.export[0].secret_header"}},
		{"webhook timeout too long", "export: [{name: a, type: webhook, url: \"https://h/x\", timeout: 1h}]", []string{"audit.export[0].timeout"}},
		{"fields of another type", "export: [{name: a, type: file, path: /x, url: \"https://h\", address: \"h:1\", timeout: 1s}]",
			[]string{"audit.export[0].address", "audit.export[0].url", "audit.export[0].timeout"}},
		{"retention in weeks", "retention: {decisions: 12w}", []string{"audit.retention.decisions"}},
		{"retention fractional days", "retention: {decisions: 1.5d}", []string{"audit.retention.decisions"}},
		{"retention too short", "retention: {decisions: 5m}", []string{"audit.retention.decisions"}},
		{"retention negative", "retention: {decisions: -1h}", []string{"audit.retention.decisions"}},
		{"retention interval alone", "retention: {interval: 1h}", []string{"audit.retention.interval"}},
		{"retention interval too short", "retention: {decisions: 30d, interval: 1ms}", []string{"audit.retention.interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "audit:\n"
			for _, line := range strings.Split(tt.yaml, "\n") {
				doc += "  " + line + "\n"
			}
			if tt.yaml == "" {
				doc = ""
			}
			_, err := Parse([]byte(doc))
			var paths []string
			if err != nil {
				for _, fe := range fieldErrors(t, err) {
					paths = append(paths, fe.Path)
					if fe.Msg == "" || fe.Hint == "" {
						t.Errorf("%q has no message or hint", fe.Error())
					}
				}
			}
			if diff := cmp.Diff(tt.paths, paths); diff != "" {
				t.Errorf("Parse(%q) problems mismatch (-want +got):\n%s", doc, diff)
			}
		})
	}
}

func TestAuditExportDefaults(t *testing.T) {
	c, err := Parse([]byte(`audit:
  export:
    - {name: s, type: syslog, network: tcp, address: "h:1"}
    - {name: w, type: webhook, url: "https://h/x", secret_file: /s}
  retention: {decisions: 90d}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, w := c.Audit.Export[0].WithDefaults(), c.Audit.Export[1].WithDefaults()
	if diff := cmp.Diff([]string{"changes", "policies", "decisions"}, s.Streams); diff != "" {
		t.Errorf("default streams mismatch (-want +got):\n%s", diff)
	}
	if s.Start != ExportStartBeginning || s.BatchSize != 500 || s.PollInterval != time.Second || s.Retry != (AuditExportRetry{time.Second, 5 * time.Minute}) {
		t.Errorf("defaults: start %q batch %d poll %s retry %+v", s.Start, s.BatchSize, s.PollInterval, s.Retry)
	}
	if s.Facility != "local0" || s.Framing != FramingOctetCounting {
		t.Errorf("syslog defaults: facility %q framing %q", s.Facility, s.Framing)
	}
	if w.Timeout != 10*time.Second || w.SecretHeader != "Authorization" {
		t.Errorf("webhook defaults: timeout %s header %q", w.Timeout, w.SecretHeader)
	}
	if !w.Exports("decisions") || !c.Audit.Export[0].Exports("policies") {
		t.Error("a sink without streams exports every stream")
	}
	age, err := c.Audit.Retention.DecisionsMaxAge()
	if err != nil || age != 90*24*time.Hour || c.Audit.Retention.IntervalOrDefault() != time.Hour {
		t.Errorf("retention: %s, %v, interval %s; want 2160h and 1h", age, err, c.Audit.Retention.IntervalOrDefault())
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true}, {"0", 0, true}, {"90d", 90 * 24 * time.Hour, true}, {"1d", 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true}, {"1h30m", 90 * time.Minute, true}, {" 7d ", 7 * 24 * time.Hour, true},
		{"d", 0, false}, {"-3d", 0, false}, {"1.5d", 0, false}, {"3 days", 0, false}, {"99999999d", 0, false}, {"-1h", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseAge(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	// Too many days is said as such, with the limit.
	if _, err := ParseAge("99999d"); err == nil || !strings.Contains(err.Error(), "more than 36600 days") {
		t.Errorf("ParseAge(99999d) = %v, want the limit named", err)
	}
}
