package signin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSealer: a sign-in's cookie opens only with the key it was sealed
// with, for the state it was made for, unaltered, and within
// loginMaxAge.
func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	sl, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	l := login{Nonce: "nonce", Verifier: "verifier", ReturnTo: "https://app.test/x?y=1", Created: now.Unix()}
	sealed, err := sl.seal("state-1", l)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "verifier") || strings.Contains(sealed, "app.test") {
		t.Fatalf("the cookie shows what it carries: %s", sealed)
	}
	got, err := sl.open("state-1", sealed, now.Add(time.Minute))
	if err != nil || got != l {
		t.Fatalf("open = %+v, %v; want %+v", got, err, l)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(raw)
	tests := []struct {
		name, state, cookie string
		s                   *sealer
		at                  time.Time
	}{
		{"another state", "state-2", sealed, sl, now},
		{"another key", "state-1", sealed, other, now},
		{"altered", "state-1", flipped, sl, now},
		{"cut short", "state-1", sealed[:20], sl, now},
		{"not base64", "state-1", "%%%", sl, now},
		{"empty", "state-1", "", sl, now},
		{"expired", "state-1", sealed, sl, now.Add(loginMaxAge + time.Second)},
		{"from the future", "state-1", sealed, sl, now.Add(-2 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := tt.s.open(tt.state, tt.cookie, tt.at); !errors.Is(err, errLoginCookie) {
				t.Errorf("open = %+v, %v; want errLoginCookie", got, err)
			}
		})
	}
	// The longest address a sign-in may return to still fits a cookie.
	l.ReturnTo = "https://app.test/" + strings.Repeat("a", maxReturnLen-len("https://app.test/"))
	long, err := sl.seal("state-1", l)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(httpsService().stateCookie("state-1").Name) + len(long); n > 4000 {
		t.Errorf("a cookie for a %d-byte address is %d bytes; browsers keep at most 4096", maxReturnLen, n)
	}
	if _, err := newSealer(key[:16]); err == nil {
		t.Error("newSealer took a 16-byte key")
	}
}

func httpsService() *Service {
	return &Service{callbackURL: &url.URL{Scheme: "https", Host: "gate.test", Path: "/oauth2/callback"}, callbackPath: "/oauth2/callback"}
}

// TestStateCookie: over https the sign-in cookie is a __Host- cookie (no
// other host can plant one), which browsers accept only Secure, with
// Path=/ and no Domain; over plain http, for local trials, it is bound to
// the callback's path.
func TestStateCookie(t *testing.T) {
	state := "0123456789abcdefXYZ"
	c := httpsService().stateCookie(state)
	if c.Name != "__Host-scimgate_login_0123456789abcdef" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("https: %+v", c)
	}
	plain := &Service{callbackURL: &url.URL{Scheme: "http", Host: "localhost:8080", Path: "/oauth2/callback"}, callbackPath: "/oauth2/callback"}
	c = plain.stateCookie(state)
	if c.Name != "scimgate_login_0123456789abcdef" || c.Secure || c.Path != "/oauth2/callback" || c.Domain != "" || !c.HttpOnly {
		t.Errorf("http: %+v", c)
	}
}
