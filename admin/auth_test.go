package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequireToken(t *testing.T) {
	secret, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	other, otherHash, _ := NewToken()
	if secret == other || len(hash) != 64 || strings.Contains(hash, secret) {
		t.Fatalf("NewToken: %q %q, then %q", secret, hash, other)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h, err := RequireToken([]string{hash, otherHash}, next)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, authorization string
		want                int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"the token", "Bearer " + secret, http.StatusTeapot},
		{"the second token", "Bearer " + other, http.StatusTeapot},
		{"scheme in lower case", "bearer " + secret, http.StatusTeapot},
		{"the hash instead of the token", "Bearer " + hash, http.StatusUnauthorized},
		{"a longer token", "Bearer " + secret + "x", http.StatusUnauthorized},
		{"basic", "Basic " + secret, http.StatusUnauthorized},
		{"no secret", "Bearer ", http.StatusUnauthorized},
		{"scheme alone", "Bearer", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/audit/log", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want == http.StatusUnauthorized && (!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") ||
				!strings.Contains(w.Body.String(), "admin_token_sha256")) {
				t.Errorf("401 without a Bearer challenge or a hint: %q %s", w.Header().Get("WWW-Authenticate"), w.Body)
			}
		})
	}
}

func TestRequireTokenNone(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h, err := RequireToken(nil, next)
	if err != nil {
		t.Fatal(err)
	}
	// Without a token, only a loopback Host: a page the operator opens on
	// evil.example, rebound to 127.0.0.1, must not read the trail.
	for host, want := range map[string]int{
		"127.0.0.1:9090": http.StatusTeapot, "localhost:9090": http.StatusTeapot, "[::1]:9090": http.StatusTeapot,
		"127.0.0.2": http.StatusTeapot, "LOCALHOST.": http.StatusTeapot,
		"evil.example:9090": http.StatusMisdirectedRequest, "example.com": http.StatusMisdirectedRequest,
		"": http.StatusMisdirectedRequest, "127.0.0.1.evil.example": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest("GET", "/audit/log", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("no hashes, Host %q: status %d, want %d", host, w.Code, want)
		}
	}
	if _, err := RequireToken([]string{"not-hex"}, next); err == nil {
		t.Error("RequireToken accepted a hash that is not hex")
	}
}
