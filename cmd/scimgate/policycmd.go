package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/snapshot"
)

func policyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "policy", map[string]command{"check": policyCheck, "explain": policyExplain}, []string{"check", "explain"}, args, stdout, stderr)
}

// fixed is a snapshot source for one-off decisions from the command line.
type fixed struct{ s *snapshot.Snapshot }

func (f fixed) Current() *snapshot.Snapshot { return f.s }
func (f fixed) Age() time.Duration          { return 0 }

// loadEngine compiles the configured policy over a snapshot of the store.
func loadEngine(ctx context.Context, cfg *config.Config, configPath string) (*engine.Engine, error) {
	if err := storeExists(cfg); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	s, err := snapshot.Load(ctx, st)
	if err != nil {
		return nil, err
	}
	p, err := policy.Compile(cfg.Routes, configPath, time.Now())
	if err != nil {
		return nil, err
	}
	return engine.New(fixed{s}, p, engine.Options{}), nil
}

// policyCheck validates the configuration, reporting every problem with its
// field path, and warns about names the directory does not resolve.
func policyCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, configPath := flags("policy check", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	// The routes can be checked before the store exists (before the
	// first start); the names they use cannot.
	var eng *engine.Engine
	var p *policy.Policy
	if storeExists(cfg) == nil {
		if eng, err = loadEngine(ctx, cfg, *configPath); err != nil {
			return err
		}
		p = eng.Policy()
	} else if p, err = policy.Compile(cfg.Routes, *configPath, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d routes, policy %s\n", *configPath, len(p.Routes), p.Hash[:12])
	if eng == nil {
		fmt.Fprintf(stdout, "note: store %s does not exist yet: group and user names were not checked against the directory\n", cfg.Store)
		return nil
	}
	warnings := eng.Warnings()
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if len(warnings) == 0 {
		fmt.Fprintln(stdout, "every group and user name resolves in the directory")
	}
	return nil
}

// policyExplain decides one request for one user against the current
// directory and says why.
func policyExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, configPath := flags("policy explain", stderr)
	user := fs.String("user", "", "userName to decide for; empty: an anonymous request")
	tenant := fs.String("tenant", "", "tenant of the user, when several tenants have that userName")
	method := fs.String("method", "GET", "HTTP method")
	rawURL := fs.String("url", "", "the request URL, e.g. https://app.example.com/path")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *rawURL == "" {
		return fmt.Errorf("%w: --url is required: the request to decide, such as https://app.example.com/path", errUsage)
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: --url must be an absolute URL such as https://app.example.com/path", errUsage)
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	eng, err := loadEngine(ctx, cfg, *configPath)
	if err != nil {
		return err
	}
	var p engine.Principal
	tenantName := ""
	if *user != "" {
		_, dir, closeFn, err := openDirectory(ctx, &source{config: *configPath}, newLogger(defaultLog(), stderr), false)
		if err != nil {
			return err
		}
		tn, r, err := dir.FindUser(ctx, *tenant, *user)
		closeFn()
		if err != nil {
			return err
		}
		p.User = snapshot.Key{Tenant: tn.ID, ID: r.ID}
		tenantName = tn.Name
	}
	path, err := policy.NormalizePath(u.EscapedPath())
	if errors.Is(err, policy.ErrAmbiguousPath) {
		fmt.Fprintf(stdout, "decision: deny (%s)\n", engine.ReasonBadPath)
		return nil
	}
	x := eng.Explain(p, engine.Request{Host: policy.NormalizeHost(u.Host), Path: path, Method: strings.ToUpper(*method)})
	result := "deny"
	if x.Allow {
		result = "allow"
	}
	fmt.Fprintf(stdout, "decision: %s (%s)\n", result, x.Reason)
	if x.Route != nil {
		host := x.Route.Host
		if host == "" {
			host = "*"
		}
		fmt.Fprintf(stdout, "route:    %s (host %s, path %s)\n", x.Route.Name, host, x.Route.Path)
	} else {
		fmt.Fprintln(stdout, "route:    none matches; unmatched requests are denied")
	}
	if x.User != nil {
		state := "active"
		if !x.User.Active {
			state = "inactive"
		}
		fmt.Fprintf(stdout, "user:     %s (tenant %s, %s)\n", x.User.UserName, tenantName, state)
		fmt.Fprintf(stdout, "groups:   %s\n", strings.Join(x.Snap.GroupNames(x.User), ", "))
	}
	if len(x.GroupPath) > 0 {
		fmt.Fprintf(stdout, "via:      %s\n", strings.Join(x.GroupPath, " -> "))
	}
	for _, w := range x.Warnings {
		fmt.Fprintf(stdout, "warning:  %s\n", w)
	}
	return nil
}
