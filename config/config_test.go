package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// problems returns the messages of err's joined errors, one per problem.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// fieldErrors returns the *FieldErrors joined in err.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v (%T) joins no errors", err, err)
	}
	var out []*FieldError
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("joined error %v is %T, want *FieldError", e, e)
		}
		out = append(out, fe)
	}
	return out
}

const fullConfig = `# every key
listen: "0.0.0.0:9443"
admin_listen: "127.0.0.1:9191"
store: "sqlite:/var/lib/scimgate/scimgate.db"
gateway:
  public_url: https://gate.example.com
  assertion_ttl: 30s
  max_snapshot_age: 10s
routes:
  - name: app
    host: "*.example.com"
    path: /app/
    methods: [GET, POST]
    upstream: http://127.0.0.1:9001
    allow: {groups: [engineering, okta/admins], users: [alice@example.com]}
    deny: {groups: [contractors], users: [mallory@example.com]}
oidc:
  issuer: https://idp.example.com
  client_id: scimgate
  client_secret: s3cret
  redirect_url: https://gate.example.com/oauth2/callback
  user_claim: preferred_username
  tenant: okta
sessions:
  cookie_domain: .example.com
  idle: 30m
  lifetime: 8h
scim:
  base_path: /api/scim/v2
  base_url: https://gate.example.com/api/scim/v2
  max_body_bytes: 1048576
  max_results: 200
  bulk:
    max_operations: 50
    max_payload_bytes: 0x100000
  bootstrap_tenant: okta
  auth_failures:
    burst: 5
    interval: 1m
log:
  level: debug
  format: json
`

func TestParseFull(t *testing.T) {
	got, err := Parse([]byte(fullConfig))
	if err != nil {
		t.Fatalf("Parse(full) = %v", err)
	}
	want := &Config{
		Listen:      "0.0.0.0:9443",
		AdminListen: "127.0.0.1:9191",
		Store:       "sqlite:/var/lib/scimgate/scimgate.db",
		Gateway:     Gateway{PublicURL: "https://gate.example.com", AssertionTTL: 30 * time.Second, MaxSnapshotAge: 10 * time.Second},
		Routes: []Route{{
			Name: "app", Host: "*.example.com", Path: "/app/", Methods: []string{"GET", "POST"}, Upstream: "http://127.0.0.1:9001",
			Allow: AllowRule{Groups: []string{"engineering", "okta/admins"}, Users: []string{"alice@example.com"}},
			Deny:  DenyRule{Groups: []string{"contractors"}, Users: []string{"mallory@example.com"}},
		}},
		OIDC: &OIDC{Issuer: "https://idp.example.com", ClientID: "scimgate", ClientSecret: "s3cret",
			RedirectURL: "https://gate.example.com/oauth2/callback", Scopes: []string{"openid", "email", "profile"},
			UserClaim: "preferred_username", UserAttribute: "userName", Tenant: "okta", Audiences: []string{"scimgate"}, ClockSkew: time.Minute},
		Sessions:    Sessions{CookieName: "scimgate_session", CookieDomain: ".example.com", Idle: 30 * time.Minute, Lifetime: 8 * time.Hour},
		SPOE:        SPOE{MaxFrameSize: 16380},
		HAProxyMaps: HAProxyMaps{DriftEvery: 10 * time.Second, MaxStale: 30 * time.Second},
		SCIM: SCIM{
			BasePath:        "/api/scim/v2",
			BaseURL:         "https://gate.example.com/api/scim/v2",
			MaxBodyBytes:    1 << 20,
			MaxResults:      200,
			Bulk:            Bulk{MaxOperations: 50, MaxPayloadBytes: 1 << 20},
			BootstrapTenant: "okta",
			AuthFailures:    AuthFailures{Burst: 5, Interval: time.Minute},
		},
		Log:   LogConfig{Level: "debug", Format: "json"},
		Audit: defaultAudit(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(full) mismatch (-want +got):\n%s", diff)
	}
	if p, err := got.SQLitePath(); err != nil || p != "/var/lib/scimgate/scimgate.db" {
		t.Errorf("SQLitePath() = %q, %v", p, err)
	}
}

func TestParseDefaults(t *testing.T) {
	withDefaults := func(change func(*Config)) *Config {
		c := Default()
		change(&c)
		return &c
	}
	tests := []struct {
		name, yaml string
		want       *Config
	}{
		{"empty file", "", withDefaults(func(*Config) {})},
		{"only a comment", "# nothing here\n", withDefaults(func(*Config) {})},
		{"empty document", "---\n", withDefaults(func(*Config) {})},
		{"null sections keep defaults", "scim: ~\nlog:\nlisten: null\n", withDefaults(func(*Config) {})},
		{"empty mapping", "{}", withDefaults(func(*Config) {})},
		{"one top-level key", `listen: "127.0.0.1:9000"`, withDefaults(func(c *Config) { c.Listen = "127.0.0.1:9000" })},
		{"nested key keeps its siblings", "scim:\n  bulk:\n    max_operations: 5\n", withDefaults(func(c *Config) { c.SCIM.Bulk.MaxOperations = 5 })},
		{"quickstart", "listen: \"127.0.0.1:8080\"\nstore: \"sqlite:./data/scimgate.db\"\nscim:\n  bootstrap_tenant: default\nlog:\n  level: info\n",
			withDefaults(func(c *Config) { c.SCIM.BootstrapTenant = "default" })},
		{"alias of a scalar", "listen: &addr \"127.0.0.1:7000\"\nscim: {bootstrap_tenant: *addr}\n",
			withDefaults(func(c *Config) { c.Listen = "127.0.0.1:7000"; c.SCIM.BootstrapTenant = "127.0.0.1:7000" })},
		{"integer forms", "scim: {max_results: 1_000, max_body_bytes: 0o20000000}", withDefaults(func(c *Config) {
			c.SCIM.MaxResults = 1000
			c.SCIM.MaxBodyBytes = 4 << 20
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.yaml, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.yaml, diff)
			}
		})
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestParseDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // every problem, in order
	}{
		{"unknown nested key with a hint", "scim: {bulk: {max_operation: 5}}",
			[]string{`line 1: scim.bulk.max_operation: unknown key (did you mean "max_operations"? known keys: max_operations, max_payload_bytes)`}},
		{"unknown top-level key with a hint", "listen: \"127.0.0.1:1\"\nlistn: x\n",
			[]string{`line 2: listn: unknown key (did you mean "listen"? known keys: admin_listen, admin_token_sha256, audit, gateway, haproxy_maps, listen, log, oidc, routes, scim, sessions, spoe, store)`}},
		{"unknown key in another case", "LOG: {level: info}",
			[]string{`line 1: LOG: unknown key (did you mean "log"? known keys: admin_listen, admin_token_sha256, audit, gateway, haproxy_maps, listen, log, oidc, routes, scim, sessions, spoe, store)`}},
		{"unknown key without a close match", "policies: []",
			[]string{`line 1: policies: unknown key (known keys: admin_listen, admin_token_sha256, audit, gateway, haproxy_maps, listen, log, oidc, routes, scim, sessions, spoe, store)`}},
		{"several problems at once", "scim:\n  bulk:\n    max_operation: 5\n  max_result: 3\n  max_results: lots\nlogg: {}\nlisten: [a, b]\n",
			[]string{
				`line 3: scim.bulk.max_operation: unknown key (did you mean "max_operations"? known keys: max_operations, max_payload_bytes)`,
				`line 4: scim.max_result: unknown key (did you mean "max_results"? known keys: auth_failures, base_path, base_url, bootstrap_tenant, bulk, max_body_bytes, max_results)`,
				`line 5: scim.max_results: "lots" is not an integer`,
				`line 6: logg: unknown key (did you mean "log"? known keys: admin_listen, admin_token_sha256, audit, gateway, haproxy_maps, listen, log, oidc, routes, scim, sessions, spoe, store)`,
				`line 7: listen: must be a single value, not a list or mapping (quote it if it contains a colon)`,
			}},
		{"string for int", "scim:\n  max_results: five\n", []string{`line 2: scim.max_results: "five" is not an integer`}},
		{"float for int", "scim: {max_body_bytes: 1.5}", []string{`line 1: scim.max_body_bytes: "1.5" is not an integer`}},
		{"bool for int", "scim: {bulk: {max_payload_bytes: true}}", []string{`line 1: scim.bulk.max_payload_bytes: "true" is not an integer`}},
		{"overflowing int", "scim: {max_body_bytes: 99999999999999999999}", []string{`line 1: scim.max_body_bytes: "99999999999999999999" is not an integer`}},
		{"list for string", "store:\n  - sqlite:a.db\n", []string{`line 2: store: must be a single value, not a list or mapping (quote it if it contains a colon)`}},
		{"mapping for string", "listen: {host: x}", []string{`line 1: listen: must be a single value, not a list or mapping (quote it if it contains a colon)`}},
		{"unquoted colon", "log:\n  level: debug\n  format: a: b\n", nil}, // a YAML syntax error: checked below
		{"scalar for section", "scim: 5", []string{`line 1: scim: must be a mapping of keys to values`}},
		{"list for section", "log:\n  - level: debug\n", []string{`line 2: log: must be a mapping of keys to values`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.yaml, got)
			}
			if tt.want == nil {
				if !strings.Contains(err.Error(), "invalid YAML") {
					t.Errorf("Parse(%q) = %v, want an invalid YAML error", tt.yaml, err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("Parse(%q) problems mismatch (-want +got):\n%s", tt.yaml, diff)
			}
			for _, fe := range fieldErrors(t, err) {
				if fe.Line == 0 || fe.Path == "" {
					t.Errorf("Parse(%q): %v has no line or path", tt.yaml, fe)
				}
			}
		})
	}
}

func TestParseFieldErrorFields(t *testing.T) {
	_, err := Parse([]byte("log:\n  level: info\nscim:\n  bulk: {max_operation: 5}\n"))
	fes := fieldErrors(t, err)
	if len(fes) != 1 {
		t.Fatalf("Parse = %v, want one problem", err)
	}
	fe := fes[0]
	if fe.Path != "scim.bulk.max_operation" || fe.Line != 4 || fe.Msg != "unknown key" || !strings.Contains(fe.Hint, `did you mean "max_operations"?`) {
		t.Errorf("Parse = %+v, want path scim.bulk.max_operation, line 4, a did-you-mean hint", fe)
	}
}

func TestParseQuotedInteger(t *testing.T) {
	// A quoted number passes the type check and fails in the YAML decoder:
	// still an error with its line, though without the field path.
	_, err := Parse([]byte("scim:\n  max_results: \"5\"\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf(`Parse(max_results: "5") = %v, want an error naming line 2`, err)
	}
}

func TestParseInvalidYAML(t *testing.T) {
	for _, src := range []string{"listen: [", "a: b\n c", "\t- x", "scim: {bulk: }}", "a: &x\nb: *y\n", "a: 1\na: 2\n"} {
		if c, err := Parse([]byte(src)); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", src, c)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		paths  []string // the paths of the problems, in order
	}{
		{"default", func(*Config) {}, nil},
		{"ipv6 listen", func(c *Config) { c.Listen = "[::1]:8080" }, nil},
		{"any-host listen", func(c *Config) { c.Listen = ":8080" }, nil},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{"listen"}},
		{"admin on localhost", func(c *Config) { c.AdminListen = "localhost:9090" }, nil},
		{"admin on ipv6 loopback", func(c *Config) { c.AdminListen = "[::1]:9090" }, nil},
		{"admin disabled", func(c *Config) { c.AdminListen = "" }, nil},
		{"admin on every interface without a token", func(c *Config) { c.AdminListen = ":9090" }, []string{"admin_listen"}},
		{"admin on a private address without a token", func(c *Config) { c.AdminListen = "10.0.0.5:9090" }, []string{"admin_listen"}},
		{"admin on every interface with a token", func(c *Config) {
			c.AdminListen, c.AdminTokenSHA256 = ":9090", []string{strings.Repeat("ab", 32)}
		}, nil},
		{"admin token in clear", func(c *Config) {
			c.AdminListen, c.AdminTokenSHA256 = ":9090", []string{strings.Repeat("ab", 32), "sgadm_secret"}
		}, []string{"admin_token_sha256[1]"}},
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen"}},
		{"listen as URL", func(c *Config) { c.Listen = "http://127.0.0.1:8080" }, []string{"listen"}},
		{"sqlite store with slashes", func(c *Config) { c.Store = "sqlite:///tmp/x.db" }, nil},
		{"unknown store scheme", func(c *Config) { c.Store = "mysql://db/x" }, []string{"store"}},
		{"store without scheme", func(c *Config) { c.Store = "./data/x.db" }, []string{"store"}},
		{"store without path", func(c *Config) { c.Store = "sqlite:" }, []string{"store"}},
		{"empty store", func(c *Config) { c.Store = "" }, []string{"store"}},
		{"postgres store", func(c *Config) { c.Store = "postgres://u@localhost/scimgate" }, []string{"store"}},
		{"postgresql store", func(c *Config) { c.Store = "postgresql://u@localhost/scimgate" }, []string{"store"}},
		{"relative base path", func(c *Config) { c.SCIM.BasePath = "scim/v2" }, []string{"scim.base_path"}},
		{"empty base path", func(c *Config) { c.SCIM.BasePath = "" }, []string{"scim.base_path"}},
		{"base URL without scheme", func(c *Config) { c.SCIM.BaseURL = "gate.example.com/scim/v2" }, []string{"scim.base_url"}},
		{"http base URL", func(c *Config) { c.SCIM.BaseURL = "http://gate/scim/v2" }, nil},
		{"small body limit", func(c *Config) { c.SCIM.MaxBodyBytes = 1023 }, []string{"scim.max_body_bytes"}},
		{"smallest body limit", func(c *Config) { c.SCIM.MaxBodyBytes = 1024 }, nil},
		{"zero max results", func(c *Config) { c.SCIM.MaxResults = 0 }, []string{"scim.max_results"}},
		{"negative bulk operations", func(c *Config) { c.SCIM.Bulk.MaxOperations = -1 }, []string{"scim.bulk.max_operations"}},
		{"small bulk payload", func(c *Config) { c.SCIM.Bulk.MaxPayloadBytes = 10 }, []string{"scim.bulk.max_payload_bytes"}},
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" }, []string{"log.level"}},
		{"log level in upper case", func(c *Config) { c.Log.Level = "INFO" }, []string{"log.level"}},
		{"bad log format", func(c *Config) { c.Log.Format = "logfmt" }, []string{"log.format"}},
		{"spoe agent", func(c *Config) { c.SPOE.Listen = "127.0.0.1:12345" }, nil},
		{"spoe with a unix runtime API", func(c *Config) {
			c.SPOE = SPOE{Listen: ":12345", RuntimeAPI: "/run/haproxy/admin.sock", MaxFrameSize: 16380}
		}, nil},
		{"spoe with a prefixed runtime API", func(c *Config) { c.SPOE = SPOE{Listen: ":12345", RuntimeAPI: "unix:/run/h.sock", MaxFrameSize: 256} }, nil},
		{"spoe with a TCP runtime API", func(c *Config) {
			c.SPOE = SPOE{Listen: ":12345", RuntimeAPI: "ipv4@127.0.0.1:9999", MaxFrameSize: 16380}
		}, nil},
		{"spoe listen without port", func(c *Config) { c.SPOE.Listen = "127.0.0.1" }, []string{"spoe.listen"}},
		{"spoe on a unix socket", func(c *Config) { c.SPOE.Listen = "unix:/run/scimgate/spoe.sock" }, nil},
		{"spoe on a relative unix socket", func(c *Config) { c.SPOE.Listen = "unix:spoe.sock" }, []string{"spoe.listen"}},
		{"spoe on a bare path", func(c *Config) { c.SPOE.Listen = "/run/scimgate/spoe.sock" }, []string{"spoe.listen"}},
		{"spoe runtime API relative", func(c *Config) { c.SPOE = SPOE{Listen: ":1", RuntimeAPI: "admin.sock", MaxFrameSize: 16380} }, []string{"spoe.runtime_api"}},
		{"spoe runtime API without agent", func(c *Config) { c.SPOE.RuntimeAPI = "/run/h.sock" }, []string{"spoe.runtime_api"}},
		{"spoe frame size", func(c *Config) { c.SPOE = SPOE{Listen: ":1", MaxFrameSize: 255} }, []string{"spoe.max_frame_size"}},
		{"haproxy maps", func(c *Config) { c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir = "/run/h.sock", "/etc/haproxy/scimgate" }, nil},
		{"haproxy maps jwt cookie", func(c *Config) {
			c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir, c.HAProxyMaps.JWTCookie = "/run/h.sock", "/etc/haproxy/scimgate", "__Host-scimgate_jwt"
		}, nil},
		{"haproxy maps jwt cookie not a name", func(c *Config) {
			c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir, c.HAProxyMaps.JWTCookie = "/run/h.sock", "/etc/haproxy/scimgate", "a b"
		}, []string{"haproxy_maps.jwt_cookie"}},
		{"haproxy maps with a route path HAProxy cannot fold", func(c *Config) {
			c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir = "/run/h.sock", "/etc/haproxy/scimgate"
			c.Routes = []Route{
				{Name: "ascii", Path: "/docs", Allow: AllowRule{Public: true}},
				{Name: "dotless", Path: "/ad\u0131n", Allow: AllowRule{Public: true}}, // folds to ASCII in haproxy.cfg too
				{Name: "digits", Path: "/caf\u00e9/\u4e2d", Allow: AllowRule{Public: true}},
			}
		}, []string{"routes[2].path"}},
		{"a route path with any letter, without map-sync", func(c *Config) {
			c.Routes = []Route{{Name: "cafe", Path: "/caf\u00e9", Allow: AllowRule{Public: true}}}
		}, nil},
		{"haproxy maps dir relative", func(c *Config) { c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir = "127.0.0.1:9999", "maps" }, []string{"haproxy_maps.dir"}},
		{"haproxy maps dir without runtime API", func(c *Config) { c.HAProxyMaps.Dir = "/etc/haproxy/scimgate" }, []string{"haproxy_maps.runtime_api"}},
		{"haproxy maps bad runtime API", func(c *Config) { c.HAProxyMaps.RuntimeAPI, c.HAProxyMaps.Dir = "admin.sock", "/m" }, []string{"haproxy_maps.runtime_api"}},
		{"haproxy maps stale limit too short", func(c *Config) {
			c.HAProxyMaps = HAProxyMaps{RuntimeAPI: "/run/h.sock", Dir: "/m", DriftEvery: 10 * time.Second, MaxStale: 15 * time.Second}
		}, []string{"haproxy_maps.max_stale"}},
		{"haproxy maps drift not positive", func(c *Config) {
			c.HAProxyMaps = HAProxyMaps{RuntimeAPI: "/run/h.sock", Dir: "/m", DriftEvery: 0, MaxStale: time.Second}
		}, []string{"haproxy_maps.drift_every"}},
		{"every problem at once", func(c *Config) {
			*c = Config{Store: "postgres://x", SCIM: SCIM{BaseURL: "ftp://x"}, Gateway: Gateway{PublicURL: "gate"}}
		}, []string{"listen", "gateway.public_url", "gateway.assertion_ttl", "gateway.max_snapshot_age", "sessions.cookie_name", "sessions.idle",
			"audit.decisions.allows", "audit.decisions.buffer", "audit.decisions.batch_size", "audit.decisions.flush_interval", "store", "scim.base_path",
			"scim.base_url", "scim.max_body_bytes", "scim.max_results", "scim.bulk.max_operations", "scim.bulk.max_payload_bytes",
			"scim.auth_failures.burst", "scim.auth_failures.interval", "log.level", "log.format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.paths == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want problems with %v", c, tt.paths)
			}
			var paths []string
			for _, fe := range fieldErrors(t, err) {
				paths = append(paths, fe.Path)
				if fe.Msg == "" || fe.Hint == "" {
					t.Errorf("Validate: %q has no message or hint", fe.Error())
				}
				if !strings.HasPrefix(fe.Error(), fe.Path+": ") {
					t.Errorf("Validate: %q does not start with its path", fe.Error())
				}
			}
			if diff := cmp.Diff(tt.paths, paths); diff != "" {
				t.Errorf("Validate problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	c := Default()
	c.Store = "postgres://u@localhost/db"
	c.Log.Level = "verbose"
	want := []string{
		`store: the postgres store is not available yet (use "sqlite:./data/scimgate.db")`,
		`log.level: "verbose" is not a log level (one of debug, info, warn, error)`,
	}
	if diff := cmp.Diff(want, problems(c.Validate())); diff != "" {
		t.Errorf("Validate() mismatch (-want +got):\n%s", diff)
	}
	c = Default()
	c.Store = "mysql://db"
	if got := c.Validate().Error(); !strings.Contains(got, `unknown store type "mysql"`) {
		t.Errorf("Validate() = %q, want it to name the store type", got)
	}
}

func TestParseValidates(t *testing.T) {
	_, err := Parse([]byte("listen: nowhere\nlog: {format: xml}\n"))
	want := []string{
		`listen: "nowhere" is not a host:port address (for example "127.0.0.1:8080")`,
		`log.format: "xml" is not a log format (text or json)`,
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		store, want string
		ok          bool
	}{
		{"sqlite:./data/scimgate.db", "./data/scimgate.db", true},
		{"sqlite:/var/lib/x.db", "/var/lib/x.db", true},
		{"sqlite:///var/lib/x.db", "/var/lib/x.db", true},
		{"sqlite:file.db?_pragma=busy_timeout(5000)", "file.db?_pragma=busy_timeout(5000)", true},
		{"sqlite:", "", false},
		{"sqlite", "", false},
		{"", "", false},
		{"SQLITE:x.db", "", false},
		{"postgres://localhost/db", "", false},
		{"bolt:x.db", "", false},
	}
	for _, tt := range tests {
		c := &Config{Store: tt.store}
		got, err := c.SQLitePath()
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q, ok=%v", tt.store, got, err, tt.want, tt.ok)
		}
	}
}

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		fe   FieldError
		want string
	}{
		{FieldError{Path: "a.b", Line: 3, Msg: "unknown key", Hint: "known keys: c"}, "line 3: a.b: unknown key (known keys: c)"},
		{FieldError{Path: "a.b", Msg: "is bad"}, "a.b: is bad"},
		{FieldError{Path: "x", Line: 1, Msg: "m"}, "line 1: x: m"},
	}
	for _, tt := range tests {
		if got := tt.fe.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.fe, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(fullConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil || c.Listen != "0.0.0.0:9443" {
		t.Errorf("Load(%s) = %+v, %v", good, c, err)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(%s) = %v, want a not-exist error naming the file", missing, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("scim: {bulk: {max_operation: 5}}\nlog: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "scim.bulk.max_operation") {
		t.Errorf("Load(%s) = %v, want an error naming the file and the key", bad, err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("Load(%s) = %v, want a *FieldError inside", bad, err)
	}
}

func TestLoadExamples(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Errorf("Load(%s) = %v", p, err)
		}
	}
}

// TestDecodeStrictKinds covers the field kinds Config does not use yet.
func TestDecodeStrictKinds(t *testing.T) {
	type inner struct {
		N int `yaml:"n"`
	}
	type sample struct {
		Timeout time.Duration    `yaml:"timeout"`
		Names   []string         `yaml:"names"`
		Limits  map[string]int   `yaml:"limits"`
		On      bool             `yaml:"on"`
		Ptr     *inner           `yaml:"ptr"`
		List    []inner          `yaml:"list"`
		ByName  map[string]inner `yaml:"by_name"`
		Skipped string           `yaml:"-"`
		Untag   string
	}
	var got sample
	src := "timeout: 30s\nnames: [a, b]\nlimits: {x: 1}\non: true\nptr: {n: 2}\nlist: [{n: 3}]\nby_name: {k: {n: 4}}\n"
	if err := decodeStrict([]byte(src), &got); err != nil {
		t.Fatalf("decodeStrict(%q) = %v", src, err)
	}
	want := sample{Timeout: 30 * time.Second, Names: []string{"a", "b"}, Limits: map[string]int{"x": 1}, On: true,
		Ptr: &inner{N: 2}, List: []inner{{N: 3}}, ByName: map[string]inner{"k": {N: 4}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decodeStrict mismatch (-want +got):\n%s", diff)
	}

	bad := "timeout: soon\nnames: a\nlimits: [1]\non: maybe\nptr: {m: 2}\nlist: [{n: x}, {n: 1, o: 2}]\nby_name: {k: {n: [1]}}\n-: x\n"
	wantErrs := []string{
		`line 1: timeout: "soon" is not a duration (for example "30s" or "12h")`,
		`line 2: names: must be a list`,
		`line 3: limits: must be a mapping`,
		`line 4: on: "maybe" is not a boolean`,
		`line 5: ptr.m: unknown key (did you mean "n"? known keys: n)`,
		`line 6: list[0].n: "x" is not an integer`,
		`line 6: list[1].o: unknown key (did you mean "n"? known keys: n)`,
		`line 7: by_name.k.n: must be a single integer, not a list or mapping`,
		`line 8: -: unknown key (did you mean "on"? known keys: by_name, limits, list, names, on, ptr, timeout)`,
	}
	if diff := cmp.Diff(wantErrs, problems(decodeStrict([]byte(bad), &sample{}))); diff != "" {
		t.Errorf("decodeStrict(%q) problems mismatch (-want +got):\n%s", bad, diff)
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"max_operation", "max_operations", 1},
		{"log", "logg", 1},
		{"same", "same", 0},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestKeyHint(t *testing.T) {
	fields := map[string]reflect.Type{"max_operations": nil, "max_payload_bytes": nil, "base_url": nil}
	tests := []struct{ key, want string }{
		{"max_operation", `did you mean "max_operations"? known keys: base_url, max_operations, max_payload_bytes`},
		{"MAX_OPERATIONS", `did you mean "max_operations"? known keys: base_url, max_operations, max_payload_bytes`},
		{"baseurl", `did you mean "base_url"? known keys: base_url, max_operations, max_payload_bytes`},
		{"routes", `known keys: base_url, max_operations, max_payload_bytes`},
		{"", `known keys: base_url, max_operations, max_payload_bytes`},
	}
	for _, tt := range tests {
		if got := keyHint(tt.key, fields); got != tt.want {
			t.Errorf("keyHint(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// TestParseReportedFixes covers problems the decoder used to let through or
// report without a field path.
func TestParseReportedFixes(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"quoted integer", "scim:\n  max_results: \"5\"\n", `line 2: scim.max_results: "5" is not an integer (write the number without quotes)`},
		{"top-level scalar", "hello\n", `line 1: (top level): must be a mapping of keys to values`},
		{"empty sqlite path", "store: \"sqlite://\"\n", `store: "sqlite://" names no database file`},
		{"bad listen port", "listen: \"127.0.0.1:abc\"\n", `listen: "127.0.0.1:abc" is not a host:port address`},
		{"port out of range", "listen: \"127.0.0.1:70000\"\n", `listen: "127.0.0.1:70000" is not a host:port address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want an error containing %q", tt.yaml, err, tt.want)
			}
		})
	}
	merged := "scim:\n  <<: {max_results: 5, bulk: {max_operations: 7}}\n  base_path: /api\n"
	cfg, err := Parse([]byte(merged))
	if err != nil {
		t.Fatalf("Parse(merge key) = %v", err)
	}
	if cfg.SCIM.MaxResults != 5 || cfg.SCIM.Bulk.MaxOperations != 7 || cfg.SCIM.BasePath != "/api" {
		t.Errorf("Parse(merge key) = %+v, want merged values", cfg.SCIM)
	}
	if _, err := Parse([]byte("scim:\n  <<: {max_resultz: 5}\n")); err == nil || !strings.Contains(err.Error(), "scim.max_resultz: unknown key") {
		t.Errorf("Parse(merge key with a typo) = %v, want the unknown key reported", err)
	}
}

// TestParseAliasBomb: aliases that expand a small file into millions of
// values are refused quickly, with a reason, rather than walked.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [g, g, g, g, g, g, g, g, g, g]\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("Parse(10^8 values in %d bytes) = %v; want an error about aliases", b.Len(), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Parse took %v", d)
	}
	// An ordinary use of anchors is fine.
	if _, err := Parse([]byte("routes:\n  - &r {name: a, path: /a, allow: {groups: [eng]}}\n  - {<<: *r, name: b, path: /b}\n")); err != nil {
		t.Errorf("Parse with a merged anchor: %v", err)
	}
}
