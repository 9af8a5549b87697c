package authn

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestFlushForgetsIdleSessions: the per-process record of when each
// session was last used keeps only what an idle check may still need.
func TestFlushForgetsIdleSessions(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		idle time.Duration
		want []string
	}{
		{10 * time.Minute, []string{"recent"}},
		{0, nil}, // no idle timeout: nothing reads them
	} {
		a := New(nil, Options{Idle: tt.idle, Now: func() time.Time { return now },
			Touch: func(context.Context, map[string]time.Time) error { return nil }})
		a.seen.Store("recent", now.Add(-time.Minute))
		a.seen.Store("idle", now.Add(-11*time.Minute))
		a.dirty.Store("recent", now.Add(-time.Minute))
		a.flush(context.Background())
		var got []string
		a.seen.Range(func(k, _ any) bool { got = append(got, k.(string)); return true })
		if !slices.Equal(got, tt.want) {
			t.Errorf("idle %v: sessions remembered after flush %v, want %v", tt.idle, got, tt.want)
		}
	}
}
