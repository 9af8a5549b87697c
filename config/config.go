// Package config is scimgate's configuration file: the typed schema, its
// defaults (in one place, Default), strict YAML decoding that names unknown
// keys with their line and the keys allowed there, and Validate, which
// reports every problem with its field path.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the address of the SCIM API, the gateway (built-in proxy)
	// and the forward-auth endpoint.
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz and the audit trail
	// (/audit/*, /access/*); empty disables it. Keep it on a private
	// address.
	AdminListen string `yaml:"admin_listen"`
	// AdminTokenSHA256 lists the SHA-256 (hex) of the bearer tokens that
	// may read the audit trail on the admin listener ("scimgate
	// admin-token create" makes one). Empty leaves the trail open, which
	// only a loopback admin_listen allows.
	AdminTokenSHA256 []string `yaml:"admin_token_sha256"`
	// Store names the database: "sqlite:PATH".
	Store    string   `yaml:"store"`
	SCIM     SCIM     `yaml:"scim"`
	Gateway  Gateway  `yaml:"gateway"`
	Routes   []Route  `yaml:"routes"`
	OIDC     *OIDC    `yaml:"oidc"`
	Sessions Sessions `yaml:"sessions"`
	SPOE     SPOE     `yaml:"spoe"`
	// HAProxyMaps keeps HAProxy's maps current ("map-sync mode").
	HAProxyMaps HAProxyMaps `yaml:"haproxy_maps"`
	Log         LogConfig   `yaml:"log"`
	Audit       Audit       `yaml:"audit"`
}

// Gateway configures how requests are decided and forwarded.
type Gateway struct {
	// PublicURL is the gateway's external URL: the issuer of the assertions
	// it signs and the base of its JWKS URL. Default: http://LISTEN.
	PublicURL string `yaml:"public_url"`
	// AssertionTTL is the lifetime of the signed assertion (JWT) sent to
	// upstreams, default 60s.
	AssertionTTL time.Duration `yaml:"assertion_ttl"`
	// MaxSnapshotAge: when the directory view has not been confirmed
	// current for this long (the store cannot be read), every decision is
	// a deny. Default 30s.
	MaxSnapshotAge time.Duration `yaml:"max_snapshot_age"`
}

// SCIM configures the SCIM API.
type SCIM struct {
	// BasePath is where the API is served, default "/scim/v2".
	BasePath string `yaml:"base_path"`
	// BaseURL is the external URL of BasePath, for deployments behind a
	// proxy; by default it is derived from each request.
	BaseURL string `yaml:"base_url"`
	// MaxBodyBytes limits request bodies, default 4 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxResults is the largest page of a list, default 1000.
	MaxResults int  `yaml:"max_results"`
	Bulk       Bulk `yaml:"bulk"`
	// BootstrapTenant is created, with a SCIM token printed once, when
	// `serve` starts on a store without tenants. Empty disables it.
	BootstrapTenant string `yaml:"bootstrap_tenant"`
	// AuthFailures throttles clients that keep failing authentication.
	AuthFailures AuthFailures `yaml:"auth_failures"`
}

// AuthFailures: after Burst failed authentications in a row from one
// address, one attempt is allowed per Interval and the others get 429.
type AuthFailures struct {
	Burst    int           `yaml:"burst"`
	Interval time.Duration `yaml:"interval"`
}

// Bulk limits /Bulk requests.
type Bulk struct {
	MaxOperations   int   `yaml:"max_operations"`
	MaxPayloadBytes int64 `yaml:"max_payload_bytes"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration every file is applied on top of.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		AdminListen: "127.0.0.1:9090",
		Store:       "sqlite:./data/scimgate.db",
		Gateway:     Gateway{AssertionTTL: time.Minute, MaxSnapshotAge: 30 * time.Second},
		SCIM: SCIM{
			BasePath:     "/scim/v2",
			MaxBodyBytes: 4 << 20,
			MaxResults:   1000,
			Bulk:         Bulk{MaxOperations: 1000, MaxPayloadBytes: 4 << 20},
			AuthFailures: AuthFailures{Burst: 20, Interval: 3 * time.Second},
		},
		Sessions:    defaultSessions(),
		SPOE:        SPOE{MaxFrameSize: 16380},
		HAProxyMaps: HAProxyMaps{DriftEvery: 10 * time.Second, MaxStale: 30 * time.Second},
		Log:         LogConfig{Level: "info", Format: "text"},
		Audit:       defaultAudit(),
	}
}

// FieldError is one problem with a configuration field.
type FieldError struct {
	Path string // e.g. "scim.bulk.max_operations"
	Line int    // 0 when unknown
	Msg  string
	Hint string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Path)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Load reads, decodes and validates a configuration file.
func Load(path string) (*Config, error) {
	cfg, _, err := LoadFile(path)
	return cfg, err
}

// LoadFile is Load that also returns the bytes the configuration was
// decoded from: Watch is seeded with their Sum.
func LoadFile(path string) (*Config, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseFile(path, data)
	return cfg, data, err
}

// ParseFile is Parse of data read from path, its errors naming the file.
func ParseFile(path string, data []byte) (*Config, error) {
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates configuration YAML.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	if err := decodeStrict(data, &cfg); err != nil {
		return nil, err
	}
	if cfg.OIDC != nil {
		cfg.OIDC.withDefaults()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate reports every problem, each with its field path.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, msg, hint string) {
		errs = append(errs, &FieldError{Path: path, Msg: msg, Hint: hint})
	}
	if !validAddr(c.Listen) {
		add("listen", fmt.Sprintf("%q is not a host:port address", c.Listen), `for example "127.0.0.1:8080"`)
	}
	if c.AdminListen != "" && !validAddr(c.AdminListen) {
		add("admin_listen", fmt.Sprintf("%q is not a host:port address", c.AdminListen), `for example "127.0.0.1:9090", or "" to disable`)
	}
	c.checkListenersApart(add)
	validateAdminTokens(c.AdminListen, c.AdminTokenSHA256, add)
	if c.Gateway.PublicURL != "" {
		if u, err := url.Parse(c.Gateway.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("gateway.public_url", fmt.Sprintf("%q is not an http(s) URL", c.Gateway.PublicURL), `for example "https://gate.example.com"`)
		}
	}
	if c.Gateway.AssertionTTL < time.Second {
		add("gateway.assertion_ttl", fmt.Sprintf("%s is too short", c.Gateway.AssertionTTL), `at least "1s"; the default is "60s"`)
	}
	if c.Gateway.MaxSnapshotAge < time.Second {
		add("gateway.max_snapshot_age", fmt.Sprintf("%s is too short", c.Gateway.MaxSnapshotAge), `at least "1s"; the default is "30s"`)
	}
	validateRoutes(c.Routes, add)
	validateOIDC(c.OIDC, add)
	validateSessions(c.Sessions, add)
	validateSPOE(c.SPOE, add)
	validateAudit(c.Audit, add)
	validateHAProxyMaps(c.HAProxyMaps, add)
	if c.HAProxyMaps.Enabled() {
		checkFoldableInHAProxy(c.Routes, add)
	}
	if _, err := c.SQLitePath(); err != nil {
		add("store", err.Error(), `use "sqlite:./data/scimgate.db"`)
	}
	if !strings.HasPrefix(c.SCIM.BasePath, "/") {
		add("scim.base_path", fmt.Sprintf("%q must start with /", c.SCIM.BasePath), `the default is "/scim/v2"`)
	}
	if c.SCIM.BaseURL != "" && !strings.HasPrefix(c.SCIM.BaseURL, "http://") && !strings.HasPrefix(c.SCIM.BaseURL, "https://") {
		add("scim.base_url", fmt.Sprintf("%q is not an http(s) URL", c.SCIM.BaseURL), `for example "https://gate.example.com/scim/v2"`)
	}
	if c.SCIM.MaxBodyBytes < 1024 {
		add("scim.max_body_bytes", fmt.Sprintf("%d is too small", c.SCIM.MaxBodyBytes), "at least 1024; the default is 4194304")
	}
	if c.SCIM.MaxResults < 1 {
		add("scim.max_results", fmt.Sprintf("%d must be positive", c.SCIM.MaxResults), "the default is 1000")
	}
	if c.SCIM.Bulk.MaxOperations < 1 {
		add("scim.bulk.max_operations", fmt.Sprintf("%d must be positive", c.SCIM.Bulk.MaxOperations), "the default is 1000")
	}
	if c.SCIM.Bulk.MaxPayloadBytes < 1024 {
		add("scim.bulk.max_payload_bytes", fmt.Sprintf("%d is too small", c.SCIM.Bulk.MaxPayloadBytes), "at least 1024; the default is 4194304")
	}
	if c.SCIM.AuthFailures.Burst < 1 {
		add("scim.auth_failures.burst", fmt.Sprintf("%d must be positive", c.SCIM.AuthFailures.Burst), "the default is 20")
	}
	if c.SCIM.AuthFailures.Interval <= 0 {
		add("scim.auth_failures.interval", fmt.Sprintf("%s must be positive", c.SCIM.AuthFailures.Interval), `the default is "3s"`)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", fmt.Sprintf("%q is not a log level", c.Log.Level), "one of debug, info, warn, error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", fmt.Sprintf("%q is not a log format", c.Log.Format), "text or json")
	}
	return errors.Join(errs...)
}

// validAddr reports whether s is host:port with a numeric port.
func validateAdminTokens(listen string, hashes []string, add func(path, msg, hint string)) {
	for i, h := range hashes {
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			add(fmt.Sprintf("admin_token_sha256[%d]", i), "is not a SHA-256 in hex (64 characters)",
				`put the hash "scimgate admin-token create" prints, never the token itself`)
		}
	}
	if len(hashes) == 0 && listen != "" && validAddr(listen) && !loopback(listen) {
		add("admin_listen", fmt.Sprintf("%q is not a loopback address and admin_token_sha256 is empty: the audit trail would be open to the network", listen),
			`bind it to "127.0.0.1:9090", or require a token: admin_token_sha256 (scimgate admin-token create)`)
	}
}

// checkListenersApart reports a listener whose address the kernel would
// refuse because an earlier one holds it.
func (c *Config) checkListenersApart(add func(path, msg, hint string)) {
	type listener struct{ path, addr string }
	ls := []listener{{"listen", c.Listen}, {"admin_listen", c.AdminListen}}
	if network, addr, ok := c.SPOE.ListenAddr(); ok && network == "tcp" {
		ls = append(ls, listener{"spoe.listen", addr})
	}
	for i, l := range ls {
		for _, earlier := range ls[:i] {
			if l.addr != "" && clash(l.addr, earlier.addr) {
				add(l.path, fmt.Sprintf("%q is also %s: two listeners cannot share an address", l.addr, earlier.path),
					"give it another port, or bind the two to different addresses (an empty host, 0.0.0.0 or :: takes the port on every address)")
				break
			}
		}
	}
}

// clash reports whether two host:port listeners cannot both bind: the
// same fixed port (port 0, a free port each, never collides) on the same
// host, or on every address ("" and "::", which Go binds for IPv4 too) and
// any other, or on every IPv4 address ("0.0.0.0") and an IPv4 one.
func clash(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	ha, hb = listenHost(ha), listenHost(hb)
	ipv4 := func(h string) bool { ip := net.ParseIP(h); return ip != nil && ip.To4() != nil }
	switch {
	case ha == hb, ha == "::", hb == "::":
		return true
	case ha == "0.0.0.0":
		return ipv4(hb)
	case hb == "0.0.0.0":
		return ipv4(ha)
	}
	return false
}

// listenHost puts a listener's host in one spelling: "::" for every
// address, localhost as the address Go binds for it, IPs canonical, names
// in lower case.
func listenHost(h string) string {
	switch {
	case h == "":
		return "::"
	case strings.EqualFold(h, "localhost"):
		return "127.0.0.1"
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.ToLower(h)
}

// loopback reports whether a host:port address listens on loopback only.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// SQLitePath returns the database path of a "sqlite:PATH" store.
func (c *Config) SQLitePath() (string, error) {
	scheme, rest, ok := strings.Cut(c.Store, ":")
	switch {
	case !ok || rest == "":
		return "", fmt.Errorf("%q names no store", c.Store)
	case scheme == "sqlite":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return "", fmt.Errorf("%q names no database file", c.Store)
		}
		return path, nil
	case scheme == "postgres" || scheme == "postgresql":
		return "", errors.New("the postgres store is not available yet")
	}
	return "", fmt.Errorf("unknown store type %q", scheme)
}
