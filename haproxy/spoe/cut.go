package spoe

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/policy"
)

// Runtime is what the agent needs of HAProxy's runtime API.
type Runtime interface {
	Sessions(ctx context.Context) ([]runtime.Session, error)
	ShutdownSession(ctx context.Context, s runtime.Session) error
}

// cutter shuts down the HAProxy streams of users who lost access. Each
// allowed request is tracked by its client connection (address and port,
// which "show sess" lists) in the gateway's stream registry, which decides
// it again after every change; a connection with any request that is now
// refused is queued, and its streams are shut down over the runtime API.
//
// A connection may carry several requests at once (HTTP/2) or in turn
// (keep-alive), for one user or, behind another proxy, for several: each
// distinct user, route and method (as the engine tells methods apart, see
// policy.MethodClass) on it is tracked, so that a later request (a public page)
// does not take an earlier one's stream (a WebSocket on a protected
// route) out of the recheck. No entry is dropped from the recheck while
// its connection lives: a connection with more than max distinct entries
// is cut instead. Requests with one key share an entry, decided again
// with the latest: a directory change decides them alike; a new policy
// may not, and an entry that stands for several paths is cut when the
// policy changes (entryDecider).
type cutter struct {
	rt      Runtime
	streams *gateway.Streams
	audit   gateway.Auditor // records cuts; may be nil
	log     *slog.Logger
	wake    chan struct{}

	mu      sync.Mutex
	conns   map[string]map[trackKey]tracked // by client address
	pending map[string]struct{}
	max     int // requests tracked per connection; maxTrackedPerConn
}

// trackKey is what a tracked request is decided on again: requests with
// the same key are decided alike by any directory, so the latest stands
// for all.
type trackKey struct {
	p             engine.Principal
	route, method string // method: policy.MethodClass
}

type tracked struct {
	untrack    func()
	at         time.Time
	host, path string
	d          *entryDecider
}

// entryDecider decides a tracked entry again. Once the entry stands for
// requests on more than one path of its route, a directory change still
// decides them alike, but a new policy may not (it may carve a new route
// out of the old one's paths, one a stream of the entry is on): the entry
// is then refused as soon as another policy is in force, which cuts its
// connection, and the client connects again to be decided afresh.
type entryDecider struct {
	gateway.Decider
	under atomic.Pointer[string] // the policy hash the paths were decided under; nil for one path
}

// ReasonPolicyChanged is the reason a tracked entry for several paths is
// cut when the policy changes.
const ReasonPolicyChanged = "policy-changed"

// policySource is the engine: the policy in force.
type policySource interface{ Policy() *policy.Policy }

func (e *entryDecider) Decide(p engine.Principal, r engine.Request) engine.Decision {
	d := e.Decider.Decide(p, r)
	if h := e.under.Load(); h != nil && d.Allow {
		if ps, ok := e.Decider.(policySource); ok && ps.Policy().Hash != *h {
			d.Allow, d.Reason = false, ReasonPolicyChanged
		}
	}
	return d
}

// mergeUnder marks the entry as standing for several paths, decided under
// the policy of hash h (or under the policy its predecessor was, when
// that entry stood for several paths already).
func (e *entryDecider) mergeUnder(prev *entryDecider) {
	if h := prev.under.Load(); h != nil {
		e.under.Store(h)
		return
	}
	if ps, ok := e.Decider.(policySource); ok {
		h := ps.Policy().Hash
		e.under.Store(&h)
	}
}

// maxTrackedPerConn bounds the distinct requests (user, route, method
// class) tracked on one connection; past it the connection is cut. A
// browser's HTTP/2 connection has a few; a proxy's that carries many
// users may have more, but rarely this many at once.
const maxTrackedPerConn = 4096

func newCutter(rt Runtime, streams *gateway.Streams, audit gateway.Auditor, log *slog.Logger) *cutter {
	return &cutter{rt: rt, streams: streams, audit: audit, log: log, wake: make(chan struct{}, 1),
		conns: map[string]map[trackKey]tracked{}, pending: map[string]struct{}{}, max: maxTrackedPerConn}
}

// connKey is a client address as "show sess" prints it, whichever way it
// came: an IPv4 client of a dual-stack listener is ::ffff:a.b.c.d there.
func connKey(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return addr
}

// track registers an allowed request of a client connection on route.
// When the connection already has as many distinct requests tracked as it
// may, its streams are shut down (all of them: which one a later change
// would have cut cannot be known), and tracking starts again with this
// request.
func (c *cutter) track(remote, route string, d gateway.Decider, p engine.Principal, req engine.Request) {
	remote = connKey(remote)
	k := trackKey{p: p, route: route, method: policy.MethodClass(req.Method)}
	ed := &entryDecider{Decider: d}
	untrack := c.streams.Track(gateway.Tracked{Decider: ed, Principal: p, Request: req, Adapter: "spoe", Remote: remote, Audit: c.audit},
		func(error) { c.cut(remote) })
	var drop []func()
	overflow := 0
	c.mu.Lock()
	m := c.conns[remote]
	if m == nil {
		m = map[trackKey]tracked{}
		c.conns[remote] = m
	}
	if old, ok := m[k]; ok {
		if old.d.under.Load() != nil || old.host != req.Host || old.path != req.Path {
			ed.mergeUnder(old.d)
		}
		drop = append(drop, old.untrack)
	} else if len(m) >= c.max {
		overflow = len(m)
		for _, t := range m {
			drop = append(drop, t.untrack)
		}
		m = map[trackKey]tracked{}
		c.conns[remote] = m
		c.pending[remote] = struct{}{}
	}
	m[k] = tracked{untrack: untrack, at: time.Now(), host: req.Host, path: req.Path, d: ed}
	c.mu.Unlock()
	for _, f := range drop {
		f()
	}
	if overflow > 0 {
		c.log.Warn("spoe: too many requests tracked on one connection, cutting it",
			"remote", remote, "tracked", overflow, "uid", p.User.ID, "route", route, "method", req.Method)
		c.signal()
	}
}

// signal wakes run to flush the queued connections.
func (c *cutter) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// cut queues a connection's streams to be shut down.
func (c *cutter) cut(remote string) {
	c.mu.Lock()
	c.pending[remote] = struct{}{}
	m := c.conns[remote]
	delete(c.conns, remote)
	c.mu.Unlock()
	for _, t := range m {
		t.untrack()
	}
	c.signal()
}

func (c *cutter) run(ctx context.Context, sweepEvery time.Duration) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			c.flush(ctx)
		case <-t.C:
			c.sweep(ctx)
		}
	}
}

// flush shuts down the streams of the queued connections.
func (c *cutter) flush(ctx context.Context) {
	c.mu.Lock()
	pending := c.pending
	c.pending = map[string]struct{}{}
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sessions, err := c.rt.Sessions(ctx)
	if err != nil {
		// Keep them queued and try again shortly; meanwhile each new
		// request on those connections is refused by the agent anyway.
		c.log.Error("spoe: list HAProxy streams to cut", "err", err, "connections", len(pending))
		c.mu.Lock()
		for r := range pending {
			c.pending[r] = struct{}{}
		}
		c.mu.Unlock()
		time.AfterFunc(500*time.Millisecond, c.signal)
		return
	}
	n := 0
	for _, s := range sessions {
		if _, ok := pending[connKey(s.Src)]; !ok {
			continue
		}
		if err := c.rt.ShutdownSession(ctx, s); err != nil {
			if errors.Is(err, runtime.ErrNoSession) {
				continue // ended meanwhile
			}
			c.log.Warn("spoe: shut down HAProxy stream", "stream", s.ID, "src", s.Src, "err", err)
			continue
		}
		n++
	}
	c.log.Info("HAProxy streams shut down", "streams", n, "connections", len(pending))
}

// sweep forgets connections HAProxy no longer has.
func (c *cutter) sweep(ctx context.Context) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sessions, err := c.rt.Sessions(ctx)
	if err != nil {
		c.log.Warn("spoe: list HAProxy streams", "err", err)
		return
	}
	live := make(map[string]struct{}, len(sessions))
	for _, s := range sessions {
		live[connKey(s.Src)] = struct{}{}
	}
	var gone []func()
	c.mu.Lock()
	for r, m := range c.conns {
		if _, ok := live[r]; ok {
			continue
		}
		// A request tracked after the listing began may be missing from
		// it: keep it for the next sweep.
		for k, t := range m {
			if t.at.Before(start) {
				delete(m, k)
				gone = append(gone, t.untrack)
			}
		}
		if len(m) == 0 {
			delete(c.conns, r)
		}
	}
	c.mu.Unlock()
	for _, f := range gone {
		f()
	}
}
