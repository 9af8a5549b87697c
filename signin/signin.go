// Package signin lets people sign in with the operator's identity
// provider (OpenID Connect, authorization code flow with PKCE, state and
// nonce) and turns the result into a server-side session, but only for
// users the identity provider has provisioned over SCIM. It also verifies
// the bearer JWTs the provider issues to machines.
package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

// Paths served on the gateway, besides the callback (from redirect_url).
const (
	StartPath   = "/.scimgate/signin"
	SignOutPath = "/.scimgate/signout"
	// RefreshPath renews the session JWT of HAProxy's map-sync mode.
	RefreshPath = "/.scimgate/refresh"
)

// loginMaxAge bounds the time from the redirect to the callback.
const loginMaxAge = 10 * time.Minute

// StateKeyPurpose is what the key of Options.StateKey is derived for.
const StateKeyPurpose = "sign-in state v1"

// maxReturnLen bounds the address a sign-in returns to, which its cookie
// carries (longer ones are refused, as no page needs them).
const maxReturnLen = 2048

// Snapshots provides the current directory snapshot.
type Snapshots interface {
	Current() *snapshot.Snapshot
}

// Options configures the service.
type Options struct {
	OIDC      *config.OIDC
	Sessions  config.Sessions
	PublicURL *url.URL // the gateway's external URL
	Dir       *directory.Service
	Snapshots Snapshots
	Client    *http.Client // to talk to the provider; default 10s timeout
	// StateKey (32 bytes) seals the cookie that carries a sign-in from
	// its start to its callback. Every gateway sharing the store must
	// derive the same (assertion.Signer.DeriveKey). Without one, a random
	// key of this process: a sign-in in progress when it restarts fails,
	// and the browser is asked to sign in again.
	StateKey []byte
	// SessionJWT, when set, mints a second cookie, named SessionJWTCookie,
	// for every new session: HAProxy's map-sync mode verifies it with
	// jwt_verify. A sign-in whose JWT cannot be minted fails, rather than
	// leave the browser with a session HAProxy does not know.
	SessionJWT       Minter
	SessionJWTCookie string
	Log              *slog.Logger
	Now              func() time.Time
}

// Minter mints the JWT of a session's second cookie; *mapsync.Syncer is
// one. The JWT expires at exp, or with the session, and asks to be
// renewed from refreshAt on (zero: never).
type Minter interface {
	MintCookie(ctx context.Context, sessionID string, exp, refreshAt time.Time) (string, error)
}

// SessionChecker judges a session cookie and counts the request as the
// session's activity; *authn.Authenticator is one.
type SessionChecker interface {
	Session(cookie string) engine.Principal
}

// Service is the sign-in service.
type Service struct {
	o            Options
	secret       string
	callbackURL  *url.URL // redirect_url: where the provider sends the browser back
	callbackPath string
	sessions     atomic.Pointer[SessionChecker] // never behind mu: discovery holds it
	renewals     renewals
	sealer       *sealer
	used         usedStates

	mu        sync.Mutex
	ready     bool
	inflight  chan struct{} // closed when the discovery under way ends
	lastTry   time.Time
	oauth     oauth2.Config
	ids       *oidc.IDTokenVerifier // ID tokens of sign-ins (aud = client id)
	jwts      *oidc.IDTokenVerifier // bearer JWTs (aud checked against Audiences)
	endSess   string
	prov      *oidc.Provider
	discovery error
}

// New returns a sign-in service. It does not reach the provider: discovery
// happens on first use and is retried, so that an identity provider that is
// down at start does not keep the gateway from serving other routes.
func New(o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	secret, err := o.OIDC.Secret()
	if err != nil {
		return nil, err
	}
	cb, err := url.Parse(o.OIDC.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("oidc.redirect_url: %w", err)
	}
	key := o.StateKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if o.Sessions.CookieName, err = sessionCookieName(o.Sessions, o.PublicURL); err != nil {
		return nil, err
	}
	if err := prefixOK(o.SessionJWTCookie, o.Sessions.CookieDomain, o.PublicURL); err != nil {
		return nil, fmt.Errorf("haproxy_maps.jwt_cookie: %w", err)
	}
	return &Service{o: o, secret: secret, callbackURL: cb, callbackPath: cb.Path, sealer: sl}, nil
}

// CookieName is the name the session cookie is set under: see
// sessionCookieName.
func (s *Service) CookieName() string { return s.o.Sessions.CookieName }

// JWTCookieName is the name the session's JWT cookie (Options.SessionJWTCookie)
// is set under.
func (s *Service) JWTCookieName() string { return s.o.SessionJWTCookie }

// prefixOK reports a cookie name whose __Host- or __Secure- prefix the
// browser would refuse, where the cookie is set.
func prefixOK(name, domain string, public *url.URL) error {
	https := public != nil && public.Scheme == "https"
	switch {
	case strings.HasPrefix(name, "__Host-") && (!https || domain != ""):
		return fmt.Errorf("%q: browsers take a __Host- cookie only over https and without a domain (sessions.cookie_domain %q, public URL %s)", name, domain, public)
	case strings.HasPrefix(name, "__Secure-") && !https:
		return fmt.Errorf("%q: browsers take a __Secure- cookie only over https (public URL %s)", name, public)
	}
	return nil
}

// sessionCookieName is the name of the session cookie. Over https, and
// unless it must reach other hosts (sessions.cookie_domain), it is a
// __Host- cookie: browsers let no other host set one, so a sibling host
// under the same parent domain (a less trusted application, a page with
// an XSS, plain http on another subdomain) cannot plant its own session
// cookie in a victim's browser and have the victim act as the attacker.
// A name the operator prefixed is kept, if the browser will take it.
func sessionCookieName(s config.Sessions, public *url.URL) (string, error) {
	if err := prefixOK(s.CookieName, s.CookieDomain, public); err != nil {
		return "", fmt.Errorf("sessions.cookie_name %w", err)
	}
	if public != nil && public.Scheme == "https" && s.CookieDomain == "" && !strings.HasPrefix(s.CookieName, "__") {
		return "__Host-" + s.CookieName, nil
	}
	return s.CookieName, nil
}

// CallbackPath is the path of the redirect URL.
func (s *Service) CallbackPath() string { return s.callbackPath }

// Handles reports whether the service serves path.
func (s *Service) Handles(path string) bool {
	return path == StartPath || path == SignOutPath || path == RefreshPath || path == s.callbackPath
}

// UseSessions sets how the refresh endpoint judges session cookies. It is
// set after New because the checker itself verifies bearer JWTs with the
// service; until then refresh sends browsers to sign in.
func (s *Service) UseSessions(c SessionChecker) { s.sessions.Store(&c) }

// provider discovers the provider on first use, retrying failures at most
// every 10 seconds. The network is reached outside mu: once a discovery
// has failed, requests answer with that failure at once, also while a
// retry is under way, rather than queue behind it (an identity provider
// that is down must not hold every bearer JWT for seconds); only the
// first discovery is waited for, as long as the request lasts.
func (s *Service) provider(ctx context.Context) error {
	s.mu.Lock()
	for {
		if s.ready {
			s.mu.Unlock()
			return nil
		}
		if s.discovery != nil && (s.inflight != nil || s.o.Now().Sub(s.lastTry) < 10*time.Second) {
			err := s.discovery
			s.mu.Unlock()
			return err
		}
		if s.inflight == nil {
			break
		}
		ch := s.inflight
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	ch := make(chan struct{})
	s.inflight, s.lastTry = ch, s.o.Now()
	s.mu.Unlock()
	err := s.discover(ctx)
	s.mu.Lock()
	s.inflight = nil
	close(ch)
	s.mu.Unlock()
	return err
}

// discover reaches the provider and, on success, sets up the service
// under mu; a failure is kept in s.discovery.
func (s *Service) discover(ctx context.Context) error {
	o := s.o.OIDC
	fail := func(err error, msg string, args ...any) error {
		s.o.Log.Error(msg, args...)
		s.mu.Lock()
		s.discovery = err
		s.mu.Unlock()
		return err
	}
	// Not cut short when the asking request goes away: a client that hangs
	// up at once would make discovery fail, and sign-in wait 10 s.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), s.o.Client)
	p, err := oidc.NewProvider(pctx, o.Issuer)
	if err != nil {
		return fail(fmt.Errorf("discover %s: %w", o.Issuer, err),
			"OpenID Connect discovery failed; sign-in is unavailable until it succeeds", "err", err)
	}
	var meta struct {
		EndSession string   `json:"end_session_endpoint"`
		JWKS       string   `json:"jwks_uri"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return fail(fmt.Errorf("discover %s: no jwks_uri", o.Issuer),
			"OpenID Connect discovery names no key set; sign-in is unavailable until it does", "issuer", o.Issuer)
	}
	keys := newKeySet(meta.JWKS, s.o.Client, s.o.Now)
	algs := acceptedAlgs(meta.Algs)
	oauth := oauth2.Config{ClientID: o.ClientID, ClientSecret: s.secret, RedirectURL: o.RedirectURL, Endpoint: p.Endpoint(), Scopes: o.Scopes}
	oauth.Endpoint.AuthStyle = authStyle(o.TokenAuthMethod)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth = oauth
	// Expiry and not-before are checked by timesOK, within clock_skew
	// either way; go-oidc would shift both by the same clock and let nbf
	// run 5 minutes ahead whatever the skew.
	s.ids = oidc.NewVerifier(o.Issuer, &verifyTimes{keys, s}, &oidc.Config{ClientID: o.ClientID, SkipExpiryCheck: true, SupportedSigningAlgs: algs})
	s.jwts = oidc.NewVerifier(o.Issuer, &verifyTimes{keys, s}, &oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SupportedSigningAlgs: algs})
	s.prov, s.endSess, s.ready, s.discovery = p, meta.EndSession, true, nil
	return nil
}

// authStyle is how the client authenticates at the token endpoint:
// oidc.token_auth_method, or oauth2's detection, which tries the
// Authorization header (client_secret_basic) and then the form, and keeps
// what worked. Providers list both methods in discovery and still refuse
// the one a client is not registered with (Okta, Authelia), so discovery
// cannot choose.
func authStyle(configured string) oauth2.AuthStyle {
	switch configured {
	case "client_secret_basic":
		return oauth2.AuthStyleInHeader
	case "client_secret_post":
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// acceptedAlgs are the signature algorithms the provider says it signs ID
// tokens with that are also in signingAlgs; RS256, which every provider
// must support, when it says nothing usable.
func acceptedAlgs(advertised []string) []string {
	var out []string
	for _, a := range advertised {
		for _, ok := range signingAlgs {
			if a == string(ok) {
				out = append(out, a)
				break
			}
		}
	}
	if len(out) == 0 {
		out = []string{string(jose.RS256)}
	}
	return out
}

// SignInURL returns the URL that starts a sign-in coming back to returnTo.
//
// An adapter builds returnTo from the request; the built-in proxy behind a
// TLS terminator sees plain HTTP, so a return URL on the request's own
// host takes the scheme the browser used (requestScheme: X-Forwarded-Proto,
// else public_url's), not http.
func (s *Service) SignInURL(r *http.Request, returnTo string) string {
	if rt, err := url.Parse(returnTo); err == nil && r != nil && r.TLS == nil && rt.Scheme == "http" && rt.Host == r.Host {
		rt.Scheme = requestScheme(r, s.o.PublicURL.Scheme)
		returnTo = rt.String()
	}
	u := *s.o.PublicURL
	u.Path = StartPath
	u.RawQuery = url.Values{"rd": {returnTo}}.Encode()
	return u.String()
}

// ServeHTTP serves the start, callback and sign-out paths.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case StartPath:
		s.start(w, r)
	case s.callbackPath:
		s.callback(w, r)
	case SignOutPath:
		s.signOut(w, r)
	case RefreshPath:
		s.refresh(w, r)
	default:
		http.NotFound(w, r)
	}
}

// randomString returns n random bytes, base64url encoded.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeReturn accepts where a sign-in may come back to: a path, on the host
// the sign-in was asked for on, or an http(s) URL on a host the session
// cookie reaches: the host of the callback, where the cookie is set (any
// port: cookies do not tell ports apart), or one under the cookie domain.
// Anything else is an open redirect, or a host the browser would come back
// to without the cookie and be sent to sign in again, round and round.
func (s *Service) safeReturn(r *http.Request, rd string) (string, error) {
	pub := s.o.PublicURL
	if rd == "" {
		return pub.String() + "/", nil
	}
	if len(rd) > maxReturnLen {
		return "", errReturnTooLong
	}
	if strings.ContainsAny(rd, "\\\r\n\t") {
		return "", errOpenRedirect
	}
	if strings.HasPrefix(rd, "/") && !strings.HasPrefix(rd, "//") {
		// A path, as HAProxy's map-sync configuration sends it: on the host
		// the browser asked on.
		scheme, host := pub.Scheme, pub.Host
		if r.Host != "" && !strings.EqualFold(r.Host, pub.Host) {
			scheme, host = requestScheme(r, pub.Scheme), r.Host
		}
		rd = scheme + "://" + host + rd
	}
	u, err := url.Parse(rd)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", errOpenRedirect
	}
	host := strings.ToLower(u.Hostname())
	dom := strings.TrimPrefix(strings.ToLower(s.o.Sessions.CookieDomain), ".")
	switch {
	case host == strings.ToLower(s.callbackURL.Hostname()):
	case dom != "" && (host == dom || strings.HasSuffix(host, "."+dom)):
	default:
		return "", errCookieHost
	}
	return u.String(), nil
}

var (
	errReturnTooLong = fmt.Errorf("the address to return to after sign-in is longer than %d bytes", maxReturnLen)
	errOpenRedirect  = errors.New("the address to return to after sign-in is not one this gateway serves")
	errCookieHost    = errors.New("the address to return to after sign-in is on a host the session cookie does not reach: " +
		"sign-in sets it on the host of oidc.redirect_url, and on sessions.cookie_domain when that is set")
)

// requestScheme is the scheme the browser used: https over TLS, else what
// the proxy in front says in X-Forwarded-Proto, else def. The header only
// decides where this browser's own sign-in returns to.
func requestScheme(r *http.Request, def string) string {
	if r.TLS != nil {
		return "https"
	}
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		return p
	}
	return def
}

func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	returnTo, err := s.safeReturn(r, r.URL.Query().Get("rd"))
	if err != nil {
		s.page(w, http.StatusBadRequest, "Sign-in refused", upperFirst(err.Error())+".")
		return
	}
	if policy.NormalizeHost(r.Host) != policy.NormalizeHost(s.callbackURL.Host) {
		// The cookie that binds the sign-in to this browser must reach the
		// callback: start again on the callback's host.
		u := url.URL{Scheme: s.callbackURL.Scheme, Host: s.callbackURL.Host, Path: StartPath, RawQuery: url.Values{"rd": {returnTo}}.Encode()}
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	if err := s.provider(r.Context()); err != nil {
		s.page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "The identity provider cannot be reached right now. Try again in a moment.")
		return
	}
	state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
	sealed, err := s.sealer.seal(state, login{Nonce: nonce, Verifier: verifier, ReturnTo: returnTo, Created: s.o.Now().Unix()})
	if err != nil {
		s.o.Log.Error("seal sign-in", "err", err)
		s.page(w, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be started.")
		return
	}
	// The sign-in travels in this cookie, which also binds it to this
	// browser: the callback must come with it, so that nobody can make a
	// victim's browser complete a sign-in they started (login CSRF). One
	// cookie per sign-in keeps tabs apart; the callback deletes it, so a
	// state is used once.
	s.dropStaleSignIns(w, r)
	c := s.stateCookie(state)
	c.Value, c.MaxAge = sealed, int(loginMaxAge.Seconds())
	http.SetCookie(w, c)
	http.Redirect(w, r, s.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
}

// maxSignInsInFlight bounds the sign-in cookies a browser holds at once.
// Each carries its return address (up to maxReturnLen) and, over https,
// goes with every request to the gateway's host: sign-ins started and not
// finished (by an attacker's page sending a victim's browser here again
// and again, with long return addresses) would otherwise swell that
// browser's Cookie header past what proxies accept, and lock it out.
const maxSignInsInFlight = 2

// dropStaleSignIns deletes the sign-in cookies the request carries when
// there are as many as maxSignInsInFlight: the sign-in starting now
// replaces them, and a tab still waiting at the provider signs in again.
// Over plain http the cookies are scoped to the callback's path and never
// reach the start, where they weigh on no other request either.
func (s *Service) dropStaleSignIns(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, c := range r.Cookies() {
		if n, _ := strings.CutPrefix(c.Name, "__Host-"); strings.HasPrefix(n, loginCookiePrefix) {
			names = append(names, c.Name)
		}
	}
	if len(names) < maxSignInsInFlight {
		return
	}
	for _, n := range names {
		c := s.stateCookie("")
		c.Name, c.MaxAge = n, -1
		http.SetCookie(w, c)
	}
}

// upperFirst upper-cases an ASCII first letter.
func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// loginCookiePrefix starts the name of every sign-in's cookie.
const loginCookiePrefix = "scimgate_login_"

// stateCookie is the cookie that carries a sign-in and binds it to its
// browser, without its value. Over https it is a __Host- cookie: browsers
// let no other host set one, so a sibling host under the same parent
// domain (a less trusted app, a page with an XSS, plain http on another
// subdomain) cannot plant its own sign-in's cookie in a victim's browser
// and have the victim complete the attacker's sign-in. Such a cookie must
// have Path=/; the callback deletes it, within seconds of its start.
func (s *Service) stateCookie(state string) *http.Cookie {
	if len(state) > 16 {
		state = state[:16]
	}
	c := &http.Cookie{Name: loginCookiePrefix + state, Path: s.callbackPath, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.callbackURL.Scheme == "https" {
		c.Name, c.Path, c.Secure = "__Host-"+c.Name, "/", true
	}
	return c
}

// VerifyJWT verifies a bearer JWT the provider issued (signature against
// its keys, issuer, an accepted audience, expiry within the clock skew)
// and returns the value of the configured user claim and the expiry.
func (s *Service) VerifyJWT(ctx context.Context, raw string) (string, time.Time, error) {
	if iss, ok := unverifiedIssuer(raw); ok && iss != s.o.OIDC.Issuer {
		return "", time.Time{}, fmt.Errorf("issuer %q: %w", iss, authn.ErrOtherIssuer)
	}
	if err := s.provider(ctx); err != nil {
		return "", time.Time{}, err
	}
	tok, err := s.jwts.Verify(ctx, raw)
	if err != nil {
		return "", time.Time{}, err
	}
	if tok.Nonce != "" {
		// An ID token from a browser sign-in (scimgate's or another
		// client's) proves a login to that client; it is not an API
		// credential, and must not become one when it leaks.
		return "", time.Time{}, errors.New("an ID token from a browser sign-in (it has a nonce) is not accepted as a bearer token")
	}
	if !audienceOK(tok.Audience, s.o.OIDC.Audiences) {
		return "", time.Time{}, fmt.Errorf("audience %v is not accepted", tok.Audience)
	}
	v, err := s.claim(tok)
	return v, tok.Expiry.Add(s.o.OIDC.ClockSkew), err
}

// unverifiedIssuer reads the iss claim of a JWT without verifying it:
// enough to tell another issuer's token, which is none of scimgate's
// business, from one of the provider's that does not verify.
func unverifiedIssuer(raw string) (string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss *string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss == nil {
		return "", false
	}
	return *c.Iss, true
}

func audienceOK(got, accepted []string) bool {
	for _, a := range got {
		for _, b := range accepted {
			if a == b {
				return true
			}
		}
	}
	return false
}

// claim reads the configured user claim of a token.
func (s *Service) claim(tok *oidc.IDToken) (string, error) { return s.claimOf(tok.Claims) }

// claimOf reads the configured user claim from a set of claims.
func (s *Service) claimOf(decode func(any) error) (string, error) {
	var claims map[string]any
	if err := decode(&claims); err != nil {
		return "", err
	}
	// An address the provider says it has not verified may be anyone's:
	// some providers let people type their own. Said without the address
	// itself, it still holds: UserInfo's address is then not asked for.
	if s.o.OIDC.UserClaim == "email" {
		switch ev := claims["email_verified"].(type) {
		case bool:
			if !ev {
				return "", errUnverified
			}
		case string:
			if strings.EqualFold(ev, "false") {
				return "", errUnverified
			}
		}
	}
	v, _ := claims[s.o.OIDC.UserClaim].(string)
	if v == "" {
		return "", fmt.Errorf("no %q claim", s.o.OIDC.UserClaim)
	}
	return v, nil
}

// errUnverified: the token's email claim is one the provider has not
// verified (email_verified false).
var errUnverified = errors.New("the provider has not verified the email address (email_verified is false)")

// userInfoClaim reads the user claim from the UserInfo endpoint: when it
// issues an access token, a provider may leave profile and email claims
// out of the ID token (OpenID Connect Core section 5.4). The answer must be
// about the ID token's subject.
func (s *Service) userInfoClaim(ctx context.Context, tok *oauth2.Token, subject string) (string, error) {
	ui, err := s.prov.UserInfo(ctxWithClient(ctx, s.o.Client), oauth2.StaticTokenSource(tok))
	if err != nil {
		return "", fmt.Errorf("userinfo: %w", err)
	}
	if ui.Subject != subject {
		return "", errors.New("userinfo is about another subject than the ID token")
	}
	return s.claimOf(ui.Claims)
}

// ErrNotProvisioned: the identity authenticated, but no directory user
// matches it.
var ErrNotProvisioned = errors.New("not provisioned")

// ErrTenantUnset: oidc.tenant is not set and the store holds more than
// one tenant, so a claim cannot say whose user it names.
var ErrTenantUnset = errors.New("the store holds more than one tenant (identity provider connection) and oidc.tenant does not say whose users may sign in")

// Resolve finds the directory user a claim value names, in the configured
// tenant, or in the only tenant when none is configured. Each tenant is
// another identity provider, and this one vouches only for its own users:
// with several tenants and no oidc.tenant, a claim such as an email address
// would let an account of this provider sign in as another provider's user
// who happens to carry the same value, so nobody signs in (ErrTenantUnset).
func (s *Service) Resolve(snap *snapshot.Snapshot, value string) (*snapshot.User, error) {
	id, err := s.tenant(snap)
	if err != nil {
		return nil, err
	}
	if u, ok := snap.UserBy(id, s.o.OIDC.UserAttribute, value); ok {
		return u, nil
	}
	return nil, ErrNotProvisioned
}

// tenant is the id of the tenant whose users sign in.
func (s *Service) tenant(snap *snapshot.Snapshot) (int64, error) {
	if t := s.o.OIDC.Tenant; t != "" {
		id, ok := snap.TenantID(t)
		if !ok {
			return 0, fmt.Errorf("tenant %q does not exist: %w", t, ErrNotProvisioned)
		}
		return id, nil
	}
	var id int64
	n := 0
	snap.TenantIDs(func(t int64) { id, n = t, n+1 })
	switch n {
	case 0:
		return 0, ErrNotProvisioned
	case 1:
		return id, nil
	}
	return 0, ErrTenantUnset
}
