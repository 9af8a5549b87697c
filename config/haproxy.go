package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SPOE configures the HAProxy SPOE agent that `serve` runs.
type SPOE struct {
	// Listen is where HAProxy's SPOE filter connects: host:port, e.g.
	// "127.0.0.1:12345", or a unix socket, "unix:/run/scimgate/spoe.sock"
	// (cheaper than loopback TCP); empty disables the agent.
	Listen string `yaml:"listen"`
	// RuntimeAPI is HAProxy's admin socket (a unix socket path, or
	// host:port): with it, the open streams of a user who loses access
	// are shut down. Optional.
	RuntimeAPI string `yaml:"runtime_api"`
	// MaxFrameSize is the largest SPOP frame the agent accepts, default
	// 16380 (HAProxy's default, tune.bufsize minus 4).
	MaxFrameSize int `yaml:"max_frame_size"`
}

func validateSPOE(s SPOE, add func(path, msg, hint string)) {
	if s.Listen == "" {
		if s.RuntimeAPI != "" {
			add("spoe.runtime_api", "is set but spoe.listen is not", `set spoe.listen, e.g. "127.0.0.1:12345"`)
		}
		return
	}
	if _, _, ok := s.ListenAddr(); !ok {
		add("spoe.listen", fmt.Sprintf("%q is neither host:port nor unix:/path", s.Listen), `for example "127.0.0.1:12345" or "unix:/run/scimgate/spoe.sock"`)
	}
	if s.RuntimeAPI != "" && !validRuntimeAPI(s.RuntimeAPI) {
		add("spoe.runtime_api", fmt.Sprintf("%q is neither a socket path nor host:port", s.RuntimeAPI), `for example "/run/haproxy/admin.sock"`)
	}
	if s.MaxFrameSize < 256 || s.MaxFrameSize > 1<<20 {
		add("spoe.max_frame_size", fmt.Sprintf("%d is out of range", s.MaxFrameSize), "between 256 and 1048576; the default is 16380")
	}
}

// validRuntimeAPI accepts what HAProxy's stats socket binds to: an
// absolute unix socket path (optionally "unix:"-prefixed) or host:port
// (optionally "ipv4@"-prefixed).
// ListenAddr returns the network ("tcp" or "unix") and address of
// Listen, and whether it is valid.
func (s SPOE) ListenAddr() (network, address string, ok bool) {
	if p, isUnix := strings.CutPrefix(s.Listen, "unix:"); isUnix {
		return "unix", p, strings.HasPrefix(p, "/")
	}
	return "tcp", s.Listen, validAddr(s.Listen)
}

func validRuntimeAPI(s string) bool {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		return strings.HasPrefix(p, "/")
	}
	if strings.HasPrefix(s, "/") {
		return true
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ipv4@"), "ipv6@")
	return validAddr(s)
}

// HAProxyMaps configures map-sync mode: scimgate keeps HAProxy's maps
// current over its runtime API so that HAProxy decides every request alone.
type HAProxyMaps struct {
	// RuntimeAPI is HAProxy's admin socket (a unix socket path, or
	// host:port); empty disables map sync.
	RuntimeAPI string `yaml:"runtime_api"`
	// Dir holds the map files and the session cookie's key; an absolute
	// path, the one haproxy.cfg loads the maps from.
	Dir string `yaml:"dir"`
	// DriftEvery is how often HAProxy's maps are read back and repaired;
	// default 10s.
	DriftEvery time.Duration `yaml:"drift_every"`
	// MaxStale is how long HAProxy keeps deciding from its maps after the
	// last successful sync; past it the documented haproxy.cfg denies
	// every request. Default 30s; at least twice drift_every.
	MaxStale time.Duration `yaml:"max_stale"`
	// JWTCookie names the cookie with the session's JWT that sign-in sets
	// and haproxy.cfg reads; default "scimgate_jwt". Over https without
	// sessions.cookie_domain, "__Host-scimgate_jwt" keeps other hosts from
	// planting one (haproxy.cfg must then read that name).
	JWTCookie string `yaml:"jwt_cookie"`
}

// Enabled reports whether map sync is configured.
func (m HAProxyMaps) Enabled() bool { return m.RuntimeAPI != "" }

func validateHAProxyMaps(m HAProxyMaps, add func(path, msg, hint string)) {
	if !m.Enabled() {
		if m.Dir != "" {
			add("haproxy_maps.runtime_api", "is empty but haproxy_maps.dir is set", `set it to HAProxy's admin socket, e.g. "/run/haproxy/admin.sock"`)
		}
		return
	}
	if !validRuntimeAPI(m.RuntimeAPI) {
		add("haproxy_maps.runtime_api", fmt.Sprintf("%q is neither a socket path nor host:port", m.RuntimeAPI), `for example "/run/haproxy/admin.sock"`)
	}
	if !filepath.IsAbs(m.Dir) {
		add("haproxy_maps.dir", fmt.Sprintf("%q is not an absolute path", m.Dir), "HAProxy names a map by the path it loaded it from; use the absolute path haproxy.cfg uses, e.g. /etc/haproxy/scimgate")
	}
	if m.DriftEvery <= 0 {
		add("haproxy_maps.drift_every", fmt.Sprintf("%v is not positive", m.DriftEvery), "for example 10s")
	}
	if m.JWTCookie != "" && !validCookieName(m.JWTCookie) {
		add("haproxy_maps.jwt_cookie", fmt.Sprintf("%q is not a cookie name", m.JWTCookie), `for example "scimgate_jwt", or "__Host-scimgate_jwt" over https`)
	}
	if m.MaxStale < 2*m.DriftEvery {
		add("haproxy_maps.max_stale", fmt.Sprintf("%v is less than twice drift_every (%v)", m.MaxStale, m.DriftEvery), "each read-back renews HAProxy's deadline; for example 30s with drift_every 10s")
	}
}

// checkFoldableInHAProxy reports a route path, in map-sync mode, with a
// non-ASCII letter that has other cases and does not fold to an ASCII
// one (the engine folds a letter c to unicode.ToLower(unicode.ToUpper(c)),
// see policy.FoldCase): haproxy.cfg folds only ASCII letters and those
// that fold to them, so a request spelling it in another case would be
// decided as another route than the engine's.
func checkFoldableInHAProxy(routes []Route, add func(path, msg, hint string)) {
	for i, r := range routes {
		for _, c := range r.Path {
			cased := unicode.SimpleFold(c) != c || unicode.ToUpper(c) != c || unicode.ToLower(c) != c
			if c < utf8.RuneSelf || !cased || unicode.ToLower(unicode.ToUpper(c)) < utf8.RuneSelf {
				continue
			}
			add(fmt.Sprintf("routes[%d].path", i), fmt.Sprintf("%q has the letter %q, which HAProxy cannot match without regard to case", r.Path, c),
				"in map-sync mode, keep route paths to ASCII letters; SPOE mode folds every letter as the engine does")
			break
		}
	}
}
