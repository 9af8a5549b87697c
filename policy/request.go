package policy

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strings"
)

// ErrAmbiguousPath rejects request paths that proxies and applications may
// read differently: encoded slashes or backslashes, control characters
// (NUL, a line feed), bad escapes, or a
// semicolon (Java servers read "/a;x/b" as "/a/b" and "/public/..;/admin"
// as "/admin", as Spring's strict firewall refuses them too).
// Deciding on one reading while the upstream acts on another is how
// path-based rules get bypassed, so such requests are refused.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// NormalizePath turns an escaped request path (as in the request line,
// without the query) into the form routes are matched against: unescaped,
// dot segments resolved, repeated slashes merged, a trailing slash kept.
// It allocates only when the path needs changing.
func NormalizePath(escaped string) (string, error) {
	_, clean, err := normalize(escaped)
	return clean, err
}

// CanonicalPath is NormalizePath for enforcement points that cannot
// forward the path they decided on (forward-auth, HAProxy's SPOE): the
// upstream acts on the request's own path, so a path that normalizing
// would change (dot segments, an encoded dot, repeated slashes) is
// refused rather than decided under another reading than the upstream's:
// "/public/../admin" would be decided as /admin, and reach an application
// that routes it, raw, under /public.
func CanonicalPath(escaped string) (string, error) {
	p, clean, err := normalize(escaped)
	if err != nil {
		return "", err
	}
	if p != clean && !(p == "" && clean == "/") {
		return "", ErrAmbiguousPath
	}
	return clean, nil
}

// normalize returns the unescaped path and its normal form.
func normalize(escaped string) (unescaped, clean string, err error) {
	if escaped == "" {
		return "", "/", nil
	}
	if escaped[0] != '/' {
		return "", "", ErrAmbiguousPath
	}
	for i := 0; i < len(escaped); i++ {
		switch c := escaped[i]; {
		case c == '\\' || c == ';' || isControl(c):
			return "", "", ErrAmbiguousPath
		case c == '%' && i+2 < len(escaped):
			if b, ok := unhex(escaped[i+1], escaped[i+2]); ok && (b == '/' || b == '\\' || b == ';' || isControl(b)) {
				return "", "", ErrAmbiguousPath
			}
		}
	}
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return "", "", ErrAmbiguousPath
	}
	clean = path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return p, clean, nil
}

// isControl reports an ASCII control character: a line feed ends a
// path for PCRE's $ (HAProxy's map-sync) and for many servers.
func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// unhex decodes two hexadecimal digits.
func unhex(h, l byte) (byte, bool) {
	hv, ok1 := hexVal(h)
	lv, ok2 := hexVal(l)
	return hv<<4 | lv, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizeHost lower-cases a Host header value and strips the port and a
// trailing dot. Brackets are stripped from an IPv6 address alone: any
// other bracketed value ("[app.test]") keeps them, and ValidHost refuses
// it, since a proxy in front would not route it as the name inside.
func NormalizeHost(h string) string {
	orig := h
	if host, ok := splitPort(h); ok {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.HasPrefix(orig, "[") {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() || a.Zone() != "" {
			return strings.ToLower(orig)
		}
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// ValidHost reports whether a normalized host (NormalizeHost) is one a
// route could name: letters, digits, dots, hyphens, underscores (some
// internal names have them), or an IP address's colons; or empty, as from
// an HTTP/1.0 request. Anything else (a comma, which HAProxy splits a
// header on; a space; a slash) is refused, so that no proxy and
// application read one Host header as two hosts.
func ValidHost(h string) bool {
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}

// splitPort is net.SplitHostPort, minus the error that it would build, on
// every request, for the usual Host without a port.
func splitPort(h string) (string, bool) {
	if !strings.Contains(h, ":") {
		return "", false
	}
	host, _, err := net.SplitHostPort(h)
	return host, err == nil
}
