package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/scimgate/scimgate/engine"
)

// Streams tracks requests in flight — long downloads, server-sent events,
// WebSockets — so that they can be cut when their principal loses access:
// after every directory or policy change each one is decided again and
// those now denied are cancelled.
type Streams struct {
	log *slog.Logger

	mu sync.Mutex
	m  map[*stream]struct{}
}

type stream struct {
	d      Decider
	p      engine.Principal
	req    engine.Request
	cancel context.CancelCauseFunc
	start  time.Time
}

// ErrAccessRevoked is the cause of a stream cut because access was lost.
var ErrAccessRevoked = revokedError{}

type revokedError struct{}

func (revokedError) Error() string { return "access revoked" }

// Decider decides requests; *engine.Engine is one.
type Decider interface {
	Decide(p engine.Principal, r engine.Request) engine.Decision
}

// NewStreams returns an empty registry.
func NewStreams(log *slog.Logger) *Streams {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Streams{log: log, m: map[*stream]struct{}{}}
}

// Track registers a request that d allowed; cancel is called, with
// ErrAccessRevoked as the cause, if a later decision by d denies it. The
// returned function unregisters it and must be called when the request
// ends. Each stream is decided by the decider that admitted it: adapters
// with their own rules (the Caddy handlers) share one registry.
func (s *Streams) Track(d Decider, p engine.Principal, req engine.Request, cancel context.CancelCauseFunc) func() {
	st := &stream{d: d, p: p, req: req, cancel: cancel, start: time.Now()}
	s.mu.Lock()
	s.m[st] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.m, st)
		s.mu.Unlock()
	}
}

// Len is the number of tracked requests.
func (s *Streams) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Recheck decides every tracked request again and cuts those denied now.
// It returns how many it cut.
func (s *Streams) Recheck() int {
	s.mu.Lock()
	list := make([]*stream, 0, len(s.m))
	for st := range s.m {
		list = append(list, st)
	}
	s.mu.Unlock()
	cut := 0
	for _, st := range list {
		d := st.d.Decide(st.p, st.req)
		if d.Allow {
			continue
		}
		st.cancel(ErrAccessRevoked)
		cut++
		s.mu.Lock()
		delete(s.m, st)
		s.mu.Unlock()
		s.log.Info("stream cut", "reason", d.Reason, "host", st.req.Host, "path", st.req.Path,
			"user_id", st.p.User.ID, "open_ms", time.Since(st.start).Milliseconds())
	}
	return cut
}

// RecheckEvery is how often open streams are decided again even when
// nothing changed: credentials expire and snapshots go stale with time.
const RecheckEvery = time.Second

// Watch rechecks after every signal on changed, and every RecheckEvery,
// until ctx ends.
func (s *Streams) Watch(ctx context.Context, changed <-chan struct{}) {
	t := time.NewTicker(RecheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
		s.Recheck()
	}
}
