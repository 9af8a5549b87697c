// Package proxy is scimgate's built-in reverse proxy: it decides every
// request with the gate and forwards allowed ones to their route's
// upstream with trustworthy identity headers. Streaming responses and
// WebSockets pass through, and are cut as soon as their user loses access.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
)

// Proxy is the built-in reverse proxy handler.
type Proxy struct {
	gate      *gateway.Gate
	log       *slog.Logger
	transport http.RoundTripper

	mu        sync.RWMutex
	upstreams map[url.URL]*httputil.ReverseProxy
}

// New returns a proxy deciding with gate.
func New(gate *gateway.Gate, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                  nil, // never through an environment proxy
		DialContext:            dialer.DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &Proxy{gate: gate, log: log, transport: newH1Transport(t, dialer, 256, 90*time.Second),
		upstreams: map[url.URL]*httputil.ReverseProxy{}}
}

type identityKey struct{}

// gateCtx is the context a request goes upstream with when it has an
// identity to tell the upstream or a bearer JWT to keep from it: its
// cancellable context and those, in one allocation rather than a
// context.WithValue and its boxed value.
type gateCtx struct {
	context.Context
	vals assertion.Values // zero when not identified
	jwt  bool             // authenticated by the IdP's bearer JWT
}

// Value answers identityKey with the gateCtx itself.
func (c *gateCtx) Value(key any) any {
	if key == (identityKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, refused := gateway.RequestFrom(r)
	if refused != "" {
		p.gate.Deny(w, r, p.gate.BadRequest("proxy", r, req.Host, r.Method, refused), "")
		return
	}
	c := p.gate.Decide("proxy", r, req)
	if !c.Decision.Allow {
		p.gate.Deny(w, r, c, gateway.ReturnURL(r))
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if p.gate.Streams != nil {
		defer p.gate.Streams.Track(gateway.Tracked{Decider: p.gate.Engine, Principal: c.Principal, Request: req,
			Adapter: c.Adapter, Remote: r.RemoteAddr, Audit: p.gate.Audit}, cancel)()
		// A change committed between the decision and Track would be
		// missed by the recheck it triggers: confirm the decision now.
		if c = p.gate.Confirm(r.Context(), r.RemoteAddr, c); !c.Decision.Allow {
			p.gate.Deny(w, r, c, gateway.ReturnURL(r))
			return
		}
	}
	// The confirmed decision names the route and the user's groups now
	// (a reload or a group change may have landed since the first).
	route := c.Decision.Route
	if route.Upstream == nil {
		http.Error(w, "route "+route.Name+" has no upstream: use it through forward-auth or a proxy module", http.StatusBadGateway)
		return
	}
	vals, identified, err := p.gate.Identify(c)
	if err != nil {
		p.log.Error("sign assertion", "route", route.Name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if identified || c.Principal.JWT {
		ctx = &gateCtx{Context: ctx, vals: vals, jwt: c.Principal.JWT}
	}
	out := r.WithContext(ctx)
	// Forward the path that was decided on, not a spelling of it the
	// upstream might read differently.
	out.URL.Path, out.URL.RawPath = req.Path, ""
	p.upstream(route.Upstream).ServeHTTP(w, out)
}

// upstream returns the reverse proxy for an upstream URL. The URL itself
// is the key, not its String(), which would be built on every request;
// the routes of a reloaded policy share the proxies of the old one.
func (p *Proxy) upstream(u *url.URL) *httputil.ReverseProxy {
	p.mu.RLock()
	rp := p.upstreams[*u]
	p.mu.RUnlock()
	if rp != nil {
		return rp
	}
	return p.newUpstream(*u)
}

func (p *Proxy) newUpstream(target url.URL) *httputil.ReverseProxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rp := p.upstreams[target]; rp != nil {
		return rp
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&target)
			pr.SetXForwarded()
			gateway.StripUnchecked(pr.Out)
			gateway.StripMethodOverrides(pr.Out.Header)
			assertion.Strip(pr.Out.Header)
			c, _ := pr.In.Context().Value(identityKey{}).(*gateCtx)
			gateway.StripCredentials(pr.Out.Header, engine.Principal{JWT: c != nil && c.jwt}, p.gate.Auth.Cookies())
			if c != nil && c.vals.User != "" {
				c.vals.Set(pr.Out.Header)
			}
		},
		Transport:    p.transport,
		ErrorHandler: p.upstreamError,
		BufferPool:   &copyBuffers,
		ErrorLog:     slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	p.upstreams[target] = rp
	return rp
}

// upstreamError answers a request the upstream could not serve, or that
// was cut because access was revoked before the upstream answered.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(context.Cause(r.Context()), gateway.ErrAccessRevoked) {
		http.Error(w, "access revoked", http.StatusForbidden)
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	// r is the request as it went upstream: its URL names the upstream.
	p.log.Warn("upstream error", "upstream", r.URL.Host, "path", r.URL.Path, "err", err)
	http.Error(w, "upstream unavailable", http.StatusBadGateway)
}

// copyBuffers are the buffers the proxies copy bodies through, reused
// rather than 32 KiB allocated for every request.
var copyBuffers bufferPool

// bufferPool is an httputil.BufferPool of 32 KiB buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
