package caddyscimgate

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scimgate/scimgate/assertion"
)

func init() {
	caddy.RegisterModule(SCIM{})
	caddy.RegisterModule(SignIn{})
}

// servePages answers the paths scimgate reserves on every site it guards:
// the sign-in pages (when sign-in is configured) and the JWKS. It reports
// whether it answered.
func (a *App) servePages(w http.ResponseWriter, r *http.Request) bool {
	if s := a.signIn; s != nil && s.Handles(r.URL.Path) {
		s.ServeHTTP(w, r)
		return true
	}
	if r.URL.Path == assertion.JWKSPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(a.identity.Signer().JWKS())
		return true
	}
	return false
}

// appFrom loads the scimgate app of the configuration being provisioned.
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("scimgate")
	if err != nil {
		return nil, fmt.Errorf("scimgate app: %w", err)
	}
	return v.(*App), nil
}

// SCIM serves the SCIM API ("http.handlers.scimgate_scim") under the base
// path of the scimgate configuration (default /scim/v2) and passes other
// requests on. SCIM clients authenticate with SCIM tokens; the gate does
// not apply.
type SCIM struct {
	app *App
}

// CaddyModule implements caddy.Module.
func (SCIM) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.scimgate_scim", New: func() caddy.Module { return new(SCIM) }}
}

// Provision implements caddy.Provisioner.
func (s *SCIM) Provision(ctx caddy.Context) (err error) {
	s.app, err = appFrom(ctx)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *SCIM) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	base := s.app.api.BasePath()
	if r.URL.Path != base && !strings.HasPrefix(r.URL.Path, base+"/") {
		return next.ServeHTTP(w, r)
	}
	s.app.api.ServeHTTP(w, r)
	return nil
}

// SignIn serves the sign-in pages (start, OIDC callback, sign-out) and the
// JWKS ("http.handlers.scimgate_signin") and passes other requests on.
// The scimgate handler answers them too; this one is for sites where the
// scimgate handler only sees some paths (inside a handle block), so that
// the callback reaches scimgate wherever the gate is.
type SignIn struct {
	app *App
}

// CaddyModule implements caddy.Module.
func (SignIn) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.scimgate_signin", New: func() caddy.Module { return new(SignIn) }}
}

// Provision implements caddy.Provisioner.
func (s *SignIn) Provision(ctx caddy.Context) (err error) {
	s.app, err = appFrom(ctx)
	return err
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *SignIn) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if s.app.servePages(w, r) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards.
var (
	_ caddyhttp.MiddlewareHandler = (*SCIM)(nil)
	_ caddy.Provisioner           = (*SCIM)(nil)
	_ caddyhttp.MiddlewareHandler = (*SignIn)(nil)
	_ caddy.Provisioner           = (*SignIn)(nil)
)
