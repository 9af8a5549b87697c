package scimapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestAuthLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newAuthLimiter(3, 2*time.Second, func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if d := l.wait(a); d != 0 {
			t.Fatalf("attempt %d: wait = %v, want 0 within the burst", i, d)
		}
		l.fail(a)
	}
	if d := l.wait(a); d != 2*time.Second {
		t.Errorf("after the burst: wait = %v, want 2s", d)
	}
	if d := l.wait(b); d != 0 {
		t.Errorf("another address: wait = %v, want 0", d)
	}
	now = now.Add(1500 * time.Millisecond)
	if d := l.wait(a); d != 500*time.Millisecond {
		t.Errorf("1.5s later: wait = %v, want 500ms", d)
	}
	if got := retryAfter(500 * time.Millisecond); got != 1 {
		t.Errorf("retryAfter(500ms) = %d, want 1", got)
	}
	now = now.Add(500 * time.Millisecond)
	if d := l.wait(a); d != 0 {
		t.Errorf("2s later: wait = %v, want 0 (one attempt forgiven)", d)
	}
	l.fail(a)
	if d := l.wait(a); d == 0 {
		t.Errorf("a failure right after the refill must block again")
	}
	now = now.Add(time.Minute)
	if d := l.wait(a); d != 0 {
		t.Errorf("a minute later: wait = %v, want 0", d)
	}
}

func TestAuthLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newAuthLimiter(1, time.Second, func() time.Time { return now })
	l.maxKeys = 100
	for i := range 1000 {
		l.fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if n := len(l.clients); n > 100 {
		t.Errorf("limiter holds %d addresses, want at most 100", n)
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if got := clientAddr(r); got.String() != tc.want {
			t.Errorf("clientAddr(%q) = %v, want %s", tc.remote, got, tc.want)
		}
	}
}
