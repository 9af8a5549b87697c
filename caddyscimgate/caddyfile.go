package caddyscimgate

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("scimgate", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("scimgate", parseHandler)
	httpcaddyfile.RegisterHandlerDirective("scimgate_scim", parseSCIM)
	httpcaddyfile.RegisterHandlerDirective("scimgate_signin", parseSignIn)
	// The gate runs after authentication directives and before anything
	// that answers or proxies (reverse_proxy, respond, file_server...).
	// The sign-in pages and the SCIM API answer before basic_auth and the
	// gate: they authenticate their callers themselves. (Caddy orders
	// plugin directives only relative to standard ones.)
	httpcaddyfile.RegisterDirectiveOrder("scimgate", httpcaddyfile.After, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("scimgate_signin", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("scimgate_scim", httpcaddyfile.Before, "basic_auth")
}

// parseGlobal reads the global option:
//
//	scimgate {
//	    store      sqlite:./data/scimgate.db
//	    config     ./scimgate.yaml
//	    public_url https://app.example.com
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("scimgate: the global option is set twice")
	}
	var app App
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "scimgate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler for the global
// option.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var field *string
		switch d.Val() {
		case "store":
			field = &a.Store
		case "config":
			field = &a.Config
		case "public_url":
			field = &a.PublicURL
		default:
			return d.Errf("scimgate: unknown option %q (want store, config or public_url)", d.Val())
		}
		if *field != "" {
			return d.Errf("scimgate: %s is set twice", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*field = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var m Handler
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return &m, err
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler:
//
//	scimgate policy
//	scimgate {
//	    name   app
//	    allow  groups engineering "Platform Team"
//	    allow  users alice@example.com
//	    allow  public
//	    deny   groups contractors
//	    deny   users mallory@example.com
//	}
//	scimgate {
//	    policy
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		if d.Val() != "policy" {
			return d.Errf("scimgate: unknown argument %q (want policy, or allow/deny rules in a block)", d.Val())
		}
		h.Policy = true
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch kw := d.Val(); kw {
		case "policy":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Policy = true
		case "name":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.Name = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "allow", "deny":
			rule := &h.Allow
			if kw == "deny" {
				rule = &h.Deny
			}
			if *rule == nil {
				*rule = new(Rule)
			}
			if err := parseRule(d, kw, *rule); err != nil {
				return err
			}
		default:
			return d.Errf("scimgate: unknown subdirective %q (want allow, deny, name or policy)", kw)
		}
	}
	if h.Policy && (h.Allow != nil || h.Deny != nil) {
		return d.Err("scimgate: use either policy or allow/deny rules, not both")
	}
	if !h.Policy && h.Allow == nil {
		return d.Err("scimgate: no allow rule: add `allow groups ...`, `allow users ...` or `allow public` in a block, or `scimgate policy` to use the routes of the scimgate config file")
	}
	return nil
}

// parseRule reads "allow groups a b", "allow users x", "allow public".
func parseRule(d *caddyfile.Dispenser, kw string, r *Rule) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch what := d.Val(); what {
	case "groups", "users":
		names := d.RemainingArgs()
		if len(names) == 0 {
			return d.Errf("scimgate: %s %s needs at least one name", kw, what)
		}
		if what == "groups" {
			r.Groups = append(r.Groups, names...)
		} else {
			r.Users = append(r.Users, names...)
		}
	case "public":
		if kw == "deny" {
			return d.Err("scimgate: deny public is not a rule (use Caddy's respond or abort)")
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		r.Public = true
	default:
		return d.Errf("scimgate: %s %q: want groups, users or public", kw, what)
	}
	return nil
}

func parseSCIM(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("scimgate_scim takes no arguments: the SCIM settings are in the scimgate config file")
	}
	return new(SCIM), nil
}

func parseSignIn(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() || h.NextBlock(0) {
		return nil, h.Err("scimgate_signin takes no arguments: sign-in is configured in the scimgate config file (oidc, sessions)")
	}
	return new(SignIn), nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
