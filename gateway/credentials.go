package gateway

import (
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/directory"
)

// StripCredentials removes scimgate's own credentials from a request going
// upstream: an Authorization bearer access token and the session cookie
// (cookieName; "" when sessions are off). An upstream, or anyone who can
// read its logs, must not be able to replay them on other routes. Other
// credentials (the application's own) pass through untouched.
func StripCredentials(h http.Header, cookieName string) {
	// Every value is looked at, not only the first one authentication
	// read; the names are canonical already (the server made them so).
	for _, a := range h["Authorization"] {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") &&
			strings.HasPrefix(strings.TrimSpace(a[7:]), directory.AccessTokenPrefix) {
			delete(h, "Authorization")
			break
		}
	}
	if cookieName == "" {
		return
	}
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name == cookieName {
				changed = true
				continue
			}
			if strings.TrimSpace(part) != "" {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	for _, l := range kept {
		h.Add("Cookie", l)
	}
}

// ReturnURL is where a sign-in started by r comes back to.
func ReturnURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
