package caddyscimgate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/policy"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Rule names groups and users, as in scimgate's route rules.
type Rule struct {
	Groups []string `json:"groups,omitempty"`
	Users  []string `json:"users,omitempty"`
	Public bool     `json:"public,omitempty"`
}

// Handler authorizes requests ("http.handlers.scimgate"). With Allow or
// Deny it decides every request it sees with those rules (Caddy's
// matchers chose the requests); with Policy it decides with the routes of
// the app's scimgate configuration, matching host, path and method.
// Allowed requests continue with the client's X-Scimgate-* headers
// replaced by the identity headers; others are answered here.
type Handler struct {
	// Name identifies the handler's rules in logs and assertions (the
	// route name); default "caddy".
	Name   string `json:"name,omitempty"`
	Allow  *Rule  `json:"allow,omitempty"`
	Deny   *Rule  `json:"deny,omitempty"`
	Policy bool   `json:"policy,omitempty"`

	app    *App
	engine *engine.Engine
	gate   *gateway.Gate
	// streamKey, for a handler whose rules are its own, is the key its
	// engine is published under and its open streams are decided again by
	// after a reload: its name, or when it has none its rules' digest (the
	// name it is given depends on the handlers' order: "caddy-2" may name
	// other rules after a reload). Empty: the decision's route name.
	streamKey string
}

// CaddyModule implements caddy.Module.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.scimgate", New: func() caddy.Module { return new(Handler) }}
}

// Provision implements caddy.Provisioner.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	h.app = app
	explicit := h.Name != ""
	if !explicit {
		h.Name = "caddy"
	}
	switch {
	case h.Policy && (h.Allow != nil || h.Deny != nil):
		return fmt.Errorf("scimgate %s: use either policy or allow/deny rules, not both", h.Name)
	case h.Policy:
		h.engine = h.app.engine
	case h.Allow == nil:
		return fmt.Errorf("scimgate %s: no allow rule and no policy: nobody would be admitted", h.Name)
	default:
		r, err := h.route()
		if err != nil {
			return err
		}
		if r.Name, err = h.app.addRule(r, explicit); err != nil {
			return err
		}
		h.Name = r.Name
		p, err := policy.Compile([]config.Route{r}, "Caddyfile", time.Now())
		if err != nil {
			return err
		}
		h.engine = engine.New(h.app.core.live, p, engine.Options{MaxSnapshotAge: h.app.cfg.Gateway.MaxSnapshotAge, Logger: h.app.log})
		h.streamKey = h.Name
		if !explicit {
			h.streamKey = rulesKey(r)
		}
		h.app.engines[h.streamKey] = h.engine
	}
	id := h.app.identity
	if !h.Policy {
		id = assertion.NewIdentity(id.Signer())
	}
	h.gate = h.app.gate(h.engine, id)
	return nil
}

// rulesKey identifies an unnamed handler's rules across reloads: "rules "
// and a digest of the rules without the name (no route name has a
// space). A reload that keeps the rules keeps the key, whatever the
// handler is called then; one that drops or changes them leaves the
// streams they admitted without a decider, and they are cut.
func rulesKey(r config.Route) string {
	r.Name = ""
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return "rules " + hex.EncodeToString(sum[:12])
}

// route is the handler's own rules as a route that admits any host and
// path: Caddy's matchers already chose the requests.
func (h *Handler) route() (config.Route, error) {
	r := config.Route{Name: h.Name, Path: "/"}
	if h.Allow != nil {
		r.Allow = config.AllowRule{Groups: h.Allow.Groups, Users: h.Allow.Users, Public: h.Allow.Public}
	}
	if h.Deny != nil {
		if h.Deny.Public {
			return config.Route{}, fmt.Errorf("scimgate %s: deny public is not a rule", h.Name)
		}
		r.Deny = config.DenyRule{Groups: h.Deny.Groups, Users: h.Deny.Users}
	}
	c := config.Default()
	c.Routes = []config.Route{r}
	if err := c.Validate(); err != nil {
		return config.Route{}, fmt.Errorf("scimgate %s: %w", h.Name, err)
	}
	return c.Routes[0], nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.app.servePages(w, r) {
		return nil
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	assertion.Strip(r.Header) // before anything could copy them upstream
	req, refused := gateway.RequestFrom(r)
	var orig *http.Request
	var also engine.Request // the path that arrived, when rewritten to another
	if refused == "" {
		var origPath string
		var ok bool
		if orig, origPath, ok = decidedOriginal(r, req.Path); !ok {
			refused = engine.ReasonBadPath
		} else if origPath != req.Path {
			also = req
			also.Path = origPath
		}
	}
	var c gateway.Check
	if refused != "" {
		c = h.gate.BadRequest("caddy", r, req.Host, r.Method, refused)
	} else {
		// A rewrite before this handler (rewrite, try_files, uri) leaves
		// two paths that later handlers read: both must be allowed.
		c = h.gate.DecideBoth("caddy", r, req, also)
	}
	vars := &placeholders{d: c.Decision}
	if repl != nil {
		repl.Map(vars.get)
	}
	if !c.Decision.Allow {
		h.gate.Deny(w, r, c, gateway.ReturnURL(r))
		return nil
	}
	// Cancelling the request's context ends what reverse_proxy is doing
	// for it, WebSockets included: that is how access lost mid-stream is
	// cut. Confirm the decision after tracking, so that a change landing
	// in between is not missed, and identify the user from the confirmed
	// decision (its groups may have changed meanwhile).
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	key := c.Decision.Route.Name
	if h.streamKey != "" {
		key = h.streamKey
	}
	defer h.gate.Streams.Track(gateway.Tracked{Decider: current{c: h.app.core, name: key},
		Principal: c.Principal, Request: req, Also: also, Adapter: c.Adapter, Remote: r.RemoteAddr, Audit: h.gate.Audit}, cancel)()
	c = h.gate.Confirm(r.Context(), r.RemoteAddr, c)
	vars.d = c.Decision
	if !c.Decision.Allow {
		h.gate.Deny(w, r, c, gateway.ReturnURL(r))
		return nil
	}
	vals, identified, err := h.gate.Identify(c)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	gateway.StripCredentials(r.Header, c.Principal, h.gate.Auth.Cookies())
	gateway.StripMethodOverrides(r.Header)
	gateway.StripUnchecked(r) // reverse_proxy would forward trailers too
	if identified {
		vals.Set(r.Header)
		vars.groups = vals.Groups
	}
	// What follows (reverse_proxy) gets the path that was decided on, not
	// a spelling of it ("/public/../admin") the upstream might route
	// elsewhere; FastCGI's REQUEST_URI too.
	r.URL.Path, r.URL.RawPath = req.Path, ""
	if orig != nil {
		ctx = context.WithValue(ctx, caddyhttp.OriginalRequestCtxKey, *orig)
	}
	return next.ServeHTTP(w, r.WithContext(ctx))
}

// decidedOriginal returns the request as it arrived, which Caddy keeps for
// FastCGI's REQUEST_URI (what PHP routers read) and the
// {http.request.orig_*} placeholders, with its path normalized as r's was
// into decided; nil when it needs no change. path is that normalized
// path: decided unless the request was rewritten to another path since it
// arrived. ok is false when it is one scimgate refuses.
func decidedOriginal(r *http.Request, decided string) (orig *http.Request, path string, ok bool) {
	o, found := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !found || o.URL == nil {
		return nil, decided, true
	}
	p := decided
	if o.URL.Path != r.URL.Path || o.URL.RawPath != r.URL.RawPath {
		// Rewritten since it arrived: normalize its own path.
		var err error
		if p, err = policy.NormalizePath(o.URL.EscapedPath()); err != nil {
			return nil, "", false
		}
	}
	if p == o.URL.Path && o.URL.RawPath == "" {
		return nil, p, true
	}
	u := *o.URL
	u.Path, u.RawPath = p, ""
	o.URL = &u
	return &o, p, true
}

// placeholders makes the decision available to later directives:
// {scimgate.user}, {scimgate.email}, {scimgate.groups}, {scimgate.user_id},
// {scimgate.route}, {scimgate.reason}, {scimgate.allow}; and the user as
// {http.auth.user.id}, as Caddy's own authentication does (its access log
// records it as user_id). It answers when a directive asks, so a request
// whose placeholders nobody reads pays one allocation for them. Without a
// user (a public route, anonymous) the scimgate.* values are empty rather
// than unknown: Caddy leaves an unknown placeholder's text in place, and
// "header_up X-User {scimgate.user}" would send it upstream literally.
type placeholders struct {
	d      engine.Decision
	groups string // set once the user is identified
}

func (p *placeholders) get(key string) (any, bool) {
	u := p.d.User
	switch key {
	case "scimgate.allow":
		return p.d.Allow, true
	case "scimgate.reason":
		return p.d.Reason, true
	case "scimgate.route":
		if p.d.Route != nil {
			return p.d.Route.Name, true
		}
		return "", true
	case "scimgate.groups":
		return p.groups, true
	case "http.auth.user.id":
		// Unknown without a user, as with Caddy's own authentication.
		if u != nil {
			return u.UserName, true
		}
	case "scimgate.user":
		if u != nil {
			return u.UserName, true
		}
		return "", true
	case "scimgate.email":
		if u != nil {
			return u.Email, true
		}
		return "", true
	case "scimgate.user_id":
		if u != nil {
			return u.ID, true
		}
		return "", true
	}
	return nil, false
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
)
