package caddyscimgate

import (
	"strings"
	"testing"

	"github.com/scimgate/scimgate/config"
)

// TestAddRule: the policy recorded at Start never has two routes of one
// name, so that `access who --route` names one set of rules.
func TestAddRule(t *testing.T) {
	cfg := config.Default()
	cfg.Routes = []config.Route{{Name: "app", Path: "/app", Allow: config.AllowRule{Groups: []string{"eng"}}}}
	a := &App{cfg: &cfg}
	rule := func(name string, groups ...string) config.Route {
		return config.Route{Name: name, Path: "/", Allow: config.AllowRule{Groups: groups}}
	}
	tests := []struct {
		r        config.Route
		explicit bool
		want     string // name given, or the error's start
	}{
		{rule("caddy", "eng"), false, "caddy"},
		{rule("caddy", "eng"), false, "caddy"}, // the same rules: one route
		{rule("caddy", "ops"), false, "caddy-2"},
		{rule("caddy", "sales"), false, "caddy-3"},
		{rule("caddy", "ops"), false, "caddy-2"},
		{rule("ops", "ops"), true, "ops"},
		{rule("ops", "ops"), true, "ops"},
		{rule("ops", "eng"), true, "scimgate ops: the name is already used"},
		{rule("app", "eng"), true, "scimgate app: the name is already used"}, // a route of the configuration
	}
	for i, tt := range tests {
		got, err := a.addRule(tt.r, tt.explicit)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("%d: addRule(%s %v) = %q, want %q", i, tt.r.Name, tt.r.Allow.Groups, got, tt.want)
		}
	}
	var names []string
	for _, r := range a.rules {
		names = append(names, r.Name)
	}
	if strings.Join(names, " ") != "caddy caddy-2 caddy-3 ops" {
		t.Errorf("rules recorded: %v", names)
	}
}
