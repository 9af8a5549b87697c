package mapsync

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// File names of the maps in the map directory. HAProxy names a map by the
// path its configuration loads it from, so the configuration must name
// these files in that directory.
const (
	RoutesMap   = "routes.map"   // map_reg: "<METHOD>|<host><path>" regex -> route name, then "|<method>|<host><path>" (folded) ones
	AccessMap   = "access.map"   // "<uid>|<route>" -> userName, "*|<route>" -> 1
	SessionsMap = "sessions.map" // session id -> uid
	TokensMap   = "tokens.map"   // "<SHA-256 of an access token's secret, upper-case hex>|<token id>" -> "<expiry or 0>|<uid>"
	UsersMap    = "users.map"    // uid -> userName, for the identity header
	StatusMap   = "status.map"   // "until" -> Unix time after which HAProxy must deny; "fold" -> 1 when a route's path has upper case
)

// mapFiles lists the maps in push order for additions; deletions go in
// the reverse order, so that a session or a token loses its user before
// anything else.
var mapFiles = []string{UsersMap, AccessMap, SessionsMap, TokensMap, StatusMap}

// PublicUser is the uid of the access entry that admits everybody on a
// public route ("*|<route>").
const PublicUser = "*"

// errRetry: the policy changed while the state was computed.
var errRetry = errors.New("policy changed during the computation")

// ErrStale is returned when the engine reports its snapshot stale: the
// syncer then stops extending status.map's deadline, and HAProxy denies
// once it passes.
var ErrStale = errors.New("directory snapshot is stale")

// state is the content of every map, as scimgate wants HAProxy to have it.
type state struct {
	routes []runtime.Entry              // ordered: map_reg takes the first match
	kv     map[string]map[string]string // the other maps, by file name
}

func newState() *state {
	s := &state{kv: map[string]map[string]string{}}
	for _, m := range mapFiles {
		s.kv[m] = map[string]string{}
	}
	return s
}

// entries returns the content of map m as HAProxy entries, sorted by key
// (routes in their order).
func (s *state) entries(m string) []runtime.Entry {
	if m == RoutesMap {
		return s.routes
	}
	kv := s.kv[m]
	out := make([]runtime.Entry, 0, len(kv))
	for k, v := range kv {
		out = append(out, runtime.Entry{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b runtime.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// counts reports the number of entries per map.
func (s *state) counts() map[string]int {
	c := map[string]int{RoutesMap: len(s.routes)}
	for m, kv := range s.kv {
		c[m] = len(kv)
	}
	return c
}

// computeStats says what a computation left out, and why.
type computeStats struct {
	SkippedUsers   int      // active users without a map-safe id or userName
	ShadowedRoutes []string // routes no request can reach
}

// UID is how the maps name a user: tenant id and SCIM id. userNames are
// unique per tenant only, and may hold characters a map key cannot.
func UID(k snapshot.Key) string { return strconv.FormatInt(k.Tenant, 10) + ":" + k.ID }

// compute builds the wanted state: routes from the policy, access from one
// engine decision per (route, active user), sessions from the known
// session ids that are still live, users from the active users.
func compute(d Decider, known map[string]bool, now time.Time, until time.Time) (*state, computeStats, error) {
	pol := d.Policy()
	snap := d.Snapshot()
	st := newState()
	var stats computeStats

	routes, err := RouteEntries(pol)
	if err != nil {
		return nil, stats, err
	}
	st.routes = routes
	if slices.ContainsFunc(pol.Routes, func(r *policy.Route) bool { return foldLikeHAProxy(r.Path) != r.Path }) {
		// Every request is then looked up folded too: /reports may be
		// /Reports to the upstream.
		st.kv[StatusMap]["fold"] = "1"
	}

	type probed struct {
		r   *policy.Route
		req engine.Request
	}
	var probes []probed
	access := st.kv[AccessMap]
	for _, r := range pol.Routes {
		req, ok := probe(pol, r)
		if !ok {
			stats.ShadowedRoutes = append(stats.ShadowedRoutes, r.Name)
			continue
		}
		if r.Public {
			dec := d.Decide(engine.Principal{}, req)
			if err := check(dec, r); err != nil {
				return nil, stats, err
			}
			if dec.Allow {
				access[PublicUser+"|"+r.Name] = "1"
			}
			continue
		}
		probes = append(probes, probed{r, req})
	}

	users := st.kv[UsersMap]
	var ferr error
	snap.EachUser(func(u *snapshot.User) {
		if ferr != nil || !u.Active {
			return
		}
		uid := UID(u.Key)
		if !keySafe(uid) || strings.Contains(u.ID, "|") || !valueSafe(u.UserName) {
			stats.SkippedUsers++
			return
		}
		users[uid] = u.UserName
		p := engine.Principal{User: u.Key}
		for _, pr := range probes {
			dec := d.Decide(p, pr.req)
			if err := check(dec, pr.r); err != nil {
				ferr = err
				return
			}
			if dec.Allow {
				// The value is what the identity header says: HAProxy
				// answers "may this user reach the route" and "who is
				// this" with one lookup.
				access[uid+"|"+pr.r.Name] = u.UserName
			}
		}
	})
	if ferr != nil {
		return nil, stats, ferr
	}

	sessions := st.kv[SessionsMap]
	for sid := range known {
		ss, ok := snap.Session(sid)
		if !ok || ss.Revoked || !now.Before(ss.Expires) {
			continue
		}
		uid := UID(ss.Owner)
		if _, ok := users[uid]; !ok || !keySafe(sid) {
			continue // inactive, unknown or unsafe owner
		}
		sessions[sid] = uid
	}
	tokens := st.kv[TokensMap]
	snap.EachToken(func(tk *snapshot.Token) {
		if tk.Revoked || !tk.Expires.IsZero() && !now.Before(tk.Expires) {
			return
		}
		uid := UID(tk.Owner)
		if _, ok := users[uid]; !ok {
			return // inactive, unknown or unsafe owner
		}
		if !keySafe(tk.ID) || strings.Contains(tk.ID, "|") {
			return
		}
		tokens[TokenKey(tk.ID, tk.Hash)] = tokenValue(tk.Expires, uid)
	})
	st.kv[StatusMap]["until"] = strconv.FormatInt(until.Unix(), 10)
	return st, stats, nil
}

// TokenKey is how tokens.map names an access token: the SHA-256 of its
// secret (the hash the store keeps) in upper-case hex, which is what
// haproxy.cfg computes from the Authorization header with sha2(256),hex,
// then its id. The secret itself is never written.
func TokenKey(id string, hash [32]byte) string {
	return strings.ToUpper(hex.EncodeToString(hash[:])) + "|" + id
}

// tokenValue is "<expiry>|<uid>", the expiry in Unix seconds rounded down
// (HAProxy refuses from that second on) or 0 for a token that never
// expires.
func tokenValue(expires time.Time, uid string) string {
	var exp int64
	if !expires.IsZero() {
		exp = max(expires.Unix(), 1)
	}
	return strconv.FormatInt(exp, 10) + "|" + uid
}

// check verifies that a decision was made for the route probed, under a
// fresh snapshot.
func check(d engine.Decision, r *policy.Route) error {
	if d.Reason == engine.ReasonStale {
		return ErrStale
	}
	if d.Route != r {
		return errRetry
	}
	return nil
}

// liveSessions returns the known session ids to keep: those the snapshot
// still has, not revoked and not expired. The others are forgotten.
func liveSessions(snap *snapshot.Snapshot, known map[string]bool, now time.Time) {
	for sid := range known {
		ss, ok := snap.Session(sid)
		if !ok || ss.Revoked || !now.Before(ss.Expires) {
			delete(known, sid)
		}
	}
}

// probe returns a request that the policy routes to r, or false when every
// request r could match goes to another route first. Deciding that request
// for a user is deciding the route for them: Decide looks at nothing else
// of the request once the route is chosen.
func probe(p *policy.Policy, r *policy.Route) (engine.Request, bool) {
	host := r.Host
	switch {
	case strings.HasPrefix(host, "*."):
		host = freeHost(host[1:], func(h string) bool {
			for _, o := range p.Routes {
				if o.Host == h {
					return false
				}
			}
			return true
		})
	case host == "":
		host = freeHost(".invalid", func(h string) bool { return !p.KnowsHost(h) })
	}
	path := r.Path
	methods := slices.Clone(r.Methods)
	if len(methods) == 0 {
		// A route for every method: the first method no route listed
		// earlier at the same place takes, or an unknown one, which only
		// such routes admit.
		methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "SCIMGATE-PROBE"}
	} else if slices.Contains(methods, "GET") {
		methods = append(methods, "HEAD")
	}
	for _, m := range methods {
		if p.Match(host, path, m) == r {
			return engine.Request{Host: host, Path: path, Method: m}, true
		}
	}
	return engine.Request{}, false
}

// freeHost returns "<label><suffix>" for the first label that ok accepts.
func freeHost(suffix string, ok func(string) bool) string {
	for i := 0; ; i++ {
		h := "scimgate-probe-" + strconv.Itoa(i) + suffix
		if ok(h) {
			return h
		}
	}
}

// RouteEntries returns routes.map: one regular expression per route, most
// specific first, matched by map_reg against
// "<METHOD>|<Host header lower-case><decoded path>". The expressions accept
// the port and the trailing dot that policy.NormalizeHost strips, so that
// haproxy.cfg needs no rule to strip them. HAProxy takes
// the first expression that matches, so the order reproduces
// policy.Policy.Match: exact hosts, then wildcards, then any host; within
// them the longest prefix (in segments), then the order of the
// configuration.
func RouteEntries(p *policy.Policy) ([]runtime.Entry, error) {
	type item struct {
		r     *policy.Route
		value string
		last  bool // a NoRoute entry: after the routes of its depth
	}
	// A path whose routes all list methods refuses the others
	// (policy.Match): an entry for every method follows them, naming no
	// route, so that no shorter prefix or other host takes those.
	type at struct{ host, path string }
	everyMethod := map[at]bool{}
	items := make([]item, 0, len(p.Routes))
	for _, r := range p.Routes {
		k := at{r.Host, r.Path}
		everyMethod[k] = everyMethod[k] || len(r.Methods) == 0
		items = append(items, item{r: r, value: r.Name})
	}
	for k, every := range everyMethod {
		if !every {
			items = append(items, item{r: &policy.Route{Host: k.host, Path: k.path}, value: NoRoute, last: true})
		}
	}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := hostClass(a.r.Host) - hostClass(b.r.Host); c != 0 {
			return c
		}
		if c := depth(b.r.Path) - depth(a.r.Path); c != 0 {
			return c
		}
		switch {
		case a.last && b.last:
			return cmp.Or(strings.Compare(a.r.Host, b.r.Host), strings.Compare(a.r.Path, b.r.Path))
		case a.last:
			return 1
		case b.last:
			return -1
		}
		return a.r.Index - b.r.Index
	})
	out := make([]runtime.Entry, 0, 2*len(items))
	for _, it := range items {
		if !valueSafe(it.value) {
			return nil, fmt.Errorf("route %q: name has a control character or a leading space", it.value)
		}
		out = append(out, runtime.Entry{Key: routeRegex(it.r), Value: it.value})
	}
	// The same routes again for the request folded as haproxy.cfg folds
	// it (foldLikeHAProxy), "|" before it: no request's own
	// key starts with "|", so neither half matches the other's keys.
	// haproxy.cfg refuses a request whose folded key finds another route
	// (policy.Policy.CaseAmbiguous).
	for _, it := range items {
		r := *it.r
		r.Path = foldLikeHAProxy(r.Path)
		r.Methods = nil
		for _, m := range it.r.Methods {
			r.Methods = append(r.Methods, lowerASCII(m))
		}
		out = append(out, runtime.Entry{Key: `^\|` + strings.TrimPrefix(routeRegex(&r), "^"), Value: it.value})
	}
	return out, nil
}

// foldLikeHAProxy folds s as haproxy.cfg folds a request's key: the four
// non-ASCII letters policy.FoldCase folds to ASCII ones replaced by them
// (its regsubs), then the ASCII letters to lower case (its lower).
func foldLikeHAProxy(s string) string {
	return lowerASCII(asciiFolds.Replace(s))
}

var asciiFolds = strings.NewReplacer("\u0130", "i", "\u0131", "i", "\u017F", "s", "\u212A", "k")

// lowerASCII folds the ASCII letters of s to lower case, as HAProxy's
// lower converter does.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// NoRoute is the value routes.map gives a request that a path's routes
// refuse for its method: not a route name (those have no spaces), so no
// grant in access.map names it, and the request is refused.
const NoRoute = "no route"

func hostClass(h string) int {
	switch {
	case h == "":
		return 2
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 0
}

func depth(prefix string) int {
	if prefix == "/" {
		return 0
	}
	return strings.Count(prefix, "/")
}

// routeRegex is the expression of one route. The host part never matches
// '|' or '/', so neither a method nor a host can pose as the other.
func routeRegex(r *policy.Route) string {
	var b strings.Builder
	b.WriteString("^")
	switch len(r.Methods) {
	case 0:
		b.WriteString("[^|]+")
	default:
		ms := slices.Clone(r.Methods)
		if slices.Contains(ms, "GET") && !slices.Contains(ms, "HEAD") {
			ms = append(ms, "HEAD")
		}
		if slices.Contains(ms, "get") && !slices.Contains(ms, "head") {
			ms = append(ms, "head")
		}
		for i, m := range ms {
			ms[i] = quote(m)
		}
		b.WriteString("(" + strings.Join(ms, "|") + ")")
	}
	b.WriteString(`\|`)
	switch {
	case r.Host == "":
		b.WriteString("[^/|]*")
	case strings.HasPrefix(r.Host, "*."):
		b.WriteString(`[^./|]+\.` + quote(r.Host[2:]) + hostSuffix)
	default:
		b.WriteString(quote(r.Host) + hostSuffix)
	}
	if r.Path == "/" {
		b.WriteString("/")
	} else {
		// PCRE's $ also matches before a final line feed ("/public\n"
		// would fall under /public): haproxy.cfg refuses control
		// characters in paths before this lookup, as the engine does. $,
		// not PCRE's \z, keeps the expressions to what HAProxy built
		// without PCRE reads alike.
		b.WriteString(quote(r.Path) + "(/|$)")
	}
	return b.String()
}

// hostSuffix is what may follow a host name in the Host header: a trailing
// dot, then a port. (policy.NormalizeHost also strips a port that is not a
// number, which no client sends; HAProxy finds no route for it and denies.)
const hostSuffix = `\.?(:[0-9]*)?`

// quote escapes s for PCRE (and Go's regexp): metacharacters with a
// backslash, and bytes a map key cannot hold (blanks, control characters)
// as \xHH.
func quote(s string) string {
	q := regexp.QuoteMeta(s)
	if !strings.ContainsFunc(q, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// keySafe reports whether s can be a map key: HAProxy splits map lines and
// CLI arguments at blanks, and reads a leading '#' as a comment or an
// entry reference.
func keySafe(s string) bool {
	if s == "" || s[0] == '#' {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// MaxValue is the longest userName the maps carry. An entry HAProxy's
// runtime API cannot take (about 8 KiB with its key) would fail every
// sync, for every user: a longer userName (SCIM sets no limit) leaves its
// user out of the maps, denied, instead.
const MaxValue = 1024

// valueSafe reports whether s can be a map value and a header value: no
// control character (a line break would end the entry), no leading blank
// (HAProxy drops it), not empty, and at most MaxValue bytes.
func valueSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' || len(s) > MaxValue {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}
