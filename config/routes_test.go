package config

import (
	"strings"
	"testing"
)

func TestValidateRoutes(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // every problem, in order
	}{
		{"good", `routes:
  - {name: app, host: app.example.com, path: /app/, methods: [GET], upstream: "http://127.0.0.1:9001", allow: {groups: [eng]}}
  - {name: wild, host: "*.example.com", allow: {users: [a@b]}, deny: {groups: [x]}}
  - {name: open, host: "*", allow: {public: true}}`, nil},
		{"missing name and allow", "routes:\n  - {path: /}\n", []string{
			"routes[0].name: is required", "routes[0].allow: admits nobody"}},
		{"duplicate name", "routes:\n  - {name: a, allow: {public: true}}\n  - {name: a, path: /b, allow: {public: true}}\n", []string{
			`routes[1].name: "a" is also the name of routes[0]`}},
		{"deny on a public route", "routes:\n  - {name: a, allow: {public: true}, deny: {users: [mallory]}}\n", []string{
			`routes[0].deny: a public route admits everyone, signed in or not: deny would refuse nobody`}},
		{"bad hosts", `routes:
  - {name: a, host: "https://a.test", allow: {public: true}}
  - {name: b, host: "a.*.test", allow: {public: true}}
  - {name: c, host: "*.test", allow: {public: true}}
  - {name: d, host: "a.test:8080", allow: {public: true}}
  - {name: e, host: ".example.com", allow: {public: true}}
  - {name: f, host: "bücher.example", allow: {public: true}}
  - {name: g, host: "app..example.com", allow: {public: true}}
  - {name: h, host: "app,example.com", allow: {public: true}}
  - {name: i, host: "*.a..test", allow: {public: true}}
  - {name: ok, host: "xn--bcher-kva.Example_1.test", allow: {public: true}}`, []string{
			`routes[0].host: "https://a.test" is not a host name`,
			`routes[1].host: "a.*.test": a wildcard may only be the first label`,
			`routes[2].host: "*.test" is too broad`,
			`routes[3].host: "a.test:8080" is not a host name`,
			`routes[4].host: ".example.com": a leading dot matches no host here; name *.example.com for the subdomains, and example.com in a route of its own`,
			`routes[5].host: "bücher.example" is not ASCII: write it in punycode (xn--...), as requests carry it`,
			`routes[6].host: "app..example.com" has an empty label (..)`,
			`routes[7].host: "app,example.com": ',' is not a host name character`,
			`routes[8].host: "*.a..test" has an empty label (..)`}},
		{"bad path, method, upstream", `routes:
  - {name: a, path: app, methods: [get, BREW], upstream: "ftp://x", allow: {public: true}}
  - {name: b, path: "/a/../b", upstream: "http://x/?q=1", allow: {public: true}}`, []string{
			`routes[0].path: "app" must start with /`,
			`routes[0].methods[0]: "get" is not an HTTP method`,
			`routes[0].methods[1]: "BREW" is not an HTTP method`,
			`routes[0].upstream: "ftp://x" is not an http(s) URL`,
			`routes[1].path: "/a/../b" has a dot segment`,
			`routes[1].upstream: "http://x/?q=1" has a query or fragment`}},
		// A prefix no normalised request path can have protects nothing:
		// /admin/x would fall to a shorter route.
		{"paths no request can have", `routes:
  - {name: a, path: "/admin/*", allow: {public: true}}
  - {name: b, path: "/admin/..", allow: {public: true}}
  - {name: c, path: "/admin//x", allow: {public: true}}
  - {name: d, path: "/./admin", allow: {public: true}}
  - {name: e, path: "/a%2fb", allow: {public: true}}
  - {name: f, path: "//", allow: {public: true}}
  - {name: g, path: "/admin/", allow: {public: true}}
  - {name: h, path: "/", allow: {public: true}}
  - {name: i, path: "/.well-known/x", allow: {public: true}}`, []string{
			`routes[0].path: "/admin/*" is not a plain path prefix`,
			`routes[1].path: "/admin/.." has a dot segment`,
			`routes[2].path: "/admin//x" has an empty segment`,
			`routes[3].path: "/./admin" has a dot segment`,
			`routes[4].path: "/a%2fb" is not a plain path prefix`,
			`routes[5].path: "//" has an empty segment`}},
		{"public with names, empty names", `routes:
  - {name: a, allow: {public: true, groups: [eng]}}
  - {name: b, path: /b, allow: {groups: [""]}, deny: {users: [" "]}}`, []string{
			"routes[0].allow: public: true admits everyone",
			"routes[1].allow.groups[0]: is empty",
			"routes[1].deny.users[0]: is empty"}},
		{"unknown rule key", "routes:\n  - {name: a, allow: {group: [x]}}\n", []string{
			`line 2: routes[0].allow.group: unknown key (did you mean "groups"?`}},
		{"deny public", "routes:\n  - {name: a, allow: {users: [x]}, deny: {public: true}}\n", []string{
			`routes[0].deny.public: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = nil, want %v", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Parse problems:\n%s\nwant %d:\n%s", err, len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestValidateOIDC(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"minimal", "oidc: {issuer: https://idp.test, client_id: c, client_secret: s, redirect_url: https://gate.test/oauth2/callback}\n", nil},
		{"everything wrong", `oidc:
  issuer: idp.test
  client_secret: s
  client_secret_file: /run/s
  redirect_url: https://gate.test/
  scopes: [email]
  user_attribute: upn
  clock_skew: 1h
  token_auth_method: private_key_jwt
sessions: {cookie_name: "a b", cookie_domain: "localhost", idle: 10s, lifetime: 5s}`, []string{
			`oidc.issuer: "idp.test" is not an http(s) URL`,
			"oidc.client_id: is required",
			"oidc.client_secret: and client_secret_file are both set",
			`oidc.redirect_url: "https://gate.test/" has no path`,
			"oidc.scopes: must include openid",
			`oidc.user_attribute: "upn" is not a user attribute`,
			"oidc.clock_skew: 1h0m0s is out of range",
			`oidc.token_auth_method: "private_key_jwt" is not a method scimgate uses`,
			`sessions.cookie_name: "a b" is not a cookie name`,
			`sessions.cookie_domain: "localhost" is not a domain`,
			"sessions.idle: 10s is too short",
			"sessions.lifetime: 5s is shorter than sessions.idle",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil || !cfg.OIDC.Enabled() || cfg.OIDC.UserClaim != "email" || cfg.OIDC.Audiences[0] != "c" {
					t.Fatalf("Parse = %+v, %v; want defaults applied", cfg.OIDC, err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse = nil error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Parse problems:\n%s\nwant %d", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}
