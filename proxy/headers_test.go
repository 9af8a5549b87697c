package proxy_test

import (
	"net/http"
	"testing"
)

// TestProxyDropsTunnelsAndOverrides: what the upstream receives cannot run
// as anything other than the request that was decided: no upgrade but to
// WebSocket (an h2c tunnel would carry requests nobody decides), and no
// header that makes a framework run a POST as another method.
func TestProxyDropsTunnelsAndOverrides(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name    string
		h       http.Header
		dropped []string
	}{
		{"h2c upgrade", http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}},
			[]string{"Upgrade", "Http2-Settings", "Connection"}},
		{"method overrides", http.Header{"X-Http-Method-Override": {"DELETE"}, "X-Http-Method": {"DELETE"}, "X-Method-Override": {"DELETE"}},
			[]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h.Clone()
			h.Set("Authorization", "Bearer "+e.tokens["alice"])
			res, body := e.do("POST", "/app/x", h)
			if res.StatusCode != 200 {
				t.Fatalf("POST /app/x = %d %s", res.StatusCode, body)
			}
			got := e.up.last(t)
			if got.Method != "POST" {
				t.Errorf("the upstream got %s, want POST", got.Method)
			}
			for _, k := range tt.dropped {
				if v, ok := got.Header[k]; ok {
					t.Errorf("the upstream received %s: %q", k, v)
				}
			}
		})
	}
}
