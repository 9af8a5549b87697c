package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// OIDC configures sign-in with the operator's identity provider and the
// bearer JWTs it issues.
type OIDC struct {
	// Issuer is the provider's issuer URL; discovery and keys come from it.
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// RedirectURL is the callback registered with the provider; its path
	// is served by scimgate, e.g. https://gate.example.com/oauth2/callback.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes requested; default openid, email, profile.
	Scopes []string `yaml:"scopes"`
	// UserClaim is the ID token or JWT claim that names the user; default
	// "email".
	UserClaim string `yaml:"user_claim"`
	// UserAttribute is the directory attribute the claim is matched
	// against: userName (default), externalId or email.
	UserAttribute string `yaml:"user_attribute"`
	// Tenant names the tenant (IdP connection) whose users sign in; it
	// may be empty only while the store holds a single tenant.
	Tenant string `yaml:"tenant"`
	// Audiences are the accepted "aud" of bearer JWTs; default client_id.
	Audiences []string `yaml:"jwt_audiences"`
	// ClockSkew tolerated when checking token times; default 1m.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// TokenAuthMethod is how the client authenticates at the token
	// endpoint: client_secret_basic or client_secret_post, as registered
	// with the provider. Empty: try basic, then post, and keep what
	// worked (a forged callback before the first sign-in costs the
	// provider two requests instead of one).
	TokenAuthMethod string `yaml:"token_auth_method"`
}

// Sessions configures browser sessions.
type Sessions struct {
	CookieName string `yaml:"cookie_name"` // default "scimgate_session"
	// CookieDomain, e.g. ".example.com", lets one sign-in serve several
	// subdomains; empty binds the cookie to the gateway's host.
	CookieDomain string        `yaml:"cookie_domain"`
	Idle         time.Duration `yaml:"idle"`     // default 1h
	Lifetime     time.Duration `yaml:"lifetime"` // absolute, default 12h
}

// Enabled reports whether sign-in is configured.
func (o *OIDC) Enabled() bool { return o != nil && o.Issuer != "" }

// Secret returns the client secret, reading client_secret_file if set.
func (o *OIDC) Secret() (string, error) {
	if o.ClientSecretFile == "" {
		return o.ClientSecret, nil
	}
	b, err := os.ReadFile(o.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("oidc.client_secret_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func defaultSessions() Sessions {
	return Sessions{CookieName: "scimgate_session", Idle: time.Hour, Lifetime: 12 * time.Hour}
}

func (o *OIDC) withDefaults() {
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"openid", "email", "profile"}
	}
	if o.UserClaim == "" {
		o.UserClaim = "email"
	}
	if o.UserAttribute == "" {
		o.UserAttribute = "userName"
	}
	if len(o.Audiences) == 0 {
		o.Audiences = []string{o.ClientID}
	}
	if o.ClockSkew == 0 {
		o.ClockSkew = time.Minute
	}
}

func validateOIDC(o *OIDC, add func(path, msg, hint string)) {
	if o == nil {
		return
	}
	checkURL := func(path, v, example string) *url.URL {
		u, err := url.Parse(v)
		if v == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(path, fmt.Sprintf("%q is not an http(s) URL", v), "for example "+example)
			return nil
		}
		return u
	}
	checkURL("oidc.issuer", o.Issuer, `"https://idp.example.com"`)
	if o.ClientID == "" {
		add("oidc.client_id", "is required", "the client id registered with the identity provider")
	}
	if o.ClientSecret != "" && o.ClientSecretFile != "" {
		add("oidc.client_secret", "and client_secret_file are both set", "keep one; a file keeps the secret out of the configuration")
	}
	if u := checkURL("oidc.redirect_url", o.RedirectURL, `"https://gate.example.com/oauth2/callback"`); u != nil && (u.Path == "" || u.Path == "/") {
		add("oidc.redirect_url", fmt.Sprintf("%q has no path", o.RedirectURL), "scimgate serves the callback at that path, e.g. /oauth2/callback")
	}
	if !contains(o.Scopes, "openid") {
		add("oidc.scopes", "must include openid", "the default is [openid, email, profile]")
	}
	switch strings.ToLower(o.UserAttribute) {
	case "username", "externalid", "email":
	default:
		add("oidc.user_attribute", fmt.Sprintf("%q is not a user attribute scimgate matches", o.UserAttribute), "userName, externalId or email")
	}
	if o.ClockSkew < 0 || o.ClockSkew > 10*time.Minute {
		add("oidc.clock_skew", fmt.Sprintf("%s is out of range", o.ClockSkew), "between 0 and 10m; the default is 1m")
	}
	switch o.TokenAuthMethod {
	case "", "client_secret_basic", "client_secret_post":
	default:
		add("oidc.token_auth_method", fmt.Sprintf("%q is not a method scimgate uses", o.TokenAuthMethod),
			"client_secret_basic or client_secret_post, as the client is registered with the provider; leave it out to detect it")
	}
}

// validCookieName reports whether name can be a cookie's name: no
// separator a Cookie or Set-Cookie header would split it at.
func validCookieName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " ;=,\t\r\n\"")
}

func validateSessions(s Sessions, add func(path, msg, hint string)) {
	if !validCookieName(s.CookieName) {
		add("sessions.cookie_name", fmt.Sprintf("%q is not a cookie name", s.CookieName), `the default is "scimgate_session"`)
	}
	if s.CookieDomain != "" && (strings.ContainsAny(s.CookieDomain, "/: ") || !strings.Contains(strings.Trim(s.CookieDomain, "."), ".")) {
		add("sessions.cookie_domain", fmt.Sprintf("%q is not a domain", s.CookieDomain), `for example ".example.com"`)
	}
	if s.Idle < time.Minute {
		add("sessions.idle", fmt.Sprintf("%s is too short", s.Idle), `at least "1m"; the default is "1h"`)
	}
	if s.Lifetime < s.Idle {
		add("sessions.lifetime", fmt.Sprintf("%s is shorter than sessions.idle", s.Lifetime), `the default is "12h"`)
	}
}
