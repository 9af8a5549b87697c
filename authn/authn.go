// Package authn turns the credentials a request carries into an
// engine.Principal: who it claims to be and with which credential. It
// never decides: credentials that do not verify become a principal that
// carries the reason, which the engine turns into a decision, logged and
// counted like every other.
//
// Credentials, in order: an Authorization bearer value (a scimgate access
// token, or a JWT issued by the identity provider), then the session
// cookie of a browser sign-in.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/snapshot"
)

// Snapshots provides the current directory snapshot.
type Snapshots interface {
	Current() *snapshot.Snapshot
}

// syncer is a snapshot source that can catch up with the store on demand.
type syncer interface {
	Sync(ctx context.Context) error
}

// JWTs verifies bearer JWTs from the identity provider and finds their
// user; *signin.Service is one. VerifyJWT's error wraps ErrOtherIssuer
// when the token does not claim to be the provider's at all.
type JWTs interface {
	VerifyJWT(ctx context.Context, raw string) (claim string, expires time.Time, err error)
	Resolve(s *snapshot.Snapshot, claim string) (*snapshot.User, error)
}

// ErrOtherIssuer: a bearer JWT names another issuer than the identity
// provider. It is not scimgate's credential but, perhaps, an
// application's own, which a public route's upstream may receive.
var ErrOtherIssuer = errors.New("the token is not the identity provider's")

// Options configures an Authenticator. Zero values disable sessions and
// JWTs.
type Options struct {
	CookieName string // session cookie; "" disables sessions
	// JWTCookieName is the cookie with the session's JWT that sign-in
	// sets for HAProxy's map-sync mode ("" when it does not). It is not a
	// credential here, but it is scimgate's: see Cookies.
	JWTCookieName string
	Idle          time.Duration // sessions unused this long are refused
	JWTs          JWTs          // nil: bearer JWTs are refused
	// Touch persists sessions' last activity; Run calls it every minute.
	Touch func(ctx context.Context, seen map[string]time.Time) error
	Now   func() time.Time
}

// Authenticator verifies credentials against the live snapshot, in memory.
type Authenticator struct {
	src Snapshots
	o   Options

	seen    sync.Map // session id -> time.Time of last use in this process
	dirty   sync.Map // session ids used since the last Touch
	jwtMu   sync.Mutex
	jwtSeen map[[32]byte]verifiedJWT
	cookies []string

	unknownMu sync.Mutex
	unknown   map[string]struct{} // see knownUnknown
}

// maxUnknown bounds the ids knownUnknown remembers; past it, they are
// forgotten all at once.
const maxUnknown = 4096

// knownUnknown reports whether id, a token's ("t" and its id) or a
// session's ("s" and its id), was looked for after a read of the change
// log and not found. Ids are random and never reused: one unknown after
// such a read stays unknown (deleted, purged, or never issued), so its
// next requests, a script still using a deleted token, are refused
// without reading the change log again. A new id cannot be in the set:
// nobody holds it before it exists.
func (a *Authenticator) knownUnknown(id string) bool {
	a.unknownMu.Lock()
	defer a.unknownMu.Unlock()
	_, ok := a.unknown[id]
	return ok
}

func (a *Authenticator) rememberUnknown(id string) {
	a.unknownMu.Lock()
	defer a.unknownMu.Unlock()
	if len(a.unknown) >= maxUnknown || a.unknown == nil {
		a.unknown = make(map[string]struct{})
	}
	a.unknown[id] = struct{}{}
}

type verifiedJWT struct {
	user    snapshot.Key
	expires time.Time
}

// New returns an authenticator over src.
func New(src Snapshots, o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Authenticator{src: src, o: o, jwtSeen: map[[32]byte]verifiedJWT{}}
	// The session cookie without its __Host- prefix is the name an older
	// scimgate set it under: no longer a credential, but a live session's
	// secret all the same.
	legacy, _ := strings.CutPrefix(o.CookieName, "__Host-")
	for _, n := range []string{o.CookieName, o.JWTCookieName, legacy} {
		if n != "" && !slices.Contains(a.cookies, n) {
			a.cookies = append(a.cookies, n)
		}
	}
	return a
}

func reject(reason string) engine.Principal { return engine.Principal{Reject: reason} }

// CookieName is the session cookie's name, "" when sessions are off.
func (a *Authenticator) CookieName() string { return a.o.CookieName }

// Cookies are the names of scimgate's own cookies, which no upstream may
// receive: the session cookie and the session's JWT cookie, when set.
func (a *Authenticator) Cookies() []string { return a.cookies }

// Authenticate returns the principal of r.
func (a *Authenticator) Authenticate(r *http.Request) engine.Principal {
	cookie := ""
	if a.o.CookieName != "" {
		if c, err := r.Cookie(a.o.CookieName); err == nil {
			cookie = c.Value
		}
	}
	return a.Credentials(r.Context(), r.Header.Get("Authorization"), cookie)
}

// Credentials returns the principal of a request's Authorization header and
// session cookie value, either of them "" when absent: for adapters that
// receive them apart from an http.Request (HAProxy's SPOE). Authorization,
// when present, wins; its scheme must be Bearer.
func (a *Authenticator) Credentials(ctx context.Context, authorization, cookie string) engine.Principal {
	if authorization != "" {
		scheme, cred, _ := strings.Cut(authorization, " ")
		cred = strings.TrimSpace(cred)
		switch {
		case !strings.EqualFold(scheme, "Bearer"):
			return reject(engine.ReasonTokenInvalid)
		case strings.HasPrefix(cred, directory.AccessTokenPrefix):
			return a.Token(cred)
		case a.o.JWTs != nil && strings.Count(cred, ".") == 2:
			return a.jwt(ctx, cred)
		}
		return reject(engine.ReasonTokenInvalid)
	}
	if cookie != "" && a.o.CookieName != "" {
		return a.Session(cookie)
	}
	return engine.Principal{}
}

// Token verifies an access token. The secret is compared with the stored
// hash in constant time. An id the snapshot does not know yet costs a read
// of the change log first (a token made a moment ago from the command
// line): shared between callers and at most one every 10 ms, so unknown
// ids cannot load the store, but they are answered later than known ones,
// the first time (knownUnknown). Ids are not secret (the log names them);
// the secret is what is guessed.
func (a *Authenticator) Token(bearer string) engine.Principal {
	id, secret, ok := directory.SplitAccessToken(bearer)
	if !ok {
		return reject(engine.ReasonTokenInvalid)
	}
	sum := hashSecret(secret)
	tk, found := a.src.Current().Token(id)
	if !found && !a.knownUnknown("t"+id) && a.sync() {
		// A token made a moment ago by another process (the command line)
		// may not have reached the snapshot yet.
		if tk, found = a.src.Current().Token(id); !found {
			a.rememberUnknown("t" + id)
		}
	}
	var want [32]byte
	if found {
		want = tk.Hash
	}
	if subtle.ConstantTimeCompare(want[:], sum[:]) != 1 || !found {
		return reject(engine.ReasonTokenInvalid)
	}
	// Revocation and expiry are the engine's to judge, on every decision.
	return engine.Principal{User: tk.Owner, TokenID: id}
}

// hashSecret is the SHA-256 of a credential's secret, hashed from a copy on
// the stack: converting it to []byte directly would allocate for every
// secret longer than 32 bytes, that is every request.
func hashSecret(secret string) [32]byte {
	var buf [64]byte
	return sha256.Sum256(append(buf[:0], secret...))
}

func (a *Authenticator) sync() bool {
	s, ok := a.src.(syncer)
	return ok && s.Sync(context.Background()) == nil
}

// Session verifies a session cookie and its idle time.
func (a *Authenticator) Session(cookie string) engine.Principal {
	id, secret, ok := directory.SplitSessionCookie(cookie)
	if !ok {
		return reject(engine.ReasonSessionInvalid)
	}
	sum := hashSecret(secret)
	ss, found := a.src.Current().Session(id)
	if !found && !a.knownUnknown("s"+id) && a.sync() {
		if ss, found = a.src.Current().Session(id); !found { // created a moment ago elsewhere?
			a.rememberUnknown("s" + id)
		}
	}
	var want [32]byte
	if found {
		want = ss.Hash
	}
	if subtle.ConstantTimeCompare(want[:], sum[:]) != 1 || !found {
		return reject(engine.ReasonSessionInvalid)
	}
	now := a.o.Now()
	last := ss.LastSeen
	if v, ok := a.seen.Load(id); ok && v.(time.Time).After(last) {
		last = v.(time.Time)
	}
	if a.o.Idle > 0 && now.Sub(last) > a.o.Idle {
		return reject(engine.ReasonSessionExpired)
	}
	a.seen.Store(id, now)
	a.dirty.Store(id, now)
	// Revocation and the absolute lifetime are the engine's to judge.
	return engine.Principal{User: ss.Owner, SessionID: id}
}

// jwt verifies a bearer JWT of the identity provider. A verified token is
// remembered until it expires, so that a client reusing it costs one
// signature check, not one per request; its user is judged afresh anyway.
func (a *Authenticator) jwt(ctx context.Context, raw string) engine.Principal {
	key := sha256.Sum256([]byte(raw))
	now := a.o.Now()
	a.jwtMu.Lock()
	v, ok := a.jwtSeen[key]
	a.jwtMu.Unlock()
	if ok && now.Before(v.expires) {
		return engine.Principal{User: v.user, NotAfter: v.expires, JWT: true}
	}
	// A token of the provider that lets nobody in is still kept from
	// upstreams (JWT set): a public route's upstream could replay it once
	// it verifies again (the provider's keys were unreachable) or its
	// user is provisioned.
	claim, exp, err := a.o.JWTs.VerifyJWT(ctx, raw)
	if err != nil {
		return engine.Principal{Reject: engine.ReasonTokenInvalid, JWT: !errors.Is(err, ErrOtherIssuer)}
	}
	u, err := a.o.JWTs.Resolve(a.src.Current(), claim)
	if err != nil {
		return engine.Principal{Reject: engine.ReasonUserUnknown, JWT: true}
	}
	a.jwtMu.Lock()
	if len(a.jwtSeen) > 10_000 {
		clear(a.jwtSeen)
	}
	a.jwtSeen[key] = verifiedJWT{user: u.Key, expires: exp}
	a.jwtMu.Unlock()
	return engine.Principal{User: u.Key, NotAfter: exp, JWT: true}
}

// Run persists sessions' last activity every minute until ctx ends, and
// once more when it does.
func (a *Authenticator) Run(ctx context.Context) {
	if a.o.Touch == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			a.flush(ctx)
		}
	}
}

func (a *Authenticator) flush(ctx context.Context) {
	seen := map[string]time.Time{}
	a.dirty.Range(func(k, v any) bool {
		seen[k.(string)] = v.(time.Time)
		a.dirty.Delete(k)
		return true
	})
	if len(seen) > 0 {
		_ = a.o.Touch(ctx, seen)
	}
	// Forget what no idle check needs any longer (every session ever
	// used would stay otherwise): a session unused for longer than the
	// idle timeout is refused whatever its entry says, and without an
	// idle timeout nothing reads them.
	cutoff := a.o.Now().Add(-a.o.Idle)
	a.seen.Range(func(k, v any) bool {
		if v.(time.Time).Before(cutoff) {
			a.seen.CompareAndDelete(k, v) // not a use stored meanwhile
		}
		return true
	})
}
