package signin

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/oauth2"
	"net/http"
	"testing"
	"time"

	"github.com/scimgate/scimgate/authn"
)

// TestCallbackEmailVerification: an email address the ID token says is
// unverified is refused, whatever UserInfo says; UserInfo is asked only
// when the ID token leaves the claim out.
func TestCallbackEmailVerification(t *testing.T) {
	p := newFakeIdP(t)
	s := idpService(t, p)
	tests := []struct {
		name     string
		id, info map[string]any
		want     int
	}{
		{"verified in the ID token", map[string]any{"email": "victim@example.test", "email_verified": true}, nil, http.StatusFound},
		{"unverified in the ID token, UserInfo silent", map[string]any{"email": "victim@example.test", "email_verified": false},
			map[string]any{"sub": "sub-1", "email": "victim@example.test"}, http.StatusForbidden},
		{"unverified in the ID token, UserInfo says verified", map[string]any{"email": "victim@example.test", "email_verified": false},
			map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": true}, http.StatusForbidden},
		{"unverified in both", map[string]any{"email": "victim@example.test", "email_verified": "false"},
			map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": false}, http.StatusForbidden},
		{"unverified in the ID token without the address, UserInfo silent", map[string]any{"email_verified": false},
			map[string]any{"sub": "sub-1", "email": "victim@example.test"}, http.StatusForbidden},
		{"no email in the ID token: UserInfo's", map[string]any{}, map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": true}, http.StatusFound},
		{"no email in the ID token, UserInfo unverified", map[string]any{}, map[string]any{"sub": "sub-1", "email": "victim@example.test", "email_verified": false}, http.StatusForbidden},
		{"no email in the ID token, UserInfo about another subject", map[string]any{}, map[string]any{"sub": "sub-2", "email": "victim@example.test"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.set(func(p *fakeIdP) { p.idClaims, p.userinfo = tt.id, tt.info })
			state, cookies := startSignIn(t, s, p, "/app/")
			w := callbackWith(s, state, "code", cookies)
			session := sessionSet(w, "__Host-scimgate_session")
			if w.Code != tt.want || (session != "") != (tt.want == http.StatusFound) {
				t.Errorf("callback = %d, session cookie set %v; want %d", w.Code, session != "", tt.want)
			}
		})
	}
}

// TestCallbackOnce: a sign-in's callback is served once. A replay of it,
// with its cookie and any code, is refused before the provider's token
// endpoint is asked: each replay would cost a request made with the
// gateway's credentials.
func TestCallbackOnce(t *testing.T) {
	p := newFakeIdP(t)
	s := idpService(t, p)
	s.o.OIDC.TokenAuthMethod = "client_secret_basic" // pinned: one request per code
	p.set(func(p *fakeIdP) { p.refuseCodes = true })
	state, cookies := startSignIn(t, s, p, "/app/")
	before := p.tokenCalls.Load()
	if w := callbackWith(s, state, "guess-0", cookies); w.Code != http.StatusBadGateway {
		t.Fatalf("first callback, code refused by the provider = %d, want 502", w.Code)
	}
	calls := p.tokenCalls.Load()
	if n := calls - before; n != 1 {
		t.Errorf("a code the provider refused made %d token endpoint requests, want 1 (no retry with the other client authentication)", n)
	}
	for i := 1; i <= 20; i++ {
		if w := callbackWith(s, state, fmt.Sprintf("guess-%d", i), cookies); w.Code != http.StatusBadRequest {
			t.Fatalf("replay %d = %d, want 400", i, w.Code)
		}
	}
	if n := p.tokenCalls.Load() - calls; n != 0 {
		t.Errorf("20 replays of one callback made %d token endpoint requests, want 0", n)
	}
	// A new sign-in still works.
	p.set(func(p *fakeIdP) { p.refuseCodes, p.idClaims = false, map[string]any{"email": "victim@example.test"} })
	state, cookies = startSignIn(t, s, p, "/app/")
	if w := callbackWith(s, state, "code", cookies); w.Code != http.StatusFound || sessionSet(w, "__Host-scimgate_session") == "" {
		t.Errorf("a fresh sign-in after the replays = %d, want 302 with a session", w.Code)
	}
}

// TestUsedStates: a state is seen once; memory is two generations of at
// most maxUsed, turned over every loginMaxAge, so a state is remembered
// for at least as long as its cookie opens.
func TestUsedStates(t *testing.T) {
	var u usedStates
	t0 := time.Unix(1_800_000_000, 0)
	if !u.first("a", t0) || u.first("a", t0) {
		t.Fatal("first use not told apart from the second")
	}
	// Still remembered one generation later, gone two later.
	if !u.first("b", t0.Add(loginMaxAge+time.Second)) || u.first("a", t0.Add(loginMaxAge+time.Second)) {
		t.Error("a forgotten after one generation")
	}
	if !u.first("c", t0.Add(2*loginMaxAge+2*time.Second)) || !u.first("a", t0.Add(2*loginMaxAge+2*time.Second)) {
		t.Error("a still remembered two generations on (its cookie no longer opens)")
	}
	if len(u.cur)+len(u.prev) > 2*maxUsed {
		t.Errorf("%d states held", len(u.cur)+len(u.prev))
	}
}

// TestVerifyJWTIssuer: a bearer JWT that names another issuer is told
// apart (authn.ErrOtherIssuer) from one of the provider's that does not
// verify: only the second is scimgate's to keep from upstreams.
func TestVerifyJWTIssuer(t *testing.T) {
	p := newFakeIdP(t)
	s := idpService(t, p)
	now := time.Now()
	claims := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "aud": "client", "sub": "x", "email": "victim@example.test", "exp": now.Add(time.Minute).Unix()}
	}
	other := newFakeIdP(t)
	tests := []struct {
		name  string
		raw   string
		ok    bool
		other bool
	}{
		{"the provider's", p.sign(t, claims(p.srv.URL)), true, false},
		{"the provider's, signed by another key", other.sign(t, claims(p.srv.URL)), false, false},
		{"another issuer's", other.sign(t, claims(other.srv.URL)), false, true},
		{"no issuer", p.sign(t, map[string]any{"sub": "x", "exp": now.Add(time.Minute).Unix()}), false, false},
		{"not a JWT", "a.b.c", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.VerifyJWT(context.Background(), tt.raw)
			if (err == nil) != tt.ok || errors.Is(err, authn.ErrOtherIssuer) != tt.other {
				t.Errorf("VerifyJWT: %v; want ok %v, another issuer %v", err, tt.ok, tt.other)
			}
		})
	}
}

// TestAuthStyle: the client authenticates as configured, or detects the
// method (the header first, then the form) when nothing is configured.
func TestAuthStyle(t *testing.T) {
	for configured, want := range map[string]oauth2.AuthStyle{
		"":                    oauth2.AuthStyleAutoDetect,
		"client_secret_basic": oauth2.AuthStyleInHeader,
		"client_secret_post":  oauth2.AuthStyleInParams,
	} {
		if got := authStyle(configured); got != want {
			t.Errorf("authStyle(%q) = %v, want %v", configured, got, want)
		}
	}
}

// TestTokenAuthMethod: a provider that takes only the method its client
// is registered with (Okta's client_secret_basic by default) signs people
// in when nothing is configured, and when that method is configured; the
// other method configured is refused by the provider.
func TestTokenAuthMethod(t *testing.T) {
	for _, tt := range []struct {
		provider, configured string
		want                 int
	}{
		{"client_secret_basic", "", http.StatusFound},
		{"client_secret_post", "", http.StatusFound},
		{"client_secret_basic", "client_secret_basic", http.StatusFound},
		{"client_secret_post", "client_secret_post", http.StatusFound},
		{"client_secret_basic", "client_secret_post", http.StatusBadGateway},
	} {
		t.Run(tt.provider+"/"+tt.configured, func(t *testing.T) {
			p := newFakeIdP(t)
			s := idpService(t, p)
			s.o.OIDC.TokenAuthMethod = tt.configured
			p.set(func(p *fakeIdP) {
				p.authMethod, p.idClaims = tt.provider, map[string]any{"email": "victim@example.test"}
			})
			state, cookies := startSignIn(t, s, p, "/app/")
			if w := callbackWith(s, state, "code", cookies); w.Code != tt.want {
				t.Errorf("callback = %d, want %d", w.Code, tt.want)
			}
		})
	}
}
