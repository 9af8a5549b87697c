package scimapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// authLimiter throttles clients that keep failing authentication. Each
// failure takes a token from the client's bucket; while the bucket is
// empty a failing client gets 429 with Retry-After, and fewer log lines
// and less work on failures. It does not stop guessing: the token is
// checked first, and a valid token is served whatever the bucket holds,
// so that neither the identity provider's own mistakes nor someone
// sharing its address can throttle it. What stops guessing is the
// token's 256 random bits.
type authLimiter struct {
	burst    float64       // failures allowed in a row
	interval time.Duration // one failure forgiven per interval
	maxKeys  int
	now      func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newAuthLimiter(burst int, interval time.Duration, now func() time.Time) *authLimiter {
	return &authLimiter{
		burst: float64(burst), interval: interval, maxKeys: 100_000, now: now,
		clients: map[netip.Addr]*bucket{},
	}
}

// clientAddr is the address failures are counted against: the TCP peer.
// Behind a proxy that is the proxy; run the SCIM endpoint where the IdP
// connects directly, or accept that a proxy's clients share a bucket.
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// refill brings b up to date; the caller holds mu.
func (l *authLimiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()/l.interval.Seconds())
		b.last = now
	}
}

// wait reports how long the client must wait before its next attempt; 0
// means it may try now.
func (l *authLimiter) wait(a netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[a]
	if b == nil {
		return 0
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.interval))
}

// fail records a failed authentication.
func (l *authLimiter) fail(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.clients[a]
	if b == nil {
		if len(l.clients) >= l.maxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.clients[a] = b
	}
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
}

// prune forgets clients whose buckets have refilled, and if that is not
// enough, all of them: memory stays bounded under an address-spraying
// attack at the price of forgetting some failures.
func (l *authLimiter) prune(now time.Time) {
	for a, b := range l.clients {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.clients, a)
		}
	}
	if len(l.clients) >= l.maxKeys {
		clear(l.clients)
	}
}

// retryAfter renders a wait as whole seconds, rounded up.
func retryAfter(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
