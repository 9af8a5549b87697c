package assertion

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// Identity headers set on allowed requests. Every adapter deletes every
// X-Scimgate-* header of the incoming request first, so an upstream can
// trust them as long as it is reachable only through the gateway.
const (
	HeaderUser      = "X-Scimgate-User"      // userName
	HeaderEmail     = "X-Scimgate-Email"     // primary email
	HeaderGroups    = "X-Scimgate-Groups"    // group names, direct and nested, comma-separated, each URL-escaped
	HeaderAssertion = "X-Scimgate-Assertion" // signed JWT with the same facts
)

const headerPrefix = "X-Scimgate-"

// Strip deletes every X-Scimgate-* header from h, in any spelling:
// any case, and with underscores for dashes, which servers that map
// headers to CGI-style names (HTTP_X_SCIMGATE_USER) read as the same.
//
// It also takes identity header names out of the Connection header: a
// proxy after the gate deletes the headers Connection names as hop-by-hop,
// which would take the gate's own headers away from the upstream.
func Strip(h http.Header) {
	for k := range h {
		if IsIdentityHeader(k) {
			delete(h, k)
		}
	}
	if cs, ok := h["Connection"]; ok {
		h["Connection"] = stripTokens(cs)
		if len(h["Connection"]) == 0 {
			delete(h, "Connection")
		}
	}
}

// stripTokens returns the Connection values without identity header names.
func stripTokens(values []string) []string {
	var out []string
	for _, v := range values {
		var kept []string
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !IsIdentityHeader(tok) {
				kept = append(kept, tok)
			}
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, ", "))
		}
	}
	return out
}

// IsIdentityHeader reports whether name is, or reads as, one of the
// headers the gateway owns: X-Scimgate-* and X-Scimgate itself, in any
// case, with underscores for dashes.
func IsIdentityHeader(name string) bool {
	// "X-Scimgate" itself, and "X-Scimgate-" followed by anything.
	n := len(headerPrefix) - 1
	if len(name) < n || (len(name) > n && name[n] != '-' && name[n] != '_') {
		return false
	}
	for i := range n {
		if lowerDash(name[i]) != lowerDash(headerPrefix[i]) {
			return false
		}
	}
	return true
}

// lowerDash folds c as header names are read: ASCII letters to lower
// case, '_' to '-'.
func lowerDash(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

// Identity computes identity headers, caching the signed assertion of a
// user for a route until it is half-way to expiry or the user or the
// groups change.
type Identity struct {
	signer *Signer

	mu    sync.RWMutex
	cache map[cacheKey]*cached
}

type cacheKey struct {
	user  snapshot.Key
	route int
}

type cached struct {
	user   *snapshot.User // the version signed; a changed user is a new pointer
	route  *policy.Route  // the route signed for (its name is the audience); a reload makes new ones
	gen    int64          // snapshot.GroupGen signed under
	values Values
	renew  time.Time
}

// Values are the identity of an allowed request.
type Values struct {
	User, Email, Groups, Assertion string
}

// NewIdentity returns an Identity signing with s.
func NewIdentity(s *Signer) *Identity {
	return &Identity{signer: s, cache: map[cacheKey]*cached{}}
}

// Signer returns the signer.
func (id *Identity) Signer() *Signer { return id.signer }

// For returns the identity values of an allowed decision with a user;
// ok is false for anonymous requests (public routes).
func (id *Identity) For(d engine.Decision) (Values, bool, error) {
	if d.User == nil || d.Route == nil {
		return Values{}, false, nil
	}
	k := cacheKey{user: d.User.Key, route: d.Route.Index}
	now := id.signer.now()
	id.mu.RLock()
	c := id.cache[k]
	id.mu.RUnlock()
	if c != nil && c.user == d.User && c.route == d.Route && c.gen == d.Snap.GroupGen && now.Before(c.renew) {
		return c.values, true, nil
	}
	names := d.Snap.GroupNames(d.User)
	escaped := make([]string, len(names))
	for i, n := range names {
		escaped[i] = url.PathEscape(n)
	}
	jwt, exp, err := id.signer.Sign(Claims{
		Subject: d.User.ID, UserName: d.User.UserName, Email: d.User.Email, Groups: names,
		Tenant: d.User.Tenant, Audience: d.Route.Name,
	})
	if err != nil {
		return Values{}, false, err
	}
	v := Values{User: d.User.UserName, Email: d.User.Email, Groups: strings.Join(escaped, ","), Assertion: jwt}
	id.mu.Lock()
	if len(id.cache) > 100_000 {
		clear(id.cache) // bounded: a cache miss only costs a signature
	}
	id.cache[k] = &cached{user: d.User, route: d.Route, gen: d.Snap.GroupGen, values: v, renew: exp.Add(-id.signer.ttl / 2)}
	id.mu.Unlock()
	return v, true, nil
}

// Set writes v into h, replacing any values h has under those names
// (Strip removes the other spellings).
func (v Values) Set(h http.Header) {
	// The names are canonical already, and one array holds the four
	// values (each slice capped at one element so that an append by a
	// later handler copies rather than overwrites its neighbour): a
	// request costs one allocation here, not four.
	vals := [...]string{v.User, v.Groups, v.Assertion, v.Email}
	s := vals[:]
	h[HeaderUser] = s[0:1:1]
	h[HeaderGroups] = s[1:2:2]
	h[HeaderAssertion] = s[2:3:3]
	if v.Email != "" {
		h[HeaderEmail] = s[3:4:4]
	}
}
