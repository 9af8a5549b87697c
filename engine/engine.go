// Package engine is scimgate's one decision core: Decide takes who is
// asking (a Principal) and what they ask for (a Request) and returns a
// Decision, from the current directory snapshot and policy. Every adapter
// (built-in proxy, forward-auth, Caddy, HAProxy) calls it; none holds
// policy logic of its own.
//
// Credentials are judged on every decision against the directory as it is
// now: a revoked token, a deactivated or deleted owner, a removed group
// membership all deny the very next request.
package engine

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// Reasons are stable strings: metrics, logs and the audit trail record
// them verbatim.
const (
	ReasonPublic          = "public"
	ReasonGroupOK         = "group-ok"
	ReasonUserOK          = "user-ok"
	ReasonNoRoute         = "no-route"
	ReasonUnauthenticated = "unauthenticated"
	ReasonTokenInvalid    = "token-invalid"
	ReasonTokenRevoked    = "token-revoked"
	ReasonTokenExpired    = "token-expired"
	ReasonSessionInvalid  = "session-invalid"
	ReasonSessionRevoked  = "session-revoked"
	ReasonSessionExpired  = "session-expired"
	ReasonUserUnknown     = "user-unknown"
	ReasonUserInactive    = "user-inactive"
	ReasonDeniedUser      = "denied-user"
	ReasonDeniedGroup     = "denied-group"
	ReasonNotAllowed      = "not-allowed"
	ReasonStale           = "snapshot-stale"
	ReasonBadPath         = "bad-path"
	ReasonBadHost         = "bad-host"
)

// Principal is who a request comes from, as authentication established it.
// It names credentials rather than holding their state, so that every
// decision re-reads that state: long-lived streams are re-decided with the
// same Principal when the directory changes.
type Principal struct {
	User      snapshot.Key // zero: anonymous
	TokenID   string       // the access token used, if any
	SessionID string       // the browser session used, if any
	// NotAfter is when the credential stops being valid (a bearer JWT's
	// expiry); zero when the credential's state says it.
	NotAfter time.Time
	// JWT is set when the credential was a bearer JWT of the identity
	// provider, which upstreams must not receive (they could replay it).
	JWT bool
	// Reject, when set, is the reason authentication refused the
	// credentials (a wrong secret, a bad signature, an idle session).
	Reject string
}

// Anonymous reports whether the request carried no usable identity.
func (p Principal) Anonymous() bool { return p.User.ID == "" }

// Request is what is asked for: host lower-case without port, path
// normalised with policy.NormalizePath.
type Request struct {
	Host   string
	Path   string
	Method string
}

// Decision is the outcome of Decide, as data.
type Decision struct {
	Allow  bool
	Reason string
	Route  *policy.Route      // nil when no route applies
	User   *snapshot.User     // the principal's user, when it is valid
	Snap   *snapshot.Snapshot // the snapshot decided on

	policy *policy.Policy // the policy decided with
}

// Unauthenticated reports whether the request was denied for want of a
// valid identity (401 or a sign-in redirect), rather than refused (403).
func (d Decision) Unauthenticated() bool {
	switch d.Reason {
	case ReasonUnauthenticated, ReasonTokenInvalid, ReasonTokenRevoked, ReasonTokenExpired,
		ReasonSessionInvalid, ReasonSessionRevoked, ReasonSessionExpired:
		return true
	}
	return false
}

// Source provides the current directory snapshot; *snapshot.Live is one.
type Source interface {
	Current() *snapshot.Snapshot
	Age() time.Duration
}

// Engine decides. It is safe for concurrent use.
type Engine struct {
	src    Source
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	policy atomic.Pointer[policy.Policy]
	bound  atomic.Pointer[bindings]
	mu     sync.Mutex // serialises rebinding
}

// Options configures an Engine.
type Options struct {
	// MaxSnapshotAge: decisions deny when the snapshot has not been
	// confirmed current for longer; default 30s.
	MaxSnapshotAge time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// New returns an engine deciding with p over src.
func New(src Source, p *policy.Policy, o Options) *Engine {
	if o.MaxSnapshotAge <= 0 {
		o.MaxSnapshotAge = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{src: src, maxAge: o.MaxSnapshotAge, now: o.Now, log: o.Logger}
	e.policy.Store(p)
	return e
}

// SetPolicy swaps in a new policy; the next decision uses it.
func (e *Engine) SetPolicy(p *policy.Policy) { e.policy.Store(p) }

// Policy returns the current policy.
func (e *Engine) Policy() *policy.Policy { return e.policy.Load() }

// Snapshot returns the current snapshot.
func (e *Engine) Snapshot() *snapshot.Snapshot { return e.src.Current() }

// Decide decides one request. It does not allocate.
func (e *Engine) Decide(p Principal, r Request) Decision {
	s := e.src.Current()
	b := e.bindingsFor(s)
	if r.Host == "" && b.policy.NamesHosts() {
		// No Host header (HTTP/1.0, or an absolute-form request line a
		// proxy passes on as it came): the upstream may serve it as any
		// host, so it is not decided under the routes for any host alone.
		return Decision{Reason: ReasonBadHost, Snap: s, policy: b.policy}
	}
	route := b.policy.Match(r.Host, r.Path, r.Method)
	if b.policy.CaseAmbiguous(r.Host, r.Path, r.Method, route) {
		// The upstream may read the path as another route's: refused
		// as other ambiguous paths are.
		return Decision{Reason: ReasonBadPath, Snap: s, policy: b.policy}
	}
	return e.decide(s, b, p, route)
}

// decide decides a request that route took; nil: none matched.
func (e *Engine) decide(s *snapshot.Snapshot, b *bindings, p Principal, route *policy.Route) Decision {
	d := Decision{Snap: s, policy: b.policy}
	if route == nil {
		d.Reason = ReasonNoRoute
		return d
	}
	d.Route = route
	if e.src.Age() > e.maxAge {
		d.Reason = ReasonStale
		return d
	}
	u, bad := e.principal(s, p)
	if route.Public {
		// Everyone may pass; only a valid, active user is identified.
		d.Allow, d.Reason = true, ReasonPublic
		if bad == "" && u != nil && u.Active {
			d.User = u
		}
		return d
	}
	switch {
	case bad != "":
		d.Reason = bad
		return d
	case u == nil:
		d.Reason = ReasonUnauthenticated
		return d
	}
	d.User = u
	rb := &b.routes[route.Index]
	switch {
	case !u.Active:
		d.Reason = ReasonUserInactive
	case rb.denyUsers.denies(u):
		d.Reason = ReasonDeniedUser
	case rb.denyGroups.member(s, u):
		d.Reason = ReasonDeniedGroup
	case rb.allowUsers.allows(s, u):
		d.Allow, d.Reason = true, ReasonUserOK
	case rb.allowGroups.member(s, u):
		d.Allow, d.Reason = true, ReasonGroupOK
	default:
		d.Reason = ReasonNotAllowed
	}
	return d
}

// Confirm returns d, a decision of Decide for p and r, if the snapshot and
// the policy it was made on are still current, and decides again
// otherwise. An adapter that registers a request as a stream after
// deciding it confirms the decision then: a change published in between
// is seen here, one published later by the stream recheck. The usual
// case, no change, costs no second decision; what only time changes
// (expiry, a stale snapshot) is the periodic recheck's to catch, as for
// every stream.
func (e *Engine) Confirm(p Principal, r Request, d Decision) Decision {
	if e.Current(d) {
		return d
	}
	return e.Decide(p, r)
}

// Current reports whether d was made on the snapshot and the policy that
// are current: deciding again would give d again.
func (e *Engine) Current(d Decision) bool {
	return d.Snap == e.src.Current() && d.policy == e.policy.Load()
}

// principal resolves p against the snapshot: the user, or the reason the
// credentials are no good. An anonymous principal gives nil and "".
func (e *Engine) principal(s *snapshot.Snapshot, p Principal) (*snapshot.User, string) {
	if p.Reject != "" {
		return nil, p.Reject
	}
	if !p.NotAfter.IsZero() && !e.now().Before(p.NotAfter) {
		return nil, ReasonTokenExpired
	}
	if p.TokenID != "" {
		tk, ok := s.Token(p.TokenID)
		switch {
		case !ok || tk.Owner != p.User:
			return nil, ReasonTokenInvalid
		case tk.Revoked:
			return nil, ReasonTokenRevoked
		case !tk.Expires.IsZero() && !e.now().Before(tk.Expires):
			return nil, ReasonTokenExpired
		}
	}
	if p.SessionID != "" {
		ss, ok := s.Session(p.SessionID)
		switch {
		case !ok || ss.Owner != p.User:
			return nil, ReasonSessionInvalid
		case ss.Revoked:
			return nil, ReasonSessionRevoked
		case !e.now().Before(ss.Expires):
			return nil, ReasonSessionExpired
		}
	}
	if p.Anonymous() {
		return nil, ""
	}
	u, ok := s.User(p.User)
	if !ok {
		return nil, ReasonUserUnknown
	}
	return u, ""
}
