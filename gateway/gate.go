// Package gateway is what every enforcement adapter shares: authenticate,
// decide, record, and answer a refusal. The built-in proxy, the
// forward-auth endpoint and the proxy modules are thin layers over a Gate.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
)

// Recorder counts decisions (metrics).
type Recorder interface {
	Decision(adapter string, d engine.Decision, took time.Duration)
}

// Auditor keeps decisions for the audit trail (audit.Recorder). Record
// is called on the request path and must not block.
type Auditor interface {
	Record(adapter, remote string, p engine.Principal, req engine.Request, d engine.Decision)
}

// Gate decides requests for an adapter.
type Gate struct {
	Engine   *engine.Engine
	Auth     *authn.Authenticator
	Identity *assertion.Identity
	Log      *slog.Logger
	Metrics  Recorder // may be nil
	Audit    Auditor  // may be nil
	// SignIn returns the URL that starts a sign-in returning to returnTo,
	// or "" when sign-in is not configured: browsers then get a 401 too.
	SignIn func(r *http.Request, returnTo string) string
	// Streams holds open streams to cut when access goes; may be nil.
	Streams *Streams
	// AllowLevel is the level of the log lines of allowed requests; the
	// zero value is info. Refusals are always logged at info. A proxy
	// that writes an access log of its own (Caddy) lowers it to debug.
	AllowLevel slog.Level
}

// Check is one request to decide.
type Check struct {
	Adapter   string
	Principal engine.Principal
	Request   engine.Request
	// Also, when its Method is set, is the request read at a second path
	// that must be allowed too (see DecideBoth). A refusal of Also's path
	// is named by Request, and Also then holds the other.
	Also     engine.Request
	Decision engine.Decision
}

// Decide authenticates r and decides req for it, and records the outcome:
// one access-log line, the decision metrics and the audit trail.
func (g *Gate) Decide(adapter string, r *http.Request, req engine.Request) Check {
	start := time.Now()
	return g.decide(r.Context(), r.RemoteAddr, Check{Adapter: adapter, Principal: g.Auth.Authenticate(r), Request: req}, start)
}

// DecideCredentials is Decide for an adapter that receives the request's
// credentials rather than the request (see authn.Credentials); remote is
// the client's address, for the log.
func (g *Gate) DecideCredentials(ctx context.Context, adapter, authorization, cookie, remote string, req engine.Request) Check {
	start := time.Now()
	return g.decide(ctx, remote, Check{Adapter: adapter, Principal: g.Auth.Credentials(ctx, authorization, cookie), Request: req}, start)
}

// DecideBoth is Decide for a request that the handlers after the adapter
// read at two paths: in Caddy after a rewrite (try_files), file_server and
// reverse_proxy use the rewritten path, req, while FastCGI hands the
// application the path that arrived, also, as REQUEST_URI. It is allowed
// only when both are, and recorded once: as the refusal of the path
// refused, or as req's allow. An also without a Method is none.
func (g *Gate) DecideBoth(adapter string, r *http.Request, req, also engine.Request) Check {
	start := time.Now()
	return g.decide(r.Context(), r.RemoteAddr, Check{Adapter: adapter, Principal: g.Auth.Authenticate(r), Request: req, Also: also}, start)
}

// decide decides c (decideCheck) and records the outcome.
func (g *Gate) decide(ctx context.Context, remote string, c Check, start time.Time) Check {
	c = g.decideCheck(c)
	now := time.Now()
	g.record(ctx, remote, c, now, now.Sub(start))
	return c
}

// decideCheck decides c.Request, and c.Also when that is allowed; a
// refusal of Also swaps the two, so that Request names the path refused.
func (g *Gate) decideCheck(c Check) Check {
	c.Decision = g.Engine.Decide(c.Principal, c.Request)
	if !c.Decision.Allow || c.Also.Method == "" {
		return c
	}
	if d := g.Engine.Decide(c.Principal, c.Also); !d.Allow {
		c.Request, c.Also, c.Decision = c.Also, c.Request, d
	}
	return c
}

// Confirm decides an allowed check again once its stream is tracked (see
// engine.Engine.Confirm), so that a change landing in between is not
// missed, and returns the check with the decision as it stands. One that
// turns into a refusal is recorded, logged and counted like any other.
func (g *Gate) Confirm(ctx context.Context, remote string, c Check) Check {
	if !c.Decision.Allow || g.Engine.Current(c.Decision) {
		return c
	}
	again := g.decideCheck(c)
	if !again.Decision.Allow {
		g.record(ctx, remote, again, time.Now(), 0)
	}
	// Allowed again, the new decision names the user's groups now.
	return again
}

// BadRequest records and returns a decision for a request whose path
// cannot be decided safely (see policy.NormalizePath).
func (g *Gate) BadRequest(adapter string, r *http.Request, host, method, reason string) Check {
	return g.Refuse(r.Context(), adapter, r.RemoteAddr, host, method, reason)
}

// Refuse is BadRequest for an adapter without the http.Request.
func (g *Gate) Refuse(ctx context.Context, adapter, remote, host, method, reason string) Check {
	c := Check{Adapter: adapter, Request: engine.Request{Host: host, Method: method},
		Decision: engine.Decision{Reason: reason}}
	g.record(ctx, remote, c, time.Now(), 0)
	return c
}

// record counts, audits and logs c, decided at now in took.
func (g *Gate) record(ctx context.Context, remote string, c Check, now time.Time, took time.Duration) {
	d := c.Decision
	if g.Metrics != nil {
		g.Metrics.Decision(c.Adapter, d, took)
	}
	if g.Audit != nil {
		g.Audit.Record(c.Adapter, remote, c.Principal, c.Request, d)
	}
	level := slog.LevelInfo
	if d.Allow {
		level = g.AllowLevel
	}
	// Skip building a line that would not be written. The record goes
	// to the handler directly: slog.Logger would also look up the
	// caller's program counter, which this line does not log, for a
	// sixth of its cost.
	if g.Log == nil {
		return
	}
	h := g.Log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	var buf [12]slog.Attr // the record copies them: one allocation, not one per append
	attrs := append(buf[:0],
		slog.String("adapter", c.Adapter),
		slog.Bool("allow", d.Allow),
		slog.String("reason", d.Reason),
		slog.String("method", c.Request.Method),
		slog.String("host", c.Request.Host),
		slog.String("path", c.Request.Path),
	)
	if d.Route != nil {
		attrs = append(attrs, slog.String("route", d.Route.Name))
	}
	if d.User != nil {
		attrs = append(attrs, slog.String("user", d.User.UserName), slog.Int64("tenant_id", d.User.Tenant))
	}
	if c.Principal.TokenID != "" {
		attrs = append(attrs, slog.String("token_id", c.Principal.TokenID))
	}
	attrs = append(attrs, slog.String("remote_addr", remote), slog.Int64("decide_us", took.Microseconds()))
	r := slog.NewRecord(now, level, "decision", 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// Identify returns the identity values of an allowed check, or ok false
// when it has no user (a public route without credentials).
func (g *Gate) Identify(c Check) (assertion.Values, bool, error) {
	return g.Identity.For(c.Decision)
}

// RequestFrom builds the engine request of r as the built-in proxy sees
// it. refused is the reason to refuse it with when its path or host is
// ambiguous (engine.ReasonBadPath, engine.ReasonBadHost), else empty.
func RequestFrom(r *http.Request) (req engine.Request, refused string) {
	host := policy.NormalizeHost(r.Host)
	if !policy.ValidHost(host) {
		return engine.Request{Host: host, Method: r.Method}, engine.ReasonBadHost
	}
	p, err := policy.NormalizePath(r.URL.EscapedPath())
	if err != nil {
		return engine.Request{Host: host, Method: r.Method}, engine.ReasonBadPath
	}
	return engine.Request{Host: host, Path: p, Method: r.Method}, ""
}
