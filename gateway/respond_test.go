package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/policy"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		reason string
		want   int
	}{
		{engine.ReasonUnauthenticated, 401},
		{engine.ReasonTokenInvalid, 401},
		{engine.ReasonTokenRevoked, 401},
		{engine.ReasonTokenExpired, 401},
		{engine.ReasonBadPath, 400},
		{engine.ReasonStale, 503},
		{engine.ReasonNoRoute, 403},
		{engine.ReasonUserUnknown, 403},
		{engine.ReasonUserInactive, 403},
		{engine.ReasonDeniedUser, 403},
		{engine.ReasonDeniedGroup, 403},
		{engine.ReasonNotAllowed, 403},
		{"something-new", 403},
	}
	for _, tt := range tests {
		if got := gateway.Status(engine.Decision{Reason: tt.reason}); got != tt.want {
			t.Errorf("Status(%q) = %d, want %d", tt.reason, got, tt.want)
		}
	}
}

func TestMessageEveryReason(t *testing.T) {
	for _, r := range []string{engine.ReasonNoRoute, engine.ReasonUnauthenticated, engine.ReasonTokenInvalid,
		engine.ReasonTokenRevoked, engine.ReasonTokenExpired, engine.ReasonUserUnknown, engine.ReasonUserInactive,
		engine.ReasonDeniedUser, engine.ReasonDeniedGroup, engine.ReasonNotAllowed, engine.ReasonStale, engine.ReasonBadPath} {
		if m := gateway.Message(r); m == "" || m == "Access denied." {
			t.Errorf("Message(%q) = %q, want an explanation of its own", r, m)
		}
	}
	if m := gateway.Message("unheard-of"); m != "Access denied." {
		t.Errorf("Message(unknown) = %q, want the generic message", m)
	}
}

// denyBody is the JSON body of a refusal.
type denyBody struct {
	Error   string `json:"error"`
	Reason  string `json:"reason"`
	Route   string `json:"route"`
	Message string `json:"message"`
}

// TestDeny covers every shape of refusal: JSON for API clients, HTML for
// browsers, a redirect to sign in for browsers that are not signed in when
// sign-in is configured, and the Bearer challenge on every 401.
func TestDeny(t *testing.T) {
	route := &policy.Route{Name: "console"}
	signIn := func(r *http.Request, returnTo string) string {
		return "https://gate.test/sign-in?rd=" + url.QueryEscape(returnTo)
	}
	const returnTo = "https://app.test/console/x?y=1"
	tests := []struct {
		name      string
		reason    string
		route     *policy.Route
		html      bool
		signIn    func(*http.Request, string) string
		status    int
		challenge string // WWW-Authenticate; "" for none
		location  string
	}{
		{"api anonymous", engine.ReasonUnauthenticated, route, false, nil, 401, `Bearer realm="scimgate"`, ""},
		{"api anonymous with sign-in configured", engine.ReasonUnauthenticated, route, false, signIn, 401, `Bearer realm="scimgate"`, ""},
		{"api bad token", engine.ReasonTokenInvalid, route, false, nil, 401, `Bearer realm="scimgate", error="invalid_token"`, ""},
		{"api revoked token", engine.ReasonTokenRevoked, route, false, signIn, 401, `Bearer realm="scimgate", error="invalid_token"`, ""},
		{"api expired token", engine.ReasonTokenExpired, route, false, nil, 401, `Bearer realm="scimgate", error="invalid_token"`, ""},
		{"browser anonymous without sign-in", engine.ReasonUnauthenticated, route, true, nil, 401, `Bearer realm="scimgate"`, ""},
		{"browser sign-in returns empty", engine.ReasonUnauthenticated, route, true,
			func(*http.Request, string) string { return "" }, 401, `Bearer realm="scimgate"`, ""},
		{"browser anonymous with sign-in", engine.ReasonUnauthenticated, route, true, signIn, 302, "",
			"https://gate.test/sign-in?rd=" + url.QueryEscape(returnTo)},
		{"browser expired token with sign-in", engine.ReasonTokenExpired, route, true, signIn, 302, "",
			"https://gate.test/sign-in?rd=" + url.QueryEscape(returnTo)},
		{"api not allowed", engine.ReasonNotAllowed, route, false, signIn, 403, "", ""},
		{"browser not allowed", engine.ReasonNotAllowed, route, true, signIn, 403, "", ""},
		{"api inactive", engine.ReasonUserInactive, route, false, nil, 403, "", ""},
		{"api no route", engine.ReasonNoRoute, nil, false, nil, 403, "", ""},
		{"browser no route", engine.ReasonNoRoute, nil, true, nil, 403, "", ""},
		{"api bad path", engine.ReasonBadPath, nil, false, nil, 400, "", ""},
		{"api stale", engine.ReasonStale, route, false, nil, 503, "", ""},
		{"browser stale", engine.ReasonStale, route, true, signIn, 503, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gateway.Gate{SignIn: tt.signIn}
			r := httptest.NewRequest("GET", "http://app.test/console/x?y=1", nil)
			if tt.html {
				r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
			} else {
				r.Header.Set("Accept", "application/json")
			}
			w := httptest.NewRecorder()
			g.Deny(w, r, gateway.Check{Decision: engine.Decision{Reason: tt.reason, Route: tt.route}}, returnTo)
			res := w.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", res.StatusCode, tt.status, w.Body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.location != "" {
				if got := res.Header.Get("Location"); got != tt.location {
					t.Errorf("Location = %q, want %q", got, tt.location)
				}
				return
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			ct := res.Header.Get("Content-Type")
			if tt.html {
				if !strings.HasPrefix(ct, "text/html") {
					t.Errorf("Content-Type = %q, want text/html for a browser", ct)
				}
				body := w.Body.String()
				if !strings.Contains(body, "<code>"+tt.reason+"</code>") || !strings.Contains(body, gateway.Message(tt.reason)) {
					t.Errorf("HTML page does not name reason %q and its message:\n%s", tt.reason, body)
				}
				if tt.route != nil && !strings.Contains(body, "<code>"+tt.route.Name+"</code>") {
					t.Errorf("HTML page does not name route %q:\n%s", tt.route.Name, body)
				}
				return
			}
			if ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var b denyBody
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			wantErr := map[int]string{400: "bad_request", 401: "unauthorized", 403: "forbidden", 503: "service_unavailable"}[tt.status]
			wantRoute := ""
			if tt.route != nil {
				wantRoute = tt.route.Name
			}
			if b.Error != wantErr || b.Reason != tt.reason || b.Route != wantRoute || b.Message != gateway.Message(tt.reason) {
				t.Errorf("body = %+v, want error %q reason %q route %q and the reason's message", b, wantErr, tt.reason, wantRoute)
			}
		})
	}
}

// TestDenyPageEscapes: route names and reasons reach the HTML page
// escaped.
func TestDenyPageEscapes(t *testing.T) {
	g := &gateway.Gate{}
	r := httptest.NewRequest("GET", "http://app.test/", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	g.Deny(w, r, gateway.Check{Decision: engine.Decision{Reason: engine.ReasonNotAllowed, Route: &policy.Route{Name: "<script>x</script>"}}}, "")
	if strings.Contains(w.Body.String(), "<script>") {
		t.Errorf("route name not escaped in the HTML page:\n%s", w.Body)
	}
}

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/html", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if got := gateway.WantsHTML(r); got != tt.want {
			t.Errorf("WantsHTML(Accept %q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}
