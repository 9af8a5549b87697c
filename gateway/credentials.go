package gateway

import (
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
)

// StripUnchecked deletes from a request going upstream what no check
// covers. An Upgrade to anything but a WebSocket (h2c), with the headers
// that go with it: an upstream that took it would turn the connection into
// a tunnel of requests nobody decides; without them it answers the
// HTTP/1.1 request that was decided. And request trailers, which arrive
// after the body: an upstream merging them into the headers would take a
// client's X-Scimgate-User for scimgate's.
func StripUnchecked(r *http.Request) {
	h := r.Header
	if up := h.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
		delete(h, "Upgrade")
		delete(h, "Connection")
		delete(h, "Http2-Settings")
	}
	r.Trailer = nil
	delete(h, "Trailer")
}

// StripMethodOverrides deletes the headers with which frameworks (Express's
// method-override, Symfony, Laravel, ASP.NET Core) let a POST act as
// another method. The route was chosen by the request's own method: a POST
// the policy admits must not run as a DELETE it does not.
func StripMethodOverrides(h http.Header) {
	// Parsed headers have canonical keys: delete them as such, without
	// Header.Del canonicalizing each name on every request.
	delete(h, "X-Http-Method-Override")
	delete(h, "X-Http-Method")
	delete(h, "X-Method-Override")
	// Names with underscores are kept as sent, and CGI-style servers (PHP)
	// read X_HTTP_METHOD_OVERRIDE as the dashed header.
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 && IsMethodOverride(k) {
			delete(h, k)
		}
	}
}

// IsMethodOverride reports whether a header name, in any case and with
// dashes or underscores, is one of the method-override headers.
func IsMethodOverride(name string) bool {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "x-http-method-override", "x-http-method", "x-method-override":
		return true
	}
	return false
}

// StripCredentials removes scimgate's own credentials from a request going
// upstream: an Authorization bearer access token, the identity provider's
// bearer JWT when p authenticated with one, and scimgate's cookies
// (authn.Authenticator.Cookies). An upstream, or anyone who can read its
// logs, must not be able to replay them on other routes. Other
// credentials (the application's own) pass through untouched.
func StripCredentials(h http.Header, p engine.Principal, cookies []string) {
	// Every value is looked at, not only the first one authentication
	// read; the names are canonical already (the server made them so).
	for _, a := range h["Authorization"] {
		if OwnAuthorization(p, a) {
			delete(h, "Authorization")
			break
		}
	}
	if len(cookies) == 0 {
		return
	}
	lines := h["Cookie"]
	var kept []string
	changed := false
	for _, line := range lines {
		rest, found := StripCookies(line, cookies)
		changed = changed || found
		if rest != "" {
			kept = append(kept, rest)
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

// OwnAuthorization reports whether an Authorization value of a request
// authenticated as p is scimgate's credential, which no upstream may
// receive: an access token, or the identity provider's JWT p was
// authenticated with.
func OwnAuthorization(p engine.Principal, authorization string) bool {
	return p.JWT || IsAccessToken(authorization)
}

// IsAccessToken reports whether an Authorization value carries a scimgate
// access token.
func IsAccessToken(authorization string) bool {
	return len(authorization) > 7 && strings.EqualFold(authorization[:7], "bearer ") &&
		strings.HasPrefix(strings.TrimSpace(authorization[7:]), directory.AccessTokenPrefix)
}

// StripCookies returns a Cookie header line without the cookies named,
// and whether it had any.
func StripCookies(line string, names []string) (rest string, found bool) {
	rest = strings.TrimSpace(line)
	for _, n := range names {
		var f bool
		_, rest, f = SplitCookie(rest, n)
		found = found || f
	}
	return rest, found
}

// SplitCookie finds the cookie name in one Cookie header line: its first
// value, and the line without any cookie of that name.
func SplitCookie(line, name string) (value, rest string, found bool) {
	if name == "" || !strings.Contains(line, name) {
		return "", strings.TrimSpace(line), false
	}
	var kept []string
	for part := range strings.SplitSeq(line, ";") {
		part = strings.TrimSpace(part)
		k, v, _ := strings.Cut(part, "=")
		if k == name {
			if !found {
				value, found = v, true
			}
			continue
		}
		if part != "" {
			kept = append(kept, part)
		}
	}
	return value, strings.Join(kept, "; "), found
}

// ReturnURL is where a sign-in started by r comes back to.
func ReturnURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
