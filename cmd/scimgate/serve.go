package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/assertion"
	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/authn"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/forwardauth"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/mapsync"
	"github.com/scimgate/scimgate/internal/logbuf"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/proxy"
	"github.com/scimgate/scimgate/scimapi"
	"github.com/scimgate/scimgate/signin"
	"github.com/scimgate/scimgate/snapshot"
	"github.com/scimgate/scimgate/store"
)

// Paths the gateway reserves on the main listener, on every host.
const (
	forwardAuthPath = "/.scimgate/auth"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// First: until it is caught, SIGHUP ends the process, and it may come
	// at any time, during the startup too (a service manager reloading a
	// server it has just started). One caught early is applied once the
	// server is ready.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs, configPath := flags("serve", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, loaded, err := loadConfigFile(*configPath)
	if err != nil {
		return err
	}
	// Written in batches, at most 100 ms late: a line per decision would
	// otherwise cost a system call per request.
	logOut := logbuf.New(stderr, 100*time.Millisecond, 64<<10)
	defer logOut.Close()
	log := newLogger(cfg.Log, logOut)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a, err := newApp(ctx, cfg, *configPath, "http://"+ln.Addr().String(), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.st.Close()
	defer a.rec.Close() // before the store: it flushes into it
	defer stop()        // first: the snapshot's poller stops before its store closes
	var secret string
	if cfg.SCIM.BootstrapTenant != "" {
		if secret, err = a.dir.Bootstrap(ctx, cfg.SCIM.BootstrapTenant); err != nil {
			return err
		}
	}
	live, eng, metrics, streams, api := a.live, a.eng, a.metrics, a.streams, a.api
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No read or write timeout: proxied downloads and WebSockets may
		// last; the gate cuts them when access goes.
	}
	ready := func() error {
		if age := live.Age(); age > cfg.Gateway.MaxSnapshotAge {
			return fmt.Errorf("directory snapshot is %s old", age.Round(time.Second))
		}
		if a.maps != nil {
			return a.maps.Healthy(cfg.HAProxyMaps.MaxStale)
		}
		return nil
	}
	rl := &reloader{path: *configPath, st: a.st, eng: eng, metrics: metrics, log: log, now: time.Now, running: cfg,
		applied: func() {
			if a.maps != nil {
				a.maps.Resync()
			}
			eng.Warnings() // the engine logs names that bind nothing, once per change
			streams.Recheck()
		}}
	var adminSrv *http.Server
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("listen admin: %w", err)
		}
		trail := http.NewServeMux()
		trail.Handle("/audit/", audit.Handler(a.st, log))
		trail.Handle("/access/", audit.AccessHandler(a.st, log))
		guarded, err := newAdminGuard(cfg.AdminTokenSHA256, trail)
		if err != nil {
			aln.Close()
			return err
		}
		if len(cfg.AdminTokenSHA256) == 0 {
			log.Info("the admin listener serves the audit trail without a token; set admin_token_sha256 to require one", "addr", aln.Addr().String())
		}
		mux := http.NewServeMux()
		mux.Handle("/", metrics.Handler(ready))
		mux.Handle("/audit/", guarded)
		mux.Handle("/access/", guarded)
		rl.adminTokens = guarded
		adminSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go adminSrv.Serve(aln)
		log.Info("admin listener", "addr", aln.Addr().String())
	}

	if cfg.SPOE.Listen != "" {
		if err := startSPOE(ctx, cfg.SPOE, a.gate, stdout, log); err != nil {
			return err
		}
	}

	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rl.reloadFile(ctx, "SIGHUP")
			}
		}
	}()
	// Seeded with the bytes loaded: an edit since is a change to apply.
	go config.Watch(ctx, *configPath, time.Second, config.Sum(loaded), func(data []byte, err error) {
		rl.apply(ctx, "file changed", data, err)
	})
	eng.Warnings() // the engine logs names that bind nothing, once per change

	base := cfg.SCIM.BaseURL
	if base == "" {
		base = "http://" + ln.Addr().String() + api.BasePath()
	}
	var tenants []string
	if secret == "" {
		ts, err := a.dir.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			tenants = append(tenants, t.Name)
		}
	}
	printBanner(stdout, base, cfg.SCIM.BootstrapTenant, secret, *configPath, tenants)
	gatewayURL := strings.TrimRight(cfg.Gateway.PublicURL, "/")
	if gatewayURL == "" {
		gatewayURL = "http://" + ln.Addr().String()
	}
	printRoutes(stdout, gatewayURL, eng.Policy())
	log.Info("serving", "listen", ln.Addr().String(), "scim", base, "store", cfg.Store, "routes", len(eng.Policy().Routes))

	// After the banner: a stdout sink's lines follow it. Deferred last, it
	// stops first, before the recorder and the store close.
	stopExport, err := startAuditExport(ctx, cfg, a.st, metrics, stdout, log)
	if err != nil {
		return err
	}
	defer stopExport()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if adminSrv != nil {
		_ = adminSrv.Shutdown(shutdownCtx)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// app is scimgate assembled from its configuration: everything serve
// runs, without the listeners.
type app struct {
	st      store.Store
	dir     *directory.Service
	live    *snapshot.Live
	eng     *engine.Engine
	gate    *gateway.Gate
	streams *gateway.Streams
	metrics *admin.Metrics
	maps    *mapsync.Syncer // nil unless haproxy_maps is configured
	rec     *audit.Recorder // close it before st
	api     *scimapi.Server
	handler http.Handler // the main listener's
}

// newApp opens the store and wires the server; publicURL is the gateway's
// URL when the configuration names none. Background work (snapshot
// tailing, stream rechecks) stops with ctx; the caller closes a.st.
func newApp(ctx context.Context, cfg *config.Config, configPath, publicURL string, log *slog.Logger) (*app, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &app{st: st}
	fail := func(err error) (*app, error) {
		st.Close()
		return nil, err
	}
	a.dir = directory.New(st, directory.Options{Logger: log, MaxResults: cfg.SCIM.MaxResults})
	if a.live, err = snapshot.Start(ctx, st, snapshot.Options{Logger: log}); err != nil {
		return fail(err)
	}
	pol, err := policy.Compile(cfg.Routes, configPath, time.Now())
	if err != nil {
		return fail(err)
	}
	if _, _, err := audit.RecordPolicy(ctx, st, pol, cfg.Routes); err != nil {
		return fail(err)
	}
	a.eng = engine.New(a.live, pol, engine.Options{MaxSnapshotAge: cfg.Gateway.MaxSnapshotAge, Logger: log})
	if cfg.Gateway.PublicURL != "" {
		publicURL = strings.TrimRight(cfg.Gateway.PublicURL, "/")
	}
	signer, err := assertion.NewSigner(ctx, st, assertion.Options{Issuer: publicURL, TTL: cfg.Gateway.AssertionTTL})
	if err != nil {
		return fail(err)
	}
	a.streams = gateway.NewStreams(log)
	a.metrics = admin.NewMetrics(a.live, a.streams)
	var jwtCookie signin.Minter
	if cfg.HAProxyMaps.Enabled() {
		if a.maps, err = startMapSync(ctx, cfg.HAProxyMaps, a.eng, a.live, a.metrics, log); err != nil {
			return fail(err)
		}
		jwtCookie = a.maps
		if !cfg.OIDC.Enabled() {
			// HAProxy admits browsers by the session JWT that sign-in
			// sets: without sign-in, only access tokens and public routes.
			log.Info("haproxy_maps without oidc: browsers cannot sign in; HAProxy admits access tokens and public routes")
		}
	}
	authOpts := authn.Options{}
	var signIn *signin.Service
	if cfg.OIDC.Enabled() {
		pub, err := url.Parse(publicURL)
		if err != nil {
			return fail(fmt.Errorf("public URL: %w", err))
		}
		stateKey, err := signer.DeriveKey(signin.StateKeyPurpose)
		if err != nil {
			return fail(err)
		}
		signIn, err = signin.New(signin.Options{
			OIDC: cfg.OIDC, Sessions: cfg.Sessions, PublicURL: pub, Dir: a.dir, Snapshots: a.live, Log: log,
			SessionJWT: jwtCookie, SessionJWTCookie: jwtCookieName(cfg.HAProxyMaps), StateKey: stateKey,
		})
		if err != nil {
			return fail(err)
		}
		authOpts = authn.Options{CookieName: signIn.CookieName(), Idle: cfg.Sessions.Idle, JWTs: signIn, Touch: a.dir.TouchSessions}
		if jwtCookie != nil {
			authOpts.JWTCookieName = signIn.JWTCookieName()
			if name := signIn.JWTCookieName(); pub.Scheme == "https" && cfg.Sessions.CookieDomain == "" && !strings.HasPrefix(name, "__Host-") {
				// HAProxy admits a browser on this cookie alone.
				log.Warn("the session JWT cookie "+name+" could be planted by another host under the same domain: set haproxy_maps.jwt_cookie to __Host-"+name+
					" and read that name in haproxy.cfg", "cookie", name, "see", "docs/haproxy.md")
			}
			if name := signIn.CookieName(); name != cfg.Sessions.CookieName {
				// HAProxy's configuration names the cookies it keeps from
				// applications; one copied from an older example names
				// only the unprefixed one.
				log.Warn("the session cookie is set as "+name+": haproxy.cfg must remove it from requests to applications, as examples/haproxy/mapsync/haproxy.cfg does",
					"cookie", name, "see", "docs/haproxy.md")
			}
		}
	}
	auth := authn.New(a.live, authOpts)
	if signIn != nil {
		signIn.UseSessions(auth)
	}
	go auth.Run(ctx)
	go a.dir.RunSessionPurge(ctx, time.Hour)
	recOpts := audit.OptionsFrom(cfg.Audit.Decisions)
	recOpts.Metrics, recOpts.Log = a.metrics.AuditDecisions(), log
	a.rec = audit.NewRecorder(st, recOpts)
	a.gate = &gateway.Gate{Engine: a.eng, Auth: auth, Identity: assertion.NewIdentity(signer),
		Log: log, Metrics: a.metrics, Audit: a.rec, Streams: a.streams}
	if signIn != nil {
		a.gate.SignIn = signIn.SignInURL
	}
	go a.streams.Watch(ctx, a.live.Subscribe())
	a.api = scimapi.New(a.dir, scimapi.Options{
		BasePath:            cfg.SCIM.BasePath,
		BaseURL:             cfg.SCIM.BaseURL,
		MaxBodyBytes:        cfg.SCIM.MaxBodyBytes,
		BulkMaxOperations:   cfg.SCIM.Bulk.MaxOperations,
		BulkMaxPayload:      cfg.SCIM.Bulk.MaxPayloadBytes,
		AuthFailureBurst:    cfg.SCIM.AuthFailures.Burst,
		AuthFailureInterval: cfg.SCIM.AuthFailures.Interval,
		Observe:             a.metrics.SCIM,
		Logger:              log,
	})
	a.handler = mainHandler(a.api, forwardauth.New(a.gate), proxy.New(a.gate, log), signer, signIn)
	return a, nil
}

// mainHandler routes the main listener: the SCIM API under its base path,
// /healthz, the forward-auth endpoint, the JWKS and the sign-in paths on
// every host, and everything else through the gateway.
func mainHandler(api *scimapi.Server, fa http.Handler, gw http.Handler, signer *assertion.Signer, signIn *signin.Service) http.Handler {
	base := api.BasePath()
	jwks := signer.JWKS()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case signIn != nil && signIn.Handles(p):
			signIn.ServeHTTP(w, r)
		case p == base || strings.HasPrefix(p, base+"/"):
			api.ServeHTTP(w, r)
		case p == "/healthz" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok\n")
		case p == forwardAuthPath:
			fa.ServeHTTP(w, r)
		case p == assertion.JWKSPath && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/jwk-set+json")
			w.Header().Set("Cache-Control", "max-age=300")
			_, _ = w.Write(jwks)
		default:
			gw.ServeHTTP(w, r)
		}
	})
}

// printRoutes lists what the gateway protects.
func printRoutes(w io.Writer, base string, p *policy.Policy) {
	demo := false
	if len(p.Routes) == 0 {
		fmt.Fprintf(w, "No routes configured: the gateway at %s/ denies everything. Add routes: to the configuration.\n\n", base)
		return
	}
	fmt.Fprintf(w, "Gateway at %s/ (forward-auth: %s%s):\n", base, base, forwardAuthPath)
	for _, r := range p.Routes {
		host := r.Host
		if host == "" {
			host = "*"
		}
		who := "public"
		if !r.Public {
			var names []string
			for _, g := range r.AllowGroups {
				names = append(names, "group "+g.Raw)
			}
			for _, u := range r.AllowUsers {
				names = append(names, "user "+u.Raw)
			}
			who = strings.Join(names, ", ")
		}
		up := "no upstream (forward-auth only)"
		if r.Upstream != nil {
			up = "-> " + r.Upstream.String()
		}
		fmt.Fprintf(w, "  %-12s host %s path %s %s, admits %s\n", r.Name, host, r.Path, up, who)
		demo = demo || (r.Upstream != nil && r.Upstream.Host == whoamiAddr)
	}
	if demo {
		fmt.Fprintf(w, "Routes to %s need the demo upstream running (until then they answer 502):\n  %s whoami &\n", whoamiAddr, cliName())
	}
	fmt.Fprintln(w)
}

// cliName is how to run this command again: "go run ./cmd/scimgate" when
// that is how it was started (a checkout, as the README does), else
// "scimgate".
func cliName() string {
	if strings.Contains(filepath.ToSlash(os.Args[0]), "/go-build") {
		return "go run ./cmd/scimgate"
	}
	return "scimgate"
}

func printBanner(w io.Writer, base, tenant, secret, configPath string, tenants []string) {
	fmt.Fprintf(w, "scimgate is running.\n\n  SCIM base URL: %s/\n", base)
	if secret == "" {
		if len(tenants) > 0 {
			fmt.Fprintf(w, "  Tenants:       %s\n", strings.Join(tenants, ", "))
		}
		fmt.Fprintf(w, "\nCreate a SCIM token for an identity provider with the command below. Each\ntenant NAME is a directory of its own: a new NAME sees none of the users above.\n  %s scim-token create --config %s --tenant NAME\n\n", cliName(), configPath)
		return
	}
	fmt.Fprintf(w, "  Tenant:        %s (created now)\n  SCIM token:    %s\n", tenant, secret)
	fmt.Fprintf(w, "                 shown once; only its hash is stored. More with:\n")
	fmt.Fprintf(w, "                 %s scim-token create --config %s --tenant %s\n\n", cliName(), configPath, tenant)
	fmt.Fprintf(w, "Try it:\n  export SCIM_TOKEN=%s\n", secret)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" %s/ServiceProviderConfig\n", base)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" -H 'Content-Type: application/scim+json' \\\n"+
		"    -d '{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\",\"active\":true}' \\\n"+
		"    %s/Users\n", base)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" '%s/Users?filter=userName%%20eq%%20%%22alice@example.com%%22'\n\n", base)
}

// jwtCookieName is the cookie sign-in sets the session's JWT in for
// HAProxy's map-sync configuration; "" when map sync is off.
func jwtCookieName(m config.HAProxyMaps) string {
	switch {
	case !m.Enabled():
		return ""
	case m.JWTCookie != "":
		return m.JWTCookie
	}
	return mapsync.DefaultCookieName
}
