package signin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/internal/gatetest"
)

// fakeIdP is an OpenID provider whose ID token claims and UserInfo answer
// a test sets: enough of one for the callback to run end to end.
type fakeIdP struct {
	srv         *httptest.Server
	key         *rsa.PrivateKey
	tokenCalls  atomic.Int64
	mu          sync.Mutex
	idClaims    map[string]any // over iss, aud, sub, exp, iat and the nonce
	userinfo    map[string]any
	nonce       string
	refuseCodes bool // the token endpoint answers invalid_grant
	// authMethod, when set, is the only client authentication the token
	// endpoint takes, as a provider enforcing the registered method does.
	authMethod string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{key: key}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	iss := p.srv.URL
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/auth", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "userinfo_endpoint": iss + "/userinfo",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		p.tokenCalls.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _, basic := r.BasicAuth()
		if (p.authMethod == "client_secret_basic" && !basic) || (p.authMethod == "client_secret_post" && (basic || r.PostFormValue("client_secret") == "")) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if p.refuseCodes {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		c := map[string]any{"iss": iss, "aud": "client", "sub": "sub-1", "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix(), "nonce": p.nonce}
		for k, v := range p.idClaims {
			c[k] = v
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": p.sign(t, c)})
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.userinfo)
	})
	return p
}

func (p *fakeIdP) set(f func(p *fakeIdP)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *fakeIdP) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	o, err := sig.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := o.CompactSerialize()
	return s
}

// idpService is a sign-in service against p, over https, on a real
// directory that holds the user victim@example.test.
func idpService(t *testing.T, p *fakeIdP) *Service {
	t.Helper()
	f := gatetest.New(t, "routes:\n  - {name: app, path: /app, allow: {groups: [eng]}}\n")
	f.User("victim@example.test")
	pub, _ := url.Parse("https://gate.example.test")
	o := &config.OIDC{Issuer: p.srv.URL, ClientID: "client", ClientSecret: "s",
		RedirectURL: "https://gate.example.test/oauth2/callback", UserClaim: "email", UserAttribute: "userName",
		Audiences: []string{"client"}, ClockSkew: time.Minute}
	s, err := New(Options{OIDC: o, Sessions: config.Sessions{CookieName: "scimgate_session", Idle: time.Hour, Lifetime: 12 * time.Hour},
		PublicURL: pub, Dir: f.Dir, Snapshots: f.Live})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startSignIn runs a sign-in's start and returns its state and the cookies
// it set; the provider will put the start's nonce in its ID token.
func startSignIn(t *testing.T, s *Service, p *fakeIdP, rd string) (string, []*http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "https://gate.example.test"+StartPath+"?rd="+url.QueryEscape(rd), nil))
	if w.Code != http.StatusFound {
		t.Fatalf("start = %d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	p.set(func(p *fakeIdP) { p.nonce = loc.Query().Get("nonce") })
	return loc.Query().Get("state"), w.Result().Cookies()
}

// callbackWith sends the provider's redirect back for state with cookies.
func callbackWith(s *Service, state, code string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	cb := httptest.NewRequest("GET", "https://gate.example.test/oauth2/callback?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(state), nil)
	for _, c := range cookies {
		cb.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, cb)
	return w
}

// sessionSet returns the session cookie a response sets, "" if none.
func sessionSet(w *httptest.ResponseRecorder, name string) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// TestDiscoveryRetryDoesNotBlock: once discovery has failed, a request
// answers with that failure at once, also while a retry is reaching a
// provider that hangs, rather than queue behind it.
func TestDiscoveryRetryDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			<-release // the retry hangs
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub, _ := url.Parse("https://gate.example.test")
	s, err := New(Options{OIDC: &config.OIDC{Issuer: srv.URL, ClientID: "client", RedirectURL: "https://gate.example.test/oauth2/callback"},
		Sessions: config.Sessions{CookieName: "scimgate_session"}, PublicURL: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.provider(ctx); err == nil {
		t.Fatal("discovery against a provider that is down succeeded")
	}
	mu.Lock()
	now = now.Add(11 * time.Second) // time for a retry
	mu.Unlock()
	retry := make(chan error, 1)
	go func() { retry <- s.provider(ctx) }()
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond) // the retry is at the provider
	}
	done := make(chan error, 1)
	go func() { done <- s.provider(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a request during the retry succeeded, want the last failure")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request waited behind the retry of a hanging provider")
	}
}
