package config

import (
	"fmt"
	"strings"
)

// SPOE configures the HAProxy SPOE agent that `serve` runs.
type SPOE struct {
	// Listen is where HAProxy's SPOE filter connects, e.g.
	// "127.0.0.1:12345"; empty disables the agent.
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
	if !validAddr(s.Listen) {
		add("spoe.listen", fmt.Sprintf("%q is not a host:port address", s.Listen), `for example "127.0.0.1:12345"`)
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
