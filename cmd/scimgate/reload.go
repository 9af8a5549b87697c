package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/audit"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
)

// reloader puts a changed configuration in force: its routes (the
// policy) and its admin tokens. Reloads come from SIGHUP and from the file
// watcher, on goroutines of their own: they take turns, so that the
// version the audit trail records last is the one in force.
type reloader struct {
	path    string
	st      audit.Updater
	eng     *engine.Engine
	metrics *admin.Metrics // nil: none
	log     *slog.Logger
	// now stamps a new version with the time it takes effect.
	now func() time.Time
	// applied runs after a new policy is in force (HAProxy maps resync,
	// stream rechecks); nil: nothing.
	applied func()
	// adminTokens, when there is an admin listener, guards its audit
	// trail with the tokens of admin_token_sha256.
	adminTokens *adminGuard

	mu      sync.Mutex
	running *config.Config // what is in force: the start's, with the reloaded fields
}

// reloadFile reads the configuration file and applies it (SIGHUP).
func (r *reloader) reloadFile(ctx context.Context, why string) {
	data, err := os.ReadFile(r.path)
	r.apply(ctx, why, data, err)
}

// apply applies the configuration in data, or fails with readErr.
func (r *reloader) apply(ctx context.Context, why string, data []byte, readErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next *config.Config
	var p *policy.Policy
	err := readErr
	if err != nil {
		err = fmt.Errorf("read config: %w", err)
	} else if next, err = config.ParseFile(r.path, data); err == nil {
		// Before the policy, and whatever becomes of it: revoking a
		// leaked admin token must not wait on the routes.
		r.applyAdminTokens(why, next)
		p, err = policy.Compile(next.Routes, r.path, time.Time{})
	}
	if err != nil {
		r.reloaded(false)
		r.log.Error("policy reload failed; keeping the running policy", "trigger", why, "err", err)
		return
	}
	// Stamped right before it is recorded, and put in force right after:
	// "access who --at T" reads the version in force at T from the stamps.
	p.Loaded = r.now()
	// Recorded first: the audit trail must be able to say what was in
	// force, so a policy it cannot record is not put in force.
	if _, _, err := audit.RecordPolicy(ctx, r.st, p, next.Routes); err != nil {
		r.reloaded(false)
		r.log.Error("policy reload failed: the new version could not be recorded in the audit trail; keeping the running policy", "trigger", why, "err", err)
		return
	}
	r.eng.SetPolicy(p)
	if r.applied != nil {
		r.applied()
	}
	r.reloaded(true)
	r.log.Info("policy reloaded", "trigger", why, "routes", len(p.Routes), "hash", p.Hash)

	running := *r.running
	running.Routes = next.Routes
	r.running = &running
	if fields := config.NeedsRestart(r.running, next); len(fields) > 0 {
		r.log.Warn("configuration changes not in force until a restart: needs restart: "+strings.Join(fields, ", "),
			"trigger", why, "needs_restart", fields)
	}
}

// applyAdminTokens puts next's admin tokens in force, so that a leaked
// one can be revoked without a restart; removing the last one (leaving
// the trail open) takes a restart, when the listener is checked again.
func (r *reloader) applyAdminTokens(why string, next *config.Config) {
	if r.adminTokens == nil || len(next.AdminTokenSHA256) == 0 || slices.Equal(next.AdminTokenSHA256, r.running.AdminTokenSHA256) {
		return
	}
	if err := r.adminTokens.set(next.AdminTokenSHA256); err != nil {
		r.log.Error("admin token reload failed; keeping the running tokens", "trigger", why, "err", err)
		return
	}
	running := *r.running
	running.AdminTokenSHA256 = next.AdminTokenSHA256
	r.running = &running
	r.log.Info("admin tokens reloaded", "trigger", why, "tokens", len(next.AdminTokenSHA256))
}

func (r *reloader) reloaded(ok bool) {
	if r.metrics != nil {
		r.metrics.PolicyReload(ok)
	}
}

// adminGuard is the admin listener's token check, replaceable on reload.
type adminGuard struct {
	next http.Handler
	cur  atomic.Pointer[http.Handler]
}

func newAdminGuard(hashes []string, next http.Handler) (*adminGuard, error) {
	g := &adminGuard{next: next}
	return g, g.set(hashes)
}

func (g *adminGuard) set(hashes []string) error {
	h, err := admin.RequireToken(hashes, g.next)
	if err != nil {
		return err
	}
	g.cur.Store(&h)
	return nil
}

func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*g.cur.Load()).ServeHTTP(w, r)
}
