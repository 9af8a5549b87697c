// Package policy compiles the routes of the configuration into an
// immutable policy: which route a request falls under (host, path prefix,
// method) and who that route admits or refuses. Group and user names stay
// names here; package engine binds them to the live directory.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/scimgate/scimgate/config"
)

// Ref names a group or user in a rule: its name, lower-cased, and the
// tenant name when the rule qualified it ("okta/engineering").
type Ref struct {
	Tenant string // the part before "/", "" when there is none
	Short  string // lower-cased part after "/", when Tenant is set
	Name   string // the whole name, lower-cased
	Raw    string // as written
}

// Route is one compiled route.
type Route struct {
	Index    int
	Name     string
	Host     string // as configured; "" for any host
	Path     string // normalised prefix, "/" or without a trailing slash
	Methods  []string
	Upstream *url.URL // nil: no built-in proxy for this route

	Public      bool
	AllowGroups []Ref
	AllowUsers  []Ref
	DenyGroups  []Ref
	DenyUsers   []Ref

	methods uint16 // bit per method; 0 means all
}

// Policy is an immutable, compiled set of routes.
type Policy struct {
	Routes []*Route
	// Hash identifies the policy's content (SHA-256 of its canonical
	// JSON), for audit records of which policy decided.
	Hash string
	// Source says where the policy came from (a file path).
	Source string
	// Loaded is when it was compiled.
	Loaded time.Time

	exact    map[string]*trie // host -> routes
	wildcard map[string]*trie // parent domain of "*.example.com" -> routes
	any      *trie

	// folded holds the same routes under their lower-cased paths, for
	// CaseAmbiguous; upper is set when a route's path has a letter that
	// folding changes.
	folded *Policy
	upper  bool
}

// Compile builds a policy from validated routes (config.Config.Validate
// reports their problems; Compile trusts them).
func Compile(routes []config.Route, source string, now time.Time) (*Policy, error) {
	p := &Policy{Source: source, Loaded: now, exact: map[string]*trie{}, wildcard: map[string]*trie{}}
	p.folded = &Policy{exact: map[string]*trie{}, wildcard: map[string]*trie{}}
	for i, cr := range routes {
		r := &Route{
			Index: i, Name: cr.Name, Host: strings.ToLower(cr.Host), Path: normPrefix(cr.Path), Methods: cr.Methods,
			Public:      cr.Allow.Public,
			AllowGroups: refs(cr.Allow.Groups), AllowUsers: refs(cr.Allow.Users),
			DenyGroups: refs(cr.Deny.Groups), DenyUsers: refs(cr.Deny.Users),
		}
		if r.Host == "*" {
			r.Host = ""
		}
		for _, m := range cr.Methods {
			r.methods |= methodBit(m)
			if m == "GET" {
				r.methods |= methodBit("HEAD")
			}
		}
		if cr.Upstream != "" {
			u, err := url.Parse(cr.Upstream)
			if err != nil {
				return nil, fmt.Errorf("routes[%d].upstream: %w", i, err)
			}
			r.Upstream = u
		}
		p.Routes = append(p.Routes, r)
		p.trieFor(r.Host).insert(r, r.Path)
		lower := FoldCase(r.Path)
		p.folded.trieFor(r.Host).insert(r, lower)
		p.upper = p.upper || lower != r.Path
	}
	canon, _ := json.Marshal(routes)
	sum := sha256.Sum256(canon)
	p.Hash = hex.EncodeToString(sum[:])
	return p, nil
}

// trieFor returns the trie holding the routes of a host pattern.
func (p *Policy) trieFor(host string) *trie {
	m, key := p.exact, host
	switch {
	case host == "":
		if p.any == nil {
			p.any = &trie{}
		}
		return p.any
	case strings.HasPrefix(host, "*."):
		m, key = p.wildcard, host[2:]
	}
	t := m[key]
	if t == nil {
		t = &trie{}
		m[key] = t
	}
	return t
}

func refs(names []string) []Ref {
	out := make([]Ref, 0, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		r := Ref{Raw: n, Name: strings.ToLower(n)}
		if tenant, name, ok := strings.Cut(n, "/"); ok && tenant != "" && name != "" {
			// Whether the prefix is a tenant is decided when binding, where
			// the tenants are known: "Eng/Platform" may be a group's name.
			r.Tenant, r.Short = tenant, strings.ToLower(name)
		}
		out = append(out, r)
	}
	return out
}

// normPrefix turns a configured path into the form Match compares.
func normPrefix(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	return strings.TrimRight(p, "/")
}

// Match returns the route for a request, or nil when none applies. host is
// lower-case without port, path normalised (see NormalizePath). The most
// specific host that has a route on the path wins (exact, then wildcard,
// then any); within it the longest path prefix that has routes, and the
// first of those that admits the method; when none does, no route
// applies. It does not allocate.
func (p *Policy) Match(host, path, method string) *Route {
	if t := p.exact[host]; t != nil {
		if r, claimed := t.match(path, methodBit(method)); claimed {
			return r
		}
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if t := p.wildcard[host[i+1:]]; t != nil {
			if r, claimed := t.match(path, methodBit(method)); claimed {
				return r
			}
		}
	}
	if p.any != nil {
		r, _ := p.any.match(path, methodBit(method))
		return r
	}
	return nil
}

// CaseAmbiguous reports whether the request's path, with the case of its
// letters folded, falls under another route than r, the route Match found
// for it (nil for none). Many servers (IIS, ASP.NET Core, Express by
// default) read paths without regard to case: such a request, /ADMIN/users
// when an /admin route protects what a public / would not, must not be
// decided as the weaker route; nor /admin, on a server that reads paths as
// written, under a route for /Admin. It costs nothing for the usual
// lower-case paths and routes.
func (p *Policy) CaseAmbiguous(host, path, method string, r *Route) bool {
	if !p.upper && !mayFold(path) {
		return false
	}
	var buf [512]byte
	f := appendFold(buf[:0], path)
	// Match keeps nothing of the path it is given: a view of the buffer
	// spares paths with upper-case letters an allocation per request.
	return p.folded.Match(host, unsafe.String(unsafe.SliceData(f), len(f)), method) != r
}

// FoldCase folds the letters of s to one case, as servers that read paths
// without regard to case equate them: ASCII letters to lower case, the
// others as strings.ToLower(strings.ToUpper(s)) would, so that the four
// non-ASCII letters whose case mappings reach ASCII ones (ſ and s, ı and
// İ and i, the Kelvin sign and k) fold together. Bytes that are not UTF-8
// stay as they are.
func FoldCase(s string) string {
	if !mayFold(s) {
		return s
	}
	return string(appendFold(make([]byte, 0, len(s)), s))
}

func appendFold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(unicode.ToUpper(r)))
		i += n
	}
	return dst
}

// mayFold reports whether FoldCase could change s.
func mayFold(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; ('A' <= c && c <= 'Z') || c >= 0x80 {
			return true
		}
	}
	return false
}

// NamesHosts reports whether a route names a host, exactly or through a
// wildcard.
func (p *Policy) NamesHosts() bool { return len(p.exact) > 0 || len(p.wildcard) > 0 }

// KnowsHost reports whether a route names host (lower-case, no port),
// exactly or through a wildcard. Routes for any host do not count.
func (p *Policy) KnowsHost(host string) bool {
	if p.exact[host] != nil {
		return true
	}
	i := strings.IndexByte(host, '.')
	return i > 0 && p.wildcard[host[i+1:]] != nil
}

// Route returns a route by name, or nil.
func (p *Policy) Route(name string) *Route {
	for _, r := range p.Routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

var methodBits = map[string]uint16{
	"GET": 1 << 0, "HEAD": 1 << 1, "POST": 1 << 2, "PUT": 1 << 3, "PATCH": 1 << 4,
	"DELETE": 1 << 5, "OPTIONS": 1 << 6, "CONNECT": 1 << 7, "TRACE": 1 << 8,
}

// methodBit maps a method to its bit; unknown methods get a bit no route
// lists, so only routes admitting every method match them. Methods are
// case-sensitive (RFC 9110), yet many applications and frameworks read
// "delete" as DELETE: a method is decided as the known method it may
// become, so that "delete" cannot pass where DELETE is refused.
func methodBit(m string) uint16 {
	if b, ok := methodBits[m]; ok {
		return b
	}
	for k, b := range methodBits {
		if strings.EqualFold(k, m) {
			return b
		}
	}
	return 1 << 15
}

// admits reports whether the route admits the method bit.
func (r *Route) admits(bit uint16) bool { return r.methods == 0 || r.methods&bit != 0 }

// trie indexes the routes of one host by path segment.
type trie struct {
	routes []*Route // routes whose prefix ends here, in configuration order
	kids   map[string]*trie
}

func (t *trie) insert(r *Route, path string) {
	n := t
	for _, seg := range segments(path) {
		if n.kids == nil {
			n.kids = map[string]*trie{}
		}
		c := n.kids[seg]
		if c == nil {
			c = &trie{}
			n.kids[seg] = c
		}
		n = c
	}
	n.routes = append(n.routes, r)
}

func segments(prefix string) []string {
	if prefix == "/" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(prefix, "/"), "/")
}

// match walks path segment by segment and returns the first route that
// admits the method among the deepest routes on the way. When none of
// those admits it, nothing matches: a route that lists methods owns its
// path, and the methods it leaves out are refused there, not handed to a
// route of a shorter prefix (a public "/" must not take the DELETEs of an
// "/admin" route that lists GET alone), nor to another host's routes.
// claimed reports whether any route was on the way.
func (t *trie) match(path string, bit uint16) (best *Route, claimed bool) {
	n := t
	rest := strings.TrimPrefix(path, "/")
	for {
		if len(n.routes) > 0 {
			best, claimed = nil, true
			for _, r := range n.routes {
				if r.admits(bit) {
					best = r
					break
				}
			}
		}
		if rest == "" || n.kids == nil {
			return best, claimed
		}
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if n = n.kids[seg]; n == nil {
			return best, claimed
		}
	}
}
