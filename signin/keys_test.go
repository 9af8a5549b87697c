package signin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// provider publishes a key set and signs tokens with its keys.
type provider struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey // kid -> key, the ones published
}

func (p *provider) add(t *testing.T, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
}

func (p *provider) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := jose.JSONWebKeySet{}
	for kid, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
	_ = json.NewEncoder(w).Encode(set)
}

func (p *provider) sign(t *testing.T, kid string, k *ecdsa.PrivateKey) string {
	t.Helper()
	if k == nil {
		p.mu.Lock()
		k = p.keys[kid]
		p.mu.Unlock()
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign([]byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestKeySetRefresh: keys are fetched on first use and when a token names
// a new one (rotation), but no token, forged or not, makes the gateway
// fetch them more than once per keyRefreshEvery.
func TestKeySetRefresh(t *testing.T) {
	p := &provider{keys: map[string]*ecdsa.PrivateKey{}}
	p.add(t, "k1")
	srv := httptest.NewServer(p)
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	ks := newKeySet(srv.URL, srv.Client(), func() time.Time { return now })
	ctx := context.Background()

	verify := func(name, raw string, ok bool, fetches int64) {
		t.Helper()
		_, err := ks.VerifySignature(ctx, raw)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", name, err, ok)
		}
		if got := ks.fetches.Load(); got != fetches {
			t.Errorf("%s: %d fetches, want %d", name, got, fetches)
		}
	}
	good := p.sign(t, "k1", nil)
	verify("first token", good, true, 1)
	verify("again", good, true, 1)

	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for range 50 {
		verify("known kid, another key's signature", p.sign(t, "k1", stranger), false, 1)
	}
	verify("unknown kid", p.sign(t, "nobody", stranger), false, 1) // fetched 0 s ago
	now = now.Add(keyRefreshEvery)
	verify("unknown kid, later", p.sign(t, "nobody", stranger), false, 2)
	for range 50 {
		verify("unknown kid, again", p.sign(t, "nobody", stranger), false, 2)
	}

	// The provider rotates: its new key is fetched once the window passed.
	p.add(t, "k2")
	rotated := p.sign(t, "k2", nil)
	verify("new key inside the window", rotated, false, 2)
	now = now.Add(keyRefreshEvery)
	verify("new key", rotated, true, 3)
	verify("old key still published", good, true, 3)

	// The provider re-keys k2 under the same id: fetched once the window
	// passed.
	p.add(t, "k2")
	rekeyed := p.sign(t, "k2", nil)
	verify("re-keyed id inside the window", rekeyed, false, 3)
	now = now.Add(keyRefreshEvery)
	verify("re-keyed id", rekeyed, true, 4)

	// The provider withdraws k1: it stops verifying once the keys held are
	// keyMaxAge old, though no token named an unknown key.
	p.mu.Lock()
	delete(p.keys, "k1")
	p.mu.Unlock()
	verify("withdrawn key, keys still fresh", good, true, 4)
	now = now.Add(keyMaxAge + time.Second)
	verify("withdrawn key, keys too old", good, false, 5)
	verify("current key", rekeyed, true, 5)

	// A provider that cannot be reached leaves the keys held in use.
	srv.Close()
	now = now.Add(keyMaxAge + time.Second)
	verify("provider down, keys too old", rekeyed, true, 6)
}

// TestKeySetAlgorithms: unsigned tokens and HMACs keyed with anything,
// the public key included, never verify.
func TestKeySetAlgorithms(t *testing.T) {
	p := &provider{keys: map[string]*ecdsa.PrivateKey{}}
	p.add(t, "k1")
	srv := httptest.NewServer(p)
	defer srv.Close()
	ks := newKeySet(srv.URL, srv.Client(), time.Now)
	pub, err := json.Marshal(jose.JSONWebKey{Key: &p.keys["k1"].PublicKey, KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	payload := enc([]byte(`{"sub":"alice"}`))
	none := enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + payload + "."
	hsHead := enc([]byte(`{"alg":"HS256","kid":"k1"}`)) + "." + payload
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsHead))
	hs := hsHead + "." + enc(mac.Sum(nil))
	for name, raw := range map[string]string{"none": none, "HS256 with the public key": hs, "garbage": "a.b.c", "two parts": "a.b"} {
		if _, err := ks.VerifySignature(context.Background(), raw); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	for _, tt := range []struct{ advertised, want []string }{
		{[]string{"none", "HS256", "ES256"}, []string{"ES256"}},
		{[]string{"none", "HS256"}, []string{"RS256"}},
		{nil, []string{"RS256"}},
	} {
		if got := acceptedAlgs(tt.advertised); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("acceptedAlgs(%v) = %v, want %v", tt.advertised, got, tt.want)
		}
	}
}

// TestCheckTimes: a token is good from nbf to exp, each widened by the
// skew, and only with an exp that is a time.
func TestCheckTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	skew := time.Minute
	tests := []struct {
		name, claims string
		ok           bool
	}{
		{"valid", `{"exp":1800000060}`, true},
		{"expired within the skew", `{"exp":1799999970}`, true},
		{"expired by the skew", `{"exp":1799999940}`, false},
		{"fractional exp", `{"exp":1800000000.5}`, true},
		{"no exp", `{"sub":"a"}`, false},
		{"exp as a string", `{"exp":"soon"}`, false},
		{"negative exp", `{"exp":-1}`, false},
		{"nbf within the skew", `{"exp":1800003600,"nbf":1800000050}`, true},
		{"nbf beyond the skew", `{"exp":1800003600,"nbf":1800000061}`, false},
		{"nbf far ahead", `{"exp":1800003600,"nbf":1800001000}`, false},
		{"nbf not a number", `{"exp":1800003600,"nbf":true}`, false},
		{"not JSON", `{`, false},
		{"iat now", `{"exp":1800003600,"iat":1800000000}`, true},
		{"iat within the skew", `{"exp":1800003600,"iat":1800000060}`, true},
		{"iat beyond the skew: issued in the future", `{"exp":1800003600,"iat":1800000061}`, false},
		{"iat a day ahead", `{"exp":1800090000,"iat":1800086400}`, false},
		{"iat not a number", `{"exp":1800003600,"iat":"now"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkTimes([]byte(tt.claims), now, skew); (err == nil) != tt.ok {
				t.Errorf("checkTimes(%s) = %v, want ok=%v", tt.claims, err, tt.ok)
			}
		})
	}
}

// TestKeySetFetchDoesNotBlock: while one verification fetches keys from a
// provider that hangs, others verify with the keys held rather than wait,
// also those whose token names a key not held (they would have waited for
// the fetch, and every such token would have queued behind it).
func TestKeySetFetchDoesNotBlock(t *testing.T) {
	p := &provider{keys: map[string]*ecdsa.PrivateKey{}}
	p.add(t, "k1")
	release := make(chan struct{})
	var requests sync.WaitGroup
	requests.Add(2) // the first fetch, and the one that hangs
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		hang, counted := n > 1, n <= 2
		mu.Unlock()
		if counted {
			requests.Done()
		}
		if hang {
			<-release
		}
		p.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	var clockMu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	ks := newKeySet(srv.URL, srv.Client(), clock)
	ctx := context.Background()
	good := p.sign(t, "k1", nil)
	if _, err := ks.VerifySignature(ctx, good); err != nil {
		t.Fatal(err)
	}
	clockMu.Lock()
	now = now.Add(keyMaxAge + time.Second) // the keys held are due for a fetch
	clockMu.Unlock()
	go func() { _, _ = ks.VerifySignature(ctx, good) }() // fetches, and hangs
	requests.Wait()
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tt := range []struct {
		name, raw string
		ok        bool
	}{
		{"a good token", good, true},
		{"a token naming a key not held (a rotation, or a forgery)", p.sign(t, "k9", stranger), false},
	} {
		done := make(chan error, 1)
		go func() { _, err := ks.VerifySignature(ctx, tt.raw); done <- err }()
		select {
		case err := <-done:
			if (err == nil) != tt.ok {
				t.Errorf("%s beside a hanging fetch: %v, want ok=%v", tt.name, err, tt.ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited behind a fetch from a provider that hangs", tt.name)
		}
	}
}
