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
	Tracked
	cancel context.CancelCauseFunc
	start  time.Time
}

// Tracked is a request in flight that an adapter allowed.
type Tracked struct {
	// Decider decides the request again (see Track).
	Decider   Decider
	Principal engine.Principal
	Request   engine.Request
	// Also, when its Method is set, is decided too (see Check.Also).
	Also engine.Request
	// Adapter and Remote name the adapter and the client's address, and
	// Audit (nil: none) records a cut as a refusal in the audit trail,
	// with the adapter named Adapter + "-cut" ("proxy-cut").
	Adapter, Remote string
	Audit           Auditor
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

// Track registers a request that t.Decider allowed; cancel is called,
// with ErrAccessRevoked as the cause, if a later decision by it denies
// the request. The returned function unregisters it and must be called
// when the request ends. Each stream is decided by the decider that
// admitted it: adapters with their own rules (the Caddy handlers) share
// one registry.
func (s *Streams) Track(t Tracked, cancel context.CancelCauseFunc) func() {
	st := &stream{Tracked: t, cancel: cancel, start: time.Now()}
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
		req, d := st.Request, st.Decider.Decide(st.Principal, st.Request)
		if d.Allow && st.Also.Method != "" {
			req, d = st.Also, st.Decider.Decide(st.Principal, st.Also)
		}
		if d.Allow {
			continue
		}
		// Cut once, and only what is still open: another Recheck may have
		// cut it meanwhile, or the request ended on its own.
		s.mu.Lock()
		_, open := s.m[st]
		delete(s.m, st)
		s.mu.Unlock()
		if !open {
			continue
		}
		st.cancel(ErrAccessRevoked)
		cut++
		if st.Audit != nil {
			st.Audit.Record(st.Adapter+"-cut", st.Remote, st.Principal, req, d)
		}
		s.log.Info("stream cut", "reason", d.Reason, "host", req.Host, "path", req.Path,
			"user_id", st.Principal.User.ID, "open_ms", time.Since(st.start).Milliseconds())
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
