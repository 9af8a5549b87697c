package signin

import (
	"sync"
	"time"
)

// usedStates remembers the states of sign-ins whose callback came, so
// that a callback is served once: its cookie lives on in a browser that
// did not take the deletion, or in an attacker's hands, and every replay
// would cost a request to the provider's token endpoint with the
// gateway's credentials. States are remembered for at least loginMaxAge,
// after which their cookies no longer open anyway, in two generations
// of at most maxUsed each: memory stays bounded however many sign-ins
// are started, and a state drops out early only after maxUsed newer
// callbacks, each of which reached the provider once.
type usedStates struct {
	mu        sync.Mutex
	cur, prev map[string]struct{}
	since     time.Time // when cur was started
}

const maxUsed = 100_000

// first records state and reports whether it had not been seen.
func (u *usedStates) first(state string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.cur[state]; ok {
		return false
	}
	if _, ok := u.prev[state]; ok {
		return false
	}
	if u.cur == nil || now.Sub(u.since) > loginMaxAge || len(u.cur) >= maxUsed {
		u.prev, u.cur, u.since = u.cur, make(map[string]struct{}), now
	}
	u.cur[state] = struct{}{}
	return true
}
