package spoe

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/runtime"
)

// Runtime is what the agent needs of HAProxy's runtime API.
type Runtime interface {
	Sessions(ctx context.Context) ([]runtime.Session, error)
	ShutdownSession(ctx context.Context, s runtime.Session) error
}

// cutter shuts down the HAProxy streams of users who lost access. Each
// allowed request is tracked by its client connection (address and port,
// which "show sess" lists) in the gateway's stream registry, which decides
// it again after every change; a connection whose request is now refused
// is queued, and its streams are shut down over the runtime API.
type cutter struct {
	rt      Runtime
	streams *gateway.Streams
	log     *slog.Logger
	wake    chan struct{}

	mu      sync.Mutex
	conns   map[string]tracked // by client address
	pending map[string]struct{}
}

type tracked struct {
	untrack func()
	at      time.Time
}

func newCutter(rt Runtime, streams *gateway.Streams, log *slog.Logger) *cutter {
	return &cutter{rt: rt, streams: streams, log: log, wake: make(chan struct{}, 1),
		conns: map[string]tracked{}, pending: map[string]struct{}{}}
}

// track registers the latest allowed request of a client connection.
func (c *cutter) track(remote string, d gateway.Decider, p engine.Principal, req engine.Request) {
	untrack := c.streams.Track(d, p, req, func(error) { c.cut(remote) })
	c.mu.Lock()
	old, ok := c.conns[remote]
	c.conns[remote] = tracked{untrack: untrack, at: time.Now()}
	c.mu.Unlock()
	if ok {
		old.untrack()
	}
}

// cut queues a connection's streams to be shut down.
func (c *cutter) cut(remote string) {
	c.mu.Lock()
	c.pending[remote] = struct{}{}
	if t, ok := c.conns[remote]; ok {
		delete(c.conns, remote)
		defer t.untrack()
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
		time.AfterFunc(500*time.Millisecond, func() {
			select {
			case c.wake <- struct{}{}:
			default:
			}
		})
		return
	}
	n := 0
	for _, s := range sessions {
		if _, ok := pending[s.Src]; !ok {
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
		live[s.Src] = struct{}{}
	}
	var gone []func()
	c.mu.Lock()
	for r, t := range c.conns {
		// A connection tracked after the listing began may be missing
		// from it: keep it for the next sweep.
		if _, ok := live[r]; !ok && t.at.Before(start) {
			delete(c.conns, r)
			gone = append(gone, t.untrack)
		}
	}
	c.mu.Unlock()
	for _, f := range gone {
		f()
	}
}
