package authn

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	for _, secret := range []string{"", "short", strings.Repeat("s", 43), strings.Repeat("x", 64), strings.Repeat("y", 200)} {
		if got, want := hashSecret(secret), sha256.Sum256([]byte(secret)); got != want {
			t.Errorf("hashSecret(%d bytes) = %x, want %x", len(secret), got, want)
		}
	}
	secret := strings.Repeat("s", 43) // an access token's
	if n := testing.AllocsPerRun(100, func() { hashSecret(secret) }); n != 0 {
		t.Errorf("hashSecret allocates %v times, want 0", n)
	}
}

// TestCookies: the cookies no upstream may receive are the session
// cookie, the session's JWT cookie, and the session cookie under the name
// without the __Host- prefix that an older scimgate set it under.
func TestCookies(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"sessions off", Options{}, nil},
		{"plain name", Options{CookieName: "scimgate_session"}, []string{"scimgate_session"}},
		{"__Host- name", Options{CookieName: "__Host-scimgate_session", JWTCookieName: "scimgate_jwt"},
			[]string{"__Host-scimgate_session", "scimgate_jwt", "scimgate_session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(nil, tt.o).Cookies(); !slices.Equal(got, tt.want) {
				t.Errorf("Cookies() = %q, want %q", got, tt.want)
			}
		})
	}
}
