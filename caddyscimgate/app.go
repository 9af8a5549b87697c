// Package caddyscimgate runs scimgate inside Caddy: a "scimgate" app that
// owns the engine (store, live directory snapshot, policy, sign-in), an
// HTTP handler that authorizes requests in process before they reach
// reverse_proxy or anything else, and a handler that serves the SCIM API.
// It is configured from the Caddyfile or Caddy's JSON, and decides with
// the same core as every other scimgate enforcement point.
package caddyscimgate

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/signin"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
	"github.com/scimgate/scimgate/store/sqlite"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the "scimgate" Caddy app.
type App struct {
	// Store names the database: "sqlite:PATH". Default: the store of
	// Config, else "sqlite:./data/scimgate.db".
	Store string `json:"store,omitempty"`
	// Config is a scimgate configuration file. Its routes are the policy of
	// handlers in policy mode; its oidc and sessions sections configure
	// sign-in; its scim section the SCIM API. Point the scimgate command
	// line at the same file to manage tokens and sessions of this store.
	Config string `json:"config,omitempty"`
	// PublicURL is the external URL of the site, where sign-in returns and
	// the issuer of assertions; it overrides gateway.public_url of Config.
	PublicURL string `json:"public_url,omitempty"`

	cfg      *config.Config
	core     *core
	poolKey  string
	policy   *policy.Policy
	engine   *engine.Engine
	auth     *authn.Authenticator
	identity *assertion.Identity
	signIn   *signin.Service
	api      *scimapi.Server
	log      *slog.Logger
	cancel   context.CancelFunc
	rec      *audit.Recorder
	// stopAudit ends the audit exporters and retention that Start began.
	stopAudit func()
	// rules are the routes of the handlers with allow/deny rules of
	// their own, part of the policy version recorded at Start. Caddy
	// provisions the modules of a configuration one at a time.
	rules []config.Route
	// engines are the handlers' deciders by stream key (Handler.streamKey),
	// published to the core when this configuration starts.
	engines map[string]*engine.Engine
	// published is what Start put in the core, replaced what was there:
	// a configuration that fails to start after this one's Start gives
	// the core back to the one that keeps running.
	published, replaced *map[string]*engine.Engine
}

// CaddyModule implements caddy.Module.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "scimgate", New: func() caddy.Module { return new(App) }}
}

// core is what outlives a Caddy configuration: reloading keeps the open
// store, the live directory snapshot and the streams to cut, so that a
// reload neither reloads 100,000 users nor forgets open WebSockets.
type core struct {
	st      store.Store
	dir     *directory.Service
	live    *snapshot.Live
	streams *gateway.Streams
	ctx     context.Context // ends when the core is destructed
	cancel  context.CancelFunc
	// purge starts the purge of ended sessions once, when a
	// configuration first starts (not when one is only validated).
	purge sync.Once
	// engines are the deciders of the configuration started last, by
	// route name or an unnamed handler's rules digest: open streams are
	// decided again by the rules in force, not those they were admitted
	// by, across reloads.
	engines atomic.Pointer[map[string]*engine.Engine]
}

// current decides an open stream admitted on route name by the rules of
// the configuration started last; a route that configuration no longer
// has refuses it.
type current struct {
	c    *core
	name string
}

func (d current) Decide(p engine.Principal, r engine.Request) engine.Decision {
	if m := d.c.engines.Load(); m != nil {
		if e := (*m)[d.name]; e != nil {
			return e.Decide(p, r)
		}
	}
	return engine.Decision{Reason: engine.ReasonNoRoute}
}

// Destruct implements caddy.Destructor: the last configuration using the
// core is gone.
func (c *core) Destruct() error {
	c.cancel()
	return c.st.Close()
}

// cores shares cores between configurations, by store.
var cores = caddy.NewUsagePool()

// Provision implements caddy.Provisioner.
func (a *App) Provision(ctx caddy.Context) error {
	a.log = ctx.Slogger()
	a.engines = map[string]*engine.Engine{}
	cfg := config.Default()
	if a.Config != "" {
		c, err := config.Load(a.Config)
		if err != nil {
			return err
		}
		cfg = *c
	}
	if a.Store != "" {
		cfg.Store = a.Store
	}
	if a.PublicURL != "" {
		cfg.Gateway.PublicURL = a.PublicURL
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("scimgate configuration: %w", err)
	}
	a.cfg = &cfg
	path, err := cfg.SQLitePath()
	if err != nil {
		return fmt.Errorf("scimgate store: %w", err)
	}
	a.poolKey = "sqlite:" + path
	v, _, err := cores.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) { return openCore(path, cfg, a.log) })
	if err != nil {
		return err
	}
	a.core = v.(*core)
	if a.policy, err = policy.Compile(cfg.Routes, a.Config, time.Now()); err != nil {
		return err
	}
	a.engine = engine.New(a.core.live, a.policy, engine.Options{MaxSnapshotAge: cfg.Gateway.MaxSnapshotAge, Logger: a.log})
	pub := strings.TrimRight(cfg.Gateway.PublicURL, "/")
	issuer := pub
	if issuer == "" {
		issuer = "scimgate"
	}
	bg, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	signer, err := assertion.NewSigner(bg, a.core.st, assertion.Options{Issuer: issuer, TTL: cfg.Gateway.AssertionTTL})
	if err != nil {
		return err
	}
	a.identity = assertion.NewIdentity(signer)
	opts := authn.Options{}
	if cfg.OIDC.Enabled() {
		u, err := url.Parse(pub)
		if err != nil || u.Host == "" {
			return fmt.Errorf("scimgate sign-in needs public_url (the site's external URL), got %q", cfg.Gateway.PublicURL)
		}
		stateKey, err := signer.DeriveKey(signin.StateKeyPurpose)
		if err != nil {
			return err
		}
		a.signIn, err = signin.New(signin.Options{OIDC: cfg.OIDC, Sessions: cfg.Sessions, PublicURL: u, Dir: a.core.dir,
			Snapshots: a.core.live, Log: a.log, StateKey: stateKey})
		if err != nil {
			return err
		}
		opts = authn.Options{CookieName: a.signIn.CookieName(), Idle: cfg.Sessions.Idle, JWTs: a.signIn, Touch: a.core.dir.TouchSessions}
	}
	a.auth = authn.New(a.core.live, opts)
	go a.auth.Run(bg)
	recOpts := audit.OptionsFrom(cfg.Audit.Decisions)
	recOpts.Log = a.log
	a.rec = audit.NewRecorder(a.core.st, recOpts)
	a.api = scimapi.New(a.core.dir, scimapi.Options{
		BasePath: cfg.SCIM.BasePath, BaseURL: cfg.SCIM.BaseURL, MaxBodyBytes: cfg.SCIM.MaxBodyBytes,
		BulkMaxOperations: cfg.SCIM.Bulk.MaxOperations, BulkMaxPayload: cfg.SCIM.Bulk.MaxPayloadBytes,
		AuthFailureBurst: cfg.SCIM.AuthFailures.Burst, AuthFailureInterval: cfg.SCIM.AuthFailures.Interval, Logger: a.log,
	})
	return nil
}

func openCore(path string, cfg config.Config, log *slog.Logger) (*core, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open scimgate store %s: %w", path, err)
	}
	live, err := snapshot.Start(ctx, st, snapshot.Options{Logger: log})
	if err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	c := &core{st: st, dir: directory.New(st, directory.Options{Logger: log, MaxResults: cfg.SCIM.MaxResults}),
		live: live, streams: gateway.NewStreams(log), ctx: ctx, cancel: cancel}
	go c.streams.Watch(ctx, live.Subscribe())
	log.Info("scimgate store opened", "store", path)
	return c, nil
}

// gate returns a gate deciding with e for this app's credentials. The
// identity caches assertions by route index: handlers with rules of their
// own (each a one-route policy) need one each.
func (a *App) gate(e *engine.Engine, id *assertion.Identity) *gateway.Gate {
	// Caddy's access log records each request, {http.auth.user.id}
	// included: the gate's lines of allowed requests are debug only.
	g := &gateway.Gate{Engine: e, Auth: a.auth, Identity: id, Log: a.log, Audit: a.rec, Streams: a.core.streams, AllowLevel: slog.LevelDebug}
	if a.signIn != nil {
		g.SignIn = a.signIn.SignInURL
	}
	return g
}

// addRule adds the route of a handler with rules of its own to the
// policy version recorded at Start and returns the name it goes by. Route
// names must be unique in that policy, as in a scimgate configuration, so
// that the audit trail's answers name one set of rules: handlers with the
// same rules share their route; a handler left unnamed whose rules differ
// from another's of that name is called "caddy-2", "caddy-3"...; an
// explicit name used for other rules is an error.
func (a *App) addRule(r config.Route, explicit bool) (string, error) {
	base := r.Name
	for i := 2; ; i++ {
		other, taken := a.route(r.Name)
		switch {
		case !taken:
			a.rules = append(a.rules, r)
			return r.Name, nil
		case reflect.DeepEqual(other, r):
			return r.Name, nil
		case explicit:
			return "", fmt.Errorf("scimgate %s: the name is already used by other rules (a route or another scimgate handler): give this handler a name of its own", base)
		}
		r.Name = base + "-" + strconv.Itoa(i)
	}
}

// route returns the route called name among the configuration's routes
// and the handlers' rules.
func (a *App) route(name string) (config.Route, bool) {
	for _, rs := range [][]config.Route{a.cfg.Routes, a.rules} {
		for _, r := range rs {
			if r.Name == name {
				return r, true
			}
		}
	}
	return config.Route{}, false
}

// Start implements caddy.App: every handler is provisioned, so the
// policy this configuration enforces is known — the routes of the
// scimgate configuration, then the rules of the handlers that have their
// own — and is recorded in the audit trail's policy stream ("caddy", or
// "caddy:" and the configuration file). A reload that changes nothing
// records nothing.
func (a *App) Start() error {
	routes := append(append([]config.Route{}, a.cfg.Routes...), a.rules...)
	source := "caddy"
	if a.Config != "" {
		source += ":" + a.Config
	}
	p, err := policy.Compile(routes, source, time.Now())
	if err != nil {
		return fmt.Errorf("scimgate policy: %w", err)
	}
	if _, _, err := audit.RecordPolicy(context.Background(), a.core.st, p, routes); err != nil {
		return fmt.Errorf("scimgate: %w", err)
	}
	// Caddy has no scimgate admin listener: the sinks and retention run
	// without metrics; their log lines go to Caddy's log. During a reload
	// the new configuration's exporters start before the old ones stop:
	// a record may be delivered twice, as at-least-once allows.
	stop, err := audit.StartBackground(context.Background(), a.cfg.Audit, a.core.st, audit.Background{Stdout: os.Stdout, Log: a.log})
	if err != nil {
		return fmt.Errorf("scimgate: %w", err)
	}
	a.stopAudit = stop
	// From now on open streams, those of the configuration before
	// included, are decided by this one's rules: decide them again now.
	m := map[string]*engine.Engine{}
	for _, r := range a.engine.Policy().Routes {
		m[r.Name] = a.engine
	}
	maps.Copy(m, a.engines)
	a.published = &m
	a.replaced = a.core.engines.Swap(a.published)
	a.core.streams.Recheck()
	a.core.purge.Do(func() { go a.core.dir.RunSessionPurge(a.core.ctx, time.Hour) })
	return nil
}

// Stop implements caddy.App: the audit exporters and retention end
// (delivered records are acknowledged, the sinks closed).
func (a *App) Stop() error {
	if a.stopAudit != nil {
		a.stopAudit()
		a.stopAudit = nil
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper: this configuration is unloaded.
func (a *App) Cleanup() error {
	_ = a.Stop() // if Caddy did not: the exporters go before the store
	if a.core != nil && a.published != nil {
		a.core.engines.CompareAndSwap(a.published, a.replaced)
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.rec != nil {
		_ = a.rec.Close() // before the core, and its store, may go
	}
	if a.core != nil {
		_, err := cores.Delete(a.poolKey)
		return err
	}
	return nil
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*core)(nil)
)
