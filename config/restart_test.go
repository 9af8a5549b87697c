package config

import (
	"slices"
	"strings"
	"testing"
)

// TestNeedsRestart: a reload names every changed field that only a
// restart applies, and nothing for route changes or a file rewritten
// with the same values.
func TestNeedsRestart(t *testing.T) {
	sha64 := strings.Repeat("ab", 32)
	const base = "listen: \"127.0.0.1:8080\"\nadmin_listen: \"127.0.0.1:9090\"\nroutes:\n  - {name: app, path: /app, allow: {groups: [staff]}}\n"
	tests := []struct {
		name string
		next string
		want []string
	}{
		{name: "same file", next: base},
		{name: "same values written differently", next: "admin_listen: \"127.0.0.1:9090\"\nlisten: \"127.0.0.1:8080\"\nadmin_token_sha256: []\nlog: {level: info}\nroutes:\n  - {name: app, path: /app, allow: {groups: [staff]}}\n"},
		{name: "routes only", next: "listen: \"127.0.0.1:8080\"\nroutes:\n  - {name: app, path: /app, allow: {groups: [ops]}}\n  - {name: b, path: /b, allow: {public: true}}\n"},
		{name: "listeners, token, log",
			next: "listen: \"127.0.0.1:8081\"\nadmin_listen: \"127.0.0.1:9091\"\nadmin_token_sha256: [\"" + sha64 + "\"]\nlog: {level: debug, format: json}\n",
			want: []string{"listen", "admin_listen", "admin_token_sha256", "log.level", "log.format"}},
		{name: "audit, oidc, sessions, gateway",
			next: base + "audit:\n  retention: {decisions: 30d}\n  decisions: {allows: none}\n  export: [{name: f, type: file, path: /tmp/x.jsonl}]\n" +
				"oidc: {issuer: \"https://idp.example.com\", client_id: c, client_secret: s, redirect_url: \"https://gate.example.com/oauth2/callback\"}\nsessions: {idle: 2h}\ngateway: {assertion_ttl: 2m}\nscim: {max_results: 10}\n",
			want: []string{"scim.max_results", "gateway.assertion_ttl", "oidc", "sessions.idle", "audit.decisions.allows", "audit.export", "audit.retention.decisions"}},
	}
	running, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := Parse([]byte(tt.next))
			if err != nil {
				t.Fatal(err)
			}
			got := NeedsRestart(running, next)
			if !slices.Equal(got, tt.want) {
				t.Errorf("NeedsRestart = %q, want %q", got, tt.want)
			}
		})
	}
}
