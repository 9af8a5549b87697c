package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AuditExport is one sink that `serve` exports the audit streams to, for
// a SIEM: every record as one line of JSON, the shape of `scimgate audit
// log --json`. The exporter reads the streams from the store after a
// cursor kept per sink and stream, never from the request path: a slow
// or unreachable sink falls behind and catches up, it never slows
// requests. The cursor moves only once the sink has taken a batch, so
// delivery is at least once: after a crash, or when a webhook's answer is
// lost, records are sent again, and receivers deduplicate by stream and
// seq. Zero values take the defaults of WithDefaults.
type AuditExport struct {
	// Name identifies the sink: its cursors in the store and the sink
	// label of its metrics. Renaming a sink starts a new one.
	Name string `yaml:"name"`
	// Type is "file" (append to Path; "-" is standard output), "stdout",
	// "syslog" or "webhook".
	Type string `yaml:"type"`
	// Streams lists the streams exported: changes, policies, decisions.
	// Default: all three.
	Streams []string `yaml:"streams"`
	// Start is where a new sink starts: "beginning" (the default: every
	// record still stored) or "now" (only records appended from its first
	// run on).
	Start string `yaml:"start"`
	// BatchSize is how many records of a stream one delivery carries at
	// most; default 500.
	BatchSize int `yaml:"batch_size"`
	// PollInterval is how often the streams are read when the sink has
	// caught up; default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Retry paces attempts after a failed delivery.
	Retry AuditExportRetry `yaml:"retry"`

	// Path is the file of a file sink: records are appended, and the file
	// is synced after every batch. A file renamed away (log rotation) is
	// created anew on the next batch.
	Path string `yaml:"path"`

	// Network is how a syslog sink reaches its server: "udp" (the
	// default), "tcp" or "unix" (a local socket).
	Network string `yaml:"network"`
	// Address is the syslog server: host:port, or a socket path for unix.
	Address string `yaml:"address"`
	// Facility is the syslog facility, default "local0".
	Facility string `yaml:"facility"`
	// Framing is how messages are delimited over tcp: "octet-counting"
	// (RFC 6587, the default) or "newline".
	Framing string `yaml:"framing"`

	// URL is where a webhook sink POSTs each batch, as JSON lines
	// (Content-Type application/x-ndjson); any 2xx answer is delivery.
	URL string `yaml:"url"`
	// SecretFile holds a secret sent with every request, read again for
	// each batch (rotate it in place). Optional.
	SecretFile string `yaml:"secret_file"`
	// SecretHeader is the header the secret goes in, default
	// "Authorization", where it is sent as "Bearer SECRET"; in any other
	// header it is sent as it is.
	SecretHeader string `yaml:"secret_header"`
	// Timeout bounds one webhook request, default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// AuditExportRetry: after a failed delivery the sink waits Min, then
// twice as long after each further failure up to Max, each wait with
// random jitter, and tries the same batch again — forever, since records
// are never skipped. Defaults 1s and 5m.
type AuditExportRetry struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// AuditRetention says how long the audit trail keeps decisions. Directory
// changes and policy versions are never pruned: the point-in-time answers
// (`access who`, `access history`) are computed from them.
type AuditRetention struct {
	// Decisions is how long decisions are kept: days ("90d") or a Go
	// duration ("2160h"); empty keeps them forever. A decision is deleted
	// only once it is older than this AND every configured sink that
	// exports decisions has delivered it.
	Decisions string `yaml:"decisions"`
	// Interval is how often old decisions are deleted, default 1h.
	Interval time.Duration `yaml:"interval"`
}

// Values of AuditExport fields.
const (
	ExportFile    = "file"
	ExportStdout  = "stdout"
	ExportSyslog  = "syslog"
	ExportWebhook = "webhook"

	ExportStartBeginning = "beginning"
	ExportStartNow       = "now"

	FramingOctetCounting = "octet-counting"
	FramingNewline       = "newline"
)

// auditStreams are the stream names, as package store names them.
var auditStreams = []string{"changes", "policies", "decisions"}

// SyslogFacilities maps facility names to their RFC 5424 codes.
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// WithDefaults returns e with every unset field at its default.
func (e AuditExport) WithDefaults() AuditExport {
	if len(e.Streams) == 0 {
		e.Streams = slices.Clone(auditStreams)
	}
	if e.Start == "" {
		e.Start = ExportStartBeginning
	}
	if e.BatchSize == 0 {
		e.BatchSize = 500
	}
	if e.PollInterval == 0 {
		e.PollInterval = time.Second
	}
	if e.Retry.Min == 0 {
		e.Retry.Min = time.Second
	}
	if e.Retry.Max == 0 {
		e.Retry.Max = max(5*time.Minute, e.Retry.Min)
	}
	switch e.Type {
	case ExportSyslog:
		if e.Network == "" {
			e.Network = "udp"
		}
		if e.Facility == "" {
			e.Facility = "local0"
		}
		if e.Framing == "" && e.Network == "tcp" {
			e.Framing = FramingOctetCounting
		}
	case ExportWebhook:
		if e.Timeout == 0 {
			e.Timeout = 10 * time.Second
		}
		if e.SecretHeader == "" && e.SecretFile != "" {
			e.SecretHeader = "Authorization"
		}
	}
	return e
}

// Exports reports whether the sink exports stream.
func (e AuditExport) Exports(stream string) bool {
	return len(e.Streams) == 0 || slices.Contains(e.Streams, stream)
}

// DecisionsMaxAge returns how long decisions are kept; 0 means forever.
func (r AuditRetention) DecisionsMaxAge() (time.Duration, error) {
	return ParseAge(r.Decisions)
}

// IntervalOrDefault returns Interval, or its default.
func (r AuditRetention) IntervalOrDefault() time.Duration {
	if r.Interval == 0 {
		return time.Hour
	}
	return r.Interval
}

// maxAgeDays bounds ages in days (a century), far from overflowing.
const maxAgeDays = 100 * 366

// ParseAge reads "90d" (whole days) or a Go duration; "" and "0" are 0.
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		switch {
		case err != nil || n < 0:
			return 0, fmt.Errorf("%q is not a number of days", s)
		case n > maxAgeDays:
			return 0, fmt.Errorf("%q is more than %d days", s, maxAgeDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return d, nil
}

var sinkName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// headerToken is what an HTTP header name may contain.
var headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func validateAuditExport(a Audit, add func(path, msg, hint string)) {
	names := map[string]bool{}
	files := map[string]string{}
	for i, raw := range a.Export {
		e := raw.WithDefaults()
		p := fmt.Sprintf("audit.export[%d]", i)
		switch {
		case e.Name == "":
			add(p+".name", "is required", "a short name such as siem: it keys the sink's position in the store and its metrics")
		case !sinkName.MatchString(e.Name):
			add(p+".name", fmt.Sprintf("%q is not a sink name", e.Name), "lowercase letters, digits, - and _, at most 63")
		case names[e.Name]:
			add(p+".name", fmt.Sprintf("%q names another sink too", e.Name), "each sink needs its own name")
		}
		names[e.Name] = true
		seen := map[string]bool{}
		for j, s := range e.Streams {
			switch {
			case !slices.Contains(auditStreams, s):
				add(fmt.Sprintf("%s.streams[%d]", p, j), fmt.Sprintf("%q is not an audit stream", s), "changes, policies or decisions; leave streams out for all three")
			case seen[s]:
				add(fmt.Sprintf("%s.streams[%d]", p, j), fmt.Sprintf("%q is listed twice", s), "list each stream once")
			}
			seen[s] = true
		}
		if e.Start != ExportStartBeginning && e.Start != ExportStartNow {
			add(p+".start", fmt.Sprintf("%q is not beginning or now", e.Start), `"beginning" (the default) exports every record still stored; "now" only new ones`)
		}
		if e.BatchSize < 1 || e.BatchSize > 10000 {
			add(p+".batch_size", fmt.Sprintf("%d is out of range", e.BatchSize), "between 1 and 10000; the default is 500")
		}
		if e.PollInterval < 10*time.Millisecond || e.PollInterval > time.Hour {
			add(p+".poll_interval", fmt.Sprintf("%s is out of range", e.PollInterval), `between "10ms" and "1h"; the default is "1s"`)
		}
		if e.Retry.Min < 10*time.Millisecond || e.Retry.Min > time.Hour {
			add(p+".retry.min", fmt.Sprintf("%s is out of range", e.Retry.Min), `between "10ms" and "1h"; the default is "1s"`)
		}
		switch {
		case e.Retry.Max < e.Retry.Min:
			add(p+".retry.max", fmt.Sprintf("%s is less than retry.min (%s)", e.Retry.Max, e.Retry.Min), `at least retry.min; the default is "5m"`)
		case e.Retry.Max > 24*time.Hour:
			add(p+".retry.max", fmt.Sprintf("%s is more than 24h", e.Retry.Max), `at most "24h"; the default is "5m"`)
		}
		validateSink(e, p, files, add)
	}
	r := a.Retention
	age, err := r.DecisionsMaxAge()
	switch {
	case err != nil:
		add("audit.retention.decisions", err.Error(), `whole days such as "90d", or a duration such as "2160h"; leave it out to keep decisions forever`)
	case age > 0 && age < time.Hour:
		add("audit.retention.decisions", fmt.Sprintf("%s is shorter than an hour", age), `for example "90d"`)
	}
	if r.Interval != 0 && (r.Interval < time.Second || r.Interval > 7*24*time.Hour) {
		add("audit.retention.interval", fmt.Sprintf("%s is out of range", r.Interval), `between "1s" and "168h"; the default is "1h"`)
	}
	if r.Interval != 0 && age == 0 && err == nil {
		add("audit.retention.interval", "is set but audit.retention.decisions is not", `set decisions, e.g. "90d"`)
	}
}

// validateSink checks the fields of e's type, and that no field of
// another type is set.
func validateSink(e AuditExport, p string, files map[string]string, add func(path, msg, hint string)) {
	unused := func(field, value string) {
		if value != "" {
			add(p+"."+field, fmt.Sprintf("is set but type is %q", e.Type), "it belongs to another sink type; remove it")
		}
	}
	target := ""
	switch e.Type {
	case ExportFile:
		if e.Path == "" {
			add(p+".path", "is required for a file sink", `for example "/var/log/scimgate/audit.jsonl", or "-" for standard output`)
		}
		target = e.Path
		if target != "-" && target != "" {
			target = filepath.Clean(target)
		}
	case ExportStdout:
		target = "-"
	case ExportSyslog:
		switch e.Network {
		case "udp", "tcp":
			if !validAddr(e.Address) {
				add(p+".address", fmt.Sprintf("%q is not a host:port address", e.Address), `for example "siem.example.com:514"`)
			}
		case "unix":
			if !strings.HasPrefix(e.Address, "/") {
				add(p+".address", fmt.Sprintf("%q is not an absolute socket path", e.Address), `for example "/dev/log"`)
			}
		default:
			add(p+".network", fmt.Sprintf("%q is not udp, tcp or unix", e.Network), `the default is "udp"`)
		}
		if _, ok := SyslogFacilities[e.Facility]; !ok {
			add(p+".facility", fmt.Sprintf("%q is not a syslog facility", e.Facility), "for example auth, authpriv, daemon or local0-local7; the default is local0")
		}
		switch {
		case e.Network != "tcp" && e.Framing != "":
			add(p+".framing", fmt.Sprintf("is set but network is %q", e.Network), "framing applies to tcp only")
		case e.Network == "tcp" && e.Framing != FramingOctetCounting && e.Framing != FramingNewline:
			add(p+".framing", fmt.Sprintf("%q is not octet-counting or newline", e.Framing), `the default is "octet-counting" (RFC 6587)`)
		}
	case ExportWebhook:
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(p+".url", fmt.Sprintf("%q is not an http(s) URL", e.URL), `for example "https://siem.example.com/ingest"`)
		} else if u.User != nil {
			add(p+".url", "holds credentials", "put the secret in a file named by secret_file")
		}
		if e.SecretHeader != "" && !headerToken.MatchString(e.SecretHeader) {
			add(p+".secret_header", fmt.Sprintf("%q is not a header name", e.SecretHeader), `for example "Authorization" or "X-Api-Key"`)
		}
		if e.SecretHeader != "" && e.SecretFile == "" {
			add(p+".secret_header", "is set but secret_file is not", "name the file that holds the secret")
		}
		if e.Timeout < 100*time.Millisecond || e.Timeout > 5*time.Minute {
			add(p+".timeout", fmt.Sprintf("%s is out of range", e.Timeout), `between "100ms" and "5m"; the default is "10s"`)
		}
	default:
		add(p+".type", fmt.Sprintf("%q is not a sink type", e.Type), "file, stdout, syslog or webhook")
		return
	}
	if e.Type != ExportFile {
		unused("path", e.Path)
	}
	if e.Type != ExportSyslog {
		unused("network", e.Network)
		unused("address", e.Address)
		unused("facility", e.Facility)
		unused("framing", e.Framing)
	}
	if e.Type != ExportWebhook {
		unused("url", e.URL)
		unused("secret_file", e.SecretFile)
		unused("secret_header", e.SecretHeader)
		if e.Timeout != 0 {
			add(p+".timeout", fmt.Sprintf("is set but type is %q", e.Type), "it belongs to webhook sinks; remove it")
		}
	}
	if target != "" {
		if other, ok := files[target]; ok {
			add(p+".path", fmt.Sprintf("sink %q writes to %s too", other, displayTarget(target)), "two sinks would interleave their lines; export several streams from one sink instead")
		}
		files[target] = e.Name
	}
}

func displayTarget(t string) string {
	if t == "-" {
		return "standard output"
	}
	return t
}
